"""The HCCImageEnhancement module: its Logic headless on a REAL MRML scene (Testing/slicer_stubs.py), in-process and
through the worker process, and its template classes.

References are independent of the module: the synthetic runs' analytic iodine (``simulate_angio_run``: frames are
Poisson counts of ``I0·exp(−(A(x + u_t) + D_t))``, so perfect DSA = ``D_t``) and sums/means computed here from the
nodes' own arrays.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import test_module_gui_static as gui_static
from packaging_lists import ROOT
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

MODULE = "HCCImageEnhancement"
MODULE_FILE = ROOT / "HCCInterventionalAI" / f"{MODULE}.py"
MARGIN = 8


def test_template_classes_and_length():
    gui_static.check_template_module(MODULE_FILE, MODULE)


pytest.importorskip("torch")
pytestmark = pytest.mark.scene


@pytest.fixture
def module(headless):
    """The module file loaded with the stand-ins (slicer_stubs.Headless.load finds it in HCCInterventionalAI/)."""
    return headless.load(MODULE)


@pytest.fixture(scope="module")
def rigid_run():
    from HCCInterventionalAILib.enhancement import simulate_angio_run

    return simulate_angio_run(n_frames=6, shape=(96, 96), motion="rigid", seed=3)


def _background_rms(run, dsa) -> float:
    keep = ~run.vessel_mask & ~run.tumour_mask
    keep[:MARGIN], keep[-MARGIN:], keep[:, :MARGIN], keep[:, -MARGIN:] = False, False, False, False
    return float(np.sqrt(np.mean(((dsa - run.iodine)[1:][:, keep]) ** 2)))


def _sequence(headless, run, spacing=(0.5, 0.5)):
    """The run as a sequence of 2D frame volumes, time index in ms (so the reader must convert to s)."""
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import volume_to_node

    scene = headless.scene
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", "Run")
    sequence.SetIndexUnit("ms")
    for index, frame in enumerate(run.frames):
        node = volume_to_node(scene, Volume.from_array(frame[None], spacing=(*spacing, 1.0), name=f"f{index}"))
        sequence.SetDataNodeAtValue(node, str(1000.0 * run.times_s[index]))
        scene.RemoveNode(node)
    return sequence


def test_subtract_a_volume_run_into_a_new_volume(module, headless, rigid_run):
    """Volume input (k = frames): the output is a NEW volume of the input's shape and grid; rigid compensation brings
    the background residual (RMS of DSA − true iodine) below half that of plain subtraction; the input is unchanged."""
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import node_to_volume, volume_to_node

    logic = module.HCCImageEnhancementLogic()
    node = volume_to_node(headless.scene, Volume.from_array(rigid_run.frames, spacing=(0.4, 0.4, 1.0), name="XA"))
    before = node_to_volume(node).array.copy()
    residual = {}
    for motion in ("none", "rigid"):
        nodes = logic.subtract(node, motion=motion, maskIndex=0, show=False)
        output = node_to_volume(nodes["volume"])
        assert output.shape == rigid_run.frames.shape and output.spacing == pytest.approx((0.4, 0.4, 1.0))
        residual[motion] = _background_rms(rigid_run, output.array)
        assert nodes["volume"].GetName() == f"XA DSA ({motion})"
    assert residual["rigid"] < 0.5 * residual["none"]
    np.testing.assert_array_equal(node_to_volume(node).array, before)


def test_subtract_a_sequence_with_a_roi_curve(module, headless, rigid_run):
    """Sequence input (times in ms): a NEW sequence with one DSA frame per input frame at the same times (s); a markups
    ROI around the tumour gives a curve table + plot whose values equal the mean of the output frames inside the
    box, computed here from the pixel centres (box 10 px either side of the tumour centre)."""
    from HCCInterventionalAILib.scene import node_to_volume

    scene = headless.scene
    sequence = _sequence(headless, rigid_run)
    rows, cols = np.nonzero(rigid_run.tumour_mask)
    r, c = float(rows.mean()), float(cols.mean())
    roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "Tumour box")
    # Frame pixel (row, col) is at RAS (−0.5·col, −0.5·row, 0) (identity LPS direction, origin 0): box of ±5 mm.
    roi.SetCenterWorld(-0.5 * c, -0.5 * r, 0.0)
    roi.SetSizeWorld(10.0, 10.0, 1.0)
    logic = module.HCCImageEnhancementLogic()
    nodes = logic.subtract(sequence, motion="none", maskIndex=0, roiNode=roi, show=False)
    out = nodes["sequence"]
    assert out.GetNumberOfDataNodes() == rigid_run.frames.shape[0]
    assert [float(out.GetNthIndexValue(i)) for i in range(out.GetNumberOfDataNodes())] == pytest.approx(
        list(rigid_run.times_s), abs=1e-3)
    dsa = np.stack([node_to_volume(out.GetNthDataNode(i)).array[0] for i in range(out.GetNumberOfDataNodes())])
    np.testing.assert_allclose(dsa, np.log(np.maximum(rigid_run.frames[0], 0.5)) - np.log(np.maximum(
        rigid_run.frames, 0.5)), atol=1e-5)
    rr, cc = np.mgrid[0:96, 0:96]
    box = (np.abs(rr - r) * 0.5 <= 5.0) & (np.abs(cc - c) * 0.5 <= 5.0)
    table = nodes["curve"].GetTable()
    curve = [table.GetValue(i, 1).ToDouble() for i in range(table.GetNumberOfRows())]
    np.testing.assert_allclose(curve, dsa[:, box].mean(axis=1), rtol=1e-5, atol=1e-6)
    assert nodes["chart"].GetNumberOfPlotSeriesNodes() == 1


def test_curve_region_from_a_segment(module, headless, rigid_run):
    """Volume input and a segmentation on the run's grid holding the tumour (in every frame) and a decoy segment: the
    curve of the named segment equals the mean DSA inside the tumour mask, frame by frame (computed here)."""
    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import node_to_volume, segmentation_to_node, volume_to_node

    run = rigid_run
    node = volume_to_node(headless.scene, Volume.from_array(run.frames, name="XA"))
    grid = node_to_volume(node).geometry
    segmentation = Segmentation(grid, name="Regions")
    segmentation.add("Decoy", np.broadcast_to(~run.tumour_mask, run.frames.shape))
    segmentation.add("Tumour", np.broadcast_to(run.tumour_mask, run.frames.shape))
    seg_node = segmentation_to_node(headless.scene, segmentation, "Regions", reference_volume_node=node)
    logic = module.HCCImageEnhancementLogic()
    nodes = logic.subtract(node, motion="none", maskIndex=0, roiNode=seg_node, roiSegment="Tumour", show=False)
    dsa = node_to_volume(nodes["volume"]).array
    table = nodes["curve"].GetTable()
    curve = [table.GetValue(i, 1).ToDouble() for i in range(table.GetNumberOfRows())]
    np.testing.assert_allclose(curve, dsa[:, run.tumour_mask].mean(axis=1), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no segment 'Liver'"):
        logic.subtract(node, motion="none", maskIndex=0, roiNode=seg_node, roiSegment="Liver", show=False)


def test_subtract_in_a_worker_process(module, headless, rigid_run):
    """The worker gives the same DSA as the in-process run (same library call, read back from its files), and its
    temporary folder is removed after reading."""
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import node_to_volume, volume_to_node

    logic = module.HCCImageEnhancementLogic()
    node = volume_to_node(headless.scene, Volume.from_array(rigid_run.frames, name="XA"))
    runner, context = logic.startSubtractWorker(node, motion="none", maskIndex=0, pythonExecutable=sys.executable)
    assert runner.run().returncode == 0
    folder = runner.folder
    nodes = logic.loadSubtractResult(runner, context, show=False)
    expected = np.log(np.maximum(rigid_run.frames[0], 0.5)) - np.log(np.maximum(rigid_run.frames, 0.5))
    np.testing.assert_allclose(node_to_volume(nodes["volume"]).array, expected, atol=1e-5)
    assert not folder.exists()


def test_mask_free_network_dsa_equals_the_library(module, headless, rigid_run):
    """Method "dl" (mask-free network, card dsa-maskfree-synthetic) through the module: in-process on a sequence (a NEW
    sequence at the input's times) and through the worker process on a volume (a NEW volume), the output frames equal
    the library's ``subtract_run_dl`` on the same frames (|Δ| ≤ 1e-5 log units; the reference is computed here by the
    library directly); the input is unchanged, the worker's folder is removed and an unknown method is refused."""
    from HCCInterventionalAILib.enhancement.dl_dsa import subtract_run_dl
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import node_to_volume, volume_to_node

    expected = subtract_run_dl(rigid_run.frames, device="cpu")
    logic = module.HCCImageEnhancementLogic()
    sequence = _sequence(headless, rigid_run)
    nodes = logic.subtract(sequence, method="dl", show=False)
    out = nodes["sequence"]
    assert out.GetName() == "Run DSA (mask-free network)" and out.GetNumberOfDataNodes() == len(rigid_run.frames)
    assert [float(out.GetNthIndexValue(i)) for i in range(out.GetNumberOfDataNodes())] == pytest.approx(
        list(rigid_run.times_s), abs=1e-3)
    dsa = np.stack([node_to_volume(out.GetNthDataNode(i)).array[0] for i in range(out.GetNumberOfDataNodes())])
    np.testing.assert_allclose(dsa, expected, atol=1e-5)
    assert nodes["result"].model["model_id"] == "dsa-maskfree-synthetic"

    node = volume_to_node(headless.scene, Volume.from_array(rigid_run.frames, name="XA"))
    before = node_to_volume(node).array.copy()
    runner, context = logic.startSubtractWorker(node, method="dl", pythonExecutable=sys.executable)
    assert runner.run().returncode == 0
    folder = runner.folder
    nodes = logic.loadSubtractResult(runner, context, show=False)
    assert nodes["volume"].GetName() == "XA DSA (mask-free network)" and not folder.exists()
    np.testing.assert_allclose(node_to_volume(nodes["volume"]).array, expected, atol=1e-5)
    np.testing.assert_array_equal(node_to_volume(node).array, before)
    with pytest.raises(ValueError, match="classical or dl"):
        logic.subtract(node, method="magic", show=False)


