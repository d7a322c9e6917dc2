"""The one check for NaN/infinite values used across the project, and its exception type.

Every library that refuses non-finite numbers (images, dose maps, density maps, point lists, count
images) calls :func:`require_finite`, so callers catch one exception type, :class:`NonFiniteError` (a
``ValueError``). Libraries with their own error hierarchy pass a subclass that also derives from theirs,
e.g. Y-90 dosimetry's ``NonFiniteValuesError(Y90InputError, NonFiniteError)``, so both ``except`` clauses
keep working.

This module imports nothing from the rest of the package (volumes are recognised by their ``array`` and
``name`` attributes), so any module can use it without an import cycle.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NonFiniteError", "require_finite"]


class NonFiniteError(ValueError):
    """Values that must be finite numbers hold NaN or ±infinity."""


def require_finite(values: Any, what: str | None = None, *, error: type[NonFiniteError] = NonFiniteError) -> None:
    """Raise ``error`` when ``values`` hold NaN or infinite numbers; do nothing otherwise.

    Integer and boolean data cannot hold NaN/infinity and are accepted without looking at the values.

    Args:
        values: a number, a sequence, a NumPy array or a volume-like object with an ``array`` attribute
            (e.g. :class:`~.volume.Volume`).
        what: how to name the values in the message (default: ``volume '<name>'`` for a volume, else
            ``values``).
        error: the exception class to raise, :class:`NonFiniteError` or a subclass of it.

    Raises:
        NonFiniteError: (or ``error``) naming ``what`` and the number of NaN/infinite entries.
        TypeError: when ``error`` is not a subclass of :class:`NonFiniteError` (a programming error).
    """
    if not (isinstance(error, type) and issubclass(error, NonFiniteError)):
        raise TypeError(f"error must be NonFiniteError or a subclass of it, got {error!r}")
    array = getattr(values, "array", values)
    array = np.asarray(array)
    if array.dtype == object:
        array = array.astype(np.complex128)  # Python numbers of mixed types
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.complexfloating)):
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    if what is None:
        name = getattr(values, "name", None)
        what = f"volume '{name}'" if hasattr(values, "array") and name is not None else "values"
    bad = int(finite.size - np.count_nonzero(finite))
    nan = int(np.count_nonzero(np.isnan(array)))
    raise error(
        f"Found {bad} NaN/infinite value{'s' if bad != 1 else ''} ({nan} NaN, {bad - nan} infinite, of "
        f"{finite.size}) in the {what}; fix or mask them first"
    )
