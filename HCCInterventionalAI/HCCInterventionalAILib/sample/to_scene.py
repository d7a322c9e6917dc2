"""The SYNTHETIC sample patient into an MRML scene (the module's "Load sample" and Slicer's Sample Data entry).

Importing this module imports neither ``slicer`` nor ``vtk``; :func:`patient_to_scene` does, through
:mod:`HCCInterventionalAILib.scene`.
"""

from __future__ import annotations

from typing import Any

from .patient import SamplePatient

__all__ = ["SYNTHETIC_ATTRIBUTE", "patient_to_scene"]

#: Attribute set on every node of the sample patient (the data are computer generated).
SYNTHETIC_ATTRIBUTE = "HCCInterventionalAI.Synthetic"


def patient_to_scene(scene: Any, patient: SamplePatient, folder_name: str) -> dict[str, Any]:
    """Add the sample patient's images and ground truth to ``scene`` as NEW nodes in one subject-hierarchy folder.

    The CT phases are shown with an abdominal window (W 400 / L 40 HU), the SPECT with the PET-Heat colours; the
    ground truth is the whole-lung truth (CT grid extended to the SPECT field, so Y-90 planning measures the
    whole lungs) with the portal venous CT as its reference geometry. Every node carries
    :data:`SYNTHETIC_ATTRIBUTE` = "1".

    Args:
        scene: the MRML scene (None: ``slicer.mrmlScene``).
        patient: the generated patient (:func:`~.patient.make_sample_patient`).
        folder_name: name of the subject-hierarchy folder.

    Returns:
        ``{"ct": {phase: volume node}, "ctDisplayed": the portal venous CT node, "spect": SPECT node,
        "segmentation": ground-truth segmentation node}``.
    """
    from ..scene import ensure_scene, segmentation_to_node, show_volume, volume_to_node
    from ..scene.headless import import_slicer

    scene = ensure_scene(scene)
    ct_nodes = {phase: volume_to_node(scene, volume, name=f"Synthetic CT {phase}") for phase, volume in patient.ct.items()}
    displayed = next((phase for phase in ct_nodes if "portal" in phase), list(ct_nodes)[-1])
    spect_node = volume_to_node(scene, patient.spect, name="Synthetic MAA SPECT")
    segmentation_node = segmentation_to_node(scene, patient.truth_whole_field(), name="Synthetic ground truth",
                                            reference_volume_node=ct_nodes[displayed])
    nodes = [*ct_nodes.values(), spect_node, segmentation_node]
    for node in nodes:
        node.SetAttribute(SYNTHETIC_ATTRIBUTE, "1")

    slicer = import_slicer()
    sh_node = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh_node is not None:
        folder = sh_node.CreateFolderItem(sh_node.GetSceneItemID(), folder_name)
        for node in nodes:
            item = sh_node.GetItemByDataNode(node)
            if item:
                sh_node.SetItemParent(item, folder)
            else:  # no subject hierarchy plugins (headless MRML): create the item
                sh_node.CreateItem(folder, node)
    for node in ct_nodes.values():
        show_volume(node, window=400, level=40)
    show_volume(spect_node, color="PET-Heat")
    return {"ct": ct_nodes, "ctDisplayed": ct_nodes[displayed], "spect": spect_node, "segmentation": segmentation_node}
