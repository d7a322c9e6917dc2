"""Fetching a model's files into the cache on request, verified by SHA-256.

Layout: ``<cache>/<id>/<version>/<filename>`` for plain files, ``<cache>/<id>/<version>/<extract_to>/`` for
archives (the archive itself is deleted once unpacked). The cache folder is ``HCCAI_CACHE_DIR`` when set,
else ``$XDG_CACHE_HOME/hccai/models`` (default ``~/.cache/hccai/models``).

Nothing is downloaded at import time: only :func:`fetch_model` (and :func:`~.loading.load_model`, which calls
it) downloads, and files already verified are reused without touching the network. Every process hashes a
cached file once before its first use (size and modification time can be forged); a file that no longer
matches is deleted and fetched again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from ..progress import Progress, ProgressCallback, as_progress
from .archive import is_unpacked, unpack_archive, unpacked_files_verified
from .card import ModelCard, ModelFile
from .checksum import is_marked_verified, mark_verified, sha256_file, verified_in_process, verified_marker
from .download import download_file, part_path
from .errors import ChecksumMismatchError

__all__ = ["CACHE_ENV_VAR", "default_cache_dir", "fetch_model", "is_fetched", "model_directory"]

logger = logging.getLogger(__name__)

#: Environment variable overriding the cache folder.
CACHE_ENV_VAR = "HCCAI_CACHE_DIR"
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def default_cache_dir() -> Path:
    """The model cache folder: ``$HCCAI_CACHE_DIR`` or ``~/.cache/hccai/models``."""
    configured = os.environ.get(CACHE_ENV_VAR)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hccai" / "models"


def model_directory(card: ModelCard, cache_dir: str | Path | None = None) -> Path:
    """The folder holding the files of ``card`` (which may not exist yet)."""
    return Path(cache_dir or default_cache_dir()) / card.id / card.version


#: Per model folder: the SHA-256 of files whose card gives only a publisher digest (e.g. SHA-1), recorded after
#: their first verified fetch so that later checks (and unpacked-archive markers) use SHA-256.
RECORDED_SHA256 = ".recorded-sha256.json"


def _recorded(folder: Path) -> dict[str, str]:
    try:
        return json.loads((folder / RECORDED_SHA256).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def recorded_sha256(folder: Path, model_file: ModelFile) -> str:
    """The file's SHA-256: from the card, else as recorded after its first verified fetch ("" before)."""
    return model_file.sha256 or _recorded(folder).get(model_file.filename, "")


def _record_sha256(folder: Path, model_file: ModelFile, sha256: str) -> None:
    recorded = _recorded(folder)
    recorded[model_file.filename] = sha256
    staging = folder / f"{RECORDED_SHA256}.tmp"
    staging.write_text(json.dumps(recorded, indent=1), encoding="utf-8")
    os.replace(staging, folder / RECORDED_SHA256)


def _publisher_digest_of(path: Path, model_file: ModelFile, sha256: str) -> str:
    """The file's digest in the publisher's algorithm (its SHA-256 is already known: no second pass for it)."""
    algorithm, _ = model_file.publisher_digest
    if algorithm == "sha256":
        return sha256
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_ready(folder: Path, model_file: ModelFile) -> bool:
    sha256 = recorded_sha256(folder, model_file)
    if not sha256:
        return False
    target = folder / model_file.target_name
    if model_file.archive:
        return is_unpacked(target, sha256)
    return is_marked_verified(target, sha256)


def is_fetched(card: ModelCard, cache_dir: str | Path | None = None) -> bool:
    """True when every file of ``card`` is in the cache and verified (no hashing, no network)."""
    folder = model_directory(card, cache_dir)
    return all(_is_ready(folder, f) for f in card.files)


