"""Enhancement inputs from and results into an MRML scene (the bridge layer; used by the module logic and the demo).

Inputs: an angiographic run is a Slicer sequence of 2D frames (``vtkMRMLSequenceNode`` of scalar volumes with
one slice each) or a scalar volume whose k axis is the frame axis (a multi-frame DICOM XA/XRF loaded as a volume);
:func:`frames_from_node` reads both. A region of interest for the time–intensity curve is a markups ROI or a
segment (:func:`roi_mask_from_node`).

Results: DSA frames as a NEW sequence (with a browser) or a NEW volume on the input's grid, the time–intensity
curve as a table and a plot chart; the denoised CT and the difference map as NEW volumes and the quality numbers
as a table. Nothing here overwrites a node: every node is added under a unique name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..imaging.volume import Geometry, Volume
from .errors import EnhancementInputError

__all__ = ["NodeFrames", "frames_from_node", "result_to_scene", "roi_mask_from_node"]


@dataclass
class NodeFrames:
    """A run read from a node.

    Attributes:
        frames: detector intensities (n, rows, cols), float32.
        times_s: frame times (s).
        geometry: the frames' grid: the volume's own (shape (n, rows, cols)) or, for a sequence, the first frame's
            (shape (1, rows, cols)).
        kind: "sequence" or "volume".
        name: the input node's name.
    """

    frames: np.ndarray
    times_s: np.ndarray
    geometry: Geometry
    kind: str
    name: str

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        """(row, col) spacing."""
        return (float(self.geometry.spacing[1]), float(self.geometry.spacing[0]))


def _sequence_times(sequence: Any, count: int, frame_rate: float) -> np.ndarray:
    """Index values as seconds when they are numeric ("s" or "ms" unit), else ``index / frame_rate``."""
    try:
        values = np.array([float(sequence.GetNthIndexValue(i)) for i in range(count)])
    except ValueError:
        return np.arange(count) / frame_rate
    unit = (sequence.GetIndexUnit() or "").strip().lower()
    if unit == "ms":
        values = values / 1000.0
    elif unit not in ("s", "sec", "second", "seconds"):
        return np.arange(count) / frame_rate
    return values


def frames_from_node(node: Any, frame_rate: float = 3.0) -> NodeFrames:
    """Read an angiographic run from a sequence node or a volume node (k axis = frames).

    Args:
        node: ``vtkMRMLSequenceNode`` of 2D scalar volumes, or a ``vtkMRMLScalarVolumeNode`` (n, rows, cols).
        frame_rate: frames per second when the node has no times (a volume, or a sequence without a time index).

    Returns:
        The :class:`NodeFrames`.

    Raises:
        EnhancementInputError: no node, an unsupported node class, sequence items that are not 2D scalar volumes,
            or frames of different sizes. (Too few frames, 8-bit frames, NaN are refused later by
            :func:`~.dsa.as_frames`.)
    """
    from ..scene import node_to_volume

    if node is None:
        raise EnhancementInputError("Select an angiographic run (a sequence or a multi-frame volume)")
    if frame_rate <= 0:
        raise EnhancementInputError(f"The frame rate must be > 0, got {frame_rate}")
    name = node.GetName() or "Run"
    if node.IsA("vtkMRMLSequenceNode"):
        count = node.GetNumberOfDataNodes()
        frames, geometry = [], None
        for index in range(count):
            item = node.GetNthDataNode(index)
            if item is None or not item.IsA("vtkMRMLScalarVolumeNode"):
                kind = "nothing" if item is None else item.GetClassName()
                raise EnhancementInputError(f"Item {index} of sequence '{name}' is {kind}, not a scalar volume frame")
            volume = node_to_volume(item)
            if volume.shape[0] != 1:
                raise EnhancementInputError(
                    f"Item {index} of sequence '{name}' is a 3D volume ({volume.shape[0]} slices); a run's frames "
                    "must be 2D images")
            if geometry is None:
                geometry = volume.geometry
            elif volume.shape != geometry.shape:
                from .errors import FrameSizeMismatchError

                raise FrameSizeMismatchError(f"The frames of sequence '{name}' differ in size: {geometry.shape[1:]} "
                                             f"and {volume.shape[1:]} (item {index})")
            frames.append(volume.array[0])
        if geometry is None:
            raise EnhancementInputError(f"Sequence '{name}' holds no frames")
        array = np.stack(frames)
        return NodeFrames(array, _sequence_times(node, count, frame_rate), geometry, "sequence", name)
    if node.IsA("vtkMRMLScalarVolumeNode") and not node.IsA("vtkMRMLLabelMapVolumeNode"):
        volume = node_to_volume(node)
        return NodeFrames(volume.array, np.arange(volume.shape[0]) / frame_rate, volume.geometry, "volume", name)
    raise EnhancementInputError(f"'{name}' is a {node.GetClassName()}; give a sequence or a scalar volume")


def _frame_points_ras(geometry: Geometry) -> np.ndarray:
    """RAS centres (rows·cols, 3) of the pixels of the first frame (k = 0) of ``geometry``."""
    rows, cols = geometry.shape[1:]
    jj, ii = np.mgrid[0:rows, 0:cols]
    ijk = np.stack([ii.ravel(), jj.ravel(), np.zeros(ii.size), np.ones(ii.size)])
    return (geometry.ijk_to_ras() @ ijk)[:3].T


def roi_mask_from_node(node: Any, geometry: Geometry, segment: str | None = None) -> np.ndarray:
    """A 2D region of interest (rows, cols) on the frames of ``geometry`` from a markups ROI or a segment.

    Markups ROI: a pixel is inside when its centre lies within the box along the ROI's axes that are not
    along the frame normal (so a box drawn on the frame need not enclose the frame plane exactly). Segment: the
    segment is resampled onto the frames' grid (nearest neighbour); a pixel is inside when any frame has it.

    Args:
        node: ``vtkMRMLMarkupsROINode`` or ``vtkMRMLSegmentationNode``.
        geometry: the frames' grid (:attr:`NodeFrames.geometry`).
        segment: segment ID or name (segmentation only; default: the first segment).

    Returns:
        Boolean mask (rows, cols).

    Raises:
        EnhancementInputError: an unsupported node, an unknown segment, or a region that covers no pixel.
    """
    name = node.GetName() if node is not None else "None"
    if node is not None and node.IsA("vtkMRMLMarkupsROINode"):
        centre, size = np.zeros(3), np.zeros(3)
        node.GetCenterWorld(centre)
        node.GetSizeWorld(size)
        axes = []
        for getter in (node.GetXAxisWorld, node.GetYAxisWorld, node.GetZAxisWorld):
            axis = np.zeros(3)
            getter(axis)
            axes.append(axis / max(np.linalg.norm(axis), 1e-12))
        normal = geometry.ijk_to_ras()[:3, 2]
        normal = normal / max(np.linalg.norm(normal), 1e-12)
        offsets = _frame_points_ras(geometry) - centre
        inside = np.ones(len(offsets), dtype=bool)
        for axis, extent in zip(axes, size, strict=True):
            if abs(float(axis @ normal)) > 0.9:  # the through-plane axis
                continue
            inside &= np.abs(offsets @ axis) <= extent / 2.0
        mask = inside.reshape(geometry.shape[1:])
    elif node is not None and node.IsA("vtkMRMLSegmentationNode"):
        from ..scene import node_to_segmentation

        segmentation = node.GetSegmentation()
        if segmentation.GetNumberOfSegments() == 0:
            raise EnhancementInputError(f"Segmentation '{name}' has no segments")
        segment_id = segment or segmentation.GetNthSegmentID(0)
        item = segmentation.GetSegment(segment_id) or segmentation.GetSegment(
            segmentation.GetSegmentIdBySegmentName(segment_id))
        if item is None:
            raise EnhancementInputError(f"Segmentation '{name}' has no segment '{segment}'")
        masks = node_to_segmentation(node, reference_geometry=geometry)
        mask = masks.mask(item.GetName(), allow_empty=True).any(axis=0)
    else:
        raise EnhancementInputError(f"'{name}' is not a markups ROI or a segmentation")
    if not mask.any():
        raise EnhancementInputError(f"The region '{name}' covers no pixel of the frames")
    return mask


def _dsa_frames_to_sequence(scene: Any, dsa: np.ndarray, times_s: np.ndarray, geometry: Geometry,
                            name: str) -> dict[str, Any]:
    from ..scene import add_node, volume_to_node

    frame_geometry = geometry.with_shape((1, *dsa.shape[1:]))
    sequence = add_node(scene, "vtkMRMLSequenceNode", name)
    sequence.SetIndexName("time")
    sequence.SetIndexUnit("s")
    frames = []
    for index, frame in enumerate(dsa):
        node = volume_to_node(scene, Volume(frame[None].astype(np.float32), frame_geometry, name=f"{name} {index}",
                                            units="log"))
        sequence.SetDataNodeAtValue(node, f"{float(times_s[index]):.3f}")
        frames.append(node)
    # The sequence keeps its own copies; the per-frame nodes are removed, one proxy stays via the browser.
    for node in frames:
        scene.RemoveNode(node)
    browser = add_node(scene, "vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    return {"sequence": sequence, "browser": browser}


def _dsa_to_scene(scene: Any, result: Any, name: str, pixel_spacing_mm: tuple[float, float],
                  geometry: Geometry | None, as_volume: bool) -> dict[str, Any]:
    import pandas as pd

    from ..scene import dataframe_to_plot, dataframe_to_table_node, volume_to_node

    if geometry is None:
        geometry = Geometry((result.dsa.shape[0], *result.dsa.shape[1:]),
                            (pixel_spacing_mm[1], pixel_spacing_mm[0], 1.0), (0.0, 0.0, 0.0), np.eye(3))
    if hasattr(result, "motion"):  # classical DSAResult
        label, metadata = f"{name} DSA ({result.motion})", {"mask_index": result.mask_index, "motion": result.motion}
    else:  # mask-free network (DLDSAResult)
        label, metadata = f"{name} DSA (mask-free network)", {"model": result.model.get("model_id", "")}
    if as_volume:
        if tuple(geometry.shape) != tuple(result.dsa.shape):
            geometry = geometry.with_shape(result.dsa.shape)
        volume = Volume(result.dsa.astype(np.float32), geometry, name=label, units="log", metadata=metadata)
        nodes: dict[str, Any] = {"volume": volume_to_node(scene, volume, label)}
    else:
        nodes = _dsa_frames_to_sequence(scene, result.dsa, result.times_s, geometry, label)
    summary = {k: v for k, v in result.to_dict().items() if not isinstance(v, (dict, list))}
    nodes["table"] = dataframe_to_table_node(scene, pd.DataFrame([summary]), f"{label} summary")
    if result.curve is not None:
        curve = pd.DataFrame({"time_s": result.curve.times_s, "mean_iodine": result.curve.mean})
        chart = dataframe_to_plot(scene, curve, "time_s", ["mean_iodine"], f"{name} time-intensity curve",
                                  x_label="time (s)", y_label="mean iodine (log units)")
        nodes["chart"] = chart
        nodes["curve"] = chart.GetNthPlotSeriesNode(0).GetTableNode()
    return nodes


def _denoise_to_scene(scene: Any, result: Any, name: str) -> dict[str, Any]:
    import pandas as pd

    from ..scene import dataframe_to_table_node, volume_to_node

    numbers = {k: v for k, v in result.to_dict().items() if not isinstance(v, (dict, list))}
    numbers["hallucination_flagged"] = result.hallucination.flagged
    numbers["hallucination_regions"] = len(result.hallucination.regions)
    method = getattr(result, "method", "noise2self")
    nodes = {
        "denoised": volume_to_node(scene, result.denoised, f"{name} denoised ({method})"),
        "difference": volume_to_node(scene, result.difference, f"{name} difference (denoised - input)"),
        "table": dataframe_to_table_node(scene, pd.DataFrame([numbers]), f"{name} denoising quality"),
    }
    nodes["denoised"].SetAttribute("HCCImageEnhancement.HallucinationFlagged", str(bool(result.hallucination.flagged)))
    return nodes


def result_to_scene(scene: Any, result: Any, *, name: str = "Enhancement",
                    pixel_spacing_mm: tuple[float, float] = (1.0, 1.0), geometry: Geometry | None = None,
                    as_volume: bool = False) -> dict[str, Any]:
    """Add a :class:`~.pipeline.DSAResult`, :class:`~.dl_dsa.DLDSAResult` or :class:`~.pipeline.DenoiseResult` to
    ``scene`` as new nodes.

    Args:
        scene: the MRML scene.
        result: the result.
        name: node-name prefix (names are made unique).
        pixel_spacing_mm: DSA pixel spacing (row, col) when ``geometry`` is not given.
        geometry: DSA: the input frames' grid (:attr:`NodeFrames.geometry`), so the output overlays the input.
        as_volume: DSA: one NEW volume (k = frames) instead of a NEW sequence with a browser.

    Returns:
        The new nodes by role: DSA ``sequence`` + ``browser`` (or ``volume``), ``table``, and with a curve
        ``curve`` (table) + ``chart``; denoising ``denoised``, ``difference``, ``table``.
    """
    from .dl_dsa import DLDSAResult
    from .pipeline import DenoiseResult, DSAResult

    if isinstance(result, (DSAResult, DLDSAResult)):
        return _dsa_to_scene(scene, result, name, pixel_spacing_mm, geometry, as_volume)
    if isinstance(result, DenoiseResult):
        return _denoise_to_scene(scene, result, name)
    raise TypeError(f"result_to_scene takes a DSAResult, DLDSAResult or DenoiseResult, got {type(result).__name__}")
