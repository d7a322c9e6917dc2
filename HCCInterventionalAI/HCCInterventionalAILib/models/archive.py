"""Safe, atomic unpacking of zip and tar archives into the model cache.

An archive is unpacked into a fresh temporary folder beside its target and moved into place with
``os.replace`` only when complete, so a crash or a cancellation never leaves a half-unpacked model that
looks finished. Members that would land outside the folder (absolute paths, ``..``), links and device files
are refused. The marker file records each unpacked file's SHA-256, checked once per process before use.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .checksum import sha256_file, verified_in_process
from .errors import ModelDownloadError, UnsafeModelError

__all__ = ["UNPACKED_MARKER", "is_unpacked", "unpack_archive", "unpacked_files_verified"]

#: File written inside an unpacked folder, recording which verified archive it came from.
UNPACKED_MARKER = ".hccai-unpacked.json"


def _check_member_name(name: str, archive: Path) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise UnsafeModelError(f"Archive {archive.name} holds '{name}', which would be written outside its folder")


def _extract_zip(archive: Path, folder: Path) -> None:
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.infolist():
            _check_member_name(member.filename, archive)
            if stat.S_ISLNK(member.external_attr >> 16):
                raise UnsafeModelError(f"Archive {archive.name} holds a symbolic link '{member.filename}'")
        bundle.extractall(folder)


def _extract_tar(archive: Path, folder: Path) -> None:
    with tarfile.open(archive, "r:*") as bundle:
        for member in bundle.getmembers():
            _check_member_name(member.name, archive)
            if not (member.isfile() or member.isdir()):
                raise UnsafeModelError(f"Archive {archive.name} holds '{member.name}', which is not a plain file")
        if hasattr(tarfile, "data_filter"):
            bundle.extractall(folder, filter="data")
        else:  # pragma: no cover - Python without PEP 706; members were checked above
            bundle.extractall(folder)


def is_unpacked(folder: Path, sha256: str) -> bool:
    """True when ``folder`` is a complete unpacking of the archive with this SHA-256."""
    try:
        return json.loads((folder / UNPACKED_MARKER).read_text(encoding="utf-8")).get("sha256") == sha256.lower()
    except (OSError, ValueError):
        return False


def unpacked_files_verified(folder: Path) -> bool:
    """True when every file recorded at unpacking still has its recorded SHA-256 (hashed once per process)."""
    try:
        recorded = json.loads((folder / UNPACKED_MARKER).read_text(encoding="utf-8")).get("files")
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or not recorded:
        return False  # unpacked by an older version that recorded no file checksums
    return all(verified_in_process(folder / name, sha256) for name, sha256 in recorded.items())


def unpack_archive(archive: Path, kind: str, target: Path, sha256: str) -> Path:
    """Unpack ``archive`` into ``target`` atomically, replacing an incomplete or outdated ``target``.

    Args:
        archive: the verified archive file.
        kind: ``zip``, ``tar``, ``tar.gz``, ``tgz``, ``tar.bz2`` or ``tar.xz``.
        target: the folder to create.
        sha256: the archive's verified SHA-256, recorded in the folder's marker file.

    Returns:
        ``target``.

    Raises:
        UnsafeModelError: a member would escape the folder or is a link/device.
        ModelDownloadError: the archive is corrupt.
    """
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".unpacking", dir=target.parent))
    try:
        try:
            (_extract_zip if kind == "zip" else _extract_tar)(archive, temporary)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
            raise ModelDownloadError(f"Cannot unpack {archive.name}: {error}") from error
        files = {p.relative_to(temporary).as_posix(): sha256_file(p) for p in sorted(temporary.rglob("*"))
                 if p.is_file()}
        (temporary / UNPACKED_MARKER).write_text(
            json.dumps({"archive": archive.name, "sha256": sha256.lower(), "files": files}), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(temporary, target)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    return target
