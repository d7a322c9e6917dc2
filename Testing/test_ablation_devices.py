"""Device presets against the vendor chart file, interpolation, the vendor ellipsoid model, and the calibrated
physics source reproducing every chart row; the vessel heat sink."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from reference_data import DATA

from AblationSimulatorLib.applicator import Applicator
from AblationSimulatorLib.calibration import simulate_axisymmetric, zone_axes_axisymmetric
from AblationSimulatorLib.devices import get_device, load_devices
from AblationSimulatorLib.errors import SettingsOutOfRangeError, UnknownDeviceError, ZeroEnergyError
from AblationSimulatorLib.zones import composite_ellipsoid_zone, ellipsoid_mask
from HCCInterventionalAILib.imaging import Geometry

CHART_CSV = DATA / "ablation" / "vendor_ellipsoids.csv"
NAMES = {
    "Covidien (Covidien MWA)": "covidien-mwa",
    "Amica (Probe)": "amica-probe",
    "AngioDynamics (Acculis)": "angiodynamics-acculis",
}


def _chart_rows():
    if not CHART_CSV.is_file():
        pytest.skip(f"reference chart {CHART_CSV} not available")
    with open(CHART_CSV, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_preset_file_holds_every_chart_row_with_its_source():
    """Every row of the vendor CSV (reference data) is in the preset file with identical values."""
    rows = _chart_rows()
    devices = load_devices()
    assert sum(len(d.rows) for d in devices.values()) == len(rows) == 40
    for row in rows:
        device = get_device(NAMES[row["device"]])
        chart = device.row(float(row["power_W"]), float(row["time_s"]))
        assert chart is not None
        assert chart.ellipsoid.along_mm == float(row["semi_axis_along_needle_mm"])
        assert chart.ellipsoid.perpendicular_1_mm == float(row["semi_axis_perpendicular_1_mm"])
        assert chart.ellipsoid.perpendicular_2_mm == float(row["semi_axis_perpendicular_2_mm"])
        assert chart.ellipsoid.centre_offset_mm == float(row["center_offset_from_tip_along_needle_mm"])
        assert chart.energy_kj == pytest.approx(float(row["power_W"]) * float(row["time_s"]) / 1000)
        assert "brochure" in device.source


def test_bilinear_interpolation_between_chart_settings():
    """Covidien at 60 W (midway 45–75 W) and 195 s (midway 150–240 s): the mean of the four corner rows,
    along (12 + 13 + 15 + 16)/4 = 14.0 mm, perpendicular (11.5 + 13 + 13.5 + 14.5)/4 = 13.125 mm,
    centre offset (11 + 11 + 11 + 12)/4 = 11.25 mm. At a chart row the row itself. The physics source at 60 W is
    the mean of the 45 W and 75 W sources, and the same at every time."""
    device = get_device("covidien-mwa")
    e = device.ellipsoid(60.0, 195.0)
    assert (e.along_mm, e.perpendicular_1_mm, e.centre_offset_mm) == pytest.approx((14.0, 13.125, 11.25))
    assert device.ellipsoid(100.0, 600.0).along_mm == 20.5
    source = device.source_model(60.0, 195.0)
    ends = [device.row(p, 150.0).source for p in (45.0, 75.0)]
    assert source.absorbed_power_w == pytest.approx(np.mean([s.absorbed_power_w for s in ends]))
    assert source.active_length_mm == pytest.approx(np.mean([s.active_length_mm for s in ends]))
    assert source.sigma_mm == pytest.approx(np.mean([s.sigma_mm for s in ends]))
    assert device.source_model(60.0, 600.0) == source


def test_bad_device_settings_are_refused():
    with pytest.raises(UnknownDeviceError, match="Unknown ablation device"):
        get_device("NoSuchProbe")
    device = get_device("amica-probe")
    with pytest.raises(ZeroEnergyError, match="power"):
        device.ellipsoid(0.0, 300.0)
    with pytest.raises(ZeroEnergyError, match="time"):
        device.ellipsoid(40.0, 0.0)
    with pytest.raises(SettingsOutOfRangeError, match="outside its chart"):
        device.ellipsoid(120.0, 300.0)
    assert isinstance(SettingsOutOfRangeError("x"), ValueError)


def test_vendor_ellipsoid_is_oriented_along_an_oblique_applicator():
    """Oblique applicator (direction (1, 1, 1)/√3): volume ≈ 4/3 π a b² (within 3 % on a 1 mm grid); the tip side
    ends a − c beyond the tip, the far end a + c behind it, perpendicular reach b at the centre."""
    geometry = Geometry((80, 80, 80), (1.0, 1.0, 1.0), (-40.0, -40.0, -40.0))
    d = np.array([1.0, 1.0, 1.0]) / math.sqrt(3)
    app = Applicator(tuple(10 * d), tuple(-60 * d))
    e = get_device("amica-probe").ellipsoid(60.0, 600.0)  # a 27, b 20, c 22
    mask = ellipsoid_mask(geometry, app, e)
    assert mask.sum() == pytest.approx(e.volume_ml * 1000, rel=0.03)

    def inside(point):
        i, j, k = np.round(geometry.continuous_index(point)[0]).astype(int)
        return bool(mask[k, j, i])

    centre = app.point_from_tip(e.centre_offset_mm)
    assert inside(app.point_from_tip(-(e.along_mm - e.centre_offset_mm) + 1.5))
    assert not inside(app.point_from_tip(-(e.along_mm - e.centre_offset_mm) - 1.5))
    assert inside(app.point_from_tip(e.centre_offset_mm + e.along_mm - 1.5))
    assert not inside(app.point_from_tip(e.centre_offset_mm + e.along_mm + 1.5))
    perp = np.cross(d, [0.0, 0.0, 1.0])
    perp /= np.linalg.norm(perp)
    assert inside(centre + (e.perpendicular_1_mm - 1.5) * perp)
    assert not inside(centre + (e.perpendicular_1_mm + 1.5) * perp)


def test_composite_zone_is_the_union_of_the_applicators():
    """Two parallel applicators 20 mm apart (Covidien 45 W/600 s, spheres r = 14.5 mm): union volume = 2 V − lens,
    lens = π (2r − d)² (d² + 4 d r) / (12 d) for equal radii."""
    geometry = Geometry((70, 60, 80), (1.0, 1.0, 1.0), (-40.0, -30.0, -35.0))
    e = get_device("covidien-mwa").ellipsoid(45.0, 600.0)
    apps = [Applicator((x, 0.0, -e.centre_offset_mm), (x, 0.0, 80.0)) for x in (-10.0, 10.0)]
    zone = composite_ellipsoid_zone(geometry, [(a, e) for a in apps])
    r, dist = 14.5, 20.0
    lens = math.pi * (2 * r - dist) ** 2 * (dist**2 + 4 * dist * r) / (12 * dist)
    assert zone.sum() == pytest.approx(2 * 4 / 3 * math.pi * r**3 - lens, rel=0.03)


def _setting_run(device, power_w, times_s, margin_mm=20.0):
    """Fresh (r, z) Pennes run on 1 mm cells (the fit used 0.5 mm) with the preset's source at ``power_w``."""
    source = device.source_model(power_w)
    rows = device.rows
    return source, simulate_axisymmetric(
        max(times_s), source.active_length_mm, source.sigma_mm, power_decay_time_s=source.power_decay_time_s,
        cell_mm=1.0, radius_mm=max(r.ellipsoid.perpendicular_1_mm for r in rows) + margin_mm,
        half_length_mm=max(r.ellipsoid.along_mm for r in rows) + margin_mm)


