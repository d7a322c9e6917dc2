"""Segmentation inference in a worker process (issue 11, item 1): the ``liver-classical`` card on the small synthetic
patient (seed 7, CT 96×96×48 of 4×4×6 mm) in a real MRML scene.

The reference is the in-process :func:`HCCInterventionalAILib.models.segment_volume` on the fixture's own portal
venous CT (not read through the scene bridge). The worker reads the CT back from NRRD (int16 voxels and the
geometry written exactly, the phase as JSON metadata) and runs the same deterministic algorithm, so its
segments must equal the in-process labels voxel for voxel (tolerance 0 voxels). The voxels of the new node are
read straight from its VTK labelmaps (``_segment_mask``), independently of the scene bridge. Cancel and
bad-input checks look at the file system and at /proc (no process of the worker's process group survives).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import slicer_stubs
from test_module_logic_headless import _segment_mask

from HCCInterventionalAILib.process_runner import EXIT_CANCELLED, EXIT_USER_ERROR, ProcessRunner

MODEL = "liver-classical"
WORKER = "HCCInterventionalAILib.models.worker"


def _work_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hccai-segment-*")}


def _group_alive(pgid: int) -> list[int]:
    """Live (not zombie) processes of process group ``pgid`` (Linux /proc)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                alive.append(int(entry.name))
    return alive


#: ``python -c`` code that runs ``-m MODULE ARGS`` as Slicer's PythonSlicer would: typer and matplotlib are
#: unimportable (Slicer's Python bundles neither).
LIKE_SLICER = ("import runpy, sys; sys.modules['typer'] = sys.modules['matplotlib'] = None; module = sys.argv[2]; "
               "sys.argv = [module, *sys.argv[3:]]; runpy.run_module(module, run_name='__main__', alter_sys=True)")


def _python_like_slicer(tmp_path: Path) -> str:
    """A ``PythonSlicer`` stand-in (called as ``PythonSlicer -m MODULE ARGS``) without typer and matplotlib."""
    script = tmp_path / "PythonSlicer"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{LIKE_SLICER}" "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.skipif(os.name != "posix", reason="the PythonSlicer stand-in is a shell script")
def test_worker_gives_the_in_process_segmentation_as_a_new_node(hcc, sample, small_patient, headless, tmp_path):
    """Liver and Tumour of the worker (run by a Python without typer) equal labels 1 and 2 of the in-process
    ``segment_volume`` exactly, in a NEW node on the CT's grid (``_segment_mask`` checks the IJK→RAS matrix to
    1e-9 mm), with the card's colours; the temporary folder is gone afterwards."""
    from HCCInterventionalAILib.models import get_card, segment_volume

    reference = segment_volume(MODEL, small_patient.ct["portal venous"]).labels.array
    assert (reference == 1).sum() > 1000 and (reference == 2).sum() > 10  # a liver and tumours to compare

    logic, ct = hcc.HCCInterventionalAILogic(), sample["ctDisplayed"]
    segmentations = headless.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    before = _work_folders()
    progress, lines = [], []
    runner = logic.segmentInBackground(ct, MODEL, log=lines.append, progressCallback=lambda f, m: progress.append(f),
                                       pythonExecutable=_python_like_slicer(tmp_path))
    result = runner.run(timeout_s=60)
    assert result.succeeded, lines
    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) >= 6
    assert lines == ["2 segments written to " + str(runner.output)]
    node = logic.loadSegmentationResult(runner, ct, MODEL, show=False)
    assert not runner.folder.exists() and _work_folders() == before

    assert headless.scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == segmentations + 1
    assert node is not sample["segmentation"]
    assert node.GetName() == f"{ct.GetName()} {MODEL} segmentation"
    assert node.GetAttribute("HCCInterventionalAI.ModelCard") == get_card(MODEL).key
    segmentation = node.GetSegmentation()
    assert [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())] == [
        "Liver", "Tumour"]
    np.testing.assert_array_equal(_segment_mask(node, "Liver", ct), reference == 1)
    np.testing.assert_array_equal(_segment_mask(node, "Tumour", ct), reference == 2)
    liver = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName("Liver"))
    np.testing.assert_allclose(liver.GetColor(), (0.867, 0.510, 0.396), atol=1e-6)  # the card's colour


def test_phases_given_out_of_order_reach_the_worker_by_name(small_patient):
    """Arterial and portal venous CT given in that order (not the card's): the phase names travel as JSON metadata
    (NRRD cannot hold them), so the worker's labels equal the in-process ones exactly. Without the names the
    first image would be taken as portal venous, which changes 13796 voxels here (checked when writing this)."""
    from HCCInterventionalAILib.models import segment_volume
    from HCCInterventionalAILib.models.worker import read_segmentation_result, start_segmentation_worker

    phases = [small_patient.ct["arterial"], small_patient.ct["portal venous"]]
    reference = segment_volume(MODEL, phases).labels.array
    runner = start_segmentation_worker(phases, MODEL)
    assert runner.run(timeout_s=60).succeeded
    segmentation = read_segmentation_result(runner)
    assert not runner.folder.exists()
    np.testing.assert_array_equal(segmentation.mask("Liver"), reference == 1)
    np.testing.assert_array_equal(segmentation.mask("Tumour"), reference == 2)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process-group checks read /proc (Linux)")
