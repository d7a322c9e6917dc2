"""Pennes bioheat solver on a voxel grid (torch: GPU when present, CPU otherwise) and thermal-damage models.

The temperature ``T`` (°C) obeys the Pennes bioheat equation (Pennes HH, "Analysis of tissue and arterial blood
temperatures in the resting human forearm", J Appl Physiol 1948;1:93–122)::

    ρ c ∂T/∂t = ∇·(k ∇T) + w (T_a − T) + Q,        w = ω_b ρ_b c_b  (W m⁻³ K⁻¹)

with ``Q`` the absorbed power density (W/m³, e.g. the microwave/RF specific absorption rate times density).
It is discretised with second-order central differences in space (7-point Laplacian) and forward Euler in time
(explicit FTCS). Von Neumann analysis gives the stability limit::

    Δt ≤ ρ c / (2 k Σ_d 1/h_d² + w + max C)

(``C`` the extra vessel exchange coefficient below); :func:`simulate_bioheat` uses 90 % of it unless told
otherwise and refuses a user time step above it.

Large vessels act as heat sinks (Chato JC, "Heat transfer to blood vessels", J Biomech Eng 1980;102:110–118):
voxels of the ``vessels`` mask are held at blood (arterial) temperature, and a tissue voxel sharing a face of
area ``A`` with a vessel voxel exchanges heat with the blood through half a voxel of tissue in series with the
wall's convective film, overall coefficient ``U = 1 / (h_d / (2k) + 1/h_conv)`` (W m⁻² K⁻¹). The convective
coefficient defaults to fully developed laminar pipe flow, ``h_conv = Nu k_b / D`` with ``Nu = 4.36``
(Incropera FP, DeWitt DP, *Fundamentals of Heat and Mass Transfer*, §8.4) and ``D`` the largest vessel diameter
in the mask.

Thermal damage:

* Arrhenius damage integral (Henriques FC, Moritz AR, Am J Pathol 1947;23:531–549)
  ``Ω(t) = ∫ A exp(−E_a / (R T(t))) dt`` with ``T`` in kelvin; tissue is coagulated where ``Ω ≥ 1``
  (63 % of cells damaged). Liver constants ``A = 7.39e39 s⁻¹, E_a = 2.577e5 J/mol`` (Jacques S, Rastegar S,
  Thomsen S, Motamedi M, IEEE J Sel Top Quantum Electron 1996;2:922–933, as used by Chang IA, Nguyen UD,
  Biomed Eng Online 2004;3:27).
* Cumulative equivalent minutes at 43 °C (Sapareto SA, Dewey WC, Int J Radiat Oncol Biol Phys
  1984;10:787–800): ``CEM43 = Σ Δt/60 · R^(43 − T)``, ``R = 0.5`` for ``T ≥ 43 °C`` and ``0.25`` below;
  240 min is the usual threshold for tissue necrosis.

Arrays are in the library's (k, j, i) order; ``spacing_mm`` is (i, j, k) like :class:`Geometry`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import AblationInputError, UnstableSettingsError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from HCCInterventionalAILib.imaging import Volume
    from HCCInterventionalAILib.progress import Progress, ProgressCallback

__all__ = [
    "GAS_CONSTANT_J_PER_MOL_K",
    "LIVER_ARRHENIUS_A_PER_S",
    "LIVER_ARRHENIUS_EA_J_PER_MOL",
    "LAMINAR_NUSSELT",
    "TissueProperties",
    "TISSUE_PRESETS",
    "BioheatResult",
    "stable_time_step_s",
    "simulate_bioheat",
    "arrhenius_damage",
    "arrhenius_rate_per_s",
    "cem43_minutes",
    "resolve_device",
]

#: Molar gas constant R (J mol⁻¹ K⁻¹), CODATA 2018 exact value.
GAS_CONSTANT_J_PER_MOL_K = 8.314462618
#: Liver frequency factor A (s⁻¹), Jacques et al. 1996.
LIVER_ARRHENIUS_A_PER_S = 7.39e39
#: Liver activation energy E_a (J/mol), Jacques et al. 1996.
LIVER_ARRHENIUS_EA_J_PER_MOL = 2.577e5
#: Nusselt number of fully developed laminar pipe flow with uniform wall heat flux (Incropera & DeWitt).
LAMINAR_NUSSELT = 4.36
_KELVIN = 273.15
#: Exponents are clipped here so that float32 never overflows (e^80 ≈ 5.5e34).
_MAX_EXPONENT = 80.0


@dataclass(frozen=True)
class TissueProperties:
    """Thermal properties of one tissue for the Pennes equation.

    Args:
        conductivity_w_per_m_k: thermal conductivity k (W m⁻¹ K⁻¹).
        density_kg_per_m3: density ρ (kg/m³).
        specific_heat_j_per_kg_k: specific heat capacity c (J kg⁻¹ K⁻¹).
        perfusion_w_per_m3_k: blood perfusion term w = ω_b ρ_b c_b (W m⁻³ K⁻¹); 0 for ex-vivo tissue.
        arterial_temperature_c: arterial (and vessel blood) temperature T_a (°C).
        name: label for reports.
        source: where the values come from.

    Raises:
        AblationInputError: for non-positive k, ρ or c, or a negative perfusion.
    """

    conductivity_w_per_m_k: float
    density_kg_per_m3: float
    specific_heat_j_per_kg_k: float
    perfusion_w_per_m3_k: float
    arterial_temperature_c: float = 37.0
    name: str = "tissue"
    source: str = ""

    def __post_init__(self) -> None:
        for label, value in (
            ("conductivity", self.conductivity_w_per_m_k),
            ("density", self.density_kg_per_m3),
            ("specific heat", self.specific_heat_j_per_kg_k),
        ):
            if not (math.isfinite(value) and value > 0):
                raise AblationInputError(f"Tissue '{self.name}': the {label} must be a positive number, got {value}")
        if not (math.isfinite(self.perfusion_w_per_m3_k) and self.perfusion_w_per_m3_k >= 0):
            raise AblationInputError(f"Tissue '{self.name}': perfusion must be ≥ 0 W/m³/K, got {self.perfusion_w_per_m3_k}")
        if not math.isfinite(self.arterial_temperature_c):
            raise AblationInputError(f"Tissue '{self.name}': the arterial temperature must be finite")

    @property
    def volumetric_heat_capacity_j_per_m3_k(self) -> float:
        """ρ c (J m⁻³ K⁻¹)."""
        return self.density_kg_per_m3 * self.specific_heat_j_per_kg_k

    @property
    def diffusivity_m2_per_s(self) -> float:
        """Thermal diffusivity α = k / (ρ c) (m²/s)."""
        return self.conductivity_w_per_m_k / self.volumetric_heat_capacity_j_per_m3_k

    @property
    def perfusion_length_m(self) -> float:
        """Perfusion length L = √(k / w) (m); infinite without perfusion."""
        if self.perfusion_w_per_m3_k == 0:
            return math.inf
        return math.sqrt(self.conductivity_w_per_m_k / self.perfusion_w_per_m3_k)

    def with_perfusion(self, perfusion_w_per_m3_k: float) -> TissueProperties:
        """A copy with another perfusion (0 = ex vivo)."""
        from dataclasses import replace

        return replace(self, perfusion_w_per_m3_k=float(perfusion_w_per_m3_k))


_ITIS = ("Hasgall PA et al., IT'IS Database for thermal and electromagnetic parameters of biological tissues, "
         "v4.0 (2018), itis.swiss/database")
_BLOOD_RHO_C = 1050.0 * 3617.0  # IT'IS v4.0 blood, J m⁻³ K⁻¹
_LIVER_OMEGA = 6.4e-3  # s⁻¹, Tungjitkusolmun et al. 2002 / Chang & Nguyen 2004

#: Tissue presets with their sources. Perfusion: ω_b (s⁻¹) × ρ_b c_b of blood.
TISSUE_PRESETS: dict[str, TissueProperties] = {
    "liver": TissueProperties(
        0.52, 1079.0, 3540.0, _LIVER_OMEGA * _BLOOD_RHO_C, 37.0, "liver",
        f"k, ρ, c: {_ITIS}; perfusion ω_b = 6.4e-3 s⁻¹: Tungjitkusolmun S et al., IEEE Trans Biomed Eng "
        "2002;49:3–9 (also Chang & Nguyen, Biomed Eng Online 2004;3:27), times ρ_b c_b of blood (IT'IS v4.0)",
    ),
    "liver_ex_vivo": TissueProperties(
        0.52, 1079.0, 3540.0, 0.0, 37.0, "liver (ex vivo)",
        f"k, ρ, c: {_ITIS}; no perfusion (the conditions of the vendors' ex-vivo charts)",
    ),
    "tumour": TissueProperties(
        0.52, 1079.0, 3540.0, 0.5 * _LIVER_OMEGA * _BLOOD_RHO_C, 37.0, "tumour",
        f"k, ρ, c: liver values ({_ITIS}), no consensus tumour-specific values; perfusion: half the liver value, "
        "an ASSUMPTION for hypovascular lesions (HCC perfusion varies widely; override per patient)",
    ),
    "blood": TissueProperties(
        0.52, 1050.0, 3617.0, 0.0, 37.0, "blood",
        f"{_ITIS} (blood); held at arterial temperature inside vessels, so no perfusion term",
    ),
    "vessel_wall": TissueProperties(
        0.46, 1102.0, 3306.0, 0.0, 37.0, "vessel wall",
        f"{_ITIS} (blood vessel wall); perfusion neglected",
    ),
}


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → the GPU when torch sees one, else the CPU; an explicit but unavailable GPU is an error.

    Uses :func:`HCCInterventionalAILib.device.select_device` (raises its ``DeviceUnavailableError``, a
    ``ValueError``).
    """
    from HCCInterventionalAILib.device import select_device

    return str(select_device(device))


