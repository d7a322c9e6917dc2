"""Physical constants of yttrium-90 used by every dosimetry formula in this library.

Clinical *conventions* (the dose constant K chosen by a centre, dose limits, radiobiology parameters, tissue
densities) are not here: they are presets in ``Resources/Presets/y90_*.json`` (see :mod:`.presets`).
Only nuclear data and unit conversions live in this module.
"""

from __future__ import annotations

import math

__all__ = [
    "Y90_HALF_LIFE_H",
    "Y90_MEAN_BETA_ENERGY_MEV",
    "MEV_TO_JOULE",
    "SECONDS_PER_HOUR",
    "GBQ",
    "y90_mean_life_h",
    "first_principles_dose_constant",
]

#: Y-90 physical half-life in hours (64.1 h = 2.67 d). Source: DDEP/NNDC evaluated 64.05 h,
#: rounded to 64.1 h as in the microsphere instructions for use and the radioembolization literature.
Y90_HALF_LIFE_H: float = 64.1

#: Mean beta energy emitted per Y-90 decay (MeV). Source: ICRP Publication 107 (2008), 0.9267 MeV; the same
#: value underlies the voxel S-values of Lanconelli et al., Phys Med Biol 57 (2012) 517.
Y90_MEAN_BETA_ENERGY_MEV: float = 0.9267

#: Joules per MeV (CODATA 2018, exact since the 2019 SI redefinition of the elementary charge).
MEV_TO_JOULE: float = 1.602176634e-13

SECONDS_PER_HOUR: float = 3600.0

#: Becquerels per gigabecquerel.
GBQ: float = 1.0e9


def y90_mean_life_h(half_life_h: float = Y90_HALF_LIFE_H) -> float:
    """Mean life τ = T½ / ln 2 (hours); the number of decays of activity A until complete decay is A·τ."""
    if not half_life_h > 0:
        raise ValueError(f"Half-life must be positive, got {half_life_h}")
    return half_life_h / math.log(2.0)


def first_principles_dose_constant(
    mean_energy_mev: float = Y90_MEAN_BETA_ENERGY_MEV, half_life_h: float = Y90_HALF_LIFE_H
) -> float:
    """Energy released by 1 GBq of Y-90 decaying completely, in J/GBq (= Gy·kg/GBq).

    Formula:
        K = 10⁹ Bq · Ē · (1.602176634×10⁻¹³ J/MeV) · τ,  τ = T½/ln 2 · 3600 s/h

    With Ē = 0.9267 MeV and T½ = 64.1 h this gives K ≈ 49.43 J/GBq. Source: Gulec SA et al., J Nucl Med 2006;47:1209
    (K ≈ 49.4 from first principles); the clinical literature's conventional value is 49.67 (see the ``y90_dose_constants`` preset).
    """
    return GBQ * mean_energy_mev * MEV_TO_JOULE * y90_mean_life_h(half_life_h) * SECONDS_PER_HOUR
