"""Calibration of the applicator heat source against the manufacturers' ex-vivo charts.

For each chart row (device, power, time) the effective power ``P_eff`` and active length ``ℓ`` of
:class:`~AblationSimulatorLib.source.SourceModel` are fitted so that, in homogeneous unperfused liver starting at
37 °C, the Arrhenius ``Ω ≥ 1`` zone after the chart time has the chart's semi-axes (along the shaft ``a`` and
perpendicular ``b``). The zone centre sits at the source centre by symmetry, which is placed at the chart's
centre offset behind the tip.

Because a single applicator in homogeneous tissue is axially symmetric, the fit uses the Pennes equation in
cylindrical coordinates (r, z), solved with the same explicit finite-volume scheme as the 3-D solver::

    ρc ∂θ/∂t = k [ (1/r) ∂/∂r (r ∂θ/∂r) + ∂²θ/∂z² ] − w θ + q

(face areas 2π r_{i±½} Δz, cell volumes 2π r_i Δr Δz; stable for Δt ≤ ρc / (2k(1/Δr² + 1/Δz²) + w)).
The temperature rise is linear in ``P_eff``: one run with 1 W, its history kept every few seconds, gives the
damage for any power, so ``P_eff`` is found by bisection without re-running the solver, and ``ℓ`` by an outer
root search. Run ``python -m AblationSimulatorLib.calibration`` to refit the preset file.

Known limitation: the fit is per chart ROW, so ``P_eff`` falls with the chart time at a fixed generator power
(the charts' zones grow slowly with time, a linear unperfused model grows faster). Each row's ex-vivo zone is
reproduced, but in PERFUSED tissue a longer ablation at the same power can then give a smaller zone (measured on
the surrogate's synthetic patch: Covidien 100 W, 13.1 ml at 300 s vs 9.3 ml at 600 s). A per-(device, power)
source with a time-independent ``P_eff`` (and a fitted width σ) is the next step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    "fit_source",
    "SourceFit",
    "build_device_presets",
]

_KELVIN = 273.15


@dataclass
class AxisymmetricRun:
    """History of the temperature rise per watt on an (r, z) grid (cells at (i+½)Δr and z_j)."""

    r_mm: np.ndarray
    z_mm: np.ndarray
    theta_per_w: np.ndarray  # (n_records, nr, nz), K per W
    record_dt_s: float
    tissue: TissueProperties

    def damage(
        self, power_w: float, A: float = LIVER_ARRHENIUS_A_PER_S, Ea: float = LIVER_ARRHENIUS_EA_J_PER_MOL
    ) -> np.ndarray:
        """Arrhenius Ω (trapezoid rule over the records) for a source of ``power_w`` watts."""
        t_k = np.float32(self.tissue.arterial_temperature_c + _KELVIN) + np.float32(power_w) * self.theta_per_w
        rate = np.exp(np.minimum(np.float32(math.log(A)) - np.float32(Ea / GAS_CONSTANT_J_PER_MOL_K) / t_k, 80.0))
        return self.record_dt_s * (rate.sum(axis=0) - 0.5 * (rate[0] + rate[-1]))


def simulate_axisymmetric(
    duration_s: float,
    active_length_mm: float,
    sigma_mm: float = DEFAULT_SOURCE_SIGMA_MM,
    *,
    tissue: TissueProperties | None = None,
    cell_mm: float = 0.5,
    radius_mm: float = 45.0,
    half_length_mm: float = 60.0,
    record_every_s: float = 3.0,
) -> AxisymmetricRun:
    """1 W source of the calibrated shape in an (r, z) cylinder held at T_a on its outer faces.

    Args:
        duration_s: heating time (s).
        active_length_mm, sigma_mm: source shape (see :mod:`AblationSimulatorLib.source`).
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
    dt = record_every_s / n_per_record
    n_records = max(1, math.ceil(duration_s / record_every_s - 1e-9))
    record_dt = duration_s / n_records
    dt = record_dt / n_per_record
    # radial face factors r_{i±½} / (r_i Δr²); the axis face has zero area, the outer ghost is 0 (T = T_a)
    r_out = (r + 0.5 * cell_mm) / r / h**2
    r_in = (r - 0.5 * cell_mm) / r / h**2
    a = dt * k / rho_c
    decay = 1.0 - dt * tissue.perfusion_w_per_m3_k / rho_c - a * (r_out + r_in)[:, None] - 2 * a / h**2
    src = dt * q / rho_c
    theta = np.zeros((nr, nz))
    history = [theta.copy()]
    for _ in range(n_records):
        for _ in range(n_per_record):
            new = theta * decay + src
            new[:-1] += a * r_out[:-1, None] * theta[1:]
            new[1:] += a * r_in[1:, None] * theta[:-1]
            new[:, :-1] += (a / h**2) * theta[:, 1:]
            new[:, 1:] += (a / h**2) * theta[:, :-1]
            theta = new
        history.append(theta.copy())
    return AxisymmetricRun(r, z, np.stack(history).astype(np.float32), record_dt, tissue)


