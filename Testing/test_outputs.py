"""Atomic outputs (HCCInterventionalAILib.outputs): path checks before any work, a lock against concurrent runs,
staging beside the target, publication only on success, and recovery from killed runs (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from HCCInterventionalAILib.outputs import (
    OutputLockedError,
    OutputPathError,
    atomic_file,
    atomic_output,
    check_output_path,
    output_lock,
)
from HCCInterventionalAILib.progress import Cancelled


def _beside(target: Path) -> list[str]:
    """Names of everything beside ``target`` except the target itself (staging folders, locks, old copies)."""
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def _read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: chmod 0o555 for normal users; root ignores modes, so /sys."""
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


def test_success_publishes_the_folder_and_leaves_nothing_beside_it(tmp_path: Path):
    target = tmp_path / "plan"
    with atomic_output(target) as staging:
        assert staging.parent == target.parent and staging.name.endswith("-plan"), "same folder, same filesystem"
        (staging / "plan.json").write_text("{}")
        (staging / "sub").mkdir()
        (staging / "sub" / "dose.nrrd").write_bytes(b"x" * 1000)
        assert not target.exists(), "nothing appears under the final name before the block ends"
        assert (target.parent / ".plan.lock").read_text().split()[0] == str(os.getpid()), "lock holds our pid"
    assert sorted(p.name for p in target.rglob("*")) == ["dose.nrrd", "plan.json", "sub"]
    assert _beside(target) == [], "no staging folder or lock left"


@pytest.mark.parametrize("error", [RuntimeError("boom"), Cancelled("Cancelled by the user"), KeyboardInterrupt()])
def test_failure_or_cancel_changes_nothing_under_the_final_name(tmp_path: Path, error: BaseException):
    target = tmp_path / "new" / "plan"
    with pytest.raises(type(error)), atomic_output(target) as staging:
        (staging / "dose.nrrd").write_bytes(b"partial")
        raise error
    assert not target.exists() and not (tmp_path / "new").exists(), "created parents are removed again"
    old = tmp_path / "old"
    old.mkdir()
    (old / "plan.json").write_text("earlier run")
    with pytest.raises(type(error)), atomic_output(old, overwrite=True) as staging:
        (staging / "plan.json").write_text("new run")
        raise error
    assert [p.name for p in old.iterdir()] == ["plan.json"] and (old / "plan.json").read_text() == "earlier run"
    assert _beside(old) == []


def test_overwrite_replaces_the_old_folder_only_once_the_new_one_is_complete(tmp_path: Path):
    target = tmp_path / "plan"
    target.mkdir()
    (target / "plan.json").write_text("old")
    (target / "stale.csv").write_text("old")
    with pytest.raises(OutputPathError, match="already exists and is not empty.*--overwrite"), atomic_output(target):
        raise AssertionError("the body must not run")  # pragma: no cover
    with atomic_output(target, overwrite=True) as staging:
        (staging / "plan.json").write_text("new")
        assert (target / "plan.json").read_text() == "old", "the old folder is intact while the new one is written"
    assert sorted(p.name for p in target.iterdir()) == ["plan.json"] and (target / "plan.json").read_text() == "new"
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_output(empty) as staging:  # an existing empty folder is not 'non-empty'
        (staging / "a").write_text("a")
    assert (empty / "a").read_text() == "a"


