"""Resumable downloads over http(s) and ``file://``, hashed while they are written.

Bytes go to ``<destination>.part``. When a ``.part`` file is already there (an interrupted or cancelled
download), the transfer resumes from its end: with an HTTP ``Range`` request, or by seeking in a local file.
A server that ignores ``Range`` (status 200) makes the download start over.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from ..progress import Progress, ProgressCallback, as_progress
from .errors import ModelDownloadError

__all__ = ["download_file", "part_path"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_USER_AGENT = "hcc-interventional-ai model fetcher"


def part_path(destination: Path) -> Path:
    """Where the bytes of an unfinished download of ``destination`` are kept."""
    return destination.with_name(destination.name + ".part")


def _hash_existing(path: Path) -> tuple[hashlib._Hash, int]:
    digest = hashlib.sha256()
    size = 0
    if path.exists():
        with open(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
                size += len(chunk)
    return digest, size


def _copy(source: BinaryIO, part: Path, mode: str, digest: hashlib._Hash, done: int, total: int | None,
          name: str, progress: Progress) -> None:
    total_mb = f" of {total / 1e6:.1f}" if total else ""
    with open(part, mode) as target:
        for chunk in iter(lambda: source.read(_CHUNK), b""):
            target.write(chunk)
            digest.update(chunk)
            done += len(chunk)
            progress.update(done / total if total else 0.0, f"Downloading {name}: {done / 1e6:.1f}{total_mb} MB")


def _open_local(url: str, offset: int) -> tuple[BinaryIO, int]:
    parts = urlsplit(url)
    path = Path(urllib.request.url2pathname(unquote(parts.path)))
    if parts.netloc and parts.netloc != "localhost":
        path = Path(f"//{parts.netloc}") / path  # UNC share on Windows
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise ModelDownloadError(f"Cannot read {url}: {error}") from error
    size = path.stat().st_size
    stream.seek(min(offset, size))
    return stream, size


def download_file(url: str, destination: Path, *, size: int | None = None,
                  progress: Progress | ProgressCallback | None = None, timeout: float = 60.0) -> str:
    """Download ``url`` into ``<destination>.part`` (resuming it when present) and return its SHA-256.

    The ``.part`` file is left in place for the caller to verify and rename; after a cancellation or a
    network error it stays too, so the next call resumes.

    Args:
        url: ``https://``, ``http://`` or ``file://`` address.
        destination: final path of the file (only its ``.part`` sibling is written here).
        size: expected size in bytes, for progress when the server does not say.
        progress: reports bytes received; cancelling raises :class:`~HCCInterventionalAILib.progress.Cancelled`.
        timeout: seconds to wait for the server at each step.

    Returns:
        Hex SHA-256 of the complete ``.part`` file.

    Raises:
        ModelDownloadError: unsupported scheme, unreachable host, HTTP error, missing local file.
    """
    progress = as_progress(progress)
    part = part_path(destination)
    part.parent.mkdir(parents=True, exist_ok=True)
    digest, offset = _hash_existing(part)
    scheme = urlsplit(url).scheme.lower()
    name = destination.name
    if scheme == "file":
        stream, total = _open_local(url, offset)
        if offset > total:
            logger.info("Discarding %s: longer than its source", part)
            digest, offset = hashlib.sha256(), 0
            stream.seek(0)
        with stream:
            _copy(stream, part, "ab" if offset else "wb", digest, offset, total, name, progress)
        return digest.hexdigest()
    if scheme not in ("http", "https"):
        raise ModelDownloadError(f"Cannot download {url}: only https://, http:// and file:// addresses are supported")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
        logger.info("Resuming the download of %s at byte %d", name, offset)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # range not satisfiable: the part is already complete
            return digest.hexdigest()
        raise ModelDownloadError(f"Download of {url} failed: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ModelDownloadError(f"Cannot reach {url}: {getattr(error, 'reason', error)}") from error
    with response:
        length = response.headers.get("Content-Length")
        if offset and response.status != 206:
            logger.info("The server ignored the range request for %s; downloading it again", name)
            digest, offset = hashlib.sha256(), 0
        total = offset + int(length) if length and length.isdigit() else size
        try:
            _copy(response, part, "ab" if offset else "wb", digest, offset, total, name, progress)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            raise ModelDownloadError(f"Download of {url} broke off ({error}); call again to resume") from error
    return digest.hexdigest()