def test_cancel_midway_leaves_nothing(hcc, sample, headless):
    """Cancel at the first progress above 0.15 (the image is read; the liver intensity model, about half of the
    algorithm's time, is under way): the worker ends through its SIGTERM handler (exit code 3), before 0.5; no new
    node, no output or work folder, no live process of its process group."""
    logic = hcc.HCCInterventionalAILogic()
    count, before = headless.scene.GetNumberOfNodes(), _work_folders()
    seen, lines = [], []

    def progress(fraction, message):
        seen.append(fraction)
        if fraction > 0.15 and not runner.cancelled:
            runner.cancel()

    runner = logic.segmentInBackground(sample["ctDisplayed"], MODEL, log=lines.append, progressCallback=progress)
    result = runner.run(timeout_s=60)
    assert result.cancelled and not result.succeeded and max(seen) < 0.5
    assert result.returncode == EXIT_CANCELLED, lines
    assert "[stderr] Cancelled; no output was written." in lines
    assert not runner.output.exists() and not runner.folder.exists() and _work_folders() == before
    assert _group_alive(runner.process.pid) == []
    assert headless.scene.GetNumberOfNodes() == count


def test_unknown_model_fails_in_one_line(small_patient, tmp_path):
    """An unknown model id: exit code 2, one ``error:`` line on stderr naming the id, no traceback, no output (nor
    a staging file or lock beside it); the worker imports nothing of the command line (typer blocked). Too many
    images for the card: the same."""
    from HCCInterventionalAILib.imaging.io import write_volume

    image = str(write_volume(small_patient.ct["portal venous"], tmp_path / "inputs" / "ct.nrrd"))
    (tmp_path / "out").mkdir()
    for arguments, expected in ((["--model", "no-such-model", "--image", image], "no-such-model"),
                                (["--model", MODEL, *["--image", image] * 4], "needs 3 input volumes")):
        done = subprocess.run([sys.executable, "-c", LIKE_SLICER, "-m", WORKER, *arguments,
                               "-o", str(tmp_path / "out" / "seg.seg.nrrd")],
                              capture_output=True, text=True, timeout=60, env={**os.environ})
        assert done.returncode == EXIT_USER_ERROR, done.stderr
        assert done.stderr.startswith("error: ") and expected in done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
        assert os.listdir(tmp_path / "out") == []


def test_bad_input_fails_before_any_process(hcc, sample, monkeypatch):
    """The module refuses an unknown model, a missing volume and a wrong number of volumes before it writes a
    work folder or starts a process."""
    from HCCInterventionalAILib.models import UnknownModelError

    started = []
    monkeypatch.setattr(ProcessRunner, "start", lambda self: started.append(self))
    logic, before, ct = hcc.HCCInterventionalAILogic(), _work_folders(), sample["ctDisplayed"]
    with pytest.raises(UnknownModelError, match="no-such-model"):
        logic.segmentInBackground(ct, "no-such-model")
    with pytest.raises(ValueError, match="Select an input volume"):
        logic.segmentInBackground(None, MODEL)
    with pytest.raises(ValueError, match="needs 3 input volumes"):
        logic.segmentInBackground([ct] * 4, MODEL)
    assert started == [] and _work_folders() == before


def test_widget_segments_in_a_worker_from_a_timer_and_cancels(hcc, gui, headless, sample):
    """Segment with "Run in a background process" (the default): a QTimer polls the worker, the result becomes
    the measured segmentation; Cancel (the same button) ends it and adds nothing."""
    widget, ui = slicer_stubs.make_widget(hcc)
    parameters = widget._parameterNode
    assert parameters.runInWorker
    parameters.inputVolume, parameters.modelId = sample["ctDisplayed"], MODEL

    def drive(cancel_above: int | None = None) -> None:
        deadline = time.monotonic() + 60
        while widget._cancelToken is not None and time.monotonic() < deadline:
            if cancel_above is not None and ui.segmentationProgressBar.value > cancel_above:
                ui.segmentButton.emit("clicked(bool)", True)  # the button is Cancel while the worker runs
            widget._worker.timer.timeout.emit()
            time.sleep(0.02)

    count = headless.scene.GetNumberOfNodes()
    ui.segmentButton.emit("clicked(bool)", True)
    assert ui.segmentButton.text == "Cancel" and widget._worker.timer.isActive()
    assert not ui.runInWorkerCheckBox.enabled and not ui.modelComboBox.enabled
    drive()
    name = f"{sample['ctDisplayed'].GetName()} {MODEL} segmentation"
    assert ui.segmentationStatusLabel.text == f"Created segmentation '{name}'.", ui.segmentationStatusLabel.toolTip
    assert parameters.statsSegmentation.GetName() == name and headless.scene.GetNumberOfNodes() > count
    assert ui.segmentButton.text == "Segment" and not widget._worker.timer.isActive()
    assert not widget._worker.runner.folder.exists()

    count = headless.scene.GetNumberOfNodes()
    ui.segmentButton.emit("clicked(bool)", True)
    drive(cancel_above=15)
    assert ui.segmentationStatusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count and not widget._worker.runner.folder.exists()
    assert ui.segmentButton.text == "Segment" and ui.runInWorkerCheckBox.enabled
    widget.cleanup()


def test_worker_python_prefers_python_slicer_beside_the_application(tmp_path, monkeypatch):
    """Inside Slicer ``sys.executable`` is the application and ``PythonSlicer`` lies beside it (Slicer's bin
    folder): workers run with that; an explicit executable wins; outside Slicer ``sys.executable`` (no
    PythonSlicer on this machine's PATH)."""
    from HCCInterventionalAILib import process_runner

    application = tmp_path / "bin" / "SlicerApp-real"
    application.parent.mkdir()
    application.write_text("")
    assert process_runner.worker_python("/opt/python") == "/opt/python"
    monkeypatch.setattr(process_runner.shutil, "which", lambda name: None)
    assert process_runner.worker_python() == sys.executable
    (tmp_path / "bin" / "PythonSlicer").write_text("")
    monkeypatch.setattr(process_runner.sys, "executable", str(application))
    assert process_runner.worker_python() == str(tmp_path / "bin" / "PythonSlicer")
