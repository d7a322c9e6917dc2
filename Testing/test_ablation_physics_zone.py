"""The 3-D bioheat solver with calibrated sources: chart axes reproduced; a 6 mm vessel shrinks the zone on its side."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from AblationSimulatorLib.applicator import Applicator  # noqa: E402
from AblationSimulatorLib.bioheat import TISSUE_PRESETS  # noqa: E402
from AblationSimulatorLib.devices import get_device, load_devices  # noqa: E402
from AblationSimulatorLib.source import simulate_applicators  # noqa: E402
from AblationSimulatorLib.zones import zone_extent_mm  # noqa: E402
from HCCInterventionalAILib.imaging import Geometry  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _setup(row, margin_mm=10.0):
    """1 mm grid around a vertical applicator (entry above, tip below) whose chart-zone centre is the origin."""
    e = row.ellipsoid
    nk = int(2 * e.along_mm + 2 * margin_mm) + 1
    ni = int(2 * e.perpendicular_1_mm + 2 * margin_mm) + 1
    geometry = Geometry((nk, ni, ni), (1.0, 1.0, 1.0), (-(ni // 2), -(ni // 2), -(nk // 2)))
    applicator = Applicator((0.0, 0.0, -e.centre_offset_mm), (0.0, 0.0, 100.0 - e.centre_offset_mm))
    return geometry, applicator


def _source_centre(row, applicator):
    """Centre of the setting's source (its calibrated centre offset; the chart-row centre is the origin)."""
    shift = row.source.centre_offset_mm - row.ellipsoid.centre_offset_mm
    return tuple(-shift * applicator.direction_lps)


def _axes(result, geometry, applicator, centre=(0.0, 0.0, 0.0)):
    d = applicator.direction_lps
    along = [zone_extent_mm(result.damage_omega, geometry, centre, s * d) for s in (1, -1)]
    perp = [zone_extent_mm(result.damage_omega, geometry, centre, v) for v in ((1, 0, 0), (-1, 0, 0), (0, 1, 0))]
    return along, perp


@pytest.mark.parametrize("device,power,time", [("amica-probe", 20.0, 180.0), ("covidien-mwa", 45.0, 150.0),
                                               ("angiodynamics-acculis", 60.0, 120.0)])
def test_3d_solver_with_calibrated_source_reproduces_chart_axes(device, power, time):
    """Homogeneous unperfused liver, 1 mm grid, the preset source: Ω ≥ 1 zone semi-axes within 2 mm of the chart
    (reference CSV values, also in the preset file), measured along the shaft both ways and across it."""
    row = get_device(device).row(power, time)
    geometry, applicator = _setup(row)
    result = simulate_applicators(geometry, [(applicator, row.source)], time,
                                  tissue=TISSUE_PRESETS["liver_ex_vivo"], device="cpu")
    along, perp = _axes(result, geometry, applicator, _source_centre(row, applicator))
    assert np.allclose(along, row.ellipsoid.along_mm, atol=2.0)
    assert np.allclose(perp, row.ellipsoid.perpendicular_1_mm, atol=2.0)


def test_vessel_beside_the_applicator_shrinks_the_zone_on_its_side_only():
    """Covidien 45 W / 150 s (chart radius 11.5 mm). A 6 mm vessel parallel to the applicator, axis 10 mm away
    (wall at 7 mm), blood held at 37 °C with laminar convective exchange: coagulation cannot reach into the
    flowing blood, so on the vessel side the zone must end at or before the wall (≤ 7 mm, a shrinkage of at
    least 11.5 − 7 = 4.5 mm; measured 11.6 → 6.9 mm), while on the opposite side it stays within 0.5 mm of
    the homogeneous zone."""
    row = get_device("covidien-mwa").row(45.0, 150.0)
    geometry, applicator = _setup(row)
    kk, jj, ii = np.indices(geometry.shape)
    p = geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)).reshape(*geometry.shape, 3)
    vessel = ((p[..., 0] - 10.0) ** 2 + p[..., 1] ** 2) <= 3.0**2
    common = dict(tissue=TISSUE_PRESETS["liver_ex_vivo"], device="cpu")
    plain = simulate_applicators(geometry, [(applicator, row.source)], 150.0, **common)
    sink = simulate_applicators(geometry, [(applicator, row.source)], 150.0, vessels=vessel, **common)
    toward = [zone_extent_mm(r.damage_omega, geometry, (0, 0, 0), (1, 0, 0)) for r in (plain, sink)]
    away = [zone_extent_mm(r.damage_omega, geometry, (0, 0, 0), (-1, 0, 0)) for r in (plain, sink)]
    print(f"vessel side {toward[0]:.1f} -> {toward[1]:.1f} mm, opposite side {away[0]:.1f} -> {away[1]:.1f} mm")
    assert toward[1] <= 7.0
    assert toward[0] - toward[1] >= 4.5
    assert abs(away[0] - away[1]) <= 0.5
    assert sink.damage_omega[vessel].max() < 1.0


