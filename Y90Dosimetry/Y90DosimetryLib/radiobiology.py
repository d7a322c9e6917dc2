"""Radiobiology of a permanent Y-90 implant: BED, EQD2 and the equivalent uniform dose (EUD)."""

from __future__ import annotations

import math

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .constants import Y90_HALF_LIFE_H
from .errors import NonFiniteValuesError, Y90InputError
from .presets import TissueRadiobiology, radiobiology

__all__ = ["bed_permanent_implant", "eqd2", "equivalent_uniform_dose", "tissue_bed"]


def _positive_parameter(value: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise Y90InputError(f"{what} must be a positive number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise Y90InputError(f"{what} must be a positive finite number, got {value}")
    return value


def _non_negative_doses(values: np.ndarray | float, what: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise Y90InputError(f"{what} must be numbers") from None
    require_finite(array, what, error=NonFiniteValuesError)
    if np.any(array < 0):
        raise Y90InputError(f"{what.capitalize()} must be non-negative")
    return array


def _finite_output(values: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(values)):
        raise Y90InputError(f"{what} overflows: the doses are out of range")


def bed_permanent_implant(
    dose_gy: np.ndarray | float,
    alpha_beta_gy: float,
    repair_half_time_h: float,
    physical_half_time_h: float = Y90_HALF_LIFE_H,
) -> np.ndarray | float:
    """Biologically effective dose of an exponentially decaying permanent implant (voxel-wise for arrays).

    Formula (Dale 1985, with μ = ln2/T_rep and λ = ln2/T_phys; λ/(μ + λ) = T_rep/(T_rep + T_phys)):
        BED = D · (1 + D · T_rep / ((T_rep + T_phys) · α/β))

    Source: Dale RG, Br J Radiol 1985;58:515-528; Cremonesi M et al., Front Oncol 2014;4:210.
    Example: D = 100 Gy, α/β = 2.5 Gy, T_rep = 2.5 h, T_phys = 64.1 h → BED = 100·(1 + 100·2.5/(66.6·2.5))
    = 250.2 Gy.

    Raises:
        Y90InputError: a non-positive or non-finite α/β or half-time, negative doses, or doses so large that the
            BED overflows; NonFiniteValuesError (a Y90InputError) for NaN/infinite doses.
    """
    alpha_beta = _positive_parameter(alpha_beta_gy, "α/β (Gy)")
    t_rep = _positive_parameter(repair_half_time_h, "Repair half-time (h)")
    t_phys = _positive_parameter(physical_half_time_h, "Physical half-life (h)")
    dose = _non_negative_doses(dose_gy, "doses for BED")
    factor = t_rep / ((t_rep + t_phys) * alpha_beta)
    with np.errstate(over="ignore"):
        bed = dose * (1.0 + dose * factor)
    _finite_output(bed, "The BED")
    return float(bed) if np.ndim(dose_gy) == 0 else bed


def eqd2(bed_gy: np.ndarray | float, alpha_beta_gy: float) -> np.ndarray | float:
    """Equivalent dose in 2-Gy fractions.

    Formula (Withers HR et al., Int J Radiat Oncol Biol Phys 1983;9:1251; Fowler JF, Br J Radiol 1989;62:679):
        EQD2 = BED / (1 + 2 Gy/(α/β))

    Raises:
        Y90InputError: a non-positive or non-finite α/β, or a negative or non-finite BED.
    """
    alpha_beta = _positive_parameter(alpha_beta_gy, "α/β (Gy)")
    bed = _non_negative_doses(bed_gy, "BED values")
    result = bed / (1.0 + 2.0 / alpha_beta)
    return float(result) if np.ndim(bed_gy) == 0 else result


def equivalent_uniform_dose(dose_gy: np.ndarray, alpha_per_gy: float, weights: np.ndarray | None = None) -> float:
    """Equivalent uniform dose: the uniform dose giving the same surviving fraction as the distribution.

    Formula (log-linear survival, O'Donoghue JA, J Nucl Med 1999;40:1337; Niemierko A, Med Phys 1997;24:103):
        EUD = −(1/α) · ln( Σ_i v_i · exp(−α·D_i) ),  v_i = voxel volume fractions

    Applied to BED values it gives the equivalent uniform BED (EUBED). Computed with a log-sum-exp shift so
    large α·D does not underflow.

    Raises:
        Y90InputError: a non-positive or non-finite α, no doses, negative or non-finite doses, weights that are
            not one finite non-negative number per dose with a positive sum, or an α·D that overflows.
    """
    alpha = _positive_parameter(alpha_per_gy, "α (1/Gy) for the EUD")
    dose = _non_negative_doses(dose_gy, "doses for the EUD").ravel()
    if dose.size == 0:
        raise Y90InputError("EUD of an empty structure")
    if weights is None:
        w = np.full(dose.size, 1.0 / dose.size)
    else:
        try:
            w = np.asarray(weights, dtype=float).ravel()
        except (TypeError, ValueError):
            raise Y90InputError("EUD weights must be numbers") from None
        total = float(w.sum()) if w.shape == dose.shape and np.all(np.isfinite(w)) else math.nan
        if w.shape != dose.shape or np.any(w < 0) or not (math.isfinite(total) and total > 0):
            raise Y90InputError("EUD weights must be finite and non-negative, one per dose value, with a positive sum")
        w = w / total
        if not np.all(np.isfinite(w)):
            raise Y90InputError("EUD weights are too small to normalise")
    with np.errstate(over="ignore"):
        x = -alpha * dose
    _finite_output(x, "α·D for the EUD")
    shift = x.max()
    eud = float(-(shift + np.log(np.sum(w * np.exp(x - shift)))) / alpha)
    # rounding can leave the EUD a few ulps outside [min, max] of the doses; it is a weighted mean in that range
    return min(max(eud, float(dose[w > 0].min())), float(dose[w > 0].max()))


def tissue_bed(dose_gy: np.ndarray | float, tissue: str | TissueRadiobiology) -> np.ndarray | float:
    """BED with the α/β and repair half-time of a radiobiology preset (``hcc_tumour``, ``normal_liver``, ``lung``)."""
    params = radiobiology(tissue)
    return bed_permanent_implant(dose_gy, params.alpha_beta_gy, params.repair_half_time_h)
