"""Errors raised for inputs that would otherwise give a meaningless dose.

All derive from :class:`ValueError`, so callers that only know the standard library can still catch them.
"""

from __future__ import annotations

from HCCInterventionalAILib.imaging.checks import NonFiniteError

__all__ = [
    "Y90InputError",
    "NonFiniteValuesError",
    "NegativeCountsError",
    "ZeroActivityError",
    "LungShuntError",
    "MissingStructureError",
    "PresetError",
]


class Y90InputError(ValueError):
    """An input to a Y-90 dosimetry calculation is physically meaningless."""


class NonFiniteValuesError(Y90InputError, NonFiniteError):
    """An image or dose map holds NaN or infinite values.

    Raised through the project's one check (``HCCInterventionalAILib.imaging.checks.require_finite``), so it is
    both a :class:`Y90InputError` and the project-wide ``NonFiniteError``.
    """


class NegativeCountsError(Y90InputError):
    """An image holds more negative counts than reconstruction noise can explain."""


class ZeroActivityError(Y90InputError):
    """An activity, a count total or a mass that must be positive is zero or negative."""


class LungShuntError(Y90InputError):
    """A lung shunt fraction that is not in [0, 1) or cannot be computed."""


class MissingStructureError(Y90InputError):
    """A structure (segment) the calculation needs is absent or empty."""


class PresetError(Y90InputError):
    """A preset file is missing, malformed or lacks its source."""