def test_bad_runs_give_clear_errors(module, headless):
    """One-frame volumes and 8-bit frames are refused with a ValueError naming the problem; nothing is added."""
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import volume_to_node

    logic = module.HCCImageEnhancementLogic()
    scene = headless.scene
    single = volume_to_node(scene, Volume.from_array(np.full((1, 16, 16), 100.0, np.float32), name="one"))
    eight_bit = volume_to_node(scene, Volume.from_array(np.full((3, 16, 16), 100, np.uint8), name="png"))
    count = scene.GetNumberOfNodes()
    with pytest.raises(ValueError, match="at least 2 frames"):
        logic.subtract(single, motion="none", show=False)
    with pytest.raises(ValueError, match="8-bit"):
        logic.subtract(eight_bit, motion="none", show=False)
    with pytest.raises(ValueError, match="Select an angiographic run"):
        logic.subtract(None, show=False)
    assert scene.GetNumberOfNodes() == count


@pytest.fixture(scope="module")
def noisy_ct():
    """A SYNTHETIC CT: air around a 60 HU body (radius 28 px) with a 20 px wide, 120 HU lesion; Gaussian noise
    sd 30 HU (clean copy kept). Returns (noisy, clean, lesion 2D mask, body 2D mask)."""
    from HCCInterventionalAILib.imaging.volume import Volume

    rng = np.random.default_rng(0)
    jj, ii = np.mgrid[0:64, 0:64]
    body = (jj - 32) ** 2 + (ii - 32) ** 2 <= 28**2
    lesion = (jj - 32) ** 2 + (ii - 32) ** 2 <= 10**2
    clean = np.full((6, 64, 64), -1000.0, np.float32)
    clean[:, body] = 60.0
    clean[:, lesion] = 120.0
    noisy = clean + rng.normal(0.0, 30.0, clean.shape).astype(np.float32)
    make = lambda a, n: Volume.from_array(a, spacing=(1.0, 1.0, 2.0), modality="CT", units="HU", name=n)  # noqa: E731
    return make(noisy, "Noisy CT"), make(clean, "Clean CT"), lesion, body