# -- damage models --------------------------------------------------------------------------------------------
def arrhenius_rate_per_s(
    temperature_c: np.ndarray | float,
    A: float = LIVER_ARRHENIUS_A_PER_S,
    Ea: float = LIVER_ARRHENIUS_EA_J_PER_MOL,
) -> np.ndarray:
    """Damage rate ``A exp(−E_a / (R T))`` (s⁻¹) at temperature(s) in °C (exponent clipped at 80)."""
    t_k = np.asarray(temperature_c, dtype=float) + _KELVIN
    exponent = math.log(A) - Ea / (GAS_CONSTANT_J_PER_MOL_K * t_k)
    return np.exp(np.minimum(exponent, _MAX_EXPONENT))


def _check_series(temperatures_c: np.ndarray, dt_s: float) -> np.ndarray:
    series = np.asarray(temperatures_c, dtype=float)
    if series.ndim < 1 or series.shape[0] == 0:
        raise AblationInputError("The temperature series needs at least one time point (first axis = time)")
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise AblationInputError(f"The time step must be a positive number of seconds, got {dt_s}")
    if not np.all(np.isfinite(series)):
        raise AblationInputError("The temperature series holds NaN or infinite values")
    return series


def arrhenius_damage(
    temperatures_c: np.ndarray,
    dt_s: float,
    A: float = LIVER_ARRHENIUS_A_PER_S,
    Ea: float = LIVER_ARRHENIUS_EA_J_PER_MOL,
) -> np.ndarray:
    """Arrhenius damage integral over a temperature time series.

    ``Ω = Σ_n Δt · A exp(−E_a / (R (T_n + 273.15)))`` (rectangle rule; Henriques & Moritz 1947). Defaults are the
    liver constants of Jacques et al. 1996 (A = 7.39e39 s⁻¹, E_a = 2.577e5 J/mol).

    Args:
        temperatures_c: temperatures (°C), first axis = time, any trailing shape.
        dt_s: interval between samples (s).
        A: frequency factor (s⁻¹).
        Ea: activation energy (J/mol).

    Returns:
        Ω with the trailing shape of the series (0-d array for a 1-D series).

    Raises:
        AblationInputError: for an empty series, non-finite temperatures or a non-positive step.
    """
    series = _check_series(temperatures_c, dt_s)
    if not (A > 0 and Ea > 0):
        raise AblationInputError("The Arrhenius constants A and Ea must be positive")
    return dt_s * arrhenius_rate_per_s(series, A, Ea).sum(axis=0)


