"""``hccai models import``: put weights a user downloaded elsewhere into the verified cache, offline.

The files named by a model card are looked up in a folder, a single file or a ZIP archive the user has, checked
against the card's SHA-256 (or the publisher's digest, e.g. the SHA-1 of the MONAI Model Zoo, whose SHA-256 is
then recorded), placed in the cache exactly as a download would have placed them (archives unpacked), and the
card is copied into the user's card folder so that the registry lists it. Nothing is downloaded.
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

from .card import ModelCard, load_card
from .checksum import sha256_file
from .errors import ChecksumMismatchError
from .fetch import _publisher_digest_of, _verify, fetch_model, model_directory

__all__ = ["ImportSourceError", "import_model", "user_cards_directory"]


class ImportSourceError(ValueError):
    """The folder/file/ZIP given to import does not hold a file the card names."""


def user_cards_directory() -> Path:
    """The user's card folder, the second in the registry's search order."""
    from .registry import default_card_directories

    return default_card_directories()[1]


def _find(source: Path, filename: str, single: bool, staging: Path) -> Path:
    if source.is_dir():
        hits = sorted(source.rglob(filename))
        if not hits:
            raise ImportSourceError(f"{source} holds no file named {filename}")
        return hits[0]
    if source.is_file() and (source.name == filename or single) and not (
            zipfile.is_zipfile(source) and not filename.lower().endswith(".zip")):
        return source
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [m for m in archive.namelist() if Path(m).name == filename]
            if not members:
                raise ImportSourceError(f"{source.name} holds no member named {filename}")
            target = staging / filename
            with archive.open(members[0]) as stream, open(target, "wb") as out:
                shutil.copyfileobj(stream, out)
            return target
    raise ImportSourceError(f"{source} is neither a folder, a file named {filename}, nor a ZIP archive holding it")


def import_model(source: str | Path, card_path: str | Path, *, cache_dir: str | Path | None = None,
                 cards_dir: str | Path | None = None) -> ModelCard:
    """Import a model's files from ``source`` and register its card.

    Args:
        source: a folder holding the card's files, one file (for a one-file card), or a ZIP holding them.
        card_path: the model card (JSON/YAML).
        cache_dir: model cache (default the usual one).
        cards_dir: where to copy the card (default the user's card folder).

    Returns:
        The card, now listed by the registry.

    Raises:
        ModelCardError: invalid card; ImportSourceError: a file is missing from ``source``;
        ChecksumMismatchError: a file does not match the card (nothing is placed in the cache).
    """
    card = load_card(card_path)
    source = Path(source)
    if not source.exists():
        raise ImportSourceError(f"No such file or folder: {source}")
    folder = model_directory(card, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / ".import"
    staging.mkdir(exist_ok=True)
    try:
        for model_file in card.files:
            found = _find(source, model_file.filename, len(card.files) == 1, staging)
            sha256 = sha256_file(found)
            if not _verify(found, model_file, sha256):
                algorithm, expected = model_file.publisher_digest
                raise ChecksumMismatchError(model_file.filename, str(found), expected,
                                            _publisher_digest_of(found, model_file, sha256), algorithm)
            target = folder / model_file.filename
            partial = folder / f".{model_file.filename}.importing"
            shutil.copyfile(found, partial)
            partial.replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    fetch_model(card, cache_dir=cache_dir)  # verifies what was placed, unpacks archives, records SHA-256
    cards = Path(cards_dir) if cards_dir is not None else user_cards_directory()
    cards.mkdir(parents=True, exist_ok=True)
    destination = cards / f"{card.id}-{card.version}{Path(card_path).suffix}"
    if Path(card_path).resolve() != destination.resolve():
        shutil.copyfile(card_path, destination)
    return load_card(destination)
