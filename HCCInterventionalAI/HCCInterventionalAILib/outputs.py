"""Atomic outputs: a result appears under its final name complete, or not at all.

Every command and library function that writes a folder or a file of results goes through
:func:`atomic_output` (a folder) or :func:`atomic_file` (one file). Both

1. check the target BEFORE any computation: a file where a folder is expected (or the reverse), a parent that
   cannot be created (e.g. it lies under a file), a read-only parent, or an existing non-empty target without
   ``overwrite`` each raise :class:`OutputPathError` with one sentence naming the problem;
2. take a lock beside the target (``.<name>.lock``, holding the owner's pid) so that a second concurrent run into
   the same target is refused with :class:`OutputLockedError`; the lock is an OS advisory lock (``flock``) on
   POSIX, so a lock left by a killed process is free again and taken over, and elsewhere a lock file created with
   ``O_EXCL`` whose pid no longer runs is taken over;
3. yield a staging path beside the target (same folder, so same filesystem): ``.staging-<pid>-<token>-<name>``,
   which keeps the target's suffixes (``.seg.nrrd``) so writers choosing a format by suffix work unchanged;
4. on success move it into place with one ``rename`` (with ``overwrite`` the old folder is set aside only once the
   new one is complete, then deleted); on any exception, ``Cancelled`` or Ctrl+C the staging path is deleted and
   nothing under the final name changes.

A process killed with SIGKILL leaves at most a staging path and a lock file, never a truncated file under the
final name; the next run into the same target removes them (and puts back an old folder whose replacement was
interrupted between its two renames).

Example:
    >>> with atomic_output(Path("plan"), overwrite=False) as staging:  # doctest: +SKIP
    ...     (staging / "plan.json").write_text("{}")
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "OutputLockedError",
    "OutputPathError",
    "atomic_file",
    "atomic_output",
    "check_output_path",
    "output_lock",
]

logger = logging.getLogger(__name__)

_STAGING = ".staging-"
_OLD = ".replaced-"


class OutputPathError(ValueError):
    """An output path cannot be written (a file where a folder is expected, read-only, not creatable, not empty)."""


class OutputLockedError(OutputPathError):
    """Another run is writing to the same output right now."""


# --------------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------------
def _is_nonempty(path: Path) -> bool:
    if path.is_dir():
        return any(path.iterdir())
    return path.exists()


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")  # pragma: no cover - the anchor exists


def check_output_path(target: str | Path, *, folder: bool = True, overwrite: bool = False) -> Path:
    """Check that ``target`` can be written, without writing anything.

    Args:
        target: the output folder (``folder=True``) or file.
        folder: whether the output is a folder (else a single file).
        overwrite: allow replacing an existing non-empty target.

    Returns:
        ``target`` as an absolute path.

    Raises:
        OutputPathError: a file where a folder is expected (or the reverse), a parent that is a file, a parent that
            is not writable, or an existing non-empty target without ``overwrite``.
    """
    target = Path(target).expanduser().absolute()
    if target.name in ("", ".", ".."):
        raise OutputPathError(f"'{target}' is not a valid output name; give a folder or file name")
    if folder and target.exists() and not target.is_dir():
        raise OutputPathError(f"The output folder '{target}' is an existing file; choose a folder path")
    if not folder and target.is_dir():
        raise OutputPathError(f"The output file '{target}' is an existing folder; choose a file path")
    if _is_nonempty(target) and not overwrite:
        what = "folder" if folder else "file"
        state = "already exists and is not empty" if folder else "already exists"
        raise OutputPathError(f"The output {what} '{target}' {state}; choose another output or pass --overwrite")
    existing = _nearest_existing(target.parent)
    if not existing.is_dir():
        raise OutputPathError(f"Cannot create '{target}': '{existing}' is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputPathError(f"Cannot write to '{target}': the folder '{existing}' is read-only for this user")
    return target


def _make_parent(target: Path) -> list[Path]:
    """Create the target's missing parents; returns those created (deepest last)."""
    missing = [p for p in reversed(target.parents) if not p.exists()]
    for parent in missing:
        try:
            parent.mkdir()
        except FileExistsError:
            pass
        except OSError as error:
            raise OutputPathError(f"Cannot create the folder '{parent}' for '{target}': {error.strerror}") from error
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


# --------------------------------------------------------------------------------------------------------
# Lock
# --------------------------------------------------------------------------------------------------------
def _lock_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.lock")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover - e.g. Windows without that pid
        return False
    return True


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def _locked_message(target: Path, pid: int) -> str:
    owner = f"process {pid}" if pid > 0 else "another process"
    return (f"Another run ({owner}) is writing to '{target}' right now; wait for it to finish or choose another "
            "output")


def _open_lock_file(lock: Path, target: Path) -> int:
    try:
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputPathError(f"Cannot write to '{target}': the folder '{lock.parent}' is read-only") from error
        raise OutputPathError(f"Cannot write to '{target}': {error.strerror}") from error


def _acquire_flock(lock: Path, target: Path) -> int:
    import fcntl

    for _attempt in range(20):
        fd = _open_lock_file(lock, target)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise OutputLockedError(_locked_message(target, _read_pid(lock))) from None
            raise
        try:  # the holder before us may have deleted the file we opened: lock the one that is there now
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
            return fd
        os.close(fd)
    raise OutputLockedError(_locked_message(target, -1))  # pragma: no cover - heavy contention


