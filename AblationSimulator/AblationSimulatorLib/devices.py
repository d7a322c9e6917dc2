"""Ablation device presets: the manufacturers' ex-vivo zone charts and the heat source calibrated on them.

The preset file ``Resources/Presets/ablation_devices.json`` holds, per device, every chart row (power W, time s,
ellipsoid semi-axes and centre offset behind the tip, mm) with the chart's source and the residual of the
calibrated physics zone at that row, and the calibration of :mod:`AblationSimulatorLib.calibration`: per device
the absorbed-power decay time τ, per power setting ONE source (absorbed power, active length, width σ, centre
offset) shared by all ablation times. Between chart settings the vendor ellipsoid is interpolated
bilinearly in (power, time) and the source linearly in power (it does not depend on time); outside the chart
nothing is extrapolated.

The folder is found from ``HCCAI_PRESETS_DIR`` or the extension's top-level ``Resources/Presets``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AblationInputError, SettingsOutOfRangeError, UnknownDeviceError, ZeroEnergyError
from .source import SourceModel

__all__ = [
    "DEVICES_FILE",
    "ChartRow",
    "PowerSetting",
    "Ellipsoid",
    "Device",
    "devices_file",
    "load_devices",
    "get_device",
    "device_names",
]

DEVICES_FILE = "ablation_devices.json"
ENV_PRESETS_DIR = "HCCAI_PRESETS_DIR"


@dataclass(frozen=True)
class Ellipsoid:
    """Ablation ellipsoid relative to an applicator: semi-axes (mm) and centre distance behind the tip (mm)."""

    along_mm: float
    perpendicular_1_mm: float
    perpendicular_2_mm: float
    centre_offset_mm: float

    @property
    def volume_ml(self) -> float:
        """(4/3)π a b c in millilitres."""
        return 4.0 / 3.0 * np.pi * self.along_mm * self.perpendicular_1_mm * self.perpendicular_2_mm / 1000.0


@dataclass(frozen=True)
class ChartRow:
    """One chart row, the source of its power setting and the calibrated zone's semi-axes at its time."""

    power_w: float
    time_s: float
    ellipsoid: Ellipsoid
    energy_kj: float
    source: SourceModel
    fitted_along_mm: float
    fitted_perpendicular_mm: float

    @property
    def residual_mm(self) -> tuple[float, float]:
        """(fitted − chart) semi-axes along and across the shaft (mm)."""
        return (self.fitted_along_mm - self.ellipsoid.along_mm,
                self.fitted_perpendicular_mm - self.ellipsoid.perpendicular_1_mm)


@dataclass(frozen=True)
class PowerSetting:
    """The calibrated source of one power setting (time-independent)."""

    power_w: float
    absorbed_power_w: float
    active_length_mm: float
    centre_offset_mm: float
    sigma_mm: float
    rms_residual_mm: float


