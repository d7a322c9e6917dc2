"""Overlap metrics and mask clean-up against hand-computed geometries (shifted cubes, concentric spheres)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.segmentation import EmptyMaskError
from HCCInterventionalAILib.imaging.volume import GeometryMismatchError
from HCCInterventionalAILib.segmentation.metrics import overlap_metrics
from HCCInterventionalAILib.segmentation.postprocess import (
    fill_holes,
    largest_component,
    remove_small_components,
    tumour_inside_liver,
)

pytest.importorskip("monai")


def _cube(shape, start, size):
    mask = np.zeros(shape, bool)
    k, j, i = start
    mask[k:k + size, j:j + size, i:i + size] = True
    return mask


def test_shifted_cubes_match_hand_computed_values():
    """Cube of n = 10 voxels shifted by d = 3 voxels along i, spacing (x, y, z) = (2, 1, 1) mm.

    Overlap 10·10·7 = 700 voxels of 1000 each: Dice = 2·700/2000 = 0.7, IoU = 700/1300 = 0.53846.
    The farthest surface voxel of either cube is 3 voxels = 6 mm from the other surface along x, so
    HD = 6 mm exactly; the volumes are equal (1000 · 2 mm³ = 2 ml each).
    """
    a = _cube((20, 20, 20), (5, 5, 2), 10)
    b = _cube((20, 20, 20), (5, 5, 5), 10)
    metrics = overlap_metrics(a, b, spacing=(2.0, 1.0, 1.0))
    assert metrics.dice == pytest.approx(0.7, abs=1e-6)
    assert metrics.iou == pytest.approx(700 / 1300, abs=1e-6)
    assert metrics.hd_mm == pytest.approx(6.0, abs=1e-6)
    assert 0.0 < metrics.hd95_mm <= 6.0 + 1e-6
    assert metrics.volume_test_ml == pytest.approx(2.0) and metrics.volume_difference_ml == pytest.approx(0.0)


def test_shift_along_slices_uses_the_slice_spacing():
    """The same shift along k with 3 mm slices gives HD = 3 · 3 = 9 mm (spacing order x, y, z)."""
    a = _cube((20, 20, 20), (2, 5, 5), 10)
    b = _cube((20, 20, 20), (5, 5, 5), 10)
    assert overlap_metrics(a, b, spacing=(1.0, 1.0, 3.0)).hd_mm == pytest.approx(9.0, abs=1e-6)


def test_concentric_spheres_surface_distances_equal_radius_difference():
    """Spheres of radius 8 and 12 mm about one centre, 1 mm voxels.

    Every point of either surface is r2 - r1 = 4 mm from the other surface, so HD95 = ASSD = 4 mm (to within
    the one-voxel discretisation of the surfaces: ±1 mm). Dice = 2·r1³/(r1³ + r2³) = 2·512/2240 = 0.457 (±3 %
    for the voxelised volumes); relative volume difference = (r1³ - r2³)/r2³ = -70.4 %.
    """
    z, y, x = np.mgrid[:32, :32, :32] - 15.5
    radius = np.sqrt(x * x + y * y + z * z)
    small, large = radius <= 8.0, radius <= 12.0
    metrics = overlap_metrics(small, large, spacing=(1.0, 1.0, 1.0))
    assert metrics.hd95_mm == pytest.approx(4.0, abs=1.0)
    assert metrics.assd_mm == pytest.approx(4.0, abs=1.0)
    assert metrics.dice == pytest.approx(2 * 8**3 / (8**3 + 12**3), rel=0.03)
    assert metrics.relative_volume_difference_percent == pytest.approx(100 * (8**3 - 12**3) / 12**3, abs=3.0)
    sphere_ml = 4 / 3 * math.pi * 12**3 / 1000
    assert metrics.volume_reference_ml == pytest.approx(sphere_ml, rel=0.03)


def test_identical_masks_are_perfect_and_empty_inputs_are_handled():
    a = _cube((12, 12, 12), (2, 2, 2), 6)
    same = overlap_metrics(a, a)
    assert (same.dice, same.iou, same.hd95_mm, same.assd_mm) == (1.0, 1.0, 0.0, 0.0)
    missed = overlap_metrics(np.zeros_like(a), a)
    assert missed.dice == 0.0 and math.isinf(missed.hd95_mm)
    with pytest.raises(EmptyMaskError, match="reference mask is empty"):
        overlap_metrics(a, np.zeros_like(a))
    with pytest.raises(GeometryMismatchError, match="differ in shape"):
        overlap_metrics(a, a[:-1])
    with pytest.raises(ValueError, match="positive"):
        overlap_metrics(a, a, spacing=(1.0, 0.0, 1.0))


def test_largest_component_hole_filling_and_tumour_inside_liver():
    """A 6³ cube (216 voxels) and a separate 2³ cube (8 voxels): the largest component is the first; a hollow
    cube (5³ with its 3³ centre removed) is refilled to 125 voxels; a tumour half outside the liver keeps only
    the inside half."""
    mask = _cube((20, 20, 20), (1, 1, 1), 6) | _cube((20, 20, 20), (12, 12, 12), 2)
    assert largest_component(mask).sum() == 216
    assert remove_small_components(mask, 9).sum() == 216 and remove_small_components(mask, 8).sum() == 224
    hollow = _cube((9, 9, 9), (2, 2, 2), 5) & ~_cube((9, 9, 9), (3, 3, 3), 3)
    assert hollow.sum() == 98 and fill_holes(hollow).sum() == 125
    liver = _cube((20, 20, 20), (0, 0, 0), 10)
    tumour = _cube((20, 20, 20), (0, 0, 6), 8)  # i from 6 to 13: 4 of its 8 columns inside
    inside, liver_out = tumour_inside_liver(tumour, liver)
    assert inside.sum() == 8 * 8 * 4 and (liver_out == liver).all()


def test_structure_table_by_hand():
    """Liver: 20×20×20 voxels of (1, 1, 2) mm = 16 ml. Tumour 1: a 10³ cube (2 ml), largest diameter between
    opposite corner voxel centres √(9² + 9² + 18²) = √486 = 22.045 mm. Tumour 2: 3 voxels in a row along i
    (6 µl), diameter 2 mm. Burden = 100 · 1003 / 8000 = 12.5375 %."""
    from HCCInterventionalAILib.imaging import Geometry, Segmentation
    from HCCInterventionalAILib.segmentation.structures import structure_table

    geometry = Geometry((20, 20, 20), (1.0, 1.0, 2.0))
    seg = Segmentation(geometry)
    seg.add("Liver", np.ones(geometry.shape, bool))
    tumour = _cube(geometry.shape, (1, 1, 1), 10)
    tumour[15, 15, 15:18] = True
    seg.add("Tumour", tumour)
    table = structure_table(seg)
    assert table.liver_volume_ml == pytest.approx(16.0)
    assert table.tumour_count == 2
    assert table.lesions[0].volume_ml == pytest.approx(2.0)
    assert table.lesions[0].max_diameter_mm == pytest.approx(math.sqrt(486), abs=1e-9)
    assert table.lesions[1].max_diameter_mm == pytest.approx(2.0)
    assert table.tumour_burden_percent == pytest.approx(100 * 1003 / 8000)
    frame = table.to_dataframe()
    assert list(frame["structure"]) == ["Liver", "Tumour 1", "Tumour 2", "All tumours"]