def test_denoise_with_quality_regions_and_reference(module, headless, noisy_ct):
    """Noise2Self on the noisy CT: NEW denoised and difference volumes (difference = denoised − input exactly), the
    quality table holds SNR/CNR computed from the segments (recomputed here with numpy) and a PSNR against the clean
    reference that rises after denoising; the input node is unchanged."""
    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.scene import (
        node_to_volume,
        segmentation_to_node,
        table_node_to_dataframe,
        volume_to_node,
    )

    noisy, clean, lesion, body2d = noisy_ct
    scene = headless.scene
    ct_node = volume_to_node(scene, noisy)
    reference = volume_to_node(scene, clean)
    lesion3d = np.broadcast_to(lesion, noisy.shape)
    from scipy.ndimage import binary_erosion

    body = np.broadcast_to(binary_erosion(body2d, iterations=4), noisy.shape)  # away from the air edge
    segmentation = Segmentation(noisy.geometry, name="Regions")
    segmentation.add("Lesion", lesion3d)
    segmentation.add("Body", body)
    seg_node = segmentation_to_node(scene, segmentation, "Regions", reference_volume_node=ct_node)
    ids = {seg_node.GetSegmentation().GetNthSegment(i).GetName(): seg_node.GetSegmentation().GetNthSegmentID(i)
           for i in range(2)}
    logic = module.HCCImageEnhancementLogic()
    nodes = logic.denoise(ct_node, iterations=50, qualitySegmentation=seg_node, lesionSegment=ids["Lesion"],
                          backgroundSegment=ids["Body"], referenceVolume=reference)
    denoised = node_to_volume(nodes["denoised"]).array
    np.testing.assert_allclose(node_to_volume(nodes["difference"]).array, denoised - noisy.array, atol=1e-3)
    np.testing.assert_array_equal(node_to_volume(ct_node).array, noisy.array)
    row = table_node_to_dataframe(nodes["table"]).iloc[0]
    background = body & ~lesion3d
    for image, suffix in ((noisy.array, "before"), (denoised, "after")):
        snr = image[background].mean() / image[background].std(ddof=1)
        cnr = (image[lesion3d].mean() - image[background].mean()) / image[background].std(ddof=1)
        assert float(row[f"snr_{suffix}"]) == pytest.approx(snr, rel=1e-3)
        assert float(row[f"cnr_{suffix}"]) == pytest.approx(cnr, rel=1e-3)
    assert float(row["cnr_after"]) > float(row["cnr_before"])
    assert float(row["psnr_after_db"]) > float(row["psnr_before_db"])
    assert "hallucination_flagged" in row.index
    assert nodes["denoised"].GetAttribute("HCCImageEnhancement.HallucinationFlagged") in ("True", "False")


