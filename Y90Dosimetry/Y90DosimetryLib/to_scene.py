"""A :class:`.planning.DosimetryResult` as NEW nodes of an MRML scene: the one writer used by the Y90Dosimetry module
logic and by the demo (MRML is imported lazily through :mod:`HCCInterventionalAILib.scene`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.segmentation import Segmentation

    from .planning import DosimetryResult

__all__ = ["RESULT_ATTRIBUTE", "export_rtdose", "nodes_to_inputs", "result_to_scene", "segment_colors_of_node",
           "segment_roles"]

#: Node attribute that says which part of a Y-90 result a node holds (plan, warnings, statistics, dose, dvh).
RESULT_ATTRIBUTE = "Y90Dosimetry.Result"


def nodes_to_inputs(activity_node: Any, segmentation_node: Any, ct_node: Any = None) -> tuple[Any, Any, Any]:
    """The activity volume, segmentation and CT (None without ``ct_node``) of scene nodes, as library objects
    (:func:`HCCInterventionalAILib.scene.node_to_volume` / ``node_to_segmentation``; the nodes are not modified)."""
    from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

    ct = node_to_volume(ct_node) if ct_node is not None else None
    return node_to_volume(activity_node), node_to_segmentation(segmentation_node), ct


def segment_roles(segmentation_node: Any, segments: dict[str, str] | None) -> dict[str, Any]:
    """Segment names for the roles ("liver", "tumours", "lungs", "perfused") given as segment IDs or names of a
    ``vtkMRMLSegmentationNode`` ("" or None: left to detection from names); tumours and lungs as lists."""
    roles: dict[str, Any] = {}
    for role, segment in (segments or {}).items():
        if not segment:
            continue
        vtk_segment = segmentation_node.GetSegmentation().GetSegment(segment)
        name = vtk_segment.GetName() if vtk_segment is not None else str(segment)
        roles[role] = [name] if role in ("tumours", "lungs") else name
    return roles


def export_rtdose(dose: Any, folder: str | Path, base_name: str, *, delivered: bool = False) -> Path:
    """Write a dose ``Volume`` (Gy) as ``<base name>_Y90_RTDOSE.dcm`` (DICOM RT Dose) into ``folder`` (created).

    The summation type is PLAN for a predicted (MAA) dose and RECORD for a delivered (Y-90) dose.
    """
    import re

    from .rtdose import write_rtdose

    Path(folder).mkdir(parents=True, exist_ok=True)
    file_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{base_name}_Y90_RTDOSE").strip("_") + ".dcm"
    return Path(write_rtdose(dose, Path(folder) / file_name, dose_summation_type="RECORD" if delivered else "PLAN"))


def segment_colors_of_node(segmentation_node: Any) -> dict[str, tuple[float, float, float]] | None:
    """Segment name → RGB (0–1) of a ``vtkMRMLSegmentationNode`` (None for None), to colour DVH curves."""
    if segmentation_node is None:
        return None
    segmentation = segmentation_node.GetSegmentation()
    segments = [segmentation.GetNthSegment(i) for i in range(segmentation.GetNumberOfSegments())]
    return {segment.GetName(): tuple(segment.GetColor()) for segment in segments}


def result_to_scene(scene: Any, result: DosimetryResult, base_name: str, *, delivered: bool = False,
                    segment_colors: dict[str, tuple[float, float, float]] | None = None,
                    segmentation: Segmentation | None = None) -> dict[str, Any]:
    """Write the plan table, warnings, dose statistics, dose volume (colour overlay) and DVH chart as new nodes.

    Args:
        scene: the MRML scene.
        result: the plan (a :class:`.planning.DosimetryResult`, or a :class:`.worker.PlanFolderResult` read back
            from a worker's output folder: the same attributes).
        base_name: prefix of the node names (e.g. the activity image's name).
        delivered: the dose is a delivered (post-treatment) dose rather than a predicted one (names the nodes).
        segment_colors: DVH curve colour per structure (as the segments show them in Slicer); taken from
            ``segmentation`` when not given.

    Returns:
        ``{"planTable", "warningsTable", "statisticsTable", "dose", "dvhChart"}`` (None where there is nothing).
    """
    import pandas as pd

    from HCCInterventionalAILib.scene import dataframe_to_plot, dataframe_to_table_node, show_volume, volume_to_node

    kind = "delivered" if delivered else "predicted"
    nodes: dict[str, Any] = {"planTable": None, "warningsTable": None, "statisticsTable": None, "dose": None,
                             "dvhChart": None}

    def tagged(node: Any, role: str) -> Any:
        node.SetAttribute(RESULT_ATTRIBUTE, role)
        return node

    plan = tagged(dataframe_to_table_node(scene, result.compartments, f"{base_name} Y-90 plan"), "plan")
    plan.SetAttribute("Y90Dosimetry.ActivityGBq", f"{result.activity_gbq:.4g}")
    plan.SetAttribute("Y90Dosimetry.LungShuntFraction", f"{result.lung_shunt.lung_shunt_fraction:.4g}")
    nodes["planTable"] = plan
    if result.warnings:
        nodes["warningsTable"] = tagged(dataframe_to_table_node(
            scene, pd.DataFrame({"Warning": list(result.warnings)}), f"{base_name} Y-90 warnings"), "warnings")
    if result.dose_statistics is not None and not result.dose_statistics.empty:
        nodes["statisticsTable"] = tagged(dataframe_to_table_node(
            scene, result.dose_statistics, f"{base_name} Y-90 dose statistics"), "statistics")
    if result.dose is not None:
        dose = tagged(volume_to_node(scene, result.dose, name=f"{base_name} Y-90 dose ({kind})"), "dose")
        maximum = float(result.dose.array.max()) if result.dose.array.size else 0.0
        show_volume(dose, color="Rainbow", threshold=min(1.0, 0.01 * maximum) if maximum > 0 else None, opacity=1.0)
        nodes["dose"] = dose
    if result.dvh is not None and not result.dvh.empty:
        wide = result.dvh.pivot_table(index="dose_Gy", columns="structure", values="volume_%").reset_index()
        structures = [c for c in wide.columns if c != "dose_Gy"]
        if segment_colors is None and segmentation is not None:
            segment_colors = {s.name: tuple(s.color) for s in segmentation}
        colors = {name: tuple(c) for name, c in (segment_colors or {}).items() if name in structures}
        nodes["dvhChart"] = tagged(dataframe_to_plot(
            scene, wide, "dose_Gy", structures, f"{base_name} Y-90 DVH ({kind})", x_label="Dose (Gy)",
            y_label="Volume (%)", colors=colors), "dvh")
    return nodes
