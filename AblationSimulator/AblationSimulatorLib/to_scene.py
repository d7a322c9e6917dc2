"""An :class:`~.pipeline.AblationResult` as NEW nodes of an MRML scene: the one writer used by the AblationSimulator
module logic and by the demo (MRML is imported lazily through :mod:`HCCInterventionalAILib.scene`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import AblationResult

__all__ = [
    "LIVE_ATTRIBUTE",
    "RESULT_ATTRIBUTE",
    "ZONE_COLOURS",
    "live_zone_for_nodes",
    "live_zone_to_scene",
    "result_to_scene",
    "confirmation_to_scene",
]

#: Node attribute naming which part of an ablation result a node holds (zones, margins, summary, temperature).
RESULT_ATTRIBUTE = "AblationSimulator.Result"
#: Segment colours (RGB 0–1): vendor zone orange, physics zone red, insufficient margin yellow.
ZONE_COLOURS = {
    "vendor": (1.0, 0.6, 0.1),
    "physics": (0.85, 0.1, 0.1),
    "network": (0.6, 0.2, 0.9),
    "insufficient": (1.0, 1.0, 0.0),
}


def result_to_scene(
    scene: Any,
    result: AblationResult,
    base_name: str = "Ablation",
    *,
    reference_volume_node: Any = None,
    add_applicators: bool = False,
    temperature: bool = True,
) -> dict[str, Any]:
    """Write the zones (one segmentation), the margin and summary tables and the peak-temperature map.

    Args:
        scene: the MRML scene.
        result: the prediction.
        base_name: prefix of the node names.
        reference_volume_node: the CT node the zones belong to.
        add_applicators: also add each applicator as a markups line (tip → entry); the module already has them.
        temperature: add the physics peak-temperature map (°C) as a volume node.

    Returns:
        ``{"zones", "marginTable", "summaryTable", "temperature", "applicators"}`` (None / [] where nothing).
    """
    from HCCInterventionalAILib.imaging import Segmentation, Volume
    from HCCInterventionalAILib.scene import (
        dataframe_to_table_node,
        line_to_markups,
        segmentation_to_node,
        show_volume,
        volume_to_node,
    )

    nodes: dict[str, Any] = {"zones": None, "marginTable": None, "summaryTable": None, "temperature": None,
                             "applicators": []}

    def tagged(node: Any, role: str) -> Any:
        node.SetAttribute(RESULT_ATTRIBUTE, role)
        return node

    segmentation = Segmentation(result.geometry, name=f"{base_name} zones")
    if result.vendor_zone is not None and result.vendor_zone.any():
        segmentation.add(f"Zone (vendor, {result.device_name})", result.vendor_zone, ZONE_COLOURS["vendor"])
    if result.physics_zone is not None and result.physics_zone.any():
        segmentation.add("Zone (physics, heat sink)", result.physics_zone, ZONE_COLOURS["physics"])
    if result.network_zone is not None and result.network_zone.any():
        segmentation.add("Zone (network surrogate)", result.network_zone, ZONE_COLOURS["network"])
    for model, margins in result.margins.items():
        if margins.insufficient_mask.any():
            segmentation.add(f"Margin < {margins.target_margin_mm:g} mm ({model})", margins.insufficient_mask,
                             ZONE_COLOURS["insufficient"])
    if len(segmentation):
        nodes["zones"] = tagged(segmentation_to_node(scene, segmentation, reference_volume_node=reference_volume_node),
                                "zones")
    if result.margins:
        nodes["marginTable"] = tagged(dataframe_to_table_node(scene, result.margin_table(), f"{base_name} margins"),
                                      "margins")
    summary = result.summary_table()
    if not summary.empty:
        nodes["summaryTable"] = tagged(dataframe_to_table_node(scene, summary, f"{base_name} zone summary"), "summary")
    if temperature and result.physics is not None:
        sim = result.physics.simulation
        volume = Volume(sim.max_temperature_c.astype(np.float32), result.physics.geometry,
                        name=f"{base_name} peak temperature", units="degC")
        node = tagged(volume_to_node(scene, volume), "temperature")
        show_volume(node, color="Iron", threshold=(50.0, float(max(sim.max_temperature_c.max(), 51.0))), opacity=0.6)
        nodes["temperature"] = node
    if add_applicators:
        for applicator in result.applicators:
            line = line_to_markups(scene, applicator.tip_lps, applicator.entry_lps, applicator.name,
                                   labels=("Tip", "Entry"))
            nodes["applicators"].append(tagged(line, "applicator"))
    return nodes


def confirmation_to_scene(scene: Any, result: Any, geometry: Any, base_name: str = "Confirmation", *,
                          reference_volume_node: Any = None) -> dict[str, Any]:
    """Write a :class:`~.confirmation.ConfirmationResult` as NEW nodes: one segmentation on the pre-CT grid with the
    carried-over zone (red) and the tumour surface whose margin is below the target (yellow), and the margin table.

    Returns:
        ``{"zones", "marginTable"}``.
    """
    from HCCInterventionalAILib.imaging import Segmentation
    from HCCInterventionalAILib.scene import dataframe_to_table_node, segmentation_to_node

    segmentation = Segmentation(geometry, name=f"{base_name} zone")
    segmentation.add("Zone (confirmed, from post CT)", result.zone_on_pre.astype(np.uint8), ZONE_COLOURS["physics"])
    if result.insufficient_margin.any():
        segmentation.add(f"Margin < {result.margins.target_margin_mm:g} mm (confirmation)",
                         result.insufficient_margin, ZONE_COLOURS["insufficient"])
    zones = segmentation_to_node(scene, segmentation, reference_volume_node=reference_volume_node)
    zones.SetAttribute(RESULT_ATTRIBUTE, "confirmation zones")
    table = dataframe_to_table_node(scene, result.margin_table(), f"{base_name} margins")
    table.SetAttribute(RESULT_ATTRIBUTE, "confirmation margins")
    return {"zones": zones, "marginTable": table}


#: Attribute of the module's single "live" vendor-zone segmentation, updated in place while applicators move.
LIVE_ATTRIBUTE = "AblationSimulator.LiveZone"


def live_zone_to_scene(scene: Any, zone: np.ndarray, geometry: Any, node: Any = None, *, name: str = "Live zone",
                       reference_volume_node: Any = None) -> Any:
    """Write a vendor zone mask into the module's live segmentation node, in place when ``node`` is one.

    Args:
        scene: the MRML scene.
        zone: uint8 mask (k, j, i) on ``geometry``.
        geometry: the grid of the mask.
        node: the live node to update; a node without :data:`LIVE_ATTRIBUTE` is never touched (a new one is made).
        name: name of a new node.
        reference_volume_node: the CT the zone belongs to.

    Returns:
        the live segmentation node.
    """
    from dataclasses import replace

    from HCCInterventionalAILib.imaging import Segmentation
    from HCCInterventionalAILib.scene import segmentation_to_node

    if zone.any():  # only the zone's bounding box travels to MRML (fast on a full CT grid)
        k, j, i = (np.flatnonzero(zone.any(axis=axes)) for axes in ((1, 2), (0, 2), (0, 1)))
        box = (slice(k[0], k[-1] + 1), slice(j[0], j[-1] + 1), slice(i[0], i[-1] + 1))
        origin = geometry.physical_points(np.array([[i[0], j[0], k[0]]]))[0]
        geometry = replace(geometry, shape=zone[box].shape, origin=tuple(origin))
        zone = zone[box]
    segmentation = Segmentation(geometry, name=name)
    if zone.any():
        segmentation.add("Zone (vendor, live)", zone, ZONE_COLOURS["vendor"])
    fresh = segmentation_to_node(scene, segmentation, reference_volume_node=reference_volume_node)
    if node is None or node.GetAttribute(LIVE_ATTRIBUTE) != "1" or node.GetScene() is None:
        fresh.SetAttribute(LIVE_ATTRIBUTE, "1")
        return fresh
    node.GetSegmentation().DeepCopy(fresh.GetSegmentation())
    scene.RemoveNode(fresh)
    node.Modified()
    return node


def live_zone_for_nodes(scene: Any, applicators: Any, ct_volume_node: Any, request: Any = None, zone_node: Any = None,
                        *, name: str = "Live zone") -> Any:
    """Vendor zone of the applicators on a CT node's grid, written with :func:`live_zone_to_scene`.

    Only the node's grid is read (IJK→RAS matrix and dimensions), never its voxels, so it is fast enough to
    follow an applicator being dragged.
    """
    import vtk

    from HCCInterventionalAILib.imaging import Geometry

    from .pipeline import AblationRequest, prepare, vendor_stage

    matrix = vtk.vtkMatrix4x4()
    ct_volume_node.GetIJKToRASMatrix(matrix)
    ijk_to_ras = np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])
    geometry = Geometry.from_ijk_to_ras(ijk_to_ras, ct_volume_node.GetImageData().GetDimensions()[::-1])
    case = prepare(list(applicators), (request or AblationRequest()).replace(model="vendor"), geometry=geometry)
    return live_zone_to_scene(scene, vendor_stage(case), geometry, zone_node, name=name,
                              reference_volume_node=ct_volume_node)