def _crossing(coords: np.ndarray, log_omega: np.ndarray) -> tuple[float, float]:
    """First/last coordinate where log Ω crosses 0, linearly interpolated (nan when nothing is ablated)."""
    above = np.flatnonzero(log_omega >= 0)
    if above.size == 0:
        return math.nan, math.nan
    lo, hi = above[0], above[-1]

    def interp(i_in: int, i_out: int) -> float:
        if i_out < 0 or i_out >= coords.size:
            return float(coords[i_in])
        f = log_omega[i_in] / (log_omega[i_in] - log_omega[i_out])
        return float(coords[i_in] + f * (coords[i_out] - coords[i_in]))

    return interp(lo, lo - 1), interp(hi, hi + 1)


def zone_axes_axisymmetric(run: AxisymmetricRun, power_w: float) -> tuple[float, float, float]:
    """(semi-axis along the shaft, perpendicular semi-axis, centre z) of the Ω ≥ 1 zone, in mm."""
    log_omega = np.log(np.maximum(run.damage(power_w), 1e-300))
    z0, z1 = _crossing(run.z_mm, log_omega[0])
    if math.isnan(z0):
        return 0.0, 0.0, math.nan
    radial = [
        _crossing(np.concatenate([[-run.r_mm[0]], run.r_mm]), np.concatenate([[c[0]], c]))[1]
        for c in log_omega.T
        if c[0] >= 0
    ]
    return 0.5 * (z1 - z0), float(np.nanmax(radial)), 0.5 * (z0 + z1)


@dataclass(frozen=True)
class SourceFit:
    """Fitted source for one chart row, with the zone it reproduces (axisymmetric solver)."""

    effective_power_w: float
    active_length_mm: float
    sigma_mm: float
    fitted_along_mm: float
    fitted_perpendicular_mm: float


def _power_for_radius(run: AxisymmetricRun, target_b: float) -> float:
    from scipy.optimize import brentq

    lo, hi = 0.5, 1.0
    while zone_axes_axisymmetric(run, hi)[1] < target_b:
        lo, hi = hi, hi * 2
        if hi > 1e4:
            raise RuntimeError("No source power reaches the chart radius")
    return float(brentq(lambda p: zone_axes_axisymmetric(run, p)[1] - target_b, lo, hi, xtol=1e-4, rtol=1e-4))