def test_longer_ablation_never_gives_a_smaller_zone_in_perfused_liver():
    """The artefact of the former per-row calibration: Covidien 100 W in PERFUSED liver (2 mm grid) gave 13.1 ml
    at 300 s and 9.3 ml at 600 s. Each duration simulated on its own with the device's source for that setting:
    the zone volumes at 150, 300, 420 and 600 s must not decrease, and the 600 s zone contains the 300 s zone."""
    device = get_device("covidien-mwa")
    geometry = Geometry((31, 31, 31), (2.0, 2.0, 2.0), (-30.0, -30.0, -30.0))
    volumes, zones = [], {}
    for time_s in (150.0, 300.0, 420.0, 600.0):
        source = device.source_model(100.0, time_s)
        applicator = Applicator((0.0, 0.0, -source.centre_offset_mm), (0.0, 0.0, 100.0))
        result = simulate_applicators(geometry, [(applicator, source)], time_s, tissue=TISSUE_PRESETS["liver"],
                                      device="cpu")
        zones[time_s] = result.coagulation_mask().astype(bool)
        volumes.append(zones[time_s].sum() * 8.0 / 1000.0)
    print("zone volume (ml) at 150/300/420/600 s:", [round(v, 2) for v in volumes])
    assert volumes[0] > 0
    assert np.all(np.diff(volumes) >= 0), volumes
    assert not (zones[300.0] & ~zones[600.0]).any()


@pytest.mark.parametrize("torch_device", [
    pytest.param("cuda", marks=[pytest.mark.gpu,
                                pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]),
    pytest.param("cpu", marks=pytest.mark.skipif(
        os.environ.get("HCCAI_ABLATION_ALL_ROWS_CPU") != "1",
        reason="about 70 s on one CPU thread: set HCCAI_ABLATION_ALL_ROWS_CPU=1")),
])
def test_every_chart_row_in_3d(torch_device):
    """All 40 chart rows with the 3-D solver (1 mm grid), source centred at the setting's calibrated centre:
    semi-axes within 1 mm of the axisymmetric calibration's zone (a different discretisation of the same equation,
    preset 'fit') and within ROW_TOLERANCE_MM + 1 mm of the chart (the calibration's honest tolerance,
    Testing/test_ablation_devices.py), at least 38 rows within the issue's 2 mm. Measured on the CPU (1 thread, 66 s):
    worst 1.97 mm from the chart, 0.17 mm from the calibration, 40/40 rows within 2 mm."""
    from test_ablation_devices import ROW_TOLERANCE_MM

    worst_chart = worst_calibration = 0.0
    within = 0
    for device in load_devices().values():
        for row in device.rows:
            geometry, applicator = _setup(row, margin_mm=16.0)
            centre = _source_centre(row, applicator)
            result = simulate_applicators(geometry, [(applicator, row.source)], row.time_s,
                                          tissue=TISSUE_PRESETS["liver_ex_vivo"], device=torch_device)
            along, perp = _axes(result, geometry, applicator, centre)
            chart = max(*np.abs(np.array(along) - row.ellipsoid.along_mm),
                        *np.abs(np.array(perp) - row.ellipsoid.perpendicular_1_mm))
            calibration = max(*np.abs(np.array(along) - row.fitted_along_mm),
                              *np.abs(np.array(perp) - row.fitted_perpendicular_mm))
            worst_chart, worst_calibration = max(worst_chart, chart), max(worst_calibration, calibration)
            within += chart <= 2.0
    print(f"3-D on {torch_device} over all rows: worst vs chart {worst_chart:.2f} mm, vs calibration {worst_calibration:.2f} "
          f"mm, {within}/40 rows within 2 mm")
    assert worst_calibration <= 1.0
    assert worst_chart <= ROW_TOLERANCE_MM + 1.0
    assert within >= 38


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_benchmark_case_100mm_on_gpu_agrees_with_the_cpu():
    """The benchmark's case (benchmarks/ablation.py): Covidien 75 W for 600 s, calibrated source with its power decay,
    1 mm grid over a 100 mm cube (101³), perfused liver. CUDA against the CPU (float32 both): peak temperatures
    within 0.05 °C and Ω ≥ 1 zones differing in fewer than 0.1 % of the zone's voxels; the GPU wall time is printed
    (targets are checked by the benchmark, not here)."""
    import time

    row = get_device("covidien-mwa").row(75.0, 600.0)
    geometry = Geometry((101, 101, 101), (1.0, 1.0, 1.0), (-50.0, -50.0, -50.0))
    applicator = Applicator((0.0, 0.0, -row.source.centre_offset_mm), (0.0, 0.0, 120.0))
    common = dict(tissue=TISSUE_PRESETS["liver"])
    simulate_applicators(geometry, [(applicator, row.source)], 10.0, device="cuda", **common)  # warm-up
    torch.cuda.synchronize()
    started = time.perf_counter()
    gpu = simulate_applicators(geometry, [(applicator, row.source)], 600.0, device="cuda", **common)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    cpu = simulate_applicators(geometry, [(applicator, row.source)], 600.0, device="cpu", **common)
    print(f"100 mm cube, 600 s on {torch.cuda.get_device_name(0)}: {seconds:.2f} s ({gpu.n_steps} steps)")
    assert np.abs(gpu.max_temperature_c - cpu.max_temperature_c).max() <= 0.05
    differ = (gpu.coagulation_mask() != cpu.coagulation_mask()).sum()
    assert differ <= 1e-3 * cpu.coagulation_mask().sum()