def _folder_lock(folder: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(folder.resolve(), threading.Lock())


def _still_intact(folder: Path, model_file: ModelFile) -> bool:
    """Hash a cached file (or an unpacked archive's files) once per process; remove it if it changed."""
    target = folder / model_file.target_name
    sha256 = recorded_sha256(folder, model_file)
    intact = unpacked_files_verified(target) if model_file.archive else verified_in_process(target, sha256)
    if not intact:
        logger.warning("%s no longer matches the SHA-256 recorded when it was verified (it was replaced or "
                       "modified); deleting it and fetching it again", target)
        if model_file.archive:
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
            verified_marker(target).unlink(missing_ok=True)
    return intact


def _verify(path: Path, model_file: ModelFile, sha256: str) -> bool:
    """Does the file (whose SHA-256 is ``sha256``) match the card: its SHA-256, else the publisher's digest?"""
    if model_file.sha256:
        return sha256 == model_file.sha256
    return _publisher_digest_of(path, model_file, sha256) == model_file.publisher_digest[1]


def _fetch_file(card: ModelCard, model_file: ModelFile, folder: Path, progress: Progress) -> None:
    if _is_ready(folder, model_file) and _still_intact(folder, model_file):
        progress.update(1.0, f"{model_file.target_name}: already in the cache")
        return
    path = folder / model_file.filename
    known = recorded_sha256(folder, model_file)
    if path.is_file() and not (known and is_marked_verified(path, known)):
        actual = sha256_file(path)
        if _verify(path, model_file, actual):  # e.g. copied in by hand (hccai models import)
            mark_verified(path, actual)
            if not model_file.sha256:
                _record_sha256(folder, model_file, actual)
        else:
            logger.warning("Deleting %s: its checksum does not match the card", path)
            path.unlink()
    if not path.is_file():
        url = card.file_url(model_file)
        logger.info("Downloading %s for model %s from %s", model_file.filename, card.key, url)
        actual = download_file(url, path, size=model_file.size, progress=progress.sub(0.0, 0.9))
        part = part_path(path)
        if not _verify(part, model_file, actual):
            algorithm, expected = model_file.publisher_digest
            received = _publisher_digest_of(part, model_file, actual)
            part.unlink(missing_ok=True)
            raise ChecksumMismatchError(model_file.filename, url, expected, received, algorithm)
        os.replace(part, path)
        mark_verified(path, actual)
        if not model_file.sha256:
            _record_sha256(folder, model_file, actual)
    if model_file.archive:
        progress.update(0.95, f"Unpacking {model_file.filename}")
        unpack_archive(path, model_file.archive, folder / model_file.target_name, recorded_sha256(folder, model_file))
        verified_marker(path).unlink(missing_ok=True)
        path.unlink()
    progress.update(1.0, f"{model_file.target_name}: ready")


def fetch_model(card: ModelCard, *, cache_dir: str | Path | None = None,
                progress: Progress | ProgressCallback | None = None) -> Path:
    """Make sure every file of ``card`` is in the cache and verified; download what is missing.

    Downloads resume from an earlier ``.part`` file. Each file's SHA-256 is checked against the card before
    it is used; archives are unpacked atomically.

    Args:
        card: the model card.
        cache_dir: cache folder; default :func:`default_cache_dir`.
        progress: progress and cancellation (cancelling keeps the partial download for resuming).

    Returns:
        The model's folder, ``<cache>/<id>/<version>``.

    Raises:
        ChecksumMismatchError: a file's SHA-256 differs from the card's (the bad file is deleted).
        ModelDownloadError: a file could not be downloaded or unpacked.
        UnsafeModelError: an archive member would escape its folder.
        Cancelled: the user cancelled.
    """
    progress = as_progress(progress)
    folder = model_directory(card, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    known = all(f.size for f in card.files)
    sizes = [float(f.size) if known else 1.0 for f in card.files]
    total = sum(sizes)
    with _folder_lock(folder):
        start = 0.0
        for model_file, size in zip(card.files, sizes, strict=True):
            end = start + size / total
            _fetch_file(card, model_file, folder, progress.sub(start, end))
            start = end
    return folder