def fit_source(
    along_mm: float, perpendicular_mm: float, time_s: float, sigma_mm: float = DEFAULT_SOURCE_SIGMA_MM,
    cell_mm: float = 0.5,
) -> SourceFit:
    """Fit ``P_eff`` and ``ℓ`` so that the axisymmetric Ω ≥ 1 zone has semi-axes (along, perpendicular).

    The zone from an isotropic source (ℓ = 0) is near-spherical; lengthening the line at the power that keeps
    the perpendicular semi-axis elongates it. ``ℓ`` is found by bisection on the along-shaft semi-axis.
    """
    extent = dict(
        radius_mm=perpendicular_mm + 25.0, half_length_mm=along_mm + 25.0, cell_mm=cell_mm,
    )

    def evaluate(length: float) -> tuple[float, float, float]:
        run = simulate_axisymmetric(time_s, length, sigma_mm, **extent)
        power = _power_for_radius(run, perpendicular_mm)
        a, b, _ = zone_axes_axisymmetric(run, power)
        return power, a, b

    p0, a0, b0 = evaluate(0.0)
    if a0 >= along_mm:
        return SourceFit(p0, 0.0, sigma_mm, a0, b0)
    lo, hi = 0.0, 2.0 * along_mm
    best = (p0, 0.0, a0, b0)
    for _ in range(14):
        mid = 0.5 * (lo + hi)
        p, a, b = evaluate(mid)
        best = (p, mid, a, b)
        if a < along_mm:
            lo = mid
        else:
            hi = mid
        if abs(a - along_mm) < 0.05:
            break
    p, length, a, b = best
    return SourceFit(p, length, sigma_mm, a, b)


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
    "Per chart row, effective power P_eff and active length of a Gaussian-blurred line source (sigma 2 mm), "
    "fitted so that the Arrhenius Omega >= 1 zone (liver constants of Jacques et al. 1996) in homogeneous "
    "unperfused liver (IT'IS v4.0 k, rho, c), starting at 37 C, has the chart semi-axes; axisymmetric Pennes "
    "solver on a 0.5 mm grid (AblationSimulatorLib.calibration)."
)


def _fit_row(row: dict) -> dict:
    fit = fit_source(row["semi_axis_along_needle_mm"], row["semi_axis_perpendicular_1_mm"], row["time_s"])
    return {
        "effective_power_w": round(fit.effective_power_w, 5),
        "active_length_mm": round(fit.active_length_mm, 4),
        "sigma_mm": fit.sigma_mm,
        "fitted_along_mm": round(fit.fitted_along_mm, 3),
        "fitted_perpendicular_mm": round(fit.fitted_perpendicular_mm, 3),
    }


def build_device_presets(csv_path: str, processes: int = 2) -> dict:
    """Read the vendor chart CSV, fit every row, and return the preset-file content."""
    import csv
    from multiprocessing import Pool

    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    numeric = [
        "power_W", "time_s", "semi_axis_along_needle_mm", "semi_axis_perpendicular_1_mm",
        "semi_axis_perpendicular_2_mm", "center_offset_from_tip_along_needle_mm", "energy_kJ",
    ]
    for row in rows:
        for key in numeric:
            row[key] = float(row[key])
    # largest first, so the slow fits start early
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["time_s"] * rows[i]["semi_axis_along_needle_mm"])
    with Pool(processes) as pool:
        fits = pool.map(_fit_row, [rows[i] for i in order])
    by_index = dict(zip(order, fits, strict=True))
    devices: dict = {}
    for index, row in enumerate(rows):
        key, name = DEVICE_KEYS[row["device"]]
        entry = devices.setdefault(key, {"name": name, "modality": row["modality"], "chart": []})
        entry["chart"].append({k: row[k] for k in numeric} | {"calibration": by_index[index]})
    return {
        "source": CHART_SOURCE,
        "calibration_source": CALIBRATION_SOURCE,
        "devices": devices,
    }


def main() -> None:  # pragma: no cover - offline tool
    """``python -m AblationSimulatorLib.calibration CSV OUT.json``: refit the device preset file."""
    import json
    import sys

    data = build_device_presets(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, ensure_ascii=False)
        handle.write("\n")


if __name__ == "__main__":  # pragma: no cover
    main()
