"""Applicator heat source: the absorbed power density around an ablation antenna/electrode.

A calibrated *effective* source, not an electromagnetic model. Around an applicator with unit direction ``d``
(entry → tip), a point ``x`` has an along-shaft coordinate ``z`` (mm, positive towards the tip, 0 at the source
centre, which sits ``centre_offset_mm`` behind the tip) and a distance ``r`` to the shaft. The power density is::

    q(r, z, t) = P_abs · f(t) · g(r) h(z) / Σ_voxels g h ΔV
    g(r) = exp(−r² / (2σ²)),   h(z) = erf((z + ℓ/2)/(√2 σ)) − erf((z − ℓ/2)/(√2 σ))   (ℓ > 0)
    f(t) = exp(−t / τ)   (f = 1 when τ is None)

i.e. a uniform line of active length ``ℓ`` blurred by a Gaussian of width ``σ`` (an isotropic Gaussian when
ℓ = 0). Normalising on the grid makes the deposited power exactly ``P_abs f(t)`` whatever the voxel size.
``f(t)`` models the fall of the absorbed power while the tissue around the antenna dehydrates and chars: the
dielectric loss of liver drops with water loss during microwave heating (Lopresto V et al., Phys Med Biol
2012;57:2309–2327; Ji Z, Brace CL, Phys Med Biol 2011;56:5249–5264), detuning the antenna. ``P_abs``, ``ℓ`` and
``σ`` are fitted per device and power setting, ``τ`` per device, so that the Arrhenius Ω ≥ 1 zone in
homogeneous, unperfused liver reproduces the manufacturer's ex-vivo chart at ALL chart times of that setting
(see :mod:`AblationSimulatorLib.calibration`). The source does not depend on the ablation time, so a longer
ablation never gives a smaller zone; ``P_abs`` stays at or below the generator's nominal power.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AblationInputError, ZeroEnergyError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from HCCInterventionalAILib.imaging import Geometry

    from .applicator import Applicator
    from .bioheat import BioheatResult

__all__ = [
    "SourceModel",
    "source_profile",
    "applicator_power_density",
    "simulate_applicators",
    "DEFAULT_SOURCE_SIGMA_MM",
]

#: Width σ of the Gaussian blur of the line source (mm).
DEFAULT_SOURCE_SIGMA_MM = 2.0


@dataclass(frozen=True)
class SourceModel:
    """Effective heat source of one applicator (module docstring).

    Args:
        absorbed_power_w: power ``P_abs`` deposited in tissue at the start of the ablation (W).
        active_length_mm: length ℓ of the uniform line part (mm, ≥ 0).
        centre_offset_mm: distance from the tip back along the shaft to the source centre (mm).
        sigma_mm: Gaussian blur σ (mm).
        power_decay_time_s: time constant τ of the absorbed-power decay ``exp(−t/τ)`` (s); None = constant.
    """

    absorbed_power_w: float
    active_length_mm: float
    centre_offset_mm: float
    sigma_mm: float = DEFAULT_SOURCE_SIGMA_MM
    power_decay_time_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.absorbed_power_w) and self.absorbed_power_w > 0):
            raise ZeroEnergyError(f"The source power must be positive, got {self.absorbed_power_w} W")
        if not (math.isfinite(self.active_length_mm) and self.active_length_mm >= 0):
            raise AblationInputError(f"The active length must be ≥ 0 mm, got {self.active_length_mm}")
        if not (math.isfinite(self.sigma_mm) and self.sigma_mm > 0):
            raise AblationInputError(f"The source width σ must be positive, got {self.sigma_mm}")
        tau = self.power_decay_time_s
        if tau is not None and not (math.isfinite(tau) and tau > 0):
            raise AblationInputError(f"The power decay time must be positive seconds or None, got {tau}")

    def envelope(self, time_s: float) -> float:
        """``f(t) = exp(−t/τ)`` (1 without decay): absorbed power at ``time_s`` over ``P_abs``."""
        if self.power_decay_time_s is None:
            return 1.0
        return math.exp(-time_s / self.power_decay_time_s)

    def absorbed_energy_j(self, duration_s: float) -> float:
        """``∫₀ᵗ P_abs f dt = P_abs τ (1 − e^(−t/τ))`` (``P_abs t`` without decay), in J."""
        if self.power_decay_time_s is None:
            return self.absorbed_power_w * duration_s
        tau = self.power_decay_time_s
        return self.absorbed_power_w * tau * -math.expm1(-duration_s / tau)


def source_profile(r_mm: np.ndarray, z_mm: np.ndarray, active_length_mm: float, sigma_mm: float) -> np.ndarray:
    """Unnormalised ``g(r) h(z)`` of the module docstring (r, z in mm, z = 0 at the source centre)."""
    from scipy.special import erf

    r = np.asarray(r_mm, dtype=float)
    z = np.asarray(z_mm, dtype=float)
    g = np.exp(-(r**2) / (2.0 * sigma_mm**2))
    if active_length_mm < 1e-3 * sigma_mm:
        h = np.exp(-(z**2) / (2.0 * sigma_mm**2))
    else:
        s = math.sqrt(2.0) * sigma_mm
        half = 0.5 * active_length_mm
        h = (erf((z + half) / s) - erf((z - half) / s)) * (sigma_mm * math.sqrt(math.pi / 2.0) / active_length_mm)
    return g * h


def applicator_power_density(
    geometry: Geometry, sources: Iterable[tuple[Applicator, SourceModel]], support_sigmas: float = 5.0
) -> np.ndarray:
    """Power density (W/m³, (k, j, i)) of one or several applicators on a voxel grid.

    Each applicator's profile is normalised on the grid so that it deposits exactly its ``absorbed_power_w``
    (the value at t = 0; the time course is applied by the solver, see :func:`simulate_applicators`).

    Args:
        geometry: the voxel grid.
        sources: (applicator, source model) pairs.
        support_sigmas: the profile is cut beyond this many σ from the active line (it is < 4e-6 there).

    Returns:
        the summed power density.

    Raises:
        AblationInputError: when a source has no voxel of the grid inside its support (applicator outside).
    """
    shape = geometry.shape
    total = np.zeros(shape, dtype=float)
    # voxel (k, j, i) lies at origin + i·e_i + j·e_j + k·e_k (e_* = direction columns × spacing): every coordinate
    # is a sum of three 1-D terms, broadcast over the grid instead of building an (N, 3) array of points
    steps = geometry.direction_matrix @ np.diag(geometry.spacing)
    index = [np.arange(n, dtype=float) for n in shape]  # k, j, i
    voxel_m3 = geometry.voxel_volume_mm3 * 1e-9
    for applicator, model in sources:
        offset = np.asarray(geometry.origin, dtype=float) - applicator.point_from_tip(model.centre_offset_mm)

        def separable(weights: np.ndarray, constant: float) -> np.ndarray:
            """constant + i·w_i + j·w_j + k·w_k on the (k, j, i) grid."""
            return (constant + index[0][:, None, None] * weights[2] + index[1][None, :, None] * weights[1]
                    + index[2][None, None, :] * weights[0])

        direction = np.asarray(applicator.direction_lps, dtype=float)
        z = separable(steps.T @ direction, float(offset @ direction))
        rel2 = sum(separable(steps[axis], float(offset[axis])) ** 2 for axis in range(3))
        r2 = np.maximum(rel2 - z**2, 0.0)
        reach = support_sigmas * model.sigma_mm
        inside = (r2 <= reach**2) & (np.abs(z) <= 0.5 * model.active_length_mm + reach)
        if not inside.any():
            raise AblationInputError(f"Applicator '{applicator.name}': its heat source lies outside the volume")
        profile = np.zeros(shape)
        profile[inside] = source_profile(np.sqrt(r2[inside]), z[inside], model.active_length_mm, model.sigma_mm)
        norm = profile.sum() * voxel_m3
        total += (model.absorbed_power_w / norm) * profile
    return total


def simulate_applicators(
    geometry: Geometry,
    sources: Iterable[tuple[Applicator, SourceModel]],
    duration_s: float,
    **bioheat_options: Any,
) -> BioheatResult:
    """Bioheat simulation of calibrated applicator sources on a grid (:func:`~.bioheat.simulate_bioheat`).

    Args:
        geometry: voxel grid.
        sources: (applicator, source model) pairs; all heat for ``duration_s``.
        duration_s: heating time (s).
        **bioheat_options: forwarded (``tissue`` is required; ``vessels``, ``device``, ``progress`` ...).

    Returns:
        the :class:`~.bioheat.BioheatResult`.

    Raises:
        AblationInputError: when the sources decay with different time constants (one device at a time).
    """
    from .bioheat import simulate_bioheat

    sources = list(sources)
    decays = {model.power_decay_time_s for _, model in sources}
    if len(decays) > 1:
        raise AblationInputError("Applicators with different power decay times cannot be simulated together")
    power = applicator_power_density(geometry, sources)
    envelope = sources[0][1].envelope if sources and sources[0][1].power_decay_time_s is not None else None
    return simulate_bioheat(power, duration_s, spacing_mm=geometry.spacing, power_envelope=envelope,
                            **bioheat_options)