@dataclass(frozen=True)
class Device:
    """A device with its chart (rows on a regular power × time grid)."""

    key: str
    name: str
    modality: str
    rows: tuple[ChartRow, ...]
    source: str
    power_decay_time_s: float | None
    settings: tuple[PowerSetting, ...]

    @property
    def powers_w(self) -> np.ndarray:
        return np.unique([r.power_w for r in self.rows])

    @property
    def times_s(self) -> np.ndarray:
        return np.unique([r.time_s for r in self.rows])

    def _grid(self, value) -> np.ndarray:
        powers, times = list(self.powers_w), list(self.times_s)
        grid = np.full((len(powers), len(times)), np.nan)
        for row in self.rows:
            grid[powers.index(row.power_w), times.index(row.time_s)] = value(row)
        return grid

    def _interpolate(self, power_w: float, time_s: float, value) -> float:
        from scipy.interpolate import RegularGridInterpolator

        self.check_setting(power_w, time_s)
        grid = self._grid(value)
        interpolator = RegularGridInterpolator((self.powers_w, self.times_s), grid, method="linear")
        return float(interpolator([[power_w, time_s]])[0])

    def check_setting(self, power_w: float, time_s: float) -> None:
        """Raise a clear error for a zero/negative or out-of-chart setting."""
        if not (np.isfinite(power_w) and power_w > 0):
            raise ZeroEnergyError(f"The power must be positive, got {power_w} W")
        if not (np.isfinite(time_s) and time_s > 0):
            raise ZeroEnergyError(f"The ablation time must be positive, got {time_s} s")
        p, t = self.powers_w, self.times_s
        if not (p[0] <= power_w <= p[-1] and t[0] <= time_s <= t[-1]):
            raise SettingsOutOfRangeError(
                f"{self.name}: {power_w:g} W for {time_s:g} s is outside its chart ({p[0]:g}–{p[-1]:g} W, "
                f"{t[0]:g}–{t[-1]:g} s); charts are not extrapolated"
            )

    def ellipsoid(self, power_w: float, time_s: float) -> Ellipsoid:
        """Chart ellipsoid at a setting, bilinear between chart rows."""
        return Ellipsoid(
            self._interpolate(power_w, time_s, lambda r: r.ellipsoid.along_mm),
            self._interpolate(power_w, time_s, lambda r: r.ellipsoid.perpendicular_1_mm),
            self._interpolate(power_w, time_s, lambda r: r.ellipsoid.perpendicular_2_mm),
            self._interpolate(power_w, time_s, lambda r: r.ellipsoid.centre_offset_mm),
        )

    def source_model(self, power_w: float, time_s: float | None = None) -> SourceModel:
        """Calibrated heat source at a power, linear between the power settings; the same for every time.

        Args:
            power_w: generator power (W).
            time_s: ablation time, only checked against the chart range (the source does not depend on it).
        """
        if time_s is not None:
            self.check_setting(power_w, time_s)
        else:
            self.check_setting(power_w, float(self.times_s[0]))
        powers = [s.power_w for s in self.settings]

        def interp(value) -> float:
            return float(np.interp(power_w, powers, [value(s) for s in self.settings]))

        return SourceModel(
            interp(lambda s: s.absorbed_power_w), interp(lambda s: s.active_length_mm),
            interp(lambda s: s.centre_offset_mm), interp(lambda s: s.sigma_mm), self.power_decay_time_s,
        )

    def row(self, power_w: float, time_s: float) -> ChartRow | None:
        """The chart row at exactly this setting, if any."""
        for row in self.rows:
            if row.power_w == power_w and row.time_s == time_s:
                return row
        return None


def devices_file() -> Path:
    """Path of ``ablation_devices.json``."""
    env = os.environ.get(ENV_PRESETS_DIR)
    folder = Path(env) if env else Path(__file__).resolve().parents[2] / "Resources" / "Presets"
    return folder / DEVICES_FILE


def _device_from_json(key: str, entry: dict[str, Any], file_source: str) -> Device:
    cal = entry["calibration"]
    tau = cal.get("power_decay_time_s")
    tau = None if tau is None else float(tau)
    settings = tuple(sorted((
        PowerSetting(float(s["power_W"]), float(s["absorbed_power_w"]), float(s["active_length_mm"]),
                     float(s["centre_offset_mm"]), float(s["sigma_mm"]), float(s["rms_residual_mm"]))
        for s in cal["settings"]), key=lambda s: s.power_w))
    by_power = {s.power_w: SourceModel(s.absorbed_power_w, s.active_length_mm, s.centre_offset_mm, s.sigma_mm, tau)
                for s in settings}
    rows = []
    for row in entry["chart"]:
        fit = row["fit"]
        ellipsoid = Ellipsoid(
            row["semi_axis_along_needle_mm"], row["semi_axis_perpendicular_1_mm"],
            row["semi_axis_perpendicular_2_mm"], row["center_offset_from_tip_along_needle_mm"],
        )
        rows.append(ChartRow(
            float(row["power_W"]), float(row["time_s"]), ellipsoid, float(row["energy_kJ"]),
            by_power[float(row["power_W"])], float(fit["fitted_along_mm"]), float(fit["fitted_perpendicular_mm"]),
        ))
    return Device(key, entry["name"], entry["modality"], tuple(rows), entry.get("source") or file_source,
                  tau, settings)


@cache
def _load(path: str) -> dict[str, Device]:
    file = Path(path)
    if not file.is_file():
        raise AblationInputError(f"Device preset file {file} not found (set {ENV_PRESETS_DIR} to its folder)")
    data = json.loads(file.read_text(encoding="utf-8"))
    if not str(data.get("source", "")).strip():
        raise AblationInputError(f"Device preset file {file} has no 'source'")
    return {key: _device_from_json(key, entry, data["source"]) for key, entry in data["devices"].items()}


def load_devices() -> dict[str, Device]:
    """All devices of the preset file, by key (cached)."""
    return _load(str(devices_file()))


def device_names() -> list[str]:
    """Device keys, in file order."""
    return list(load_devices())


def get_device(name: str) -> Device:
    """A device by key or display name.

    Raises:
        UnknownDeviceError: when no device has that key or name.
    """
    devices = load_devices()
    if name in devices:
        return devices[name]
    for device in devices.values():
        if device.name == name:
            return device
    raise UnknownDeviceError(f"Unknown ablation device '{name}'; known devices: {', '.join(devices)}")