def cem43_minutes(temperatures_c: np.ndarray, dt_s: float) -> np.ndarray:
    """Cumulative equivalent minutes at 43 °C (Sapareto & Dewey 1984).

    ``CEM43 = Σ_n (Δt/60) R^(43 − T_n)``, ``R = 0.5`` if ``T_n ≥ 43 °C`` else ``0.25``.

    Args:
        temperatures_c: temperatures (°C), first axis = time.
        dt_s: interval between samples (s).

    Returns:
        CEM43 in minutes with the trailing shape of the series.

    Raises:
        AblationInputError: for an empty series, non-finite temperatures or a non-positive step.
    """
    series = _check_series(temperatures_c, dt_s)
    r = np.where(series >= 43.0, 0.5, 0.25)
    exponent = np.minimum((43.0 - series) * np.log(r), _MAX_EXPONENT)
    return (dt_s / 60.0) * np.exp(exponent).sum(axis=0)


# -- solver ---------------------------------------------------------------------------------------------------
@dataclass
class BioheatResult:
    """Output of :func:`simulate_bioheat`; arrays on the input grid in (k, j, i) order.

    Attributes:
        temperature_c: temperature at the end (°C).
        max_temperature_c: highest temperature reached in each voxel (°C).
        damage_omega: Arrhenius damage integral Ω (dimensionless; ≥ 1 = coagulated).
        cem43_min: thermal dose in CEM43 minutes.
        history_c: recorded temperatures, shape (n_records, k, j, i) (empty first axis if not recorded).
        history_times_s: times of the records (s).
        time_step_s: the step used; n_steps: number of steps; device: where it ran.
        spacing_mm: voxel size (i, j, k) in mm.
    """

    temperature_c: np.ndarray
    max_temperature_c: np.ndarray
    damage_omega: np.ndarray
    cem43_min: np.ndarray
    history_c: np.ndarray
    history_times_s: np.ndarray
    time_step_s: float
    n_steps: int
    duration_s: float
    device: str
    spacing_mm: tuple[float, float, float]
    tissue: TissueProperties
    metadata: dict[str, Any] = field(default_factory=dict)

    def coagulation_mask(self, omega_threshold: float = 1.0) -> np.ndarray:
        """Voxels with ``Ω ≥ omega_threshold`` (uint8)."""
        return (self.damage_omega >= omega_threshold).astype(np.uint8)

    def isotherm_mask(self, temperature_c: float) -> np.ndarray:
        """Voxels whose final temperature is at or below ``temperature_c`` (cryoablation isotherms)."""
        return (self.temperature_c <= temperature_c).astype(np.uint8)


