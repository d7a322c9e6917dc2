"""The AblationSimulator module headless (real MRML scene, stand-ins for Qt): zone prediction from the logic and
from the widget (progress, Cancel), the same margins as the library."""

from __future__ import annotations

import numpy as np
import pytest
import slicer_stubs

from AblationSimulatorLib.demo import demo_applicator


@pytest.fixture(autouse=True)
def _one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _place(ablation, headless, small_patient):
    """An applicator through Tumor 1 of the small patient (zone centre on its centroid), as the demo places it."""
    logic = ablation.AblationSimulatorLogic()
    ct = small_patient.ct["portal venous"]
    applicator = demo_applicator(ct, small_patient.truth.mask("Tumor 1"), 13.5)
    line = logic.addApplicator(tipRAS=applicator.tip_ras, entryRAS=applicator.entry_ras, name="MWA 1")
    return logic, line, applicator


def test_logic_predicts_zone_with_the_library_margins(ablation, headless, sample, small_patient):
    from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation

    logic, line, applicator = _place(ablation, headless, small_patient)
    ctNode = headless.scene.GetFirstNodeByName("Synthetic CT portal venous")
    segNode = headless.scene.GetFirstNodeByName("Synthetic ground truth")
    request = AblationRequest("covidien-mwa", 100.0, 600.0, tumour_segments=("Tumor 1",))
    result, nodes = logic.predictZone([line], ctNode, segNode, request, show=False)
    library = plan_ablation([applicator], request, ct=small_patient.ct["portal venous"],
                            segmentation=small_patient.truth)
    assert result.margins["vendor"].minimal_margin_mm == pytest.approx(
        library.margins["vendor"].minimal_margin_mm, abs=1e-6)
    assert result.zone_volume_ml("vendor") == pytest.approx(library.zone_volume_ml("vendor"))
    table = nodes["marginTable"]
    assert table.GetCellText(0, 0) == "Minimal ablative margin (mm)"
    assert float(table.GetCellText(0, 1)) == pytest.approx(result.margins["vendor"].minimal_margin_mm, rel=1e-4)
    assert nodes["zones"].GetSegmentation().GetNumberOfSegments() >= 1
    assert "vendor zone" in logic.summaryHtml(result)
    with pytest.raises(ValueError, match="outside its chart"):
        logic.predictZone([line], ctNode, segNode, request.replace(power_w=150.0), show=False)
    with pytest.raises(ValueError, match="Select the CT"):
        logic.predictZone([line], None)


def test_widget_predicts_physics_and_cancels(ablation, gui, headless, sample, small_patient, monkeypatch):
    widget, ui = slicer_stubs.make_widget(ablation)
    _place(ablation, headless, small_patient)
    p = widget._parameterNode
    p.ctVolume = headless.scene.GetFirstNodeByName("Synthetic CT portal venous")
    p.segmentation = headless.scene.GetFirstNodeByName("Synthetic ground truth")
    p.ablationDevice = ablation.AblationDevice.AMICA_PROBE
    p.powerW, p.timeS = 20.0, 180.0
    p.zoneModel = ablation.ZoneModel.PHYSICS
    ui.predictButton.emit("clicked(bool)", True)
    assert ui.zoneStatusLabel.text == "Done: zones and tables added to the scene.", gui.errorDisplays
    assert "physics zone" in ui.marginResultsLabel.text
    assert ui.predictButton.text == "Predict ablation zone" and widget._cancelToken is None

    # Cancel pressed while the physics runs: nothing is added to the scene
    original = ablation.progress_to_widgets

    def clicking_cancel(bar, label):
        callback = original(bar, label)

        def inner(fraction, message):
            callback(fraction, message)
            if fraction > 0.3 and widget._cancelToken is not None and not widget._cancelToken.cancelled:
                assert ui.predictButton.text == "Cancel"
                ui.predictButton.emit("clicked(bool)", True)
        return inner

    monkeypatch.setattr(ablation, "progress_to_widgets", clicking_cancel)
    count = headless.scene.GetNumberOfNodes()
    ui.predictButton.emit("clicked(bool)", True)
    assert ui.zoneStatusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count
    widget.cleanup()
    assert np.isfinite(p.targetMarginMm)


