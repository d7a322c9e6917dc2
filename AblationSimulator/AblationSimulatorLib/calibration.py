"""Calibration of the applicator heat source against the manufacturers' ex-vivo charts.

Model (see :mod:`AblationSimulatorLib.source`): per device and power setting ONE source, shared by every
ablation time of that setting: initial absorbed power ``P_abs`` (≤ the generator's nominal power), active
length ``ℓ`` and Gaussian width ``σ`` (from :data:`SIGMA_CANDIDATES_MM`), centred at the mean chart centre offset
of the setting's rows; per device the time constant ``τ`` of the absorbed-power decay ``f(t) = exp(−t/τ)``
(tissue dehydration/charring lowering the dielectric loss around the antenna, Lopresto et al. 2012; ``τ = None``:
constant power). Because the
source is the same for all times, Ω grows monotonically with time at every point, and so does the zone.

Fit: in homogeneous unperfused liver (the charts are ex vivo) starting at 37 °C, the Arrhenius ``Ω ≥ 1`` zone
(Jacques et al. 1996 constants) after each chart time ``t_i`` has semi-axes ``a(t_i)`` along the shaft and
``b(t_i)`` across it. The parameters minimise the least-squares residual over all chart rows::

    setting (device, power):  min over P_abs ∈ (0, P_nominal], ℓ ≥ 0, σ of  Σ_i (a(t_i) − a_i)² + (b(t_i) − b_i)²
    device:                   min over τ of the sum over its settings

The zone of a single applicator in homogeneous tissue is axially symmetric, so the Pennes equation is solved in
cylindrical coordinates (r, z) with the same explicit finite-volume scheme as the 3-D solver::

    ρc ∂θ/∂t = k [ (1/r) ∂/∂r (r ∂θ/∂r) + ∂²θ/∂z² ] − w θ + q f(t)

(face areas 2π r_{i±½} Δz, cell volumes 2π r_i Δr Δz; stable for Δt ≤ ρc / (2k(1/Δr² + 1/Δz²) + w)).
The temperature rise is linear in ``P_abs``: one run with 1 W (its axis and mid-plane lines kept every 3 s) gives
the damage at every chart time for any power, so ``P_abs`` is found without re-running the solver, ``ℓ`` by an
outer bounded search, ``τ`` by a search over the device. The source is symmetric about its centre, so the zone's
widest point is the mid-plane ``z = 0`` and its half-length is read on the axis.

Result (preset file, 0.5 mm cells; Testing/test_ablation_devices.py re-checks it on 1 mm cells): every one of the
40 chart rows within 2 mm of the chart on both semi-axes, worst 1.92 mm (Acculis 140 W / 120 s, along the shaft).
τ: Covidien 24.7 s, Amica 420 s, Acculis none (constant power); σ 1.5–8 mm (8 mm, the largest candidate, for most
settings: a microwave antenna heats over about a centimetre); P_abs between 22 % (Acculis 140 W) and 100 %
(Covidien 45 W, at the bound) of the nominal power.

Honest limits: the ex-vivo zones of the charts grow slowly after a few minutes (e.g. Covidien 100 W: 17 → 18 mm
radius from 300 to 600 s), which the fit reproduces with a short absorbed-power decay for Covidien (τ ≈ 25 s:
most of the heat is deposited in the first two minutes; an effective description of the charts' saturation, not a
measured power curve). Some rows jump and then plateau (Acculis 140 W: 17.5 → 26 → 27.5 mm at 120/240/360 s),
which a smoothly growing zone follows only to within 1.6–1.9 mm. The zone centre of some rows moves by several
millimetres with time (Amica 40 W: 11.5 → 20.5 mm behind the tip) while a symmetric source keeps one centre (the
mean of its rows; residual per row in the file). Run ``python -m AblationSimulatorLib.calibration CSV OUT.json 2``
to refit the preset file (≈ 6 min on 2 cores).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .bioheat import (
    GAS_CONSTANT_J_PER_MOL_K,
    LIVER_ARRHENIUS_A_PER_S,
    LIVER_ARRHENIUS_EA_J_PER_MOL,
    TISSUE_PRESETS,
    TissueProperties,
)
from .source import DEFAULT_SOURCE_SIGMA_MM, source_profile

__all__ = [
    "AxisymmetricRun",
    "simulate_axisymmetric",
    "zone_axes_axisymmetric",
    "ChartPoint",
    "SettingFit",
    "DeviceFit",
    "fit_setting",
    "fit_device",
    "build_device_presets",
    "RECORD_EVERY_S",
    "SIGMA_CANDIDATES_MM",
]

_KELVIN = 273.15
#: History interval of the calibration runs (s); every chart time is a multiple of it.
RECORD_EVERY_S = 3.0


@dataclass
class AxisymmetricRun:
    """Temperature rise per watt of ``P_abs`` on the axis (r = Δr/2) and the mid-plane (z = 0), every record.

    Attributes:
        r_mm: cell centres (i + ½)Δr; z_mm: cell centres jΔz (0 at the source centre).
        axis_per_w: (n_records + 1, nz) K/W on the first radial cell; radial_per_w: (n_records + 1, nr) at z = 0.
        record_dt_s: interval between records; tissue: the properties used.
    """

    r_mm: np.ndarray
    z_mm: np.ndarray
    axis_per_w: np.ndarray
    radial_per_w: np.ndarray
    record_dt_s: float
    tissue: TissueProperties

    def _omega(self, theta_per_w: np.ndarray, power_w: float, A: float, Ea: float) -> np.ndarray:
        """Cumulative Arrhenius Ω at every record (trapezoid rule) for ``power_w``."""
        t_k = self.tissue.arterial_temperature_c + _KELVIN + power_w * theta_per_w
        rate = np.exp(np.minimum(math.log(A) - Ea / GAS_CONSTANT_J_PER_MOL_K / t_k, 80.0))
        cumulative = np.cumsum(rate, axis=0) - 0.5 * rate[0] - 0.5 * rate
        return self.record_dt_s * cumulative

    def record_index(self, time_s: float) -> int:
        """Index of the record at ``time_s`` (must be a multiple of the record interval)."""
        index = int(round(time_s / self.record_dt_s))
        if abs(index * self.record_dt_s - time_s) > 1e-6 or not 0 <= index < self.axis_per_w.shape[0]:
            raise ValueError(f"{time_s} s is not a recorded time of this run")
        return index

    def zone_axes(
        self, power_w: float, times_s: Sequence[float],
        A: float = LIVER_ARRHENIUS_A_PER_S, Ea: float = LIVER_ARRHENIUS_EA_J_PER_MOL,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Semi-axes (along the shaft, across it) in mm of the Ω ≥ 1 zone at each of ``times_s``."""
        index = [self.record_index(t) for t in times_s]
        centre = self.z_mm.size // 2
        along = self._omega(self.axis_per_w[:, centre:], power_w, A, Ea)[index]
        across = self._omega(self.radial_per_w, power_w, A, Ea)[index]
        z = self.z_mm[centre:]
        return (np.array([_outer_crossing(z, row) for row in along]),
                np.array([_outer_crossing(self.r_mm, row) for row in across]))


