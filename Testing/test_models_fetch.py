"""Fetching model files into the cache: file:// and a local HTTP server, resume, checksums, archives."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import random
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from test_models_support import card_dict, file_entry, sha256_of, write_card

from HCCInterventionalAILib.models import (
    ChecksumMismatchError,
    ModelDownloadError,
    UnsafeModelError,
    default_cache_dir,
    fetch_model,
    is_fetched,
    load_card,
)
from HCCInterventionalAILib.progress import Cancelled, CancelToken, Progress

MIB = 1 << 20


def _payload(size: int, seed: int = 1) -> bytes:
    """Deterministic pseudo-random bytes."""
    return random.Random(seed).randbytes(size)


def _card(tmp_path: Path, entries: list[dict], **overrides):
    return load_card(write_card(tmp_path / "cards", card_dict(entries, **overrides)))


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".unpacking")))


# -- a local HTTP server that honours (or ignores) Range requests ---------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        server = self.server
        data = server.files.get(self.path)
        requested = self.headers.get("Range")
        server.ranges.append(requested)
        if data is None:
            self.send_error(404)
            return
        start = 0
        if requested and server.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", requested).group(1))
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.files, server.ranges, server.honour_range = {}, [], True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _http_entry(server, name: str, data: bytes) -> dict:
    server.files[f"/{name}"] = data
    host, port = server.server_address
    return {"url": f"http://{host}:{port}/{name}", "sha256": hashlib.sha256(data).hexdigest(), "filename": name}


# -- tests ----------------------------------------------------------------------------------------------

def test_file_url_is_fetched_verified_and_reused(tmp_path):
    source = tmp_path / "weights.pt"
    source.write_bytes(_payload(3000))
    card = _card(tmp_path, [file_entry(source)])
    cache = tmp_path / "cache"
    assert not is_fetched(card, cache)
    folder = fetch_model(card, cache_dir=cache)
    assert folder == cache / "tiny-unet" / "1.0.0"
    assert (folder / "weights.pt").read_bytes() == source.read_bytes()
    assert is_fetched(card, cache)
    source.unlink()  # a second fetch must not need the source any more
    assert fetch_model(card, cache_dir=cache) == folder


def test_checksum_mismatch_is_refused_and_the_file_deleted(tmp_path):
    source = tmp_path / "weights.pt"
    source.write_bytes(b"the real bytes")
    wrong = hashlib.sha256(b"what the card promised").hexdigest()
    card = _card(tmp_path, [file_entry(source, sha256=wrong)])
    with pytest.raises(ChecksumMismatchError) as caught:
        fetch_model(card, cache_dir=tmp_path / "cache")
    actual = hashlib.sha256(b"the real bytes").hexdigest()
    assert (caught.value.expected, caught.value.actual) == (wrong, actual)
    assert wrong in str(caught.value) and actual in str(caught.value) and "deleted" in str(caught.value)
    folder = tmp_path / "cache" / "tiny-unet" / "1.0.0"
    assert sorted(p.name for p in folder.iterdir()) == []


def test_http_download_resumes_with_a_range_request(tmp_path, http_server):
    data = _payload(3 * MIB + 5)
    card = _card(tmp_path, [_http_entry(http_server, "model.pt", data)])
    folder = tmp_path / "cache" / "tiny-unet" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "model.pt.part").write_bytes(data[:MIB + 123])  # an interrupted earlier download
    fetch_model(card, cache_dir=tmp_path / "cache")
    assert http_server.ranges == [f"bytes={MIB + 123}-"]
    assert (folder / "model.pt").read_bytes() == data
    assert _leftovers(folder) == []


def test_server_ignoring_range_restarts_the_download(tmp_path, http_server):
    http_server.honour_range = False
    data = _payload(MIB + 77)
    card = _card(tmp_path, [_http_entry(http_server, "model.pt", data)])
    folder = tmp_path / "cache" / "tiny-unet" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "model.pt.part").write_bytes(b"garbage from elsewhere")
    fetch_model(card, cache_dir=tmp_path / "cache")
    assert (folder / "model.pt").read_bytes() == data


def test_http_error_is_a_download_error(tmp_path, http_server):
    entry = _http_entry(http_server, "model.pt", b"x")
    entry["url"] = entry["url"].replace("model.pt", "missing.pt")
    with pytest.raises(ModelDownloadError, match="HTTP 404"):
        fetch_model(_card(tmp_path, [entry]), cache_dir=tmp_path / "cache")


def test_cancelled_download_keeps_its_part_and_resumes(tmp_path):
    source = tmp_path / "weights.pt"
    source.write_bytes(_payload(3 * MIB))
    card = _card(tmp_path, [file_entry(source)])
    token = CancelToken()
    seen: list[float] = []

    def cancel_after_first_chunk(fraction: float, message: str) -> None:
        seen.append(fraction)
        if "Downloading" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        fetch_model(card, cache_dir=tmp_path / "cache", progress=Progress(cancel_after_first_chunk, token))
    part = tmp_path / "cache" / "tiny-unet" / "1.0.0" / "weights.pt.part"
    assert part.stat().st_size == 2 * MIB  # cancelled during chunk 1, effective at the report after chunk 2
    fractions: list[float] = []
    folder = fetch_model(card, cache_dir=tmp_path / "cache", progress=lambda f, m: fractions.append(f))
    assert sha256_of(folder / "weights.pt") == sha256_of(source)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert min(f for f in fractions if f > 0) > 0.3  # resumed after the first MiB, not from zero


def test_tampered_cache_file_is_replaced(tmp_path):
    source = tmp_path / "weights.pt"
    source.write_bytes(_payload(4096))
    card = _card(tmp_path, [file_entry(source)])
    folder = fetch_model(card, cache_dir=tmp_path / "cache")
    (folder / "weights.pt").write_bytes(_payload(4096, seed=2))  # same size, other bytes
    assert not is_fetched(card, tmp_path / "cache")
    fetch_model(card, cache_dir=tmp_path / "cache")
    assert (folder / "weights.pt").read_bytes() == source.read_bytes()


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_archive_is_unpacked_atomically_and_reused(tmp_path):
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(_zip_bytes({"bundle/configs/inference.json": b"{}", "bundle/models/model.pt": b"weights"}))
    card = _card(tmp_path, [file_entry(archive, archive="zip")], format="monai_bundle", network=None)
    folder = fetch_model(card, cache_dir=tmp_path / "cache")
    assert (folder / "bundle" / "bundle" / "models" / "model.pt").read_bytes() == b"weights"
    assert not (folder / "bundle.zip").exists() and _leftovers(folder) == []
    archive.unlink()
    assert is_fetched(card, tmp_path / "cache")
    fetch_model(card, cache_dir=tmp_path / "cache")  # no source needed any more


def test_tar_gz_archive_with_extract_to(tmp_path):
    archive = tmp_path / "weights.tar.gz"
    with tarfile.open(archive, "w:gz") as bundle:
        info = tarfile.TarInfo("model.ts")
        info.size = 5
        bundle.addfile(info, io.BytesIO(b"12345"))
    card = _card(tmp_path, [file_entry(archive, archive="tar.gz", extract_to="unpacked")], weights="unpacked/model.ts")
    folder = fetch_model(card, cache_dir=tmp_path / "cache")
    assert (folder / "unpacked" / "model.ts").read_bytes() == b"12345"


def test_archive_escaping_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip_bytes({"ok.txt": b"fine", "../../escaped.txt": b"gotcha"}))
    card = _card(tmp_path, [file_entry(archive, archive="zip")], weights="evil/ok.txt")
    with pytest.raises(UnsafeModelError, match="outside its folder"):
        fetch_model(card, cache_dir=tmp_path / "cache")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "cache" / "tiny-unet" / "1.0.0" / "evil").exists()
    assert _leftovers(tmp_path / "cache") == []


def test_relative_url_resolves_against_the_card_folder(tmp_path):
    weights = tmp_path / "cards" / "weights" / "tiny.pt"
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"relative")
    entry = {"url": "weights/tiny.pt", "sha256": sha256_of(weights), "filename": "tiny.pt"}
    folder = fetch_model(_card(tmp_path, [entry]), cache_dir=tmp_path / "cache")
    assert (folder / "tiny.pt").read_bytes() == b"relative"


def test_cache_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path / "env-cache"))
    assert default_cache_dir() == tmp_path / "env-cache"
    source = tmp_path / "w.pt"
    source.write_bytes(b"w")
    assert fetch_model(_card(tmp_path, [file_entry(source)])) == tmp_path / "env-cache" / "tiny-unet" / "1.0.0"
    monkeypatch.delenv("HCCAI_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "hccai" / "models"
    assert os.environ.get("HCCAI_CACHE_DIR") is None