def test_path_problems_are_one_sentence_errors_before_the_body(tmp_path: Path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    cases = {
        a_file: "is an existing file",
        a_file / "plan": "is a file, not a folder",
        _read_only_folder(tmp_path) / "plan": "read-only",
    }
    for target, message in cases.items():
        with pytest.raises(OutputPathError, match=message) as raised, atomic_output(target):
            raise AssertionError("the body must not run")  # pragma: no cover
        assert "\n" not in str(raised.value)
        assert isinstance(raised.value, ValueError)
    folder = tmp_path / "folder.seg.nrrd"
    folder.mkdir()
    with pytest.raises(OutputPathError, match="is an existing folder"):
        check_output_path(folder, folder=False)


def test_single_file_output_is_replaced_atomically(tmp_path: Path):
    target = tmp_path / "out.seg.nrrd"
    with atomic_file(target) as temporary:
        assert temporary.name.endswith("out.seg.nrrd"), "the suffixes choose the writer's format"
        temporary.write_bytes(b"complete")
    assert target.read_bytes() == b"complete"
    with pytest.raises(OutputPathError, match="already exists"), atomic_file(target):
        raise AssertionError("the body must not run")  # pragma: no cover
    with pytest.raises(Cancelled), atomic_file(target, overwrite=True) as temporary:
        temporary.write_bytes(b"half")
        raise Cancelled("stop")
    assert target.read_bytes() == b"complete" and _beside(target) == []


def test_a_second_run_into_the_same_target_is_refused_while_the_first_holds_the_lock(tmp_path: Path):
    target = tmp_path / "plan"
    with atomic_output(target) as staging:
        (staging / "plan.json").write_text("first")
        with pytest.raises(OutputLockedError, match=rf"Another run \(process {os.getpid()}\) is writing to"):
            with atomic_output(target, overwrite=True):
                raise AssertionError("the body must not run")  # pragma: no cover
    assert (target / "plan.json").read_text() == "first"
    with output_lock(tmp_path / "other"):  # the lock is free again after use
        pass


def test_leftovers_of_a_killed_run_are_cleaned_or_restored(tmp_path: Path):
    """A dead process's lock file (pid that no longer runs, no OS lock held), its staging folder, and an old
    folder set aside by an interrupted --overwrite (target missing) are handled by the next run."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    target = tmp_path / "plan"
    (tmp_path / ".plan.lock").write_text(f"{dead_pid}\n")
    (tmp_path / f".staging-{dead_pid}-abcd-plan").mkdir()
    (tmp_path / f".staging-{dead_pid}-abcd-plan" / "dose.nrrd").write_bytes(b"trunc")
    (tmp_path / f".replaced-{dead_pid}-abcd-plan").mkdir()
    (tmp_path / f".replaced-{dead_pid}-abcd-plan" / "plan.json").write_text("the user's earlier plan")
    with pytest.raises(OutputPathError, match="already exists"), atomic_output(target):
        raise AssertionError("the restored earlier plan must not be replaced without overwrite")  # pragma: no cover
    assert (target / "plan.json").read_text() == "the user's earlier plan"
    assert _beside(target) == []


_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from HCCInterventionalAILib.outputs import atomic_output, atomic_file
    kind, target = sys.argv[1], Path(sys.argv[2])
    manager = atomic_output(target, overwrite=True) if kind == "folder" else atomic_file(target, overwrite=True)
    with manager as staging:
        path = staging / "dose.nrrd" if kind == "folder" else staging
        with open(path, "wb") as stream:
            for _ in range(10000):  # 10 MB in 1 kB writes, flushed: a long 'writing outputs' stage
                stream.write(b"d" * 1024)
                stream.flush()
                time.sleep(0.001)
""")


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_sigkill_while_writing_leaves_no_truncated_file_under_the_final_name(tmp_path: Path, kind: str):
    """SIGKILL once the writer has written some bytes of a 10 MB file: the final name holds the previous complete
    output (or nothing), never the truncated file; the next run removes the leftovers and publishes."""
    target = tmp_path / ("plan" if kind == "folder" else "out.nrrd")
    final_file = target / "dose.nrrd" if kind == "folder" else target
    if kind == "folder":
        target.mkdir()
    final_file.write_bytes(b"previous complete output")
    process = subprocess.Popen([sys.executable, "-c", _WRITER, kind, str(target)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        staged = [p for p in tmp_path.rglob("*dose.nrrd") if ".staging-" in str(p)] if kind == "folder" else [
            p for p in tmp_path.glob(".staging-*")]
        if staged and staged[0].stat().st_size > 50_000:
            break
        time.sleep(0.01)
    else:  # pragma: no cover
        process.kill()
        pytest.fail("the writer never started writing")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert final_file.read_bytes() == b"previous complete output", "the final name must not hold a partial file"
    assert any(name.startswith(".staging-") for name in _beside(target)), "the killed run left its staging"
    with atomic_output(target, overwrite=True) if kind == "folder" else atomic_file(target, overwrite=True) as new:
        (new / "dose.nrrd" if kind == "folder" else new).write_bytes(b"next run")
    assert final_file.read_bytes() == b"next run" and _beside(target) == []