def _outer_crossing(coords: np.ndarray, omega: np.ndarray) -> float:
    """Outermost coordinate where Ω crosses 1, interpolated linearly in log Ω (0 when nothing is ablated)."""
    log_omega = np.log(np.maximum(omega, 1e-300))
    above = np.flatnonzero(log_omega >= 0)
    if above.size == 0:
        return 0.0
    i = above[-1]
    if i + 1 >= coords.size:
        return float(coords[i])
    f = log_omega[i] / (log_omega[i] - log_omega[i + 1])
    return float(coords[i] + f * (coords[i + 1] - coords[i]))


def simulate_axisymmetric(
    duration_s: float,
    active_length_mm: float,
    sigma_mm: float = DEFAULT_SOURCE_SIGMA_MM,
    *,
    power_decay_time_s: float | None = None,
    tissue: TissueProperties | None = None,
    cell_mm: float = 0.5,
    radius_mm: float = 45.0,
    half_length_mm: float = 60.0,
    record_every_s: float = RECORD_EVERY_S,
) -> AxisymmetricRun:
    """1 W (initial) source of the calibrated shape in an (r, z) cylinder held at T_a on its outer faces.

    Args:
        duration_s: heating time (s), a multiple of ``record_every_s``.
        active_length_mm, sigma_mm: source shape (see :mod:`AblationSimulatorLib.source`).
        power_decay_time_s: τ of the power decay ``exp(−t/τ)``, None = constant power.
        tissue: properties (default: unperfused liver, the charts' ex-vivo conditions).
        cell_mm: Δr = Δz (mm).
        radius_mm, half_length_mm: domain extent.
        record_every_s: interval of the kept history (damage is integrated over it).

    Returns:
        an :class:`AxisymmetricRun`.
    """
    tissue = tissue or TISSUE_PRESETS["liver_ex_vivo"]
    h = cell_mm * 1e-3
    nr = int(round(radius_mm / cell_mm))
    nz = 2 * int(round(half_length_mm / cell_mm)) + 1
    r = (np.arange(nr) + 0.5) * cell_mm
    z = (np.arange(nz) - nz // 2) * cell_mm
    profile = source_profile(r[:, None], z[None, :], active_length_mm, sigma_mm)
    volume_m3 = 2 * math.pi * (r[:, None] * 1e-3) * h * h * np.ones((1, nz))
    q = profile / (profile * volume_m3).sum()  # W/m³ for 1 W
    rho_c = tissue.volumetric_heat_capacity_j_per_m3_k
    k = tissue.conductivity_w_per_m_k
    limit = rho_c / (2 * k * (2 / h**2) + tissue.perfusion_w_per_m3_k)
    n_per_record = max(1, math.ceil(record_every_s / (0.9 * limit)))
    n_records = max(1, int(round(duration_s / record_every_s)))
    dt = record_every_s / n_per_record
    # radial face factors r_{i±½} / (r_i Δr²); the axis face has zero area, the outer ghost is 0 (T = T_a)
    r_out = (r + 0.5 * cell_mm) / r / h**2
    r_in = (r - 0.5 * cell_mm) / r / h**2
    a = dt * k / rho_c
    decay = 1.0 - dt * tissue.perfusion_w_per_m3_k / rho_c - a * (r_out + r_in)[:, None] - 2 * a / h**2
    src = dt * q / rho_c
    theta = np.zeros((nr, nz))
    axis, radial = [theta[0].copy()], [theta[:, nz // 2].copy()]
    step = 0
    for _ in range(n_records):
        for _ in range(n_per_record):
            f = 1.0 if power_decay_time_s is None else math.exp(-(step + 0.5) * dt / power_decay_time_s)
            step += 1
            new = theta * decay + f * src
            new[:-1] += a * r_out[:-1, None] * theta[1:]
            new[1:] += a * r_in[1:, None] * theta[:-1]
            new[:, :-1] += (a / h**2) * theta[:, 1:]
            new[:, 1:] += (a / h**2) * theta[:, :-1]
            theta = new
        axis.append(theta[0].copy())
        radial.append(theta[:, nz // 2].copy())
    return AxisymmetricRun(r, z, np.array(axis), np.array(radial), record_every_s, tissue)


def zone_axes_axisymmetric(run: AxisymmetricRun, power_w: float, time_s: float | None = None) -> tuple[float, float]:
    """(semi-axis along the shaft, semi-axis across it) of the Ω ≥ 1 zone at ``time_s`` (default: the end), mm."""
    if time_s is None:
        time_s = (run.axis_per_w.shape[0] - 1) * run.record_dt_s
    a, b = run.zone_axes(power_w, [time_s])
    return float(a[0]), float(b[0])


@dataclass(frozen=True)
class ChartPoint:
    """One chart row: time (s), semi-axes along/across (mm), centre offset behind the tip (mm)."""

    time_s: float
    along_mm: float
    perpendicular_mm: float
    centre_offset_mm: float


@dataclass
class SettingFit:
    """The source fitted on all chart rows of one (device, power) setting and the zones it gives."""

    power_w: float
    absorbed_power_w: float
    active_length_mm: float
    centre_offset_mm: float
    points: list[ChartPoint]
    fitted_along_mm: np.ndarray
    fitted_perpendicular_mm: np.ndarray
    sigma_mm: float = DEFAULT_SOURCE_SIGMA_MM

    @property
    def cost(self) -> float:
        """Σ_i (a(t_i) − a_i)² + (b(t_i) − b_i)² (mm²)."""
        da = self.fitted_along_mm - np.array([p.along_mm for p in self.points])
        db = self.fitted_perpendicular_mm - np.array([p.perpendicular_mm for p in self.points])
        return float((da**2).sum() + (db**2).sum())


@dataclass
class DeviceFit:
    """The per-device decay time and the per-setting fits (each with its width σ)."""

    power_decay_time_s: float | None
    settings: list[SettingFit] = field(default_factory=list)

    @property
    def cost(self) -> float:
        return sum(s.cost for s in self.settings)


def _run_for(points: Sequence[ChartPoint], length: float, sigma: float, tau: float | None, cell: float):
    return simulate_axisymmetric(
        max(p.time_s for p in points), length, sigma, power_decay_time_s=tau, cell_mm=cell,
        radius_mm=max(p.perpendicular_mm for p in points) + 25.0,
        half_length_mm=max(p.along_mm for p in points) + 25.0,
    )


def fit_setting(
    points: Sequence[ChartPoint], nominal_power_w: float, sigma_mm: float, power_decay_time_s: float | None,
    cell_mm: float = 0.5, length_tolerance_mm: float = 0.1,
) -> SettingFit:
    """Least-squares ``P_abs`` ∈ (0, nominal] and ``ℓ`` ∈ [0, 2 max a] over all rows of one setting."""
    from scipy.optimize import minimize_scalar

    times = [p.time_s for p in points]
    a_ref = np.array([p.along_mm for p in points])
    b_ref = np.array([p.perpendicular_mm for p in points])
    found: dict[float, tuple[float, float, np.ndarray, np.ndarray]] = {}

    def for_length(length: float) -> float:
        run = _run_for(points, length, sigma_mm, power_decay_time_s, cell_mm)

        def cost(power: float) -> float:
            a, b = run.zone_axes(power, times)
            return float(((a - a_ref) ** 2).sum() + ((b - b_ref) ** 2).sum())

        best = minimize_scalar(cost, bounds=(0.01 * nominal_power_w, nominal_power_w), method="bounded",
                               options={"xatol": 1e-3 * nominal_power_w})
        a, b = run.zone_axes(best.x, times)
        found[length] = (float(best.fun), float(best.x), a, b)
        return float(best.fun)

    minimize_scalar(for_length, bounds=(0.0, 2.0 * a_ref.max()), method="bounded",
                    options={"xatol": length_tolerance_mm})
    for_length(0.0)  # the isotropic source, the bounded search never evaluates the end point itself
    length = min(found, key=lambda k: found[k][0])
    _, power, a, b = found[length]
    centre = float(np.mean([p.centre_offset_mm for p in points]))
    return SettingFit(nominal_power_w, power, float(length), centre, list(points), a, b, sigma_mm)


def fit_device(
    settings: dict[float, Sequence[ChartPoint]],
    sigmas_mm: Sequence[float] = (DEFAULT_SOURCE_SIGMA_MM,),
    decay_bounds_s: tuple[float, float] = (10.0, 3000.0),
    search_cell_mm: float = 1.0,
    final_cell_mm: float = 0.5,
) -> DeviceFit:
    """Choose τ for one device (bounded search on log τ, and constant power) with, for every setting, the best σ of
    ``sigmas_mm``, on a coarse grid; then refit every setting on the fine grid with its σ and the device's τ.

    Args:
        settings: chart rows by nominal power (W).
        sigmas_mm: candidate source widths (one is chosen per setting: the source shape of that setting).
        decay_bounds_s: search interval of τ.
        search_cell_mm, final_cell_mm: cell sizes of the search and of the final fit.

    Returns:
        the :class:`DeviceFit` (fine-grid fits).
    """
    from scipy.optimize import minimize_scalar

    def best_fits(tau: float | None) -> list[SettingFit]:
        return [min((fit_setting(points, power, sigma, tau, search_cell_mm, 0.25) for sigma in sigmas_mm),
                    key=lambda f: f.cost) for power, points in sorted(settings.items())]

    def device_cost(tau: float | None) -> float:
        return sum(f.cost for f in best_fits(tau))

    best: tuple[float, float | None] = (device_cost(None), None)
    log_lo, log_hi = (math.log(v) for v in decay_bounds_s)
    search = minimize_scalar(lambda x: device_cost(math.exp(x)), bounds=(log_lo, log_hi), method="bounded",
                             options={"xatol": 0.05})
    if search.fun < best[0]:
        best = (float(search.fun), float(math.exp(search.x)))
    tau = None if best[1] is None else round(best[1], 1)
    coarse = best_fits(tau)
    fits = [fit_setting(c.points, c.power_w, c.sigma_mm, tau, final_cell_mm) for c in coarse]
    return DeviceFit(tau, fits)


#: Keys and display names of the devices in ``vendor_ellipsoids.csv``.
DEVICE_KEYS = {
    "Covidien (Covidien MWA)": ("covidien-mwa", "Covidien/Medtronic MWA"),
    "Amica (Probe)": ("amica-probe", "Amica MWA probe"),
    "AngioDynamics (Acculis)": ("angiodynamics-acculis", "AngioDynamics Acculis MWA"),
}

CHART_SOURCE = (
    "Manufacturers' ex-vivo (bovine liver) ablation-zone brochures for the Covidien/Medtronic MWA, Amica and "
    "AngioDynamics Acculis microwave systems, as transcribed in the public spreadsheet "
    "docs/Ellipsoid_Brochure_Info.xlsx of github.com/rmsandu/segmentation-eval (GPL-3.0); semi-axes are radii in "
    "mm, the centre sits the given distance behind the tip. Ex-vivo values: in-vivo zones are usually smaller."
)
CALIBRATION_SOURCE = (
    "One time-independent source per device and power: Gaussian-blurred line source (active length, width sigma) "
    "with initial absorbed power P_abs <= nominal and, per device, an absorbed-power decay exp(-t/tau) "
    "(dehydration/charring lowers the dielectric loss: Lopresto et al., Phys Med Biol 2012;57:2309); least squares "
    "over all chart rows of the setting on the semi-axes of the Arrhenius Omega >= 1 zone (Jacques et al. 1996 "
    "liver constants) in homogeneous unperfused liver (IT'IS v4.0 k, rho, c) from 37 C; axisymmetric Pennes "
    "solver, 0.5 mm cells (AblationSimulatorLib.calibration). Residual per chart row in 'fit'."
)
#: Source widths σ tried for every setting (mm): a microwave antenna heats over several millimetres.
SIGMA_CANDIDATES_MM = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
_NUMERIC = [
    "power_W", "time_s", "semi_axis_along_needle_mm", "semi_axis_perpendicular_1_mm",
    "semi_axis_perpendicular_2_mm", "center_offset_from_tip_along_needle_mm", "energy_kJ",
]


def _fit_device_rows(rows: list[dict]) -> DeviceFit:
    settings: dict[float, list[ChartPoint]] = {}
    for row in rows:
        settings.setdefault(row["power_W"], []).append(ChartPoint(
            row["time_s"], row["semi_axis_along_needle_mm"], row["semi_axis_perpendicular_1_mm"],
            row["center_offset_from_tip_along_needle_mm"]))
    return fit_device(settings, sigmas_mm=SIGMA_CANDIDATES_MM)


def build_device_presets(csv_path: str, processes: int = 1) -> dict:
    """Read the vendor chart CSV, fit every device, and return the preset-file content."""
    import csv
    from multiprocessing import Pool

    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in _NUMERIC:
            row[key] = float(row[key])
    by_device: dict[str, list[dict]] = {}
    for row in rows:
        by_device.setdefault(row["device"], []).append(row)
    names = list(by_device)
    with Pool(processes) as pool:
        fits = dict(zip(names, pool.map(_fit_device_rows, [by_device[n] for n in names]), strict=True))
    devices: dict = {}
    worst = 0.0
    for name in names:
        key, display = DEVICE_KEYS[name]
        fit = fits[name]
        chart = []
        for row in by_device[name]:
            setting = next(s for s in fit.settings if s.power_w == row["power_W"])
            i = [p.time_s for p in setting.points].index(row["time_s"])
            da = float(setting.fitted_along_mm[i] - row["semi_axis_along_needle_mm"])
            db = float(setting.fitted_perpendicular_mm[i] - row["semi_axis_perpendicular_1_mm"])
            worst = max(worst, abs(da), abs(db))
            chart.append({k: row[k] for k in _NUMERIC} | {"fit": {
                "fitted_along_mm": round(float(setting.fitted_along_mm[i]), 2),
                "fitted_perpendicular_mm": round(float(setting.fitted_perpendicular_mm[i]), 2),
                "residual_along_mm": round(da, 2),
                "residual_perpendicular_mm": round(db, 2),
                "residual_centre_offset_mm": round(setting.centre_offset_mm
                                                   - row["center_offset_from_tip_along_needle_mm"], 2),
            }})
        devices[key] = {
            "name": display, "modality": by_device[name][0]["modality"],
            "calibration": {
                "power_decay_time_s": fit.power_decay_time_s,
                "settings": [{
                    "power_W": s.power_w, "absorbed_power_w": round(s.absorbed_power_w, 3), "sigma_mm": s.sigma_mm,
                    "active_length_mm": round(s.active_length_mm, 2), "centre_offset_mm": round(s.centre_offset_mm, 3),
                    "rms_residual_mm": round(math.sqrt(s.cost / (2 * len(s.points))), 2),
                } for s in fit.settings],
            },
            "chart": chart,
        }
    return {
        "source": CHART_SOURCE,
        "calibration_source": CALIBRATION_SOURCE,
        "calibration_max_residual_mm": round(worst, 2),
        "devices": devices,
    }


def main() -> None:  # pragma: no cover - offline tool
    """``python -m AblationSimulatorLib.calibration CSV OUT.json [PROCESSES]``: refit the device preset file."""
    import json
    import sys

    data = build_device_presets(sys.argv[1], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":  # pragma: no cover
    main()
