"""Validation of count images (SPECT/PET) before they become activity: NaN, negative and empty inputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .errors import MissingStructureError, NegativeCountsError, NonFiniteValuesError, ZeroActivityError

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["checked_counts", "region_counts"]


def checked_counts(image: Volume | np.ndarray, *, negative_tolerance: float = 0.01,
                   name: str | None = None) -> tuple[np.ndarray, list[str]]:
    """Counts as float64 with negatives handled explicitly.

    Reconstructed SPECT/PET often has a few slightly negative voxels (noise). Their sum, relative to the sum
    of positive counts, decides:
    - ≤ ``negative_tolerance``: set to zero, with a warning giving how many and how much;
    - larger: :class:`NegativeCountsError` (the image is probably not a count/activity image).

    Raises:
        NonFiniteValuesError: (a Y90InputError) NaN or infinite voxels.
        NegativeCountsError: too much negative signal.
        ZeroActivityError: no positive counts at all.
    """
    array = np.asarray(getattr(image, "array", image), dtype=np.float64)
    label = name or getattr(image, "name", "image")
    require_finite(array, f"count image '{label}'", error=NonFiniteValuesError)
    warnings: list[str] = []
    negative = array < 0
    positive_sum = float(array[array > 0].sum())
    if positive_sum <= 0:
        raise ZeroActivityError(f"'{label}' has no positive counts")
    if negative.any():
        negative_sum = float(-array[negative].sum())
        share = negative_sum / positive_sum
        if share > negative_tolerance:
            raise NegativeCountsError(
                f"'{label}' has {int(negative.sum())} negative voxels summing to {share:.2%} of the positive counts "
                f"(tolerance {negative_tolerance:.2%}); this does not look like a count or activity image")
        array = np.where(negative, 0.0, array)
        warnings.append(f"'{label}': {int(negative.sum())} negative voxels (sum −{negative_sum:.4g}, {share:.4%} of "
                        "the positive counts) were set to zero")
    return array, warnings


def region_counts(counts: np.ndarray, mask: np.ndarray, what: str, *, allow_zero: bool = False) -> float:
    """Sum of counts in a mask; errors on an empty mask, and on zero counts unless ``allow_zero``."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != counts.shape:
        from HCCInterventionalAILib.imaging.volume import GeometryMismatchError

        raise GeometryMismatchError(f"Mask of {what} has shape {mask.shape}, image has {counts.shape}")
    if not mask.any():
        raise MissingStructureError(f"The {what} region is empty")
    total = float(counts[mask].sum())
    if not allow_zero and not total > 0:
        raise ZeroActivityError(f"The {what} region holds no counts")
    return total
