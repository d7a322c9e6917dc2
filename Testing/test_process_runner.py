"""Process runner (issue 11): a real worker process that starts a grandchild, streams log and progress lines and
writes its outputs through ``atomic_output`` is cancelled mid-way (no orphan process, no partial output) and
completed normally.

The worker's grandchild ignores SIGTERM on purpose: only the SIGKILL to the whole process group ends it, so the
orphan check fails if the runner signals the worker alone.
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from HCCInterventionalAILib.process_runner import (
    PROGRESS_PREFIX,
    ProcessRunner,
    format_progress_line,
    parse_progress_line,
    run_process,
    worker_progress,
)
from HCCInterventionalAILib.progress import CancelToken, Progress

WORKER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    from HCCInterventionalAILib.outputs import atomic_output
    from HCCInterventionalAILib.process_runner import install_termination_handler, worker_progress

    install_termination_handler()
    target, steps, delay = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    grandchild = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    print(f"grandchild {grandchild.pid}", flush=True)
    print("worker warning", file=sys.stderr, flush=True)
    progress = worker_progress()
    with atomic_output(target) as staging:
        for i in range(steps):
            (staging / f"part{i}.txt").write_text(str(i))
            progress.update((i + 1) / steps, f"step {i + 1} of {steps}")
            time.sleep(delay)
    grandchild.kill()
    grandchild.wait()
    print("done", flush=True)
    """
)

posix_only = pytest.mark.skipif(os.name != "posix" or not Path("/proc/self/stat").exists(),
                                reason="process-group checks read /proc (Linux)")


def _running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie waiting to be reaped counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _worker(tmp_path: Path, target: Path, steps: int, delay: float) -> list[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    return [sys.executable, str(script), str(target), str(steps), str(delay)]


def test_protocol_lines_round_trip() -> None:
    """The worker helper prints exactly the lines the runner parses; other lines are not progress."""
    import io

    stream = io.StringIO()
    reporter = worker_progress(stream).sub(0.5, 1.0)
    reporter.update(0.5, "half  of\tsecond half")  # overall 0.5 + 0.5 * 0.5 = 0.75
    line = stream.getvalue().strip()
    assert line == f"{PROGRESS_PREFIX} 0.7500 half of second half"
    assert parse_progress_line(line) == (0.75, "half of second half")
    assert parse_progress_line(format_progress_line(1.7)) == (1.0, "")
    assert parse_progress_line("HCCAI-PROGRESS nan x") is None
    assert parse_progress_line("HCCAI-PROGRESS abc") is None
    assert parse_progress_line("progress 0.5 not ours") is None
    with pytest.raises(ValueError):
        ProcessRunner([])


@posix_only
def test_cancel_kills_the_whole_tree_and_leaves_no_output(tmp_path: Path) -> None:
    """Cancel at >= 30 % of 40 steps of 0.1 s: the worker, its SIGTERM-ignoring grandchild and every member of
    its process group are gone within 5 s, and neither the output folder nor a staging folder remains."""
    target = tmp_path / "result"
    logs: list[str] = []
    seen: list[tuple[float, str]] = []
    runner = ProcessRunner(_worker(tmp_path, target, 40, 0.1), log=logs.append,
                           progress=lambda f, m: seen.append((f, m)), grace_s=2.0).start()
    started = time.monotonic()
    while not (seen and seen[-1][0] >= 0.3):
        assert runner.poll() is None, f"worker ended early: {logs}"
        assert time.monotonic() - started < 20, f"no progress from the worker: {logs}"
        time.sleep(0.02)
    grandchild = int(next(line for line in logs if line.startswith("grandchild")).split()[1])
    assert _running(grandchild)
    runner.cancel()
    code = None
    while code is None:
        code = runner.poll()
    assert code != 0 and runner.cancelled
    deadline = time.monotonic() + 5
    while (_running(grandchild) or _group_members(runner.process.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(grandchild), "the grandchild survived Cancel (orphan process)"
    assert _group_members(runner.process.pid) == []
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "worker.py" and not p.name.endswith(".lock")] == []
    assert "[stderr] worker warning" in logs
    assert 0.3 <= seen[-1][0] < 1.0 and seen[0] == (pytest.approx(1 / 40), "step 1 of 40")


@posix_only
def test_completed_run_streams_progress_and_writes_output(tmp_path: Path) -> None:
    """5 steps of 0.05 s: progress 0.2, 0.4, ... 1.0 in order, exit code 0, all five parts in the output folder,
    the grandchild ended by the worker, and the log has the worker's lines but no protocol lines."""
    target = tmp_path / "result"
    logs: list[str] = []
    seen: list[float] = []
    outer = Progress(lambda f, m: seen.append(round(f, 4)), CancelToken())
    result = run_process(_worker(tmp_path, target, 5, 0.05), log=logs.append, progress=outer)
    assert result.returncode == 0 and result.succeeded
    assert seen == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert result.last_progress == (1.0, "step 5 of 5")
    assert sorted(p.name for p in target.iterdir()) == [f"part{i}.txt" for i in range(5)]
    assert logs[-1] == "done" and not any(line.startswith(PROGRESS_PREFIX) for line in logs)
    grandchild = int(next(line for line in logs if line.startswith("grandchild")).split()[1])
    assert not _running(grandchild)


@posix_only
def test_cancel_token_stops_run(tmp_path: Path) -> None:
    """A CancelToken set from another thread after the first progress line stops ``run``: cancelled, no output."""
    target = tmp_path / "result"
    token = CancelToken()

    def on_progress(fraction: float, message: str) -> None:
        token.cancel()

    result = ProcessRunner(_worker(tmp_path, target, 40, 0.1), progress=on_progress, grace_s=2.0).run(token=token)
    assert result.cancelled and not result.succeeded and result.last_progress[0] < 0.5
    assert not target.exists()
