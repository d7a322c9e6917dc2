"""Discovering model cards: the built-in folder, the user's folder and folders named by ``HCCAI_MODEL_CARDS``.

Search order (a later folder overrides a card with the same id and version from an earlier one):

1. ``<repo>/Resources/ModelCards`` (cards shipped with the extension, see :func:`~.card.builtin_cards_directory`);
2. ``$XDG_CONFIG_HOME/hccai/model-cards`` (default ``~/.config/hccai/model-cards``), the user's own cards;
3. every folder in ``HCCAI_MODEL_CARDS`` (``os.pathsep``-separated).

Cards are ``*.json``, ``*.yaml`` or ``*.yml`` files anywhere below these folders (the schema file and hidden
files excepted). A card that fails validation is skipped with a logged warning and kept in
:attr:`ModelRegistry.errors`, so one bad user card does not hide the others.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .card import ModelCard, builtin_cards_directory, load_card
from .errors import ModelCardError, UnknownModelError

__all__ = ["CARDS_ENV_VAR", "ModelRegistry", "default_card_directories", "get_card", "list_models"]

logger = logging.getLogger(__name__)

#: Environment variable listing extra card folders.
CARDS_ENV_VAR = "HCCAI_MODEL_CARDS"
_CARD_SUFFIXES = (".json", ".yaml", ".yml")
_TASKS = ("segmentation", "classification", "image-to-image", "regression")


def default_card_directories() -> list[Path]:
    """The folders searched by default, in increasing priority (existing or not)."""
    builtin = builtin_cards_directory()
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    extra = [Path(p).expanduser() for p in os.environ.get(CARDS_ENV_VAR, "").split(os.pathsep) if p.strip()]
    return [builtin, config_home / "hccai" / "model-cards", *extra]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for versions: numeric parts numerically ('1.10' > '1.9'), others alphabetically."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.+_-]", version))


class ModelRegistry:
    """The model cards found in a list of folders.

    Args:
        directories: folders to search, in increasing priority; default :func:`default_card_directories`.
    """

    def __init__(self, directories: Sequence[str | Path] | None = None) -> None:
        self.directories = [Path(d) for d in (directories if directories is not None else default_card_directories())]
        self.errors: list[ModelCardError] = []
        self._cards: dict[tuple[str, str], ModelCard] = {}
        self.refresh()

    def refresh(self) -> None:
        """Scan the folders again."""
        self._cards.clear()
        self.errors.clear()
        for card_file in self._card_files():
            try:
                card = load_card(card_file)
            except ModelCardError as error:
                logger.warning("Skipping an invalid model card: %s", error)
                self.errors.append(error)
                continue
            previous = self._cards.get((card.id, card.version))
            if previous is not None:
                logger.info("Model card %s from %s overrides %s", card.key, card.source, previous.source)
            self._cards[(card.id, card.version)] = card

    def _card_files(self) -> Iterable[Path]:
        for directory in self.directories:
            if not directory.is_dir():
                continue
            for path in sorted(directory.rglob("*")):
                relative = path.relative_to(directory)
                if (path.suffix.lower() in _CARD_SUFFIXES and path.is_file() and not path.name.endswith(".schema.json")
                        and not any(part.startswith(".") for part in relative.parts)):
                    yield path

    def cards(self) -> list[ModelCard]:
        """Every card (all versions), sorted by id then version."""
        return sorted(self._cards.values(), key=lambda c: (c.id, _version_key(c.version)))

    def list_models(self, task: str | None = None) -> list[ModelCard]:
        """The newest version of each model, optionally only those of one task.

        Raises:
            ValueError: ``task`` is not one of the known tasks.
        """
        if task is not None and task not in _TASKS:
            raise ValueError(f"Unknown task '{task}'; tasks are {', '.join(_TASKS)}")
        newest: dict[str, ModelCard] = {}
        for card in self.cards():  # sorted ascending, so the last one per id wins
            newest[card.id] = card
        return [card for card in newest.values() if task is None or card.task == task]

    def get_card(self, model_id: str, version: str | None = None) -> ModelCard:
        """The card of ``model_id`` (newest version unless ``version`` is given).

        Raises:
            UnknownModelError: no such id or version; the message lists what is available.
        """
        versions = [card for card in self.cards() if card.id == model_id]
        if not versions:
            known = ", ".join(sorted({card.id for card in self._cards.values()})) or "none"
            searched = ", ".join(str(d) for d in self.directories)
            raise UnknownModelError(f"No model card with id '{model_id}'. Known models: {known}. Searched: {searched}")
        if version is None:
            return versions[-1]
        for card in versions:
            if card.version == version:
                return card
        raise UnknownModelError(
            f"Model '{model_id}' has no version '{version}'; versions: {', '.join(c.version for c in versions)}"
        )


def list_models(task: str | None = None) -> list[ModelCard]:
    """The newest version of each model in the default folders (scanned afresh), optionally of one task."""
    return ModelRegistry().list_models(task)


def get_card(model_id: str, version: str | None = None) -> ModelCard:
    """The card of ``model_id`` from the default folders (newest version unless ``version`` is given)."""
    return ModelRegistry().get_card(model_id, version)
