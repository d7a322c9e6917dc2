"""Intensity windowing and checks that an image holds the quantity a computation expects.

CT windows are given as ``(level, width)`` in Hounsfield units, the way DICOM stores them
(Window Center / Window Width, tags 0028,1050 / 0028,1051): values below ``level - width/2`` map to 0,
values above ``level + width/2`` map to 1, linearly in between.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .checks import NonFiniteError, require_finite
from .volume import Volume

__all__ = [
    "HU_WINDOWS",
    "NonFiniteError",
    "UnitsError",
    "NotHounsfieldError",
    "window",
    "window_preset",
    "require_finite",
    "require_units",
    "check_ct_hu",
]

#: CT display windows as (level, width) in HU.
#: "abdomen" (L40/W400), "lung" (L-600/W1500) and "bone" (L400/W1800) are the usual radiology presets
#: (e.g. Radiopaedia, "Windowing (CT)"; the same values are in Slicer's CT volume display presets).
#: "liver" (L60/W160) is the narrow liver window used on contrast-enhanced scans to separate subtle
#: hypo/hyper-attenuating lesions from enhanced parenchyma (narrower and higher than the abdomen window).
#: "arterial" (L40/W250) is a project choice: a soft-tissue window wide enough to keep enhancing HCC and
#: hepatic arteries (~150-250 HU in the late arterial phase) from saturating. Not a published standard.
HU_WINDOWS: dict[str, tuple[float, float]] = {
    "liver": (60.0, 160.0),
    "abdomen": (40.0, 400.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "arterial": (40.0, 250.0),
}


class UnitsError(ValueError):
    """An image is not in the units (or modality) a computation needs."""


class NotHounsfieldError(UnitsError):
    """An image that should be a CT in Hounsfield units does not look like one."""


def window(array: np.ndarray | Volume, level: float, width: float) -> np.ndarray:
    """Map intensities to [0, 1] through a linear window.

    ``out = clip((x - (level - width/2)) / width, 0, 1)``.

    Args:
        array: image values (a :class:`Volume` is accepted and its array used).
        level: window centre (e.g. HU).
        width: window width, > 0.

    Returns:
        float32 array of the input's shape with values in [0, 1].

    Raises:
        ValueError: when width is not positive or level/width are not finite.
        NonFiniteError: when the image holds NaN/infinite values.
    """
    values = array.array if isinstance(array, Volume) else np.asarray(array)
    if not (np.isfinite(level) and np.isfinite(width)) or width <= 0:
        raise ValueError(f"Window needs a finite level and a positive width, got level={level}, width={width}")
    require_finite(values, "image to window")
    lower = float(level) - float(width) / 2.0
    out = (values.astype(np.float32) - np.float32(lower)) / np.float32(width)
    return np.clip(out, 0.0, 1.0, out=out)


def window_preset(array: np.ndarray | Volume, preset: str) -> np.ndarray:
    """:func:`window` with one of :data:`HU_WINDOWS` chosen by name (case-insensitive).

    Raises:
        KeyError: for an unknown preset name (the message lists the known ones).
    """
    key = preset.strip().lower()
    if key not in HU_WINDOWS:
        raise KeyError(f"Unknown CT window preset '{preset}'; known presets: {', '.join(HU_WINDOWS)}")
    level, width = HU_WINDOWS[key]
    return window(array, level, width)


def _normalise_units(units: str) -> str:
    return units.strip().lower().replace(" ", "")


def require_units(volume: Volume, expected: str | Iterable[str], *, allow_unknown: bool = False) -> None:
    """Raise :class:`UnitsError` unless ``volume.units`` is one of ``expected`` (case/space-insensitive).

    Args:
        volume: the image to check.
        expected: accepted unit string(s), e.g. "HU" or ("Bq/ml", "BQML").
        allow_unknown: accept a volume whose units are not set (empty string).

    Raises:
        UnitsError: when the units differ, or are unknown and ``allow_unknown`` is False.
    """
    accepted = [expected] if isinstance(expected, str) else list(expected)
    if not volume.units:
        if allow_unknown:
            return
        raise UnitsError(
            f"Volume '{volume.name}' has no units set; expected {' or '.join(accepted)}. "
            "Set volume.units when you know what the image holds."
        )
    if _normalise_units(volume.units) not in {_normalise_units(u) for u in accepted}:
        raise UnitsError(f"Volume '{volume.name}' is in '{volume.units}', expected {' or '.join(accepted)}")


def check_ct_hu(volume: Volume, *, body: bool = True) -> None:
    """Raise :class:`NotHounsfieldError` when a volume does not look like a CT in Hounsfield units.

    Checks, in order: the modality tag (when set) is CT; the units (when set) are HU; values are finite;
    and, for a body CT (``body=True``), air is present (minimum ≤ -200 HU: air outside the patient and
    in lungs/bowel is about -1000 HU) and soft tissue or denser (maximum ≥ 0 HU). An image with stored
    values before rescale (minimum ≥ 0) or a non-CT image fails these checks.

    Args:
        volume: the image to check.
        body: apply the value-range checks of a body CT field of view.

    Raises:
        NotHounsfieldError: with the reason.
        NonFiniteError: when the image holds NaN/infinite values.
    """
    if volume.modality and volume.modality.strip().upper() != "CT":
        raise NotHounsfieldError(f"Volume '{volume.name}' has modality '{volume.modality}', expected a CT")
    if volume.units and _normalise_units(volume.units) not in {"hu", "hounsfieldunit", "hounsfieldunits"}:
        raise NotHounsfieldError(f"Volume '{volume.name}' is in '{volume.units}', expected Hounsfield units (HU)")
    require_finite(volume)
    if not body:
        return
    low, high = float(np.min(volume.array)), float(np.max(volume.array))
    if low > -200.0:
        raise NotHounsfieldError(
            f"Volume '{volume.name}' has no air (minimum {low:g} > -200): not a body CT in HU "
            "(raw stored values without rescale slope/intercept, or another kind of image?)"
        )
    if high < 0.0:
        raise NotHounsfieldError(
            f"Volume '{volume.name}' has no soft tissue (maximum {high:g} < 0 HU): not a body CT in HU"
        )
