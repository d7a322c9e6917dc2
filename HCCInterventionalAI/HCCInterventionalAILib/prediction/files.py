"""Reading cohort/patient inputs and writing a training run's outputs (used by the CLI and the module logic)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .artefact import save_artefact
from .errors import PredictionInputError, UnknownColumnError

__all__ = ["write_training_outputs", "read_radiomics_row", "parse_values", "MODEL_FOLDER"]

#: Name of the model artefact inside a training output folder.
MODEL_FOLDER = "model.hccmodel"


def write_training_outputs(result: Any, folder: str | Path) -> dict[str, Path]:
    """Write the model artefact, ``results.json``, CSV tables and PNG figures of a training run into ``folder``.

    Args:
        result: a :class:`~.pipeline.TrainingResult`.
        folder: an existing (staging) folder.

    Returns:
        The paths written, by name.
    """
    from .plots import save_figures

    folder = Path(folder)
    models = result.models
    paths = {"model": save_artefact(folder / MODEL_FOLDER, result.card, integrated=models["integrated"],
                                    nomogram=models["nomogram"], radiomics_score=models.get("radiomics_score"),
                                    interaction=models.get("interaction"))}
    (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=2))
    paths["results"] = folder / "results.json"
    for name in ("performance", "univariable", "multivariable", "nested_cv", "recommendations", "subgroups",
                 "shap_importance"):
        frame = getattr(result, name)
        if frame is not None:
            frame.to_csv(folder / f"{name}.csv", index=False)
            paths[name] = folder / f"{name}.csv"
    paths.update(save_figures(result, folder, models.get("y_test"), models.get("test_scores")))
    return paths


def read_radiomics_row(path: str | Path, case: str | None = None, id_column: str | None = None) -> dict[str, Any]:
    """One row of a radiomics CSV (e.g. pyradiomics batch output): the only row, or the row whose id is ``case``.

    Raises:
        FileNotFoundError: no such file.
        UnknownColumnError: ``case`` given but no id column / no such case.
        PredictionInputError: several rows and no ``case``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No radiomics CSV at {path}.")
    table = pd.read_csv(path)
    if case is not None:
        column = id_column or next((c for c in ("patient_id", "Image", "case", "id") if c in table.columns), None)
        if column is None:
            raise UnknownColumnError(f"{path} has no id column to find case {case!r} in.")
        table = table[table[column].astype(str) == str(case)]
        if table.empty:
            raise UnknownColumnError(f"Case {case!r} is not in {path}.")
    if len(table) != 1:
        raise PredictionInputError(f"{path} holds {len(table)} rows; name the case to use.")
    return table.iloc[0].to_dict()


def parse_values(pairs: Sequence[str], json_file: str | Path | None = None) -> dict[str, Any]:
    """Clinical values from ``name=value`` pairs (numbers parsed when possible) and/or a JSON object file.

    Raises:
        PredictionInputError: a pair without ``=`` or a JSON file that is not an object.
    """
    values: dict[str, Any] = {}
    if json_file is not None:
        loaded = json.loads(Path(json_file).read_text())
        if not isinstance(loaded, Mapping):
            raise PredictionInputError(f"{json_file} must hold a JSON object of name: value pairs.")
        values.update(loaded)
    for pair in pairs:
        if "=" not in pair:
            raise PredictionInputError(f"Values are given as name=value (got {pair!r}).")
        name, text = pair.split("=", 1)
        try:
            value: Any = float(text)
        except ValueError:
            value = text
        values[name.strip()] = value
    return values
