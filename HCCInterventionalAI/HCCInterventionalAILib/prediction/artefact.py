"""Saved prediction models: a versioned folder with a TRIPOD-AI-style model card, never a raw pickle.

Layout of ``<name>.hccmodel/``::

    card.json         the model card (JSON): data, preprocessing, predictors, performance with CIs, intended use,
                      and the SHA-256 of every other file
    model.skops       scikit-learn pipelines (integrated model, radiomics score) in skops format
    nomogram.json     points scale of the integrated model (plain numbers)
    interaction.json  treatment-interaction model (plain numbers), when trained with a treatment arm

Loading never executes code from the artefact: JSON files are data only, and ``model.skops`` is opened by
``skops.io.load`` with an explicit allow-list of scikit-learn/numpy types (skops refuses any other type instead
of importing it). Every file's SHA-256 is checked against the card before anything is parsed, so a modified
or truncated file gives :class:`~.errors.ArtefactIntegrityError`. (The checksums detect accidental or naive
changes; the allow-list is what protects against malicious content.)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArtefactFormatError, ArtefactIntegrityError, PredictionInputError
from .interaction import InteractionModel
from .nomogram import Nomogram

__all__ = ["ARTEFACT_FORMAT", "DEFAULT_RADIOMICS_PRESET", "SavedModel", "save_artefact", "load_artefact", "sha256_of", "ALLOWED_SKOPS_TYPES"]

#: Format identifier written into every card; bump the number when the layout changes.
ARTEFACT_FORMAT = "hccai-prediction-model/1"

#: Radiomics preset assumed when a card does not record one (the default of ``radiomics.extract_features``).
DEFAULT_RADIOMICS_PRESET = "ibsi-ct"

#: Types ``model.skops`` may contain beyond those skops trusts by default. Anything else is refused.
ALLOWED_SKOPS_TYPES = frozenset({
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.utils._bunch.Bunch",
    "numpy.dtype",
    "numpy.ndarray",
    "builtins.slice",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.object",
})


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class SavedModel:
    """A loaded artefact: the card and the objects needed to predict one patient."""

    card: dict[str, Any]
    integrated: Any
    nomogram: Nomogram
    radiomics_score: Any | None = None
    interaction: InteractionModel | None = None
    path: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def predictors(self) -> list[str]:
        """Columns of the integrated model, in order."""
        return list(self.card["predictors"]["integrated"])

    @property
    def radiomics_features(self) -> list[str]:
        """Radiomics columns the radiomics score needs (empty if the model has none)."""
        return list(self.card["predictors"].get("radiomics", []))

    @property
    def radiomics_preset(self) -> str:
        """pyradiomics preset the radiomics features were extracted with (``ibsi-ct`` for cards that predate it)."""
        return str(self.card["predictors"].get("radiomics_preset") or DEFAULT_RADIOMICS_PRESET)

    @property
    def intended_use(self) -> str:
        return str(self.card["intended_use"]["summary"])


def save_artefact(folder: str | Path, card: Mapping[str, Any], *, integrated: Any, nomogram: Nomogram,
                  radiomics_score: Any | None = None, interaction: InteractionModel | None = None,
                  overwrite: bool = False) -> Path:
    """Write a model artefact atomically (a staging folder renamed into place on success).

    Args:
        folder: destination folder (conventionally ``<name>.hccmodel``).
        card: model card content (see :func:`~.pipeline.build_model_card`); ``files`` and ``format`` are added.
        integrated: fitted integrated-model pipeline.
        nomogram: its points scale.
        radiomics_score: fitted radiomics-score pipeline, if any.
        interaction: treatment-interaction model, if any.
        overwrite: replace an existing folder.

    Returns:
        The folder written.

    Raises:
        PredictionInputError: the folder exists and ``overwrite`` is false.
    """
    import skops.io as sio

    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise PredictionInputError(f"{folder} already exists; choose another name or allow overwriting.")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        objects = {"integrated": integrated}
        if radiomics_score is not None:
            objects["radiomics_score"] = radiomics_score
        sio.dump(objects, staging / "model.skops")
        (staging / "nomogram.json").write_text(json.dumps(nomogram.to_dict(), indent=2))
        if interaction is not None:
            (staging / "interaction.json").write_text(json.dumps(interaction.to_dict(), indent=2))
        files = {p.name: sha256_of(p) for p in sorted(staging.iterdir())}
        full_card = {"format": ARTEFACT_FORMAT, **dict(card), "files": files}
        (staging / "card.json").write_text(json.dumps(full_card, indent=2, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def load_artefact(folder: str | Path) -> SavedModel:
    """Load a model artefact after checking its format and every file's SHA-256; never executes its code.

    Args:
        folder: artefact folder written by :func:`save_artefact`.

    Returns:
        :class:`SavedModel`.

    Raises:
        FileNotFoundError: no such folder or no card.
        ArtefactFormatError: unknown format, malformed card, or ``model.skops`` holding a type outside
            :data:`ALLOWED_SKOPS_TYPES`.
        ArtefactIntegrityError: a file is missing, added or differs from its recorded SHA-256.
    """
    import skops.io as sio

    folder = Path(folder)
    card_path = folder / "card.json"
    if not card_path.is_file():
        raise FileNotFoundError(f"{folder} is not a model artefact (no card.json).")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtefactFormatError(f"The model card {card_path} is not valid JSON: {error}") from error
    if not isinstance(card, dict) or card.get("format") != ARTEFACT_FORMAT:
        raise ArtefactFormatError(f"{folder} is not a {ARTEFACT_FORMAT} artefact (format "
                                  f"{card.get('format') if isinstance(card, dict) else None!r}).")
    files = card.get("files")
    if not isinstance(files, dict) or "model.skops" not in files or "nomogram.json" not in files:
        raise ArtefactFormatError(f"The model card in {folder} does not list the model files.")
    for name, expected in files.items():
        path = folder / name
        if Path(name).name != name or not path.is_file():
            raise ArtefactIntegrityError(f"{name} listed in the model card is missing from {folder}.")
        if sha256_of(path) != expected:
            raise ArtefactIntegrityError(f"{name} in {folder} does not match the SHA-256 in its model card; "
                                         "the file was modified or corrupted.")
    untrusted = set(sio.get_untrusted_types(file=folder / "model.skops"))
    refused = sorted(untrusted - ALLOWED_SKOPS_TYPES)
    if refused:
        raise ArtefactFormatError(f"model.skops in {folder} holds types that are not allowed: {', '.join(refused)}.")
    objects = sio.load(folder / "model.skops", trusted=sorted(untrusted))
    if not isinstance(objects, dict) or "integrated" not in objects:
        raise ArtefactFormatError(f"model.skops in {folder} has no integrated model.")
    nomogram = Nomogram.from_dict(json.loads((folder / "nomogram.json").read_text()))
    interaction = None
    if "interaction.json" in files:
        interaction = InteractionModel.from_dict(json.loads((folder / "interaction.json").read_text()))
    return SavedModel(card, objects["integrated"], nomogram, objects.get("radiomics_score"), interaction, folder)
