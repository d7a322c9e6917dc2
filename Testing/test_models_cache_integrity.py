"""A cached model file replaced by another of the same size, with its modification time restored, is not used: every
process hashes each cached file once before first use (memoised per path, size, mtime and inode)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import zipfile
from pathlib import Path

import pytest
from test_models_support import card_dict, file_entry, write_card

from HCCInterventionalAILib.models import ModelDownloadError, fetch_model, load_card
from HCCInterventionalAILib.models import checksum as checksum_module
from HCCInterventionalAILib.models.checksum import clear_process_verifications

ORIGINAL = bytes(range(256)) * 64  # 16 KiB
FORGED = bytes(reversed(ORIGINAL))  # same size, other content


def _forge(path: Path, content: bytes, *, new_inode: bool) -> None:
    """Replace ``path``'s content with ``content`` (same size) and restore its modification time exactly."""
    stat = path.stat()
    assert len(content) == stat.st_size
    if new_inode:
        forged = path.with_name(path.name + ".forged")
        forged.write_bytes(content)
        os.replace(forged, path)
    else:
        path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_size == stat.st_size


@pytest.fixture
def cached(tmp_path: Path):
    source = tmp_path / "source" / "weights.pt"
    source.parent.mkdir()
    source.write_bytes(ORIGINAL)
    card = load_card(write_card(tmp_path / "cards", card_dict([file_entry(source)])))
    cache = tmp_path / "cache"
    folder = fetch_model(card, cache_dir=cache)
    clear_process_verifications()
    yield card, cache, folder / "weights.pt", source
    clear_process_verifications()


def test_a_forged_cached_file_is_detected_by_a_new_process_and_fetched_again(cached, caplog):
    """'New process' = the per-process memo cleared. The forged file passes the size+mtime marker, so only
    hashing can tell; SHA-256 of the result must be the card's (hashlib, independent of the library)."""
    card, cache, cached_file, _source = cached
    _forge(cached_file, FORGED, new_inode=False)
    clear_process_verifications()
    with caplog.at_level(logging.WARNING):
        fetch_model(card, cache_dir=cache)
    assert "no longer matches the SHA-256" in caplog.text
    assert hashlib.sha256(cached_file.read_bytes()).hexdigest() == card.files[0].sha256


def test_a_forged_file_whose_source_is_gone_is_an_error_not_a_silent_load(cached):
    card, cache, cached_file, source = cached
    source.unlink()
    _forge(cached_file, FORGED, new_inode=True)
    clear_process_verifications()
    with pytest.raises(ModelDownloadError):
        fetch_model(card, cache_dir=cache)
    assert not cached_file.exists(), "the forged file is deleted"


def test_hashing_happens_once_per_process_unless_the_file_is_replaced(cached, monkeypatch):
    card, cache, cached_file, _source = cached
    calls: list[Path] = []
    real = checksum_module.sha256_file
    monkeypatch.setattr(checksum_module, "sha256_file", lambda path: calls.append(Path(path)) or real(path))
    fetch_model(card, cache_dir=cache)
    fetch_model(card, cache_dir=cache)
    assert calls == [cached_file], "hashed before the first use, then memoised"
    _forge(cached_file, FORGED, new_inode=True)  # replaced within the process: new inode, same size and mtime
    fetch_model(card, cache_dir=cache)
    assert hashlib.sha256(cached_file.read_bytes()).hexdigest() == card.files[0].sha256


def test_a_forged_file_inside_an_unpacked_archive_is_detected(tmp_path: Path, caplog):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("model/weights.pt", ORIGINAL)
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(buffer.getvalue())
    card = load_card(write_card(tmp_path / "cards", card_dict(
        [file_entry(archive, archive="zip", extract_to="bundle")], format="torchscript", network=None,
        weights="bundle/model/weights.pt")))
    folder = fetch_model(card, cache_dir=tmp_path / "cache")
    unpacked = folder / "bundle" / "model" / "weights.pt"
    _forge(unpacked, FORGED, new_inode=False)
    clear_process_verifications()
    with caplog.at_level(logging.WARNING):
        fetch_model(card, cache_dir=tmp_path / "cache")
    assert "no longer matches the SHA-256" in caplog.text
    assert unpacked.read_bytes() == ORIGINAL
