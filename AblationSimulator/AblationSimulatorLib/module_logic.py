"""Scene-level work of the AblationSimulator module logic (no GUI): read nodes, run the library, write NEW nodes.

The module's ``AblationSimulatorLogic`` methods are thin wrappers around these functions, so that they stay
testable headless on a real MRML scene and the module file stays small. MRML is reached only through the scene
object passed in and :mod:`HCCInterventionalAILib.scene` (imported lazily).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.progress import Progress

    from .applicator import Applicator
    from .confirmation import ConfirmationRequest, ConfirmationResult
    from .pipeline import AblationRequest, AblationResult

__all__ = ["add_applicator_line", "applicators_table_in_scene", "predict_zone_in_scene", "confirm_in_scene"]


def applicators_table_in_scene(scene: Any, applicators: Sequence[Applicator], table_node: Any, attribute: str,
                               name: str) -> Any:
    """Table of applicators (name, tip/entry RAS, length, angle) written into the module's own table node.

    Args:
        scene: the MRML scene.
        applicators: complete applicators.
        table_node: the module's output table to refresh in place (it carries ``attribute``); any other node,
            or None, leaves the scene untouched and a NEW table is created.
        attribute: node attribute marking the module's applicator table.
        name: name of a new table.

    Returns:
        the table node.
    """
    from HCCInterventionalAILib.scene import dataframe_to_table_node

    from .applicator import applicators_table

    fresh = dataframe_to_table_node(scene, applicators_table(list(applicators)), name)
    fresh.SetAttribute(attribute, "1")
    if table_node is not None and table_node.GetAttribute(attribute) == "1":
        table_node.CopyContent(fresh, True)
        scene.RemoveNode(fresh)
        return table_node
    return fresh


def predict_zone_in_scene(scene: Any, applicators: Sequence[Applicator], ct_node: Any, segmentation_node: Any,
                          request: AblationRequest, progress: Progress) -> tuple[AblationResult, dict[str, Any]]:
    """Zone(s) and margins of the applicators on a CT node (tumours/vessels from a segmentation node), as NEW nodes.

    Raises:
        ValueError subclasses: an input the library refuses (see :func:`~.pipeline.plan_ablation`).
    """
    from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

    from .pipeline import plan_ablation
    from .to_scene import result_to_scene

    progress.update(0.0, "Reading the images")
    ct = node_to_volume(ct_node)
    segmentation = node_to_segmentation(segmentation_node, ct.geometry) if segmentation_node else None
    result = plan_ablation(list(applicators), request, ct=ct, segmentation=segmentation,
                           progress=progress.sub(0.05, 0.9))
    progress.check()
    progress.update(0.9, "Adding the results to the scene")
    nodes = result_to_scene(scene, result, ct_node.GetName(), reference_volume_node=ct_node)
    return result, nodes


def confirm_in_scene(scene: Any, pre_ct_node: Any, tumour_segmentation_node: Any, post_ct_node: Any,
                     zone_segmentation_node: Any, request: ConfirmationRequest | None,
                     progress: Progress) -> tuple[ConfirmationResult, dict[str, Any]]:
    """Post-ablation confirmation on scene nodes: rigid (then deformable) registration of the post CT onto the pre
    CT, the zone carried over, the margin table and the insufficient-margin surface as NEW nodes.

    Raises:
        ValueError subclasses: a missing node, an empty or missing segment (see
            :func:`~.confirmation.confirm_segmentations`).
    """
    from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

    from .confirmation import confirm_segmentations
    from .errors import AblationInputError
    from .to_scene import confirmation_to_scene

    missing = [label for label, node in (("the pre-ablation CT", pre_ct_node), ("the tumour segmentation",
               tumour_segmentation_node), ("the post-ablation CT", post_ct_node), ("the zone segmentation",
               zone_segmentation_node)) if node is None]
    if missing:
        raise AblationInputError(f"Select {', '.join(missing)} for the confirmation")
    progress.update(0.0, "Reading the images")
    pre_ct, post_ct = node_to_volume(pre_ct_node), node_to_volume(post_ct_node)
    tumour = node_to_segmentation(tumour_segmentation_node, pre_ct.geometry)
    zone = node_to_segmentation(zone_segmentation_node, post_ct.geometry)
    result = confirm_segmentations(pre_ct, post_ct, tumour, zone, request, progress.sub(0.05, 0.9))
    progress.check()
    progress.update(0.9, "Adding the results to the scene")
    nodes = confirmation_to_scene(scene, result, pre_ct.geometry, f"{post_ct_node.GetName()} confirmation",
                                  reference_volume_node=pre_ct_node)
    return result, nodes


def add_applicator_line(scene: Any, tip_ras: Sequence[float] | None, entry_ras: Sequence[float] | None, name: str,
                        attribute: str, labels: Sequence[str]) -> Any:
    """A NEW markups line marked with ``attribute``: complete (tip, entry in RAS mm, validated) or empty."""
    from HCCInterventionalAILib.scene import line_to_markups, unique_node_name

    from .applicator import Applicator

    if tip_ras is not None and entry_ras is not None:
        applicator = Applicator.from_ras(tip_ras, entry_ras, name)  # validates the geometry
        line = line_to_markups(scene, applicator.tip_lps, applicator.entry_lps, name, labels=list(labels))
    else:
        line = scene.AddNewNodeByClass("vtkMRMLMarkupsLineNode", unique_node_name(scene, name))
    line.SetAttribute(attribute, "1")
    line.CreateDefaultDisplayNodes()
    display = line.GetDisplayNode()
    if display is not None:
        display.SetSelectedColor(0.15, 0.35, 0.85)
        if hasattr(display, "SetLineThickness"):
            display.SetLineThickness(0.3)
    return line