def _acquire_exclusive(lock: Path, target: Path) -> int:  # pragma: no cover - platforms without fcntl
    for _attempt in range(2):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _read_pid(lock)
            if _pid_alive(pid):
                raise OutputLockedError(_locked_message(target, pid)) from None
            logger.info("Taking over the stale lock %s of process %s, which no longer runs", lock, pid)
            with contextlib.suppress(FileNotFoundError):
                lock.unlink()
            continue
        except OSError:
            _open_lock_file(lock, target)  # raises the clear error
            raise
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        return fd
    raise OutputLockedError(_locked_message(target, _read_pid(lock)))


@contextlib.contextmanager
def output_lock(target: str | Path) -> Iterator[Path]:
    """Hold the lock of ``target`` (``.<name>.lock`` beside it) for the duration of the block.

    Args:
        target: the output folder or file; its parent must exist.

    Yields:
        The lock file's path.

    Raises:
        OutputLockedError: another live process holds the lock.
        OutputPathError: the lock file cannot be created (read-only folder).
    """
    target = Path(target).absolute()
    lock = _lock_path(target)
    try:
        import fcntl  # noqa: F401

        fd = _acquire_flock(lock, target)
    except ImportError:  # pragma: no cover - Windows
        fd = _acquire_exclusive(lock, target)
    try:
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # before closing, so nobody locks a file that is about to disappear unlocked
        os.close(fd)


# --------------------------------------------------------------------------------------------------------
# Staging
# --------------------------------------------------------------------------------------------------------
def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _clean_leftovers(target: Path) -> None:
    """Remove what killed runs left beside ``target`` (call while holding its lock)."""
    parent, name = target.parent, target.name
    for staging in parent.glob(f"{_STAGING}*-{name}"):
        logger.info("Removing %s left by an interrupted run", staging)
        _remove(staging)
    for old in sorted(parent.glob(f"{_OLD}*-{name}")):
        if not target.exists():  # a replacement was interrupted between its two renames: put the old one back
            logger.warning("Restoring %s from %s (an earlier replacement was interrupted)", target, old)
            os.rename(old, target)
        else:
            _remove(old)


def _staging_path(target: Path) -> Path:
    return target.with_name(f"{_STAGING}{os.getpid()}-{secrets.token_hex(4)}-{target.name}")


def _fsync_tree(path: Path) -> None:
    """Flush the staged files to disk so that the rename never publishes data still in the page cache."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
    for file in files:
        with contextlib.suppress(OSError):
            fd = os.open(file, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _publish_folder(staging: Path, target: Path, overwrite: bool) -> None:
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(staging, target)
        return
    if not overwrite:  # appeared meanwhile without taking the lock
        raise OutputPathError(f"The output folder '{target}' appeared while this run was writing; nothing was replaced")
    old = target.with_name(f"{_OLD}{os.getpid()}-{secrets.token_hex(4)}-{target.name}")
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    _remove(old)


@contextlib.contextmanager
def _atomic(target: str | Path, *, folder: bool, overwrite: bool) -> Iterator[Path]:
    target = check_output_path(target, folder=folder, overwrite=overwrite)
    created = _make_parent(target)
    try:
        with output_lock(target):
            _clean_leftovers(target)  # may put back an old folder whose replacement was interrupted
            check_output_path(target, folder=folder, overwrite=overwrite)  # again, now that nobody else writes
            staging = _staging_path(target)
            if folder:
                staging.mkdir()
            try:
                yield staging
                if not staging.exists():
                    raise OutputPathError(f"Nothing was written for '{target}'")
                _fsync_tree(staging)
                if folder:
                    _publish_folder(staging, target, overwrite)
                else:
                    os.replace(staging, target)
            finally:
                if staging.exists():
                    _remove(staging)
    except BaseException:
        _remove_empty(created)
        raise


def atomic_output(target: str | Path, *, overwrite: bool = False) -> contextlib.AbstractContextManager[Path]:
    """Write a folder of outputs atomically: check and lock first, stage beside it, move into place on success.

    Args:
        target: the output folder (created with its parents; an existing empty folder is fine).
        overwrite: replace an existing non-empty folder (only once the new one is complete).

    Returns:
        A context manager yielding the staging folder to write into. On a normal exit it becomes ``target``;
        on any exception (including :class:`~HCCInterventionalAILib.progress.Cancelled` and Ctrl+C) it is
        deleted and ``target`` is left exactly as it was.

    Raises:
        OutputPathError: ``target`` is a file, not creatable, read-only, or not empty without ``overwrite``
            (raised on entering the block, before any work).
        OutputLockedError: another run is writing to ``target``.
    """
    return _atomic(target, folder=True, overwrite=overwrite)


def atomic_file(target: str | Path, *, overwrite: bool = False) -> contextlib.AbstractContextManager[Path]:
    """Write one output file atomically (temporary name beside it, then ``os.replace``).

    Args:
        target: the output file; the yielded temporary path ends with the same name, so its suffixes
            (e.g. ``.seg.nrrd``) still select the format.
        overwrite: replace an existing file.

    Returns:
        A context manager yielding the temporary path to write; it replaces ``target`` on a normal exit and is
        deleted on any exception.

    Raises:
        OutputPathError: ``target`` is a folder, not creatable, read-only, or exists without ``overwrite``.
        OutputLockedError: another run is writing to ``target``.
    """
    return _atomic(target, folder=False, overwrite=overwrite)
