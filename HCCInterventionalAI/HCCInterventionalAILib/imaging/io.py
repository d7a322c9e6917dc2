"""Reading and writing volumes and segmentations.

Formats: NRRD (``.nrrd``/``.nhdr``), NIfTI (``.nii``/``.nii.gz``), MetaImage (``.mha``/``.mhd``), DICOM series
(a folder, see :mod:`.dicom_io`), Slicer segmentations (``.seg.nrrd``), plain labelmaps and DICOM SEG.

Geometry is exact: SimpleITK works in LPS like :class:`~.volume.Geometry`, so spacing, origin and the full
(oblique) direction matrix pass through unchanged; NIfTI's RAS affine is converted by ITK on read and write.

Slicer's ``.seg.nrrd`` stores segments as labels in one or more *layers* (the 4th, "list" axis of the NRRD)
and describes each segment in header fields ``SegmentN_ID``, ``_Name``, ``_Color``, ``_LabelValue``,
``_Layer``, ``_Extent`` and ``_Tags`` (which holds ``TerminologyEntry:<Slicer terminology string>``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .dicom_io import read_dicom_seg, read_dicom_series, series_uid_of_file
from .integrity import (
    TruncatedImageError,
    check_metaimage_complete,
    check_nifti_complete,
    truncation_from_itk_message,
)
from .segmentation import Segmentation
from .sitk import ImageReadError, from_sitk, geometry_from_sitk, set_sitk_geometry, to_sitk
from .terminology import Terminology
from .volume import Volume

__all__ = [
    "UnsupportedFormatError",
    "ImageReadError",
    "TruncatedImageError",
    "VOLUME_SUFFIXES",
    "to_sitk",
    "from_sitk",
    "read_volume",
    "write_volume",
    "read_segmentation",
    "write_segmentation",
]

#: File name endings read and written by SimpleITK, with the format name used in messages.
VOLUME_SUFFIXES: dict[str, str] = {
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".nii.gz": "NIfTI",
    ".nii": "NIfTI",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
}
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
_SEGMENT_KEY = re.compile(r"^Segment(\d+)_(ID|Name)$")
# Keys we add to NRRD/MetaImage headers so that modality and units survive a round trip.
_MODALITY_KEY = "HCCAI_Modality"
_UNITS_KEY = "HCCAI_Units"


class UnsupportedFormatError(ValueError):
    """The file name ending (or content) is not a format this library reads or writes."""


# --------------------------------------------------------------------------------------------------------
# Paths and formats
# --------------------------------------------------------------------------------------------------------
def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted((*VOLUME_SUFFIXES, *_DICOM_SUFFIXES), key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".seg.nrrd", ".seg.nhdr", *sorted(VOLUME_SUFFIXES, key=len, reverse=True), *_DICOM_SUFFIXES):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


def _is_dicom_file(path: Path) -> bool:
    """True when the file has the DICOM preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(132)
    except OSError:
        return False
    return len(header) == 132 and header[128:] == b"DICM"


def _require_exists(path: Path, what: str) -> None:
    if not path.exists():
        raise FileNotFoundError(f"No such {what}: {path}")


def _unsupported(path: Path, what: str) -> UnsupportedFormatError:
    known = ", ".join(VOLUME_SUFFIXES)
    return UnsupportedFormatError(
        f"Cannot tell the format of {what} '{path}' from its name; use one of {known}, a DICOM file or folder"
    )


def _read_sitk(path: Path) -> sitk.Image:
    """Read with SimpleITK after checking that a NIfTI file is complete (ITK zero-fills truncated NIfTI).

    Raises:
        TruncatedImageError: a NIfTI/NRRD/MetaImage file with fewer data bytes than its header declares.
        ImageReadError: any other read failure.
    """
    format_name = VOLUME_SUFFIXES.get(_suffix(path), "")
    if format_name == "NIfTI" and path.is_file():
        check_nifti_complete(path)
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as error:
        truncated = truncation_from_itk_message(path, str(error), format_name or "image")
        if truncated is not None:
            raise truncated from error
        if format_name == "MetaImage" and path.is_file():
            check_metaimage_complete(path)
        first_line = str(error).strip().splitlines()[-1] if str(error).strip() else "unknown error"
        raise ImageReadError(f"Could not read image '{path}': {first_line}") from error


def _header(image: sitk.Image) -> dict[str, str]:
    return {key: image.GetMetaData(key) for key in image.GetMetaDataKeys()}


def _is_slicer_segmentation(header: dict[str, str]) -> bool:
    return any(_SEGMENT_KEY.match(key) for key in header)