#: The issue's tolerance, which the time-independent calibration meets on every chart row (worst measured 1.92 mm,
#: AngioDynamics Acculis 140 W / 120 s along the shaft; see the calibration module's docstring).
ROW_TOLERANCE_MM = 2.0
ROWS_WITHIN_2_MM = 40


def test_one_source_per_setting_reproduces_every_chart_row_axisymmetric():
    """All 40 rows of the vendor CSV (reference data): for each device and power ONE run with the preset's source
    gives, at each chart time, an Ω ≥ 1 zone whose semi-axes are within ROW_TOLERANCE_MM of the chart; at least
    ROWS_WITHIN_2_MM rows are within the issue's 2 mm on both axes. The residual printed per row is the one the
    preset file reports (±0.1 mm between the 0.5 mm fit and this 1 mm run)."""
    rows = _chart_rows()
    by_setting: dict = {}
    for row in rows:
        by_setting.setdefault((NAMES[row["device"]], float(row["power_W"])), []).append(row)
    residuals = []
    for (key, power), chart in by_setting.items():
        device = get_device(key)
        times = [float(r["time_s"]) for r in chart]
        source, run = _setting_run(device, power, times)
        along, across = run.zone_axes(source.absorbed_power_w, times)
        for row, a, b in zip(chart, along, across, strict=True):
            da, db = a - float(row["semi_axis_along_needle_mm"]), b - float(row["semi_axis_perpendicular_1_mm"])
            residuals.append((key, power, float(row["time_s"]), da, db))
            preset = device.row(power, float(row["time_s"])).residual_mm
            assert np.allclose((da, db), preset, atol=0.15)
    for key, power, time_s, da, db in residuals:
        print(f"{key:24} {power:5.0f} W {time_s:4.0f} s: along {da:+.2f} mm, across {db:+.2f} mm")
    worst = max(max(abs(r[3]), abs(r[4])) for r in residuals)
    within = sum(max(abs(r[3]), abs(r[4])) <= 2.0 for r in residuals)
    print(f"worst {worst:.2f} mm; {within}/{len(residuals)} rows within 2 mm")
    assert len(residuals) == 40
    assert worst <= ROW_TOLERANCE_MM
    assert within >= ROWS_WITHIN_2_MM


