"""SHA-256 of files, computed in chunks (no whole-file reads), and the verified-file markers of the cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["is_marked_verified", "mark_verified", "sha256_file", "verified_marker"]

_CHUNK = 1 << 20


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