# --------------------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------------------
def read_volume(path: str | Path, *, name: str | None = None, allow_gaps: bool = False) -> Volume:
    """Read a 3D image: NRRD, NIfTI or MetaImage by extension, or a DICOM series (folder or one of its files).

    Args:
        path: image file, DICOM file (its whole series is read from the same folder) or DICOM folder.
        name: volume name; defaults to the file name without extension (DICOM: the series description).
        allow_gaps: DICOM only: resample a series with unevenly spaced slices onto a regular grid with a
            warning instead of raising :class:`~.dicom_io.DicomSliceGapError` (see
            :func:`~.dicom_io.read_dicom_series`).

    Returns:
        The volume in LPS geometry. For DICOM, values are rescaled (CT in HU) and modality/units come from
        the tags; for NRRD/MetaImage written by :func:`write_volume` they come from the header.

    Raises:
        FileNotFoundError: when the path does not exist.
        UnsupportedFormatError: for an unknown extension.
        ImageReadError: when the file cannot be read or is not a 3D scalar image (e.g. a .seg.nrrd).
        TruncatedImageError: (an ImageReadError) when a NIfTI, NRRD or MetaImage file holds fewer data bytes than its
            header declares, e.g. a copy cut short.
        DicomSeriesError: for a folder without DICOM images or with several series.
        DicomSliceGapError: (a DicomSeriesError) for a DICOM series with unevenly spaced slices, unless
            ``allow_gaps``.
    """
    path = Path(path)
    _require_exists(path, "image file or DICOM folder")
    if path.is_dir():
        volume = read_dicom_series(path, allow_gaps=allow_gaps)
    else:
        suffix = _suffix(path)
        if suffix in _DICOM_SUFFIXES or (suffix not in VOLUME_SUFFIXES and _is_dicom_file(path)):
            volume = read_dicom_series(path.parent, series_uid_of_file(path), allow_gaps=allow_gaps)
        elif suffix in VOLUME_SUFFIXES:
            image = _read_sitk(path)
            header = _header(image)
            if image.GetNumberOfComponentsPerPixel() != 1 and _is_slicer_segmentation(header):
                raise ImageReadError(f"'{path}' is a Slicer segmentation; read it with read_segmentation()")
            volume = from_sitk(
                image,
                name=_stem(path),
                modality=header.get(_MODALITY_KEY, ""),
                units=header.get(_UNITS_KEY, ""),
                metadata={"source": str(path), "format": VOLUME_SUFFIXES[suffix]},
                source=str(path),
            )
        else:
            raise _unsupported(path, "image file")
    if name is not None:
        volume.name = name
    return volume