def test_denoise_in_a_worker_and_refuses_non_ct(module, headless, noisy_ct, monkeypatch):
    """The worker path gives a denoised volume on the input's grid with lower noise; an MR volume is refused with a
    clear error before anything starts."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the worker inherits it: torch on one thread (see torch_threads)
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import node_to_volume, volume_to_node

    noisy, _clean, _lesion, _body = noisy_ct
    logic = module.HCCImageEnhancementLogic()
    ct_node = volume_to_node(headless.scene, noisy)
    runner, context = logic.startDenoiseWorker(ct_node, iterations=20, pythonExecutable=sys.executable)
    assert runner.run().returncode == 0
    nodes = logic.loadDenoiseResult(runner, context)
    assert node_to_volume(nodes["denoised"]).geometry.same_grid(noisy.geometry)
    assert nodes["result"].noise_sd_after_hu < nodes["result"].noise_sd_before_hu
    mr = volume_to_node(headless.scene, Volume.from_array(noisy.array, modality="MR", name="MR"))
    with pytest.raises(ValueError, match="CT"):
        logic.startDenoiseWorker(mr, iterations=5, pythonExecutable=sys.executable)


def test_method_choices_list_registered_denoiser_cards(module, headless, tmp_path, monkeypatch):
    """A CT image-to-image card in $HCCAI_MODEL_CARDS appears in the method list after Noise2Self; a segmentation
    card does not."""
    import json

    cards = tmp_path / "cards"
    cards.mkdir()
    card = {"id": "toy-denoiser", "version": "1.0.0", "name": "Toy denoiser", "task": "image-to-image",
            "format": "state_dict", "network": {"name": "CNN10"}, "input": {"modality": "CT", "spatial_dims": 2},
            "files": [{"url": "https://example.org/toy.pt", "filename": "toy.pt", "sha256": "0" * 64}],
            "licence": {"name": "MIT"}, "training": {"trained_by_project": False, "data": "none"},
            "intended_use": "test", "research_only": True, "validation_status": "none"}
    (cards / "toy.json").write_text(json.dumps(card), encoding="utf-8")
    monkeypatch.setenv("HCCAI_MODEL_CARDS", str(cards))
    choices = module.HCCImageEnhancementLogic().denoiserChoices()
    assert choices[0][1] == "noise2self"
    keys = [key for _label, key in choices]
    assert "toy-denoiser@1.0.0" in keys and "liver-classical@1.0.0" not in keys


def test_widget_smoke(module, headless, gui, rigid_run, monkeypatch):
    """The widget builds from the .ui, binds the parameter node and runs a DSA in-process from its button, classical
    and with the mask-free network (whose choice disables the mask and motion controls)."""
    import slicer_stubs

    monkeypatch.setattr(module.HCCImageEnhancementLogic, "installRequirements", lambda self: None)  # no PyTorchUtils

    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.scene import volume_to_node

    node = volume_to_node(headless.scene, Volume.from_array(rigid_run.frames, name="XA"))
    widget, ui = slicer_stubs.make_widget(module)
    parameters = widget._parameterNode
    parameters.runNode = node
    parameters.runInWorker = False
    parameters.motion = module.MotionModel.NONE
    assert ui.dsaButton.enabled and ui.denoiseMethodComboBox.itemData(0) == "noise2self"
    parameters.dsaMethod = module.DSAMethod.DL  # the mask-free network has no mask or motion to set
    assert not ui.motionComboBox.enabled and not ui.maskIndexSpinBox.enabled
    parameters.dsaMethod = module.DSAMethod.CLASSICAL
    assert ui.motionComboBox.enabled
    ui.dsaButton.emit("clicked(bool)", False)
    assert "XA DSA (none)" in ui.dsaStatusLabel.text
    assert ui.dsaButton.text == "Subtract"
    parameters.dsaMethod = module.DSAMethod.DL
    ui.dsaButton.emit("clicked(bool)", False)
    assert "'XA DSA (mask-free network)' (mask-free network" in ui.dsaStatusLabel.text, ui.dsaStatusLabel.text
    widget.cleanup()


def test_module_self_test(module, headless, monkeypatch):
    """The module's own self test (Slicer: Reload and Test) passes headless: a small synthetic DSA and a denoising."""
    monkeypatch.setattr(module.HCCImageEnhancementLogic, "installRequirements", lambda self: None)  # no PyTorchUtils
    test = module.HCCImageEnhancementTest()
    test.runTest()


