"""Margin metrics on spheres with analytically known margins and coverages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from AblationSimulatorLib.errors import EmptyStructureError
from AblationSimulatorLib.margins import compute_margins

H = 0.5  # mm
N = 52


def _coords():
    c = (np.arange(N) - N / 2 + 0.5) * H
    return np.meshgrid(c, c, c, indexing="ij")  # z, y, x


def _sphere(radius, centre=(0.0, 0.0, 0.0)):
    z, y, x = _coords()
    return ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2) <= radius**2


def _lens_volume(r1, r2, d):
    """Volume of the intersection of two spheres (radii r1, r2, centres d apart), partial overlap case:
    V = π (r1 + r2 − d)² (d² + 2d(r1 + r2) − 3(r1 − r2)²) / (12 d)."""
    return math.pi * (r1 + r2 - d) ** 2 * (d**2 + 2 * d * (r1 + r2) - 3 * (r1 - r2) ** 2) / (12 * d)


def test_concentric_spheres_have_the_radius_difference_as_margin():
    """Tumour r = 6 mm inside a concentric zone r = 11.5 mm: every surface margin is 5.5 mm (± one voxel, 0.5 mm);
    tumour and tumour + 5 mm (r = 11 < 11.5) fully covered."""
    m = compute_margins(_sphere(6.0), _sphere(11.5), (H, H, H))
    assert m.minimal_margin_mm == pytest.approx(5.5, abs=H)
    assert np.all(np.abs(m.surface_margins_mm - 5.5) <= H)
    assert m.tumour_covered_percent == 100.0
    assert m.tumour_plus_margin_covered_percent == 100.0
    assert m.surface_margin_ge_0_percent == 100.0
    assert m.complete


def test_offset_spheres_min_and_max_margin_and_partial_coverage():
    """Zone r = 11.5 mm centred 3 mm off the tumour (r = 6): margin 11.5 − 6 − 3 = 2.5 mm on the near side and
    11.5 − 6 + 3 = 8.5 mm on the far side. The tumour + 5 mm sphere (r = 11) is only partly covered: lens volume
    V(11, 11.5, 3) / (4/3 π 11³) (formula in ``_lens_volume``)."""
    m = compute_margins(_sphere(6.0), _sphere(11.5, (3.0, 0.0, 0.0)), (H, H, H))
    assert m.minimal_margin_mm == pytest.approx(2.5, abs=H)
    assert m.surface_margins_mm.max() == pytest.approx(8.5, abs=H)
    expected = 100 * _lens_volume(11.0, 11.5, 3.0) / (4 / 3 * math.pi * 11.0**3)
    assert m.tumour_plus_margin_covered_percent == pytest.approx(expected, abs=1.0)
    assert m.tumour_covered_percent == 100.0
    assert m.surface_margin_ge_target_percent < 100.0
    assert m.insufficient_mask.sum() > 0
    assert sum(m.histogram_counts) == m.surface_margins_mm.size


def test_zone_missing_part_of_tumour_gives_negative_margin_and_partial_coverage():
    """Zone r = 6 mm centred 4 mm off a tumour r = 6 mm: margin 6 − 6 − 4 = −4 mm; tumour covered = lens
    V(6, 6, 4) / (4/3 π 6³) = 0.6875 … computed by the formula."""
    m = compute_margins(_sphere(6.0), _sphere(6.0, (4.0, 0.0, 0.0)), (H, H, H))
    assert m.minimal_margin_mm == pytest.approx(-4.0, abs=H)
    expected = 100 * _lens_volume(6.0, 6.0, 4.0) / (4 / 3 * math.pi * 6.0**3)
    assert m.tumour_covered_percent == pytest.approx(expected, abs=2.0)
    assert not m.complete


def test_empty_inputs_are_refused():
    tumour = _sphere(4.0)
    with pytest.raises(EmptyStructureError, match="tumour"):
        compute_margins(np.zeros_like(tumour), tumour, (H, H, H))
    with pytest.raises(EmptyStructureError, match="zone"):
        compute_margins(tumour, np.zeros_like(tumour), (H, H, H))
