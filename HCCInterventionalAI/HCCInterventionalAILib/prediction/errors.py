"""Errors raised for cohort tables, patients and model artefacts that would give a meaningless prediction.

All derive from :class:`ValueError`, so callers that only know the standard library can still catch them.
"""

from __future__ import annotations

__all__ = [
    "PredictionInputError",
    "MissingValuesError",
    "ConstantColumnError",
    "SingleClassError",
    "UnseenCategoryError",
    "UnknownColumnError",
    "ArtefactIntegrityError",
    "ArtefactFormatError",
]


class PredictionInputError(ValueError):
    """An input to model building, evaluation or prediction cannot give a meaningful result."""


class MissingValuesError(PredictionInputError):
    """A column the model needs holds missing values (NaN, empty cells)."""


class ConstantColumnError(PredictionInputError):
    """A predictor has the same value for every patient, so it carries no information."""


class SingleClassError(PredictionInputError):
    """The outcome (or a group) has only one class, so discrimination cannot be learnt or measured."""


class UnseenCategoryError(PredictionInputError):
    """A categorical value was never seen when the model was trained."""


class UnknownColumnError(PredictionInputError):
    """A column named in the request is absent from the table, or a column the model needs is missing."""


class ArtefactIntegrityError(PredictionInputError):
    """A saved model artefact does not match the SHA-256 checksums recorded in its model card."""


class ArtefactFormatError(PredictionInputError):
    """A saved model artefact is not in a known format or holds types that are not on the allow-list."""
