"""Y-90 planning in a worker process (issue 11, item 1), on the small synthetic patient in a real MRML scene.

The reference is the in-process :meth:`Y90DosimetryLogic.plan` on the same nodes: the worker reads the same
images back from NRRD files (float32 voxels and the geometry written exactly), so activity, lung shunt fraction
and lung dose must agree to rel 1e-6 and the dose voxels to float32 rounding (rel 1e-5). Cancel and bad-input
checks look at the file system and at /proc (no process of the worker's process group survives).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import slicer_stubs

from HCCInterventionalAILib.process_runner import ProcessRunner
from Y90DosimetryLib import PlanRequest
from Y90DosimetryLib.errors import Y90InputError
from Y90DosimetryLib.results import to_jsonable

PLAN = {"method": "partition", "microsphere": "glass", "target": "tumour", "target_dose_gy": 205.0}


def _work_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hccai-y90-*")}


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


def _array(node) -> np.ndarray:
    from vtk.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())


def test_plan_request_round_trips_through_json():
    """Every field, datetimes included (as ISO text), comes back equal; a bad date or option is a Y90InputError."""
    request = PlanRequest(method="partition", microsphere="resin", target="tumour", target_dose_gy=120.0,
                          calibration=datetime(2026, 3, 1, 12, 0), treatment=datetime(2026, 3, 2, 9, 30, 15),
                          residual_fraction=0.05, roles={"liver": "Liver", "tumours": ["Tumor 1"]},
                          lung_shunt_fraction=0.07, device="cpu")
    text = request.to_json()
    assert '"2026-03-02T09:30:15"' in text
    assert PlanRequest.from_json(text) == request
    hours = PlanRequest(calibration=22.5)  # the calibration may also be hours before the treatment
    assert PlanRequest.from_json(hours.to_json()).calibration == 22.5
    with pytest.raises(Y90InputError, match="injection_time"):
        PlanRequest.from_json('{"injection_time": "yesterday"}')
    with pytest.raises(Y90InputError, match="Unknown plan option"):
        PlanRequest.from_json('{"methd": "mird"}')
    with pytest.raises(Y90InputError, match="not valid JSON"):
        PlanRequest.from_json("{")


def _python_like_slicer(tmp_path: Path) -> str:
    """A Python executable that has neither typer nor matplotlib, as Slicer's PythonSlicer (called with
    ``-m Y90DosimetryLib.worker ARGS``)."""
    script = tmp_path / "PythonSlicer"
    code = ("import runpy, sys; sys.modules['typer'] = sys.modules['matplotlib'] = None; "
            "sys.argv = ['worker', *sys.argv[3:]]; runpy.run_module('Y90DosimetryLib.worker', "
            "run_name='__main__', alter_sys=True)")
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{code}" "$@"\n')
    script.chmod(0o755)
    return str(script)


@pytest.mark.skipif(os.name != "posix", reason="the PythonSlicer stand-in is a shell script")
def test_worker_gives_the_in_process_plan_as_new_nodes(y90, sample, headless, tmp_path):
    """Kernel-dose partition plan to 205 Gy in the tumours, in-process and through the worker process (run by a
    Python without typer and matplotlib, as Slicer's)."""
    logic, spect, segmentation = y90.Y90DosimetryLogic(), sample["spect"], sample["segmentation"]
    reference = logic.plan(spect, segmentation, show=False, **PLAN)
    count = headless.scene.GetNumberOfNodes()
    progress, lines = [], []
    runner = logic.planInBackground(spect, segmentation, log=lines.append, pythonExecutable=_python_like_slicer(
        tmp_path), progressCallback=lambda f, m: progress.append((f, m)), **PLAN)
    assert runner.run(timeout_s=120).succeeded, lines
    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 5
    assert sorted(p.name for p in runner.output.iterdir()) == [
        "compartments.csv", "dose.nrrd", "dose_statistics.csv", "dvh.csv", "plan.json"]
    outputs = logic.loadBackgroundResult(runner, spect, segmentationNode=segmentation, show=False)
    assert not runner.folder.exists()  # the temporary folder (inputs, outputs) is gone

    expected, got = reference["result"], outputs["result"]
    assert got.activity_gbq == pytest.approx(expected.activity_gbq, rel=1e-6)
    assert got.lung_shunt.lung_shunt_fraction == pytest.approx(expected.lung_shunt.lung_shunt_fraction, rel=1e-6)
    assert got.lung_dose_gy == pytest.approx(expected.lung_dose_gy, rel=1e-6)
    assert got.evaluation.lung.dose_gy == pytest.approx(expected.evaluation.lung.dose_gy, rel=1e-6)
    np.testing.assert_allclose(_array(outputs["dose"]), _array(reference["dose"]), rtol=1e-5, atol=1e-6)
    # the dose's metadata (NRRD cannot hold it) comes back from plan.json as computed
    assert got.dose.metadata == json.loads(json.dumps(to_jsonable(expected.dose.metadata)))
    assert got.dose.metadata["warnings"] == list(expected.dose.metadata["warnings"])
    assert logic.summaryHtml(outputs) == logic.summaryHtml(reference)

    keys = ("dose", "planTable", "statisticsTable", "dvhChart")
    assert all(outputs[key] is not None and outputs[key] is not reference[key] for key in keys)
    assert headless.scene.GetNumberOfNodes() > count
    assert outputs["planTable"].GetName() == "Synthetic MAA SPECT Y-90 plan_1"  # a new node, the first untouched
    assert outputs["planTable"].GetNumberOfRows() == reference["planTable"].GetNumberOfRows()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process-group checks read /proc (Linux)")
def test_cancel_midway_leaves_nothing(y90, sample, headless):
    """Cancel after the first progress above 0.3 (images read, planning under way): no new node, no output or
    staging folder, no live process of the worker's process group."""
    logic = y90.Y90DosimetryLogic()
    count, before = headless.scene.GetNumberOfNodes(), _work_folders()
    seen = []

    def progress(fraction, message):
        seen.append(fraction)
        if fraction > 0.3 and not runner.cancelled:
            runner.cancel()

    runner = logic.planInBackground(sample["spect"], sample["segmentation"], progressCallback=progress, **PLAN)
    result = runner.run(timeout_s=120)
    assert result.cancelled and not result.succeeded and max(seen) < 1.0
    assert not runner.output.exists() and not runner.folder.exists() and _work_folders() == before
    assert _group_alive(runner.process.pid) == []
    assert headless.scene.GetNumberOfNodes() == count


def test_image_metadata_reaches_the_worker_plan(small_patient, tmp_path):
    """The worker hands image metadata that NRRD cannot hold (here the acquisition time of a quantitative Y-90
    image) to ``run_y90_cli`` as JSON. Imaged 72 h after the injection, the activity at injection is the image's
    activity times 2^(72 h / 64.05 h) (Y-90 half-life, NNDC), rel 1e-3; without the metadata it is not corrected."""
    from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume
    from Y90DosimetryLib.plan_files import run_y90_cli

    image = small_patient.spect.with_array(small_patient.spect.array.astype(np.float32) * 1000.0, units="Bq/ml")
    spect = write_volume(image, tmp_path / "y90.nrrd")
    segmentation = write_segmentation(small_patient.spect_truth_segmentation, tmp_path / "seg.seg.nrrd")
    request = PlanRequest(activity_source="quantitative", injection_time=datetime(2026, 3, 1, 10), dose_method="none")
    plain = run_y90_cli(spect, segmentation, tmp_path / "plain", request, report=False, rtdose=False)
    timed = run_y90_cli(spect, segmentation, tmp_path / "timed", request, report=False, rtdose=False,
                        metadata={"spect": {"acquisition_datetime": "2026-03-04T10:00:00"}})
    assert any("No image time" in warning for warning in plain.warnings)
    assert timed.activity_gbq == pytest.approx(plain.activity_gbq * 2 ** (72 / 64.05), rel=1e-3)


def test_bad_input_fails_before_any_process(y90, sample, monkeypatch):
    started = []
    monkeypatch.setattr(ProcessRunner, "start", lambda self: started.append(self))
    logic, before = y90.Y90DosimetryLogic(), _work_folders()
    with pytest.raises(ValueError, match="segmentation"):
        logic.planInBackground(sample["spect"], None, **PLAN)
    with pytest.raises(Y90InputError, match="Unknown method"):
        logic.planInBackground(sample["spect"], sample["segmentation"], method="guess")
    assert started == [] and _work_folders() == before


#: Runs the worker as ``python -m`` would, with typer unimportable (Slicer's Python does not bundle it).
WITHOUT_TYPER = ("import runpy, sys; sys.modules['typer'] = None; sys.argv[0] = 'worker'; "
                 "runpy.run_module('Y90DosimetryLib.worker', run_name='__main__', alter_sys=True)")


def test_worker_reports_a_user_error_in_one_line(tmp_path):
    """A missing input: exit code 2, one ``error:`` line on stderr, no traceback, no output folder; the worker
    imports nothing of the command line (typer blocked)."""
    (tmp_path / "request.json").write_text(PlanRequest().to_json())
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TYPER, "--request", str(tmp_path / "request.json"),
         "--spect", str(tmp_path / "missing.nrrd"), "--segmentation", str(tmp_path / "missing.seg.nrrd"),
         "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_widget_runs_the_worker_from_a_timer_and_cancels_it(y90, gui, headless, sample):
    """Apply with "Run in a background process" (the default): a QTimer polls the worker; Cancel ends it."""
    import time

    widget, ui = slicer_stubs.make_widget(y90)
    parameters = widget._parameterNode
    assert parameters.runInWorker
    parameters.voxelDosimetry = y90.VoxelDosimetry.LOCAL

    def drive(cancel_after: float | None = None) -> None:
        deadline = time.monotonic() + 120
        while widget._cancelToken is not None and time.monotonic() < deadline:
            if cancel_after is not None and ui.progressBar.value > 100 * cancel_after:
                ui.applyButton.emit("clicked(bool)", True)  # the button is Cancel while the worker runs
            widget._worker.timer.timeout.emit()
            time.sleep(0.05)

    ui.applyButton.emit("clicked(bool)", True)
    assert ui.applyButton.text == "Cancel" and widget._worker.timer.isActive()
    drive()
    assert ui.statusLabel.text == "Done: new dose volume, tables and DVH chart in the scene.", ui.statusLabel.toolTip
    assert ui.resultsLabel.text.startswith("<b>Activity at treatment:")
    assert ui.applyButton.text == "Plan and compute dose" and not widget._worker.timer.isActive()

    count = headless.scene.GetNumberOfNodes()
    ui.applyButton.emit("clicked(bool)", True)
    drive(cancel_after=0.3)
    assert ui.statusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count and not widget._worker.runner.folder.exists()
    widget.cleanup()


def test_worker_poller_reports_a_failed_worker(gui, headless):
    """A worker that fails: the status label shows its exit code and last stderr line, nothing is loaded."""
    from HCCInterventionalAILib.slicer_helpers import WorkerPoller

    label, running, loaded = slicer_stubs.FakeWidget("statusLabel", "QLabel"), [], []
    runner = ProcessRunner([sys.executable, "-c", "import sys; print('bad segmentation', file=sys.stderr); "
                            "sys.exit(2)"]).start()
    poller = WorkerPoller(runner, label, running.append, loaded.append)
    assert running == [runner] and poller.timer.isActive()
    runner.process.wait(timeout=30)
    while poller.poll() is None:
        pass
    assert running == [runner, None] and loaded == [] and not poller.timer.isActive()
    assert label.text == "The worker process failed (exit code 2): bad segmentation"