def _spacing_m(spacing_mm: Sequence[float]) -> tuple[float, float, float]:
    spacing = tuple(float(s) for s in spacing_mm)
    if len(spacing) != 3 or not all(math.isfinite(s) and s > 0 for s in spacing):
        raise AblationInputError(f"spacing_mm must be three positive numbers (i, j, k), got {spacing_mm!r}")
    return tuple(s * 1e-3 for s in spacing)  # type: ignore[return-value]


def _vessel_exchange(
    vessels: np.ndarray,
    spacing_m: tuple[float, float, float],
    tissue: TissueProperties,
    h_conv: float,
) -> np.ndarray:
    """Extra exchange coefficient C (W m⁻³ K⁻¹) of tissue voxels next to vessel voxels (see module docstring).

    The plain Laplacian already conducts ``k/h²`` per face towards the vessel voxel (held at blood temperature);
    C adds ``(U − k/h)/h`` per vessel face so that the total is ``U/h``, ``U = 1/(h/(2k) + 1/h_conv)``.
    """
    k = tissue.conductivity_w_per_m_k
    coefficient = np.zeros(vessels.shape, dtype=float)
    # axis 0 = k (spacing index 2), axis 1 = j (1), axis 2 = i (0)
    for axis, h in ((0, spacing_m[2]), (1, spacing_m[1]), (2, spacing_m[0])):
        u = 1.0 / (h / (2.0 * k) + 1.0 / h_conv)
        extra = (u - k / h) / h
        for shift in (1, -1):
            neighbour = np.zeros_like(vessels)
            src = [slice(None)] * 3
            dst = [slice(None)] * 3
            if shift == 1:
                dst[axis], src[axis] = slice(0, -1), slice(1, None)
            else:
                dst[axis], src[axis] = slice(1, None), slice(0, -1)
            neighbour[tuple(dst)] = vessels[tuple(src)]
            coefficient += extra * (neighbour & ~vessels)
    return coefficient


def _default_vessel_h(vessels: np.ndarray, spacing_mm: tuple[float, float, float]) -> float:
    """``Nu k_b / D`` with D the largest inscribed diameter of the mask (laminar flow, Incropera & DeWitt)."""
    from scipy import ndimage

    radius_mm = float(ndimage.distance_transform_edt(vessels, sampling=spacing_mm[::-1]).max())
    diameter_m = max(2.0 * radius_mm, min(spacing_mm)) * 1e-3
    return LAMINAR_NUSSELT * TISSUE_PRESETS["blood"].conductivity_w_per_m_k / diameter_m