def test_zones_grow_monotonically_with_time_for_every_device_and_power():
    """At every power setting of every device and midway between settings, ablations of increasing duration (every
    chart time and the midpoints between them, each simulated on its own with the source the device gives for
    that power AND time) have Ω ≥ 1 zones whose semi-axes never shrink and whose volume grows from the shortest
    to the longest. The previous per-row calibration failed this (its source weakened with the chart time)."""
    for device in load_devices().values():
        p, t = list(device.powers_w), list(device.times_s)
        powers = p + [0.5 * (p[i] + p[i + 1]) for i in range(len(p) - 1)]
        times = sorted(t + [round(0.5 * (t[i] + t[i + 1]) / 3.0) * 3.0 for i in range(len(t) - 1)])
        for power in powers:
            axes = []
            for time_s in times:
                source = device.source_model(power, time_s)
                run = simulate_axisymmetric(time_s, source.active_length_mm, source.sigma_mm,
                                            power_decay_time_s=source.power_decay_time_s, cell_mm=1.0,
                                            radius_mm=45.0, half_length_mm=55.0)
                axes.append(zone_axes_axisymmetric(run, source.absorbed_power_w))
            along, across = np.array(axes).T
            assert np.all(np.diff(along) >= -1e-6) and np.all(np.diff(across) >= -1e-6), (device.key, power, axes)
            assert along[-1] * across[-1] ** 2 > along[0] * across[0] ** 2


def test_absorbed_power_never_exceeds_the_generator_power():
    """Energy conservation: the tissue cannot absorb more than the generator delivers. For every power setting
    and for interpolated powers, P_abs ≤ nominal power, and the absorbed energy over the chart time is at most
    the chart's energy column (P × t, kJ)."""
    for device in load_devices().values():
        for setting in device.settings:
            assert 0 < setting.absorbed_power_w <= setting.power_w, (device.key, setting)
        for power in np.linspace(device.powers_w[0], device.powers_w[-1], 17):
            assert device.source_model(float(power)).absorbed_power_w <= power + 1e-9
        for row in device.rows:
            assert row.source.absorbed_energy_j(row.time_s) <= row.energy_kj * 1000.0
