"""Predicted vs delivered dose: per-structure differences and the 3D gamma index against analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.volume import GeometryMismatchError, Volume
from Y90DosimetryLib import compare_doses, gamma_index

SPACING = (2.0, 2.0, 2.0)


def _grid(shape=(30, 30, 40)):
    k, j, i = np.meshgrid(*(np.arange(n) * 2.0 for n in shape), indexing="ij")
    return k, j, i


def _volume(array):
    return Volume.from_array(array, spacing=SPACING, units="Gy", modality="RTDOSE")


def test_compare_doses_per_structure():
    """Delivered = 1.1 × predicted (uniform 100 Gy in the tumour, 30 Gy elsewhere): tumour mean difference
    +10 Gy (+10%), D70 difference +10 Gy; normal +3 Gy."""
    shape = (10, 10, 10)
    tumour = np.zeros(shape, bool)
    tumour[3:6, 3:6, 3:6] = True
    predicted = _volume(np.where(tumour, 100.0, 30.0))
    delivered = _volume(predicted.array * 1.1)
    table = compare_doses(predicted, delivered, {"tumour": tumour, "normal": ~tumour}).set_index("structure")
    assert table.loc["tumour", "mean_difference_Gy"] == pytest.approx(10.0)
    assert table.loc["tumour", "mean_difference_%"] == pytest.approx(10.0)
    assert table.loc["tumour", "D70_difference_Gy"] == pytest.approx(10.0)
    assert table.loc["normal", "mean_difference_Gy"] == pytest.approx(3.0)
    with pytest.raises(GeometryMismatchError):
        compare_doses(predicted, Volume.from_array(np.ones((5, 5, 5))), {"t": tumour})


@pytest.mark.parametrize("shift_mm", [1.0, 2.0, 4.0])
def test_gamma_of_a_shifted_ramp_matches_the_analytic_value(shift_mm):
    """D = 100 + g·x with g = 2 Gy/mm, evaluated = reference shifted by s along x; global ΔD = 3% of the maximum
    (100 + 2·78 = 256 Gy → 7.68 Gy), DTA = 3 mm. Minimising o²/DTA² + (g(s − o))²/ΔD² over the offset o gives
    γ = s / sqrt(DTA² + (ΔD/g)²) = s / sqrt(9 + 3.84²) = s/4.8730 (for points away from the grid edges).
    The search on offsets of step h = 0.25 mm may overestimate it by at most
    γ_h² − γ² ≤ (h/2)²·(1/DTA² + g²/ΔD²) (the minimiser lies on the x axis, h/2 from a grid offset)."""
    _, _, x = _grid((12, 12, 40))
    reference = _volume(100.0 + 2.0 * x)
    evaluated = _volume(100.0 + 2.0 * (x - shift_mm))
    result = gamma_index(reference, evaluated, dose_percent=3.0, dta_mm=3.0, step_mm=0.25, threshold_percent=0,
                         normalisation_dose_gy=256.0)
    delta_d = 0.03 * 256.0
    expected = shift_mm / math.sqrt(9.0 + (delta_d / 2.0) ** 2)
    bound = math.sqrt(expected**2 + 0.125**2 * (1 / 9.0 + 4.0 / delta_d**2))
    interior = result.gamma.array[4:-4, 4:-4, 8:-8]
    assert interior.min() >= expected - 1e-9
    assert interior.max() <= bound + 1e-9


def test_gamma_of_a_shifted_gaussian_passes_when_the_shift_is_below_dta():
    """A Gaussian dose (σ = 12 mm, 200 Gy peak) shifted by s: with dose criterion 1%, DTA 3 mm, every point
    passes for s = 2 mm < DTA (the offset o = s gives γ ≤ s/DTA = 0.67), while s = 8 mm fails in the
    gradients."""
    k, j, i = _grid()
    centre = np.array([29.0, 29.0, 39.0])

    def gaussian(shift):
        r2 = (k - centre[0]) ** 2 + (j - centre[1]) ** 2 + (i - centre[2] - shift) ** 2
        return _volume(200.0 * np.exp(-r2 / (2 * 12.0**2)))

    reference = gaussian(0.0)
    small = gamma_index(reference, gaussian(2.0), dose_percent=1.0, dta_mm=3.0, step_mm=0.5)
    assert small.pass_rate_percent == 100.0
    assert small.gamma.array[small.gamma.array >= 0].max() <= 2.0 / 3.0 + 1e-9
    large = gamma_index(reference, gaussian(8.0), dose_percent=1.0, dta_mm=3.0, step_mm=0.5)
    assert large.pass_rate_percent < 90.0
    same = gamma_index(reference, reference)
    assert same.pass_rate_percent == 100.0 and same.mean_gamma == 0.0
    assert (same.gamma.array[reference.array < 0.1 * 200.0] == -1.0).all()  # below threshold: not evaluated
    local = gamma_index(reference, gaussian(2.0), dose_percent=1.0, dta_mm=3.0, local=True, step_mm=0.5)
    assert local.pass_rate_percent <= small.pass_rate_percent
    assert local.criteria["local"] is True


def test_gamma_input_checks():
    reference = _volume(np.ones((5, 5, 5)))
    with pytest.raises(GeometryMismatchError):
        gamma_index(reference, Volume.from_array(np.ones((4, 5, 5))))
    with pytest.raises(ValueError):
        gamma_index(_volume(np.zeros((5, 5, 5))), _volume(np.zeros((5, 5, 5))))
    with pytest.raises(ValueError):
        gamma_index(reference, reference, dta_mm=0.0)
