"""SHA-256 of files, computed in chunks (no whole-file reads), and the verified-file markers of the cache.

A marker (``.<name>.verified``: SHA-256, size, modification time) lets a process skip hashing a file it did not
change, but size and modification time can be forged (a file replaced by another of the same size with its
mtime restored). So every process hashes each cached file once before its first use
(:func:`verified_in_process`), memoised per path, size, modification time and inode.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

__all__ = [
    "clear_process_verifications",
    "is_marked_verified",
    "mark_verified",
    "sha256_file",
    "verified_in_process",
    "verified_marker",
]

_CHUNK = 1 << 20
_VERIFIED_IN_PROCESS: set[tuple[str, int, int, int, str]] = set()
_VERIFIED_LOCK = threading.Lock()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verified_marker(path: Path) -> Path:
    """The hidden side file recording that ``path`` was verified: ``.<name>.verified``."""
    return path.with_name(f".{path.name}.verified")


def _fingerprint(path: Path, sha256: str) -> dict[str, object]:
    stat = path.stat()
    return {"sha256": sha256.lower(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def mark_verified(path: Path, sha256: str) -> None:
    """Record that ``path`` (as it is now: size and modification time) has the SHA-256 ``sha256``."""
    verified_marker(path).write_text(json.dumps(_fingerprint(path, sha256)), encoding="utf-8")


def is_marked_verified(path: Path, sha256: str) -> bool:
    """True when ``path`` exists, was verified against ``sha256`` and has not changed since."""
    marker = verified_marker(path)
    if not (path.is_file() and marker.is_file()):
        return False
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded == _fingerprint(path, sha256)


def _process_key(path: Path, sha256: str) -> tuple[str, int, int, int, str]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino, sha256.lower())


def verified_in_process(path: str | Path, sha256: str) -> bool:
    """True when ``path``'s SHA-256 is ``sha256``, hashing it at most once per process for the same file.

    The result is memoised per (path, size, modification time, inode): a file replaced by another one (new inode)
    or modified is hashed again; only successful verifications are remembered.
    """
    path = Path(path)
    if not path.is_file():
        return False
    key = _process_key(path, sha256)
    with _VERIFIED_LOCK:
        if key in _VERIFIED_IN_PROCESS:
            return True
    if sha256_file(path) != sha256.lower():
        return False
    with _VERIFIED_LOCK:
        _VERIFIED_IN_PROCESS.add(key)
    return True


def clear_process_verifications() -> None:
    """Forget which files this process has hashed (the next use hashes them again, as a new process would)."""
    with _VERIFIED_LOCK:
        _VERIFIED_IN_PROCESS.clear()