def write_volume(volume: Volume, path: str | Path) -> Path:
    """Write a volume as NRRD, NIfTI or MetaImage (chosen by extension), compressed.

    Modality and units are stored in NRRD/MetaImage headers (keys ``HCCAI_Modality``/``HCCAI_Units``) and
    read back by :func:`read_volume`; NIfTI has no place for them. Boolean masks are written as uint8.
    Parent folders are created. For DICOM use :func:`.dicom_io.write_dicom_series`.

    Args:
        volume: the volume to write.
        path: destination file; its extension selects the format.

    Returns:
        The path written.

    Raises:
        UnsupportedFormatError: for an unknown or DICOM extension.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix in _DICOM_SUFFIXES:
        raise UnsupportedFormatError("Write DICOM with write_dicom_series(volume, folder), not write_volume")
    if suffix not in VOLUME_SUFFIXES:
        raise _unsupported(path, "output file")
    image = to_sitk(volume)
    if VOLUME_SUFFIXES[suffix] != "NIfTI":
        if volume.modality:
            image.SetMetaData(_MODALITY_KEY, _header_value(volume.modality))
        if volume.units:
            image.SetMetaData(_UNITS_KEY, _header_value(volume.units))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)
    return path


# --------------------------------------------------------------------------------------------------------
# Segmentations
# --------------------------------------------------------------------------------------------------------
def read_segmentation(
    path: str | Path, *, names: dict[int, str] | None = None, name: str | None = None
) -> Segmentation:
    """Read a segmentation: Slicer ``.seg.nrrd``, a plain labelmap (NRRD/NIfTI/MetaImage) or a DICOM SEG file.

    Args:
        path: the file.
        names: for a plain labelmap, segment names by label value (others become ``Segment_<label>``);
            ignored for formats that carry their own names.
        name: segmentation name; defaults to the file name without extension.

    Returns:
        A :class:`Segmentation` on the file's voxel grid. Slicer and DICOM SEG names, colours and
        terminology are kept exactly as stored; overlapping segments (several layers) are supported.

    Raises:
        FileNotFoundError: when the file does not exist.
        UnsupportedFormatError: for an unknown extension.
        ImageReadError: for unreadable files, non-integer labelmaps or inconsistent Slicer headers.
        TruncatedImageError: (an ImageReadError) for a NIfTI, NRRD or MetaImage file cut short.
    """
    path = Path(path)
    _require_exists(path, "segmentation file")
    if path.is_dir():
        raise UnsupportedFormatError(f"'{path}' is a folder; read_segmentation expects one file")
    seg_name = name or _stem(path)
    suffix = _suffix(path)
    if suffix in _DICOM_SUFFIXES or (suffix not in VOLUME_SUFFIXES and _is_dicom_file(path)):
        return read_dicom_seg(path, name=seg_name)
    if suffix not in VOLUME_SUFFIXES:
        raise _unsupported(path, "segmentation file")
    image = _read_sitk(path)
    header = _header(image)
    if _is_slicer_segmentation(header):
        return _segmentation_from_slicer(image, header, seg_name, path)
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(f"'{path}' has several components per voxel but no Slicer segment descriptions")
    labelmap = from_sitk(image, name=seg_name, source=str(path))
    labels = labelmap.array
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
            raise ImageReadError(f"'{path}' holds non-integer values; a labelmap needs integer labels")
        labelmap = labelmap.with_array(labels.astype(np.int64))
    return Segmentation.from_labelmap(labelmap, names=names or {}, name=seg_name)


def _parse_color(text: str | None) -> tuple[float, float, float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        return None
    return (values[0], values[1], values[2]) if len(values) >= 3 else None


def _terminology_from_tags(tags: str | None, color: tuple[float, float, float] | None) -> Terminology | None:
    """Parse ``key:value|key:value|`` segment tags and return the TerminologyEntry, if any."""
    for tag in (tags or "").split("|"):
        key, _, value = tag.partition(":")
        if key == "TerminologyEntry" and value:
            return Terminology.from_slicer(value, color or (0.5, 0.5, 0.5))
    return None


def _parse_extent(text: str | None, shape: tuple[int, int, int]) -> tuple[int, ...] | None:
    """Inclusive (i0, i1, j0, j1, k0, k1); the whole image when missing or unreadable, None when empty."""
    full = (0, shape[2] - 1, 0, shape[1] - 1, 0, shape[0] - 1)
    try:
        values = tuple(int(v) for v in (text or "").split())
    except ValueError:
        return full
    if len(values) != 6:
        return full
    if values[0] > values[1] or values[2] > values[3] or values[4] > values[5]:
        return None
    return values


def _segmentation_from_slicer(image: sitk.Image, header: dict[str, str], seg_name: str, path: Path) -> Segmentation:
    """Segments of a Slicer .seg.nrrd, read with the semantics of Slicer's own reader.

    Each segment is the set of voxels equal to its label value in its layer (defaults: label 1, layer =
    segment index, the pre-4.11 one-segment-per-layer layout). As in Slicer, a layer's labels only count
    inside the bounding box of the extents (``SegmentN_Extent``) of the segments stored in that layer.
    """
    geometry = geometry_from_sitk(image, f"'{path}'")
    layers = sitk.GetArrayViewFromImage(image)
    if layers.ndim == 3:
        layers = layers[..., np.newaxis]
    number_of_layers = layers.shape[-1]
    indices = sorted({int(match.group(1)) for key in header if (match := _SEGMENT_KEY.match(key))})
    described = []
    for index in indices:

        def field(key: str, default: str | None = None, index: int = index) -> str | None:
            return header.get(f"Segment{index}_{key}", default)

        segment_id = field("ID", f"Segment_{index}")
        try:
            label = int(field("LabelValue", "1"))
            layer = int(field("Layer", str(index)))
        except ValueError as error:
            raise ImageReadError(f"'{path}': segment {index} has a non-integer label value or layer") from error
        if not 0 <= layer < number_of_layers:
            raise ImageReadError(
                f"'{path}': segment '{segment_id}' is in layer {layer} but the file has {number_of_layers} layer(s)"
            )
        color = _parse_color(field("Color") or field("DefaultColor"))
        described.append(
            {
                "id": segment_id,
                "name": field("Name") or segment_id,
                "label": label,
                "layer": layer,
                "extent": _parse_extent(field("Extent"), geometry.shape),
                "color": color,
                "terminology": _terminology_from_tags(field("Tags"), color),
            }
        )
    windows = {}
    for layer in {d["layer"] for d in described}:
        extents = np.array([d["extent"] for d in described if d["layer"] == layer and d["extent"] is not None])
        if extents.size:
            low, high = np.maximum(extents[:, ::2].min(axis=0), 0), extents[:, 1::2].max(axis=0)
            windows[layer] = (slice(low[2], high[2] + 1), slice(low[1], high[1] + 1), slice(low[0], high[0] + 1))
    seg = Segmentation(geometry, name=seg_name)
    for d in described:
        mask = np.zeros(geometry.shape, dtype=bool)
        window = windows.get(d["layer"])
        if window is not None and d["extent"] is not None:
            mask[window] = layers[(*window, d["layer"])] == d["label"]
        name = d["name"] if d["name"] not in seg else f"{d['name']} ({d['id']})"
        seg.add(name, mask, color=d["color"], terminology=d["terminology"])
    return seg


def _header_value(text: str) -> str:
    """NRRD key/value lines cannot hold line breaks."""
    return " ".join(str(text).splitlines())


def _format_color(color: tuple[float, float, float]) -> str:
    return " ".join(f"{float(c):.6g}" for c in color)


def _extent(mask: np.ndarray) -> str:
    if not mask.any():
        return "0 -1 0 -1 0 -1"
    bounds = []
    for axis in (2, 1, 0):  # i, j, k
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        bounds += [int(present[0]), int(present[-1])]
    return " ".join(str(b) for b in bounds)


def _assign_layers(masks: list[np.ndarray]) -> list[tuple[int, int]]:
    """(layer, label value) per mask: each mask goes into the first layer it does not overlap."""
    occupied: list[np.ndarray] = []
    counts: list[int] = []
    placement = []
    for mask in masks:
        for layer, used in enumerate(occupied):
            if not np.any(used & mask):
                used |= mask
                counts[layer] += 1
                placement.append((layer, counts[layer]))
                break
        else:
            occupied.append(mask.copy())
            counts.append(1)
            placement.append((len(occupied) - 1, 1))
    return placement


def write_segmentation(seg: Segmentation, path: str | Path) -> Path:
    """Write a Slicer-compatible ``.seg.nrrd`` (gzip) that Slicer and :func:`read_segmentation` load back.

    Segments that do not overlap share a layer (labels 1, 2, ... in segment order); a segment that overlaps
    an earlier one goes into the next layer where it fits, so no voxel is lost. Names, colours and
    terminology (segment tag ``TerminologyEntry``) are written in Slicer's header fields; segment IDs are
    the segment names.

    Args:
        seg: the segmentation.
        path: destination; should end in ``.seg.nrrd`` (``.nrrd`` is accepted).

    Returns:
        The path written.

    Raises:
        UnsupportedFormatError: when the name does not end in ``.nrrd``.
    """
    path = Path(path)
    if not path.name.lower().endswith(".nrrd"):
        raise UnsupportedFormatError(f"Slicer segmentations are NRRD files ('.seg.nrrd'), got '{path.name}'")
    segments = list(seg)
    masks = [segment.mask for segment in segments]
    placement = _assign_layers(masks)
    number_of_layers = max((layer for layer, _ in placement), default=0) + 1
    max_label = max((label for _, label in placement), default=0)
    dtype = np.uint8 if max_label <= np.iinfo(np.uint8).max else np.uint16
    layers = np.zeros((*seg.geometry.shape, number_of_layers), dtype=dtype)
    for mask, (layer, label) in zip(masks, placement, strict=True):
        layers[..., layer][mask] = label
    if number_of_layers == 1:
        image = sitk.GetImageFromArray(layers[..., 0])
    else:
        image = sitk.GetImageFromArray(layers, isVector=True)
    set_sitk_geometry(image, seg.geometry)
    image.SetMetaData("Segmentation_MasterRepresentation", "Binary labelmap")
    image.SetMetaData("Segmentation_ContainedRepresentationNames", "Binary labelmap|")
    image.SetMetaData("Segmentation_ReferenceImageExtentOffset", "0 0 0")
    for index, (segment, (layer, label)) in enumerate(zip(segments, placement, strict=True)):
        prefix = f"Segment{index}_"
        tags = f"TerminologyEntry:{segment.terminology.to_slicer()}|" if segment.terminology else ""
        fields = {
            "ID": segment.name,
            "Name": segment.name,
            "Color": _format_color(segment.color),
            "ColorAutoGenerated": "0",
            "NameAutoGenerated": "0",
            "Extent": _extent(segment.mask),
            "LabelValue": str(label),
            "Layer": str(layer),
            "Tags": tags,
        }
        for key, value in fields.items():
            image.SetMetaData(prefix + key, _header_value(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)
    return path
