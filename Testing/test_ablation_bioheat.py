"""Bioheat solver and damage models against analytic solutions and hand calculations."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from AblationSimulatorLib.bioheat import (  # noqa: E402
    LIVER_ARRHENIUS_A_PER_S,
    LIVER_ARRHENIUS_EA_J_PER_MOL,
    TISSUE_PRESETS,
    TissueProperties,
    arrhenius_damage,
    cem43_minutes,
    simulate_bioheat,
    stable_time_step_s,
)
from AblationSimulatorLib.errors import AblationInputError, UnstableSettingsError  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    """Small grids run fastest on one thread (and do not fight other processes for the cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_steady_point_source_in_perfused_medium():
    """Steady Pennes point source: θ(r) = P/(4πkr)·exp(−r/L), L = √(k/w).

    One 1 mm voxel holds P = 1 W; k = 0.52 W/m/K, w = k/L² with L = 4 mm (so the steady state, time constant
    ρc/w ≈ 117 s, is reached after 1000 s and the fixed boundary 20 mm away is 5 L off). Within 5 % at 5 mm and
    within 3 % from 8 mm to 13 mm, on all three axes.
    """
    k, length = 0.52, 4e-3
    tissue = TissueProperties(k, 1079.0, 3540.0, k / length**2)
    n, c = 41, 20
    q = np.zeros((n, n, n))
    q[c, c, c] = 1.0 / 1e-9
    result = simulate_bioheat(q, 1000.0, tissue=tissue, spacing_mm=(1, 1, 1), device="cpu")
    theta = result.temperature_c - 37.0
    for d in (5, 8, 10, 13):
        analytic = 1.0 / (4 * math.pi * k * d * 1e-3) * math.exp(-d * 1e-3 / length)
        for value in (theta[c, c, c + d], theta[c, c + d, c], theta[c - d, c, c]):
            assert value == pytest.approx(analytic, rel=0.05 if d < 8 else 0.03)


def test_semi_infinite_solid_with_fixed_surface_temperature():
    """θ(x, t) = θ₀ erfc(x / (2√(αt))): the plane i = 0 held 20 K above the initial 37 °C, no perfusion.

    Insulated lateral/far faces make the problem 1-D; 80 mm is far beyond 2√(αt) ≈ 18 mm at t = 600 s.
    Checked within 3 % wherever θ > 5 % of θ₀.
    """
    from scipy.special import erfc

    tissue = TISSUE_PRESETS["liver_ex_vivo"]
    shape = (3, 3, 80)
    fixed = np.full(shape, np.nan)
    fixed[:, :, 0] = 57.0
    t = 600.0
    result = simulate_bioheat(
        np.zeros(shape), t, tissue=tissue, spacing_mm=(1, 1, 1), fixed_temperature=fixed, boundary="insulated",
        device="cpu",
    )
    x = np.arange(shape[2]) * 1e-3
    analytic = 20.0 * erfc(x / (2 * math.sqrt(tissue.diffusivity_m2_per_s * t)))
    numeric = result.temperature_c[1, 1] - 37.0
    checked = analytic > 1.0
    assert checked.sum() > 20
    np.testing.assert_allclose(numeric[checked], analytic[checked], rtol=0.03)


def test_energy_conservation_without_perfusion():
    """Insulated box, no perfusion: Σ ρc (T − T₀) ΔV = P t exactly (up to float32 rounding, 1e-4)."""
    tissue = TISSUE_PRESETS["liver_ex_vivo"]
    shape = (12, 14, 16)
    spacing = (1.0, 1.5, 2.0)
    voxel_m3 = np.prod(spacing) * 1e-9
    q = np.zeros(shape)
    q[6, 7, 8] = 3.0 / voxel_m3  # 3 W
    q[2, 3, 4] = 1.0 / voxel_m3  # 1 W
    t = 120.0
    result = simulate_bioheat(q, t, tissue=tissue, spacing_mm=spacing, boundary="insulated", device="cpu")
    stored = tissue.volumetric_heat_capacity_j_per_m3_k * (result.temperature_c - 37.0).sum() * voxel_m3
    assert stored == pytest.approx(4.0 * t, rel=1e-4)


def test_decaying_source_deposits_the_analytic_energy():
    """Insulated box, no perfusion, source P(t) = 1 W · exp(−t/τ) with τ = 40 s for 120 s: the stored energy is
    ∫ P dt = τ (1 − e^(−120/40)) = 40 × 0.950213 = 38.0085 J (within 1e-3 relative; forward Euler with the source
    taken at mid-step is second-order accurate in the envelope)."""
    import math

    from AblationSimulatorLib.source import SourceModel

    shape = (12, 12, 12)
    q = np.zeros(shape)
    q[6, 6, 6] = 1.0 / 1e-9
    tissue = TISSUE_PRESETS["liver_ex_vivo"]
    model = SourceModel(1.0, 0.0, 0.0, power_decay_time_s=40.0)
    result = simulate_bioheat(q, 120.0, tissue=tissue, spacing_mm=(1, 1, 1), boundary="insulated", device="cpu",
                              dtype="float64", power_envelope=model.envelope)
    stored = tissue.volumetric_heat_capacity_j_per_m3_k * (result.temperature_c - 37.0).sum() * 1e-9
    expected = 40.0 * (1.0 - math.exp(-3.0))
    assert stored == pytest.approx(expected, rel=1e-3)
    assert model.absorbed_energy_j(120.0) == pytest.approx(expected, rel=1e-12)


def test_perfusion_drains_energy_and_fixed_boundary_is_not_conservative():
    """The same box with perfusion stores less than P t (energy leaves through the blood) — the check can fail."""
    shape = (12, 12, 12)
    q = np.zeros(shape)
    q[6, 6, 6] = 1.0 / 1e-9
    tissue = TISSUE_PRESETS["liver"]
    result = simulate_bioheat(q, 120.0, tissue=tissue, spacing_mm=(1, 1, 1), boundary="insulated", device="cpu")
    stored = tissue.volumetric_heat_capacity_j_per_m3_k * (result.temperature_c - 37.0).sum() * 1e-9
    assert stored < 0.9 * 120.0


def test_arrhenius_time_to_omega_one_at_constant_temperature():
    """Hand calculation, liver constants A = 7.39e39 s⁻¹, Ea = 2.577e5 J/mol, R = 8.314462618 J/mol/K.

    At 60 °C: Ea/(R·333.15 K) = 257700 / 2769.96 = 93.0337; ln A = 91.8009; rate = exp(−1.2328) = 0.29148 s⁻¹,
    so Ω = 1 after 1/0.29148 = 3.4308 s. At 70 °C (343.15 K): Ea/RT = 90.3226, rate = exp(1.4784) = 4.3859 s⁻¹,
    Ω = 1 after 0.22800 s.
    """
    dt = 0.01
    for temp, t_hand in ((60.0, 3.4308), (70.0, 0.22800)):
        steps = int(round(t_hand / dt))
        assert float(arrhenius_damage(np.full(steps, temp), dt)) == pytest.approx(1.0, rel=0.01)
    assert LIVER_ARRHENIUS_A_PER_S == 7.39e39 and LIVER_ARRHENIUS_EA_J_PER_MOL == 2.577e5
    # the solver accumulates the same integral: a fixed voxel at 60 °C for 3.4308 s
    fixed = np.full((3, 3, 3), np.nan)
    fixed[1, 1, 1] = 60.0
    res = simulate_bioheat(np.zeros((3, 3, 3)), 3.4308, tissue=TISSUE_PRESETS["liver"], spacing_mm=(1, 1, 1),
                           fixed_temperature=fixed, device="cpu", time_step_s=0.01)
    assert res.damage_omega[1, 1, 1] == pytest.approx(1.0, rel=0.01)


def test_cem43_hand_calculations():
    """Sapareto & Dewey: 240 min at 43 °C → 240; 60 min at 45 °C → 60·0.5^(−2) = 240; 60 min at 41 °C →
    60·0.25^2 = 3.75; 1 min at 50 °C → 0.5^(−7) = 128."""
    minute = np.ones(60)
    assert float(cem43_minutes(np.full(240 * 60, 43.0), 1.0)) == pytest.approx(240.0)
    assert float(cem43_minutes(np.full(3600, 45.0), 1.0)) == pytest.approx(240.0)
    assert float(cem43_minutes(np.full(3600, 41.0), 1.0)) == pytest.approx(3.75)
    assert float(cem43_minutes(50.0 * minute, 1.0)) == pytest.approx(128.0)
    # trailing axes are voxels
    series = np.stack([np.full(60, 43.0), np.full(60, 45.0)], axis=1)
    np.testing.assert_allclose(cem43_minutes(series, 1.0), [1.0, 4.0])


def test_stability_limit_and_unstable_settings_are_refused():
    """Δt_max = ρc/(2kΣ1/h² + w): liver ex vivo, 1 mm grid → 3.8197e6/(2·0.52·3e6) = 1.2243 s."""
    tissue = TISSUE_PRESETS["liver_ex_vivo"]
    assert stable_time_step_s(tissue, (1, 1, 1)) == pytest.approx(3.8197e6 / 3.12e6, rel=1e-4)
    q = np.zeros((5, 5, 5))
    with pytest.raises(UnstableSettingsError, match="stability limit"):
        simulate_bioheat(q, 10.0, tissue=tissue, spacing_mm=(1, 1, 1), time_step_s=1.5, device="cpu")
    with pytest.raises(AblationInputError, match="duration"):
        simulate_bioheat(q, 0.0, tissue=tissue, spacing_mm=(1, 1, 1), device="cpu")
    with pytest.raises(AblationInputError, match="spacing"):
        simulate_bioheat(q, 1.0, tissue=tissue, spacing_mm=(1, 0, 1), device="cpu")
    with pytest.raises(AblationInputError, match="conductivity"):
        TissueProperties(0.0, 1000.0, 3000.0, 0.0)


def test_history_is_recorded_and_vessels_are_held_at_blood_temperature():
    tissue = TISSUE_PRESETS["liver"]
    shape = (9, 9, 9)
    q = np.zeros(shape)
    q[4, 4, 3] = 2.0 / 1e-9
    vessels = np.zeros(shape, dtype=bool)
    vessels[:, :, 6] = True
    res = simulate_bioheat(q, 30.0, tissue=tissue, spacing_mm=(1, 1, 1), vessels=vessels, record_every_s=10.0,
                           device="cpu")
    np.testing.assert_allclose(res.history_times_s, [0.0, 10.0, 20.0, 30.0], atol=res.time_step_s)
    assert res.history_c.shape == (4, *shape)
    np.testing.assert_allclose(res.history_c[-1], res.temperature_c, atol=1e-4)
    assert np.all(res.temperature_c[vessels] == pytest.approx(37.0))
    assert res.max_temperature_c[4, 4, 3] > 37.0 + 5.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_cpu():
    tissue = TISSUE_PRESETS["liver"]
    q = np.zeros((20, 20, 20))
    q[10, 10, 10] = 1.0 / 1e-9
    cpu = simulate_bioheat(q, 60.0, tissue=tissue, spacing_mm=(1, 1, 1), device="cpu")
    gpu = simulate_bioheat(q, 60.0, tissue=tissue, spacing_mm=(1, 1, 1), device="cuda")
    np.testing.assert_allclose(gpu.temperature_c, cpu.temperature_c, atol=1e-3)