def test_cancel_leaves_the_scene_unchanged(module, headless, rigid_run, noisy_ct):
    """A cancelled DSA or denoising raises Cancelled and adds no node."""
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.progress import Cancelled, CancelToken
    from HCCInterventionalAILib.scene import volume_to_node

    logic = module.HCCImageEnhancementLogic()
    scene = headless.scene
    run_node = volume_to_node(scene, Volume.from_array(rigid_run.frames, name="XA"))
    ct_node = volume_to_node(scene, noisy_ct[0])
    count = scene.GetNumberOfNodes()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        logic.subtract(run_node, motion="rigid", maskIndex=0, cancelToken=token, show=False)
    with pytest.raises(Cancelled):
        logic.denoise(ct_node, iterations=5, cancelToken=token)
    assert scene.GetNumberOfNodes() == count


def test_widget_denoises_in_a_worker_from_a_timer_and_cancels(module, headless, gui, noisy_ct, monkeypatch):
    """'Run in a worker process' (the default): the Denoise button starts the worker and turns into Cancel, a QTimer
    polls it and the result becomes NEW nodes with the hallucination verdict shown; pressing Cancel while it runs
    ends the worker, adds nothing and removes its temporary folder."""
    import time

    import slicer_stubs

    from HCCInterventionalAILib.scene import volume_to_node

    monkeypatch.setattr(module.HCCImageEnhancementLogic, "installRequirements", lambda self: None)  # no PyTorchUtils
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    widget, ui = slicer_stubs.make_widget(module)
    parameters = widget._parameterNode
    assert parameters.runInWorker
    parameters.ctVolume = volume_to_node(headless.scene, noisy_ct[0])
    parameters.iterations = 20

    def drive(cancel: bool = False) -> None:
        deadline = time.monotonic() + 120
        while widget._running["denoise"] is not None and time.monotonic() < deadline:
            if cancel:
                ui.denoiseButton.emit("clicked(bool)", True)  # the button is Cancel while the worker runs
            widget._workers[-1].timer.timeout.emit()
            time.sleep(0.02)

    count = headless.scene.GetNumberOfNodes()
    ui.denoiseButton.emit("clicked(bool)", True)
    assert ui.denoiseButton.text == "Cancel" and not ui.runInWorkerCheckBox.enabled
    drive()
    assert ui.denoiseStatusLabel.text.startswith("Created 'Noisy CT denoised (noise2self)'"), ui.denoiseStatusLabel.toolTip
    assert "hallucination" in ui.hallucinationLabel.text.lower()
    assert headless.scene.GetNumberOfNodes() > count and ui.denoiseButton.text == "Denoise"
    assert not widget._workers[-1].runner.folder.exists()

    count = headless.scene.GetNumberOfNodes()
    ui.denoiseButton.emit("clicked(bool)", True)
    drive(cancel=True)
    assert ui.denoiseStatusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count and not widget._workers[-1].runner.folder.exists()
    assert ui.denoiseButton.text == "Denoise" and ui.runInWorkerCheckBox.enabled
    widget.cleanup()