def test_live_vendor_zone_follows_a_moved_applicator(ablation, gui, headless, sample, small_patient):
    """With live update on, moving an applicator point redraws the vendor zone in ONE node (updated in place),
    whose voxels equal the library's vendor zone for the new position."""
    from AblationSimulatorLib.applicator import Applicator
    from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation
    from AblationSimulatorLib.to_scene import LIVE_ATTRIBUTE
    from HCCInterventionalAILib.scene import node_to_segmentation

    widget, ui = slicer_stubs.make_widget(ablation)
    logic, line, applicator = _place(ablation, headless, small_patient)
    p = widget._parameterNode
    p.ctVolume = headless.scene.GetFirstNodeByName("Synthetic CT portal venous")
    p.currentApplicator = line
    p.liveUpdate = True
    ct = small_patient.ct["portal venous"]
    for shift in (0.0, 12.0):
        tip = np.asarray(applicator.tip_ras) + [0.0, shift, 0.0]
        entry = np.asarray(applicator.entry_ras) + [0.0, shift, 0.0]
        line.SetNthControlPointPosition(0, *tip)
        line.SetNthControlPointPosition(1, *entry)
        line.InvokeEvent(headless.slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
        node = widget._liveZoneNode
        assert node is not None and node.GetAttribute(LIVE_ATTRIBUTE) == "1"
        if shift == 0.0:
            first = node
        live = node_to_segmentation(node, ct.geometry)
        expected = plan_ablation([Applicator.from_ras(tip, entry)], AblationRequest(), ct=ct).vendor_zone
        assert np.array_equal(live.mask(live.names[0]).astype(bool), expected.astype(bool))
    assert widget._liveZoneNode is first
    lives = [headless.scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
             for i in range(headless.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]
    assert sum(n.GetAttribute(LIVE_ATTRIBUTE) == "1" for n in lives) == 1
    widget.cleanup()


def test_confirmation_from_the_widget_on_a_real_scene(ablation, gui, headless):
    """Confirmation section: synthetic pre/post CT (post = pre moved by a known translation; tumour r = 7 mm on the
    pre CT, zone r = 13 mm on the post CT, same body point: true margin 6 mm). Clicking Confirm (rigid only) adds
    the carried zone and the margin table whose minimal margin is 6 mm ± one voxel (1.5 mm), and the same number
    as the library on the same inputs. With a target of 8 mm (> 6 mm) the whole tumour surface is insufficient and
    appears as a yellow segment; a missing input is a one-sentence error."""
    from AblationSimulatorLib.confirmation import ConfirmationRequest, confirm_segmentations
    from AblationSimulatorLib.synthetic import confirmation_case
    from AblationSimulatorLib.to_scene import ZONE_COLOURS
    from HCCInterventionalAILib.scene import segmentation_to_node, volume_to_node

    case = confirmation_case()
    scene = headless.scene
    widget, ui = slicer_stubs.make_widget(ablation)
    p = widget._parameterNode
    p.confirmPreCt = volume_to_node(scene, case.pre_ct, "Pre CT")
    p.confirmTumourSegmentation = segmentation_to_node(scene, case.tumour)
    p.confirmPostCt = volume_to_node(scene, case.post_ct, "Post CT")
    p.confirmZoneSegmentation = segmentation_to_node(scene, case.zone)
    p.confirmDeformable = False
    p.targetMarginMm = 8.0
    ui.confirmButton.emit("clicked(bool)", True)
    assert ui.confirmStatusLabel.text.startswith("Done"), gui.errorDisplays
    assert "Minimal ablative margin" in ui.confirmResultsLabel.text
    assert ui.confirmButton.text == "Confirm ablation" and widget._confirmCancelToken is None
    table = scene.GetFirstNodeByName("Post CT confirmation margins")
    margin = float(table.GetCellText(0, 1))
    assert margin == pytest.approx(case.margin_mm, abs=1.5)
    library = confirm_segmentations(case.pre_ct, case.post_ct, case.tumour, case.zone,
                                    ConfirmationRequest(deformable=False, target_margin_mm=8.0))
    assert margin == pytest.approx(library.margins.minimal_margin_mm, abs=1e-3)
    zones = scene.GetFirstNodeByName("Post CT confirmation zone").GetSegmentation()
    insufficient = zones.GetSegment(zones.GetSegmentIdBySegmentName("Margin < 8 mm (confirmation)"))
    assert tuple(insufficient.GetColor()) == pytest.approx(ZONE_COLOURS["insufficient"])
    p.confirmPostCt = None
    with pytest.raises(ValueError, match="Select the post-ablation CT"):  # re-raised by the testing-mode display
        ui.confirmButton.emit("clicked(bool)", True)
    assert gui.errorDisplays[-1][0] == "Ablation confirmation failed."
    assert ui.confirmButton.text == "Confirm ablation"
    widget.cleanup()
