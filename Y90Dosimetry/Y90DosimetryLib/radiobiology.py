"""Radiobiology of a permanent Y-90 implant: BED, EQD2 and the equivalent uniform dose (EUD)."""

from __future__ import annotations

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .constants import Y90_HALF_LIFE_H
from .errors import NonFiniteValuesError, Y90InputError
from .presets import TissueRadiobiology, radiobiology

__all__ = ["bed_permanent_implant", "eqd2", "equivalent_uniform_dose", "tissue_bed"]


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
    """
    if not (alpha_beta_gy > 0 and repair_half_time_h > 0 and physical_half_time_h > 0):
        raise Y90InputError("α/β, repair half-time and physical half-life must be positive")
    dose = np.asarray(dose_gy, dtype=float)
    require_finite(dose, "doses for BED", error=NonFiniteValuesError)
    if np.any(dose < 0):
        raise Y90InputError("Doses must be finite and non-negative for BED")
    factor = repair_half_time_h / ((repair_half_time_h + physical_half_time_h) * alpha_beta_gy)
    bed = dose * (1.0 + dose * factor)
    return float(bed) if np.ndim(dose_gy) == 0 else bed


def eqd2(bed_gy: np.ndarray | float, alpha_beta_gy: float) -> np.ndarray | float:
    """Equivalent dose in 2-Gy fractions: EQD2 = BED / (1 + 2/(α/β)) (Withers/Fowler)."""
    if not alpha_beta_gy > 0:
        raise Y90InputError("α/β must be positive")
    return np.asarray(bed_gy, dtype=float) / (1.0 + 2.0 / alpha_beta_gy) if np.ndim(bed_gy) else float(
        bed_gy) / (1.0 + 2.0 / alpha_beta_gy)


def equivalent_uniform_dose(dose_gy: np.ndarray, alpha_per_gy: float, weights: np.ndarray | None = None) -> float:
    """Equivalent uniform dose: the uniform dose giving the same surviving fraction as the distribution.

    Formula (log-linear survival, O'Donoghue JA, J Nucl Med 1999;40:1337; Niemierko A, Med Phys 1997;24:103):
        EUD = −(1/α) · ln( Σ_i v_i · exp(−α·D_i) ),  v_i = voxel volume fractions

    Applied to BED values it gives the equivalent uniform BED (EUBED). Computed with a log-sum-exp shift so
    large α·D does not underflow.
    """
    if not alpha_per_gy > 0:
        raise Y90InputError("α must be positive for the EUD")
    dose = np.asarray(dose_gy, dtype=float).ravel()
    if dose.size == 0:
        raise Y90InputError("EUD of an empty structure")
    if weights is None:
        w = np.full(dose.size, 1.0 / dose.size)
    else:
        w = np.asarray(weights, dtype=float).ravel()
        if w.shape != dose.shape or np.any(w < 0) or not w.sum() > 0:
            raise Y90InputError("EUD weights must be non-negative, one per dose value")
        w = w / w.sum()
    x = -alpha_per_gy * dose
    shift = x.max()
    return float(-(shift + np.log(np.sum(w * np.exp(x - shift)))) / alpha_per_gy)


def tissue_bed(dose_gy: np.ndarray | float, tissue: str | TissueRadiobiology) -> np.ndarray | float:
    """BED with the α/β and repair half-time of a radiobiology preset (``hcc_tumour``, ``normal_liver``, ``lung``)."""
    params = radiobiology(tissue)
    return bed_permanent_implant(dose_gy, params.alpha_beta_gy, params.repair_half_time_h)
