"""`hccai` outputs are atomic and its messages true: concurrent runs, SIGKILL and Ctrl+C while writing, output-path
errors before any computation, no overwrite without --overwrite, unavailable devices refused before any work."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import Y90DosimetryLib.cli as y90_cli
from HCCInterventionalAILib.cli.main import app
from HCCInterventionalAILib.progress import CancelToken, Progress

runner = CliRunner()
HCCAI = [sys.executable, "-m", "HCCInterventionalAILib.cli.main"]


@pytest.fixture(scope="module")
def case(tmp_path_factory, small_patient) -> Path:
    """The small synthetic patient as NRRD files (SPECT + ground-truth segmentation)."""
    from HCCInterventionalAILib.sample.export import write_sample_patient

    folder = tmp_path_factory.mktemp("case")
    write_sample_patient(small_patient, folder, "nrrd")
    return folder


def _y90_args(case: Path, output: Path, *extra: str) -> list[str]:
    return ["y90", "--spect", str(case / "maa-spect.nrrd"), "--segmentation", str(case / "truth.seg.nrrd"),
            "-o", str(output), "--quiet", "--dose-method", "local", *extra]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _beside(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def _dose_sum(folder: Path) -> float:
    from HCCInterventionalAILib.imaging.io import read_volume

    return float(np.asarray(read_volume(folder / "dose.nrrd").array, dtype=np.float64).sum())


@pytest.fixture(scope="module")
def reference_plan(case: Path, tmp_path_factory) -> Path:
    """A plan at 1 GBq (local deposition) for the linearity checks."""
    out = tmp_path_factory.mktemp("ref") / "plan-1gbq"
    result = runner.invoke(app, _y90_args(case, out, "--activity", "1.0"))
    assert result.exit_code == 0, result.output
    return out


def _wait_for(pattern_root: Path, glob: str, timeout: float = 60.0) -> Path | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(pattern_root.glob(glob))
        if found:
            return found[0]
        time.sleep(0.005)
    return None


def test_two_concurrent_y90_runs_into_one_folder(case: Path, reference_plan: Path, tmp_path: Path):
    """Runs at 2 and 3 GBq start together: one writes, the other is refused with one clear line, and the folder
    holds one coherent run. Local-deposition dose is linear in activity (D_i = K·A·c_i/m_i), so
    sum(dose.nrrd) / plan.json activity must equal the 1 GBq reference's sum (rel. 1e-5, float32 storage); a
    plan.json of one run with a dose of the other would be off by 1.5x. RT Dose must hold the same dose."""
    from Y90DosimetryLib import read_rtdose

    out = tmp_path / "plan"
    runs = {activity: subprocess.Popen(HCCAI + _y90_args(case, out, "--activity", activity), text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for activity in ("2.0", "3.0")}
    finished = {activity: (p.wait(timeout=300), *p.communicate()) for activity, p in runs.items()}
    codes = sorted(code for code, _, _ in finished.values())
    assert codes == [0, 2], {a: (c, e[-2000:]) for a, (c, _, e) in finished.items()}
    winner = next(a for a, (code, _, _) in finished.items() if code == 0)
    loser_stderr = next(e for code, _, e in finished.values() if code == 2)
    lines = _error_lines(loser_stderr)
    assert len(lines) == 1 and "Traceback" not in loser_stderr, loser_stderr
    assert lines[0].startswith("Error:") and ("Another run (process" in lines[0] or "already exists" in lines[0])
    plan = json.loads((out / "plan.json").read_text())
    assert plan["activity_gbq"] == pytest.approx(float(winner), rel=1e-9)
    assert _dose_sum(out) / plan["activity_gbq"] == pytest.approx(_dose_sum(reference_plan), rel=1e-5)
    from HCCInterventionalAILib.imaging.io import read_volume

    dose = read_volume(out / "dose.nrrd").array
    assert abs(read_rtdose(out / "dose-rtdose.dcm").array.max() - dose.max()) <= 1e-3 * dose.max()
    assert _beside(out) == [], "no lock or staging folder left"


def test_sigkill_while_writing_outputs_keeps_the_previous_plan_intact(case: Path, reference_plan: Path,
                                                                      tmp_path: Path):
    """A `hccai y90 --overwrite` killed (SIGKILL) as soon as its staging folder holds dose.nrrd: the earlier plan
    is byte-for-byte unchanged, no truncated file appears under the final name, and the next run cleans up."""
    import shutil

    out = tmp_path / "plan"
    shutil.copytree(reference_plan, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    process = subprocess.Popen(HCCAI + _y90_args(case, out, "--activity", "2.0", "--overwrite"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staged = _wait_for(tmp_path, ".staging-*-plan/dose.nrrd")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert staged is not None, "the run never reached 'Writing outputs'"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert any(name.startswith(".staging-") for name in _beside(out))
    again = runner.invoke(app, _y90_args(case, out, "--activity", "2.0", "--overwrite"))
    assert again.exit_code == 0, again.output
    assert json.loads((out / "plan.json").read_text())["activity_gbq"] == pytest.approx(2.0)
    assert _beside(out) == [], "the next run removed the killed run's staging folder and lock"


def _cancelling_progress(when: str):
    """A terminal_progress stand-in whose Cancel is pressed when a progress message starts with ``when``."""
    @contextlib.contextmanager
    def fake(description: str, enabled: bool = True):
        token = CancelToken()

        def callback(fraction: float, message: str) -> None:
            if message.startswith(when):
                token.cancel()

        yield Progress(callback, token)
    return fake


@pytest.mark.parametrize("existing", [False, True])
def test_cancel_during_writing_outputs_writes_nothing_and_says_so(case: Path, reference_plan: Path, tmp_path: Path,
                                                                  monkeypatch, existing: bool):
    """Cancel pressed once dose.nrrd has been written to staging ("Writing RT Dose"): exit 130, the message says
    nothing was written (and that an earlier plan is unchanged), and the target is exactly as before."""
    import shutil

    out = tmp_path / "plan"
    if existing:
        shutil.copytree(reference_plan, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()} if existing else None
    monkeypatch.setattr(y90_cli, "terminal_progress", _cancelling_progress("Writing RT Dose"))
    result = runner.invoke(app, _y90_args(case, out, "--activity", "2.0", *(["--overwrite"] if existing else [])))
    assert result.exit_code == 130, result.output
    expected = f"cancelled; nothing was written to {out}" + (" (its earlier contents are unchanged)" if existing else "")
    assert _error_lines(result.stderr) == [expected]
    if existing:
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    else:
        assert not out.exists()
    assert _beside(out) == []


def test_ctrl_c_during_writing_outputs_in_a_real_process(case: Path, tmp_path: Path):
    """SIGINT (Ctrl+C) sent to `hccai y90` once dose.nrrd is in its staging folder. The run either stops at its
    next check (exit 130, 'cancelled; nothing was written to OUT', OUT absent) or, if the signal came after the
    last check, finishes (exit 0, every file present): in both cases what it says is what exists."""
    out = tmp_path / "plan"
    process = subprocess.Popen(HCCAI + _y90_args(case, out, "--activity", "2.0"), text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    staged = _wait_for(tmp_path, ".staging-*-plan/dose.nrrd")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert staged is not None
    assert "Traceback" not in stderr, stderr
    if process.returncode == 130:
        assert _error_lines(stderr) == [f"cancelled; nothing was written to {out}"]
        assert not out.exists()
    else:
        assert process.returncode == 0 and f"Outputs in {out}" in stdout
        assert {"plan.json", "dose.nrrd", "report.html"} <= {p.name for p in out.iterdir()}
    assert _beside(out) == []


def _read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "read-only"
        folder.mkdir()
        folder.chmod(0o555)
        return folder
    try:
        (Path("/sys") / ".hccai-probe").mkdir()
    except OSError:
        return Path("/sys")
    pytest.skip("running as root and /sys is writable: no read-only folder available")


def test_output_path_errors_come_in_one_line_before_any_computation(case: Path, tmp_path: Path):
    """`hccai y90 -o X` with X a file, under a file, or in a read-only folder: exit 2, one line on stderr, no
    traceback, nothing created, and the error comes before any work: with an input that does not exist as well,
    the OUTPUT error is the one reported (the inputs are never even read). Wall time is recorded, not asserted
    (1.2-1.3 s for the whole process on an idle 2-core machine)."""
    a_file = tmp_path / "existing.txt"
    a_file.write_text("x")
    cases = {a_file: "is an existing file", a_file / "plan": "is a file, not a folder",
             _read_only_folder(tmp_path) / "hccai-plan": "read-only"}
    for target, message in cases.items():
        args = _y90_args(case, target)
        args[args.index("--spect") + 1] = str(tmp_path / "no-such-spect.nrrd")
        started = time.perf_counter()
        completed = subprocess.run(HCCAI + args, capture_output=True, text=True, timeout=120)
        print(f"{target}: {time.perf_counter() - started:.2f} s")
        lines = _error_lines(completed.stderr)
        assert completed.returncode == 2, completed.stderr
        assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], completed.stderr
        assert "Traceback" not in completed.stderr and "no-such-spect" not in completed.stderr
        assert not (target.exists() and target.is_dir())
    for command in (["demo", "--size", "small"], ["sample", "--size", "small"]):
        result = runner.invoke(app, [*command, "-o", str(a_file)])
        assert result.exit_code == 2 and "is an existing file" in result.stderr, result.output
    result = runner.invoke(app, ["segment", "any-model", str(case / "maa-spect.nrrd"), "-o", str(tmp_path)])
    assert result.exit_code == 2 and "is an existing folder" in result.stderr


def test_demo_refuses_an_existing_folder_by_default(case: Path, reference_plan: Path, tmp_path: Path):
    """A demo into a Y-90 plan folder (or any non-empty folder) is refused without --overwrite; report.html stays."""
    import shutil

    out = tmp_path / "plan"
    shutil.copytree(reference_plan, out)
    report = (out / "report.html").read_bytes()
    result = runner.invoke(app, ["demo", "--size", "small", "--quiet", "-o", str(out)])
    assert result.exit_code == 2
    assert _error_lines(result.stderr) == [
        f"Error: The output folder '{out}' already exists and is not empty; choose another output or pass --overwrite"]
    assert (out / "report.html").read_bytes() == report


def test_unknown_or_unavailable_device_is_refused_before_any_work(case: Path, tmp_path: Path):
    import importlib.util

    out = tmp_path / "out"
    for command in (_y90_args(case, out, "--device", "tpu"), ["demo", "--device", "tpu", "-o", str(out)],
                    ["segment", "m", str(case / "maa-spect.nrrd"), "--device", "tpu", "-o", str(out) + ".seg.nrrd"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert _error_lines(result.stderr) == ["Error: Unknown device 'tpu': use auto, cpu, cuda, cuda:N or mps"]
    cuda = importlib.util.find_spec("torch") is not None and __import__("torch").cuda.is_available()
    if not cuda:
        for command in (_y90_args(case, out, "--device", "cuda"), ["demo", "--device", "cuda", "-o", str(out)]):
            result = runner.invoke(app, command)
            assert result.exit_code == 2, result.output
            lines = _error_lines(result.stderr)
            assert len(lines) == 1 and ("CUDA was requested but" in lines[0] or "PyTorch is not installed" in lines[0])
    assert not out.exists() and _beside(out) == []