def stable_time_step_s(
    tissue: TissueProperties, spacing_mm: Sequence[float], extra_exchange_w_per_m3_k: float = 0.0
) -> float:
    """Largest stable explicit step ``ρc / (2k Σ 1/h_d² + w + C)`` (s) for a grid and tissue."""
    spacing = _spacing_m(spacing_mm)
    rate = 2.0 * tissue.conductivity_w_per_m_k * sum(1.0 / h**2 for h in spacing)
    rate += tissue.perfusion_w_per_m3_k + max(extra_exchange_w_per_m3_k, 0.0)
    return tissue.volumetric_heat_capacity_j_per_m3_k / rate


def simulate_bioheat(
    power_density: np.ndarray | Volume,
    duration_s: float,
    *,
    tissue: TissueProperties,
    spacing_mm: Sequence[float] | None = None,
    fixed_temperature: np.ndarray | None = None,
    initial_temperature_c: float = 37.0,
    vessels: np.ndarray | None = None,
    record_every_s: float | None = None,
    device: str = "auto",
    progress: Progress | ProgressCallback | None = None,
    time_step_s: float | None = None,
    safety_factor: float = 0.9,
    boundary: str = "fixed",
    vessel_heat_transfer_w_per_m2_k: float | None = None,
    arrhenius_A_per_s: float = LIVER_ARRHENIUS_A_PER_S,
    arrhenius_Ea_j_per_mol: float = LIVER_ARRHENIUS_EA_J_PER_MOL,
    dtype: str = "float32",
    power_envelope: Callable[[float], float] | None = None,
) -> BioheatResult:
    """Solve the Pennes bioheat equation with the explicit FTCS scheme (see module docstring).

    Args:
        power_density: absorbed power density Q (W/m³) on the grid, (k, j, i); a ``Volume`` brings its spacing.
        duration_s: simulated time (s).
        tissue: thermal properties (homogeneous).
        spacing_mm: voxel size (i, j, k) in mm; required for a bare array.
        fixed_temperature: Dirichlet map (°C), NaN where free (cryoprobes, tests).
        initial_temperature_c: uniform starting temperature (also the outer boundary value for ``"fixed"``).
        vessels: boolean mask of large vessels, held at arterial temperature with convective exchange.
        record_every_s: record the temperature field at this interval (plus t = 0 and the end); None = no history.
        device: ``"auto"`` (GPU when present), ``"cpu"`` or a torch device name.
        progress: progress reporter or callback; the run stops with ``Cancelled`` when asked.
        time_step_s: explicit step; default ``safety_factor`` × the stability limit.
        safety_factor: fraction of the stability limit used by default (0–1].
        boundary: ``"fixed"`` (outer faces held at the initial temperature) or ``"insulated"`` (zero flux).
        vessel_heat_transfer_w_per_m2_k: convective coefficient at vessel walls; default laminar ``Nu k_b / D``.
        arrhenius_A_per_s, arrhenius_Ea_j_per_mol: damage constants (liver defaults, Jacques et al. 1996).
        dtype: ``"float32"`` or ``"float64"`` for the state.
        power_envelope: optional time course ``f(t)`` of the source, ``Q(x, t) = Q(x) f(t)``, evaluated at the
            middle of each step (e.g. the calibrated applicators' absorbed-power decay,
            :meth:`~.source.SourceModel.envelope`); None = constant.

    Returns:
        a :class:`BioheatResult`.

    Raises:
        AblationInputError: for a non-3-D or non-finite power map, mismatched masks, non-positive duration.
        UnstableSettingsError: when ``time_step_s`` exceeds the stability limit.
    """
    import torch

    from HCCInterventionalAILib.progress import as_progress

    if hasattr(power_density, "geometry") and hasattr(power_density, "array"):
        if spacing_mm is None:
            spacing_mm = power_density.geometry.spacing
        power = np.asarray(power_density.array, dtype=float)
    else:
        power = np.asarray(power_density, dtype=float)
    if spacing_mm is None:
        raise AblationInputError("spacing_mm is required when the power density is a bare array")
    if power.ndim != 3:
        raise AblationInputError(f"The power density must be a 3-D array (k, j, i), got {power.ndim}-D")
    if not np.all(np.isfinite(power)):
        raise AblationInputError("The power density holds NaN or infinite values")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise AblationInputError(f"The duration must be a positive number of seconds, got {duration_s}")
    if boundary not in ("fixed", "insulated"):
        raise AblationInputError(f"boundary must be 'fixed' or 'insulated', got {boundary!r}")
    if not 0 < safety_factor <= 1:
        raise UnstableSettingsError(f"The safety factor must be in (0, 1], got {safety_factor}")
    spacing_mm = tuple(float(s) for s in spacing_mm)  # type: ignore[assignment]
    spacing = _spacing_m(spacing_mm)
    shape = power.shape
    t_art = tissue.arterial_temperature_c

    fixed_mask = np.zeros(shape, dtype=bool)
    fixed_theta = np.zeros(shape, dtype=float)
    if fixed_temperature is not None:
        fixed = np.asarray(fixed_temperature, dtype=float)
        if fixed.shape != shape:
            raise AblationInputError(f"fixed_temperature has shape {fixed.shape}, the power density {shape}")
        fixed_mask |= np.isfinite(fixed)
        fixed_theta = np.where(np.isfinite(fixed), fixed - t_art, 0.0)
    exchange = np.zeros(shape, dtype=float)
    if vessels is not None:
        vessel_mask = np.asarray(vessels).astype(bool)
        if vessel_mask.shape != shape:
            raise AblationInputError(f"The vessel mask has shape {vessel_mask.shape}, the power density {shape}")
        if vessel_mask.any():
            h_conv = vessel_heat_transfer_w_per_m2_k or _default_vessel_h(vessel_mask, spacing_mm)
            if not (math.isfinite(h_conv) and h_conv > 0):
                raise AblationInputError(f"The vessel heat-transfer coefficient must be positive, got {h_conv}")
            exchange = _vessel_exchange(vessel_mask, spacing, tissue, h_conv)
            free = ~fixed_mask
            fixed_mask |= vessel_mask & free
            fixed_theta = np.where(vessel_mask & free, 0.0, fixed_theta)
    exchange = np.where(fixed_mask, 0.0, exchange)

    limit = stable_time_step_s(tissue, spacing_mm, float(exchange.max(initial=0.0)))
    if time_step_s is None:
        step = safety_factor * limit
    else:
        step = float(time_step_s)
        if not (math.isfinite(step) and step > 0):
            raise UnstableSettingsError(f"The time step must be positive, got {time_step_s}")
        if step > limit:
            raise UnstableSettingsError(
                f"A time step of {step:.3g} s exceeds the explicit stability limit of {limit:.3g} s for this grid "
                "and tissue; use a smaller step or a coarser grid"
            )
    n_steps = max(1, math.ceil(duration_s / step - 1e-9))
    dt = duration_s / n_steps

    dev = torch.device(resolve_device(device))
    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    rho_c = tissue.volumetric_heat_capacity_j_per_m3_k
    a = dt / rho_c
    k = tissue.conductivity_w_per_m_k
    coeff = [a * k / spacing[2] ** 2, a * k / spacing[1] ** 2, a * k / spacing[0] ** 2]  # axes k, j, i
    decay_np = 1.0 - a * (tissue.perfusion_w_per_m3_k + exchange)
    source_np = np.where(fixed_mask, 0.0, a * power)

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=tdtype, device=dev)

    theta = tensor(np.where(fixed_mask, fixed_theta, initial_temperature_c - t_art))
    decay: torch.Tensor | float = tensor(decay_np) if np.ptp(decay_np) > 0 else float(decay_np.flat[0])
    source = tensor(source_np)
    has_fixed = bool(fixed_mask.any())
    fixed_m = torch.as_tensor(fixed_mask, device=dev)
    fixed_v = tensor(fixed_theta)
    boundary_theta = initial_temperature_c - t_art
    omega = torch.zeros(shape, dtype=torch.float64 if dtype == "float64" else torch.float32, device=dev)
    cem = torch.zeros_like(omega)
    tmax = theta.clone()
    log_a = math.log(arrhenius_A_per_s)
    ea_r = arrhenius_Ea_j_per_mol / GAS_CONSTANT_J_PER_MOL_K
    t_off = t_art + _KELVIN

    history: list[np.ndarray] = []
    times: list[float] = []
    record_steps: set[int] = set()
    if record_every_s is not None:
        if not (math.isfinite(record_every_s) and record_every_s > 0):
            raise AblationInputError(f"record_every_s must be a positive number of seconds, got {record_every_s}")
        record_steps = {min(n_steps, round(m * record_every_s / dt)) for m in range(int(duration_s // record_every_s) + 1)}
        record_steps.add(n_steps)
        if 0 in record_steps:
            history.append((theta + t_art).cpu().numpy().astype(np.float32))
            times.append(0.0)

    reporter = as_progress(progress)
    report_every = max(1, n_steps // 100)
    padded = torch.zeros(tuple(s + 2 for s in shape), dtype=tdtype, device=dev)
    if boundary == "fixed":
        padded.fill_(boundary_theta)
    inner = padded[1:-1, 1:-1, 1:-1]
    # θ_new = θ (decay − 2Σc) + source + Σ_d c_d (θ_{+d} + θ_{−d}); the −2Σc centre term is folded into the decay.
    decay = decay - 2.0 * sum(coeff)
    neighbours = (
        (coeff[0], padded[2:, 1:-1, 1:-1]), (coeff[0], padded[:-2, 1:-1, 1:-1]),
        (coeff[1], padded[1:-1, 2:, 1:-1]), (coeff[1], padded[1:-1, :-2, 1:-1]),
        (coeff[2], padded[1:-1, 1:-1, 2:]), (coeff[2], padded[1:-1, 1:-1, :-2]),
    )
    cem_offset = 43.0 - t_art
    ln2 = math.log(2.0)
    work = torch.empty(shape, dtype=omega.dtype, device=dev)
    work2 = torch.empty(shape, dtype=omega.dtype, device=dev)
    new = torch.empty(shape, dtype=tdtype, device=dev)
    inner.copy_(theta)
    with torch.no_grad():
        for n in range(1, n_steps + 1):
            if boundary == "insulated":
                padded[0, 1:-1, 1:-1] = inner[0]
                padded[-1, 1:-1, 1:-1] = inner[-1]
                padded[1:-1, 0, 1:-1] = inner[:, 0]
                padded[1:-1, -1, 1:-1] = inner[:, -1]
                padded[1:-1, 1:-1, 0] = inner[:, :, 0]
                padded[1:-1, 1:-1, -1] = inner[:, :, -1]
            torch.mul(inner, decay, out=new)
            if power_envelope is None:
                new.add_(source)
            else:
                new.add_(source, alpha=float(power_envelope((n - 0.5) * dt)))
            for c, view in neighbours:
                new.add_(view, alpha=c)
            if has_fixed:
                new = torch.where(fixed_m, fixed_v, new)
            inner.copy_(new)
            torch.maximum(tmax, new, out=tmax)
            # Arrhenius: Ω += Δt A exp(−Ea / (R T))
            torch.add(new, t_off, out=work)
            work.reciprocal_().mul_(-ea_r).add_(log_a).clamp_(max=_MAX_EXPONENT).exp_()
            omega.add_(work, alpha=dt)
            # CEM43: exponent (43 − T) ln R = ln2 · (x + min(x, 0)), x = T − 43
            torch.sub(new, cem_offset, out=work)
            torch.clamp(work, max=0.0, out=work2)
            work.add_(work2).mul_(ln2).clamp_(max=_MAX_EXPONENT).exp_()
            cem.add_(work, alpha=dt / 60.0)
            if n in record_steps:
                history.append((new + t_art).cpu().numpy().astype(np.float32))
                times.append(n * dt)
            if n % report_every == 0 or n == n_steps:
                reporter.update(n / n_steps, f"Bioheat: {n * dt:.0f} / {duration_s:.0f} s")
    theta = inner.clone()

    history_array = np.stack(history) if history else np.zeros((0, *shape), dtype=np.float32)
    return BioheatResult(
        temperature_c=(theta + t_art).cpu().numpy().astype(float),
        max_temperature_c=(tmax + t_art).cpu().numpy().astype(float),
        damage_omega=omega.cpu().numpy().astype(float),
        cem43_min=cem.cpu().numpy().astype(float),
        history_c=history_array,
        history_times_s=np.asarray(times, dtype=float),
        time_step_s=dt,
        n_steps=n_steps,
        duration_s=float(duration_s),
        device=str(dev),
        spacing_mm=spacing_mm,  # type: ignore[arg-type]
        tissue=tissue,
        metadata={"stability_limit_s": limit, "boundary": boundary, "scheme": "explicit FTCS (Pennes)"},
    )
