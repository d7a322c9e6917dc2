"""segmentation_stats: structure volumes and liver tumour burden against hand counts of synthetic masks."""

from __future__ import annotations

import numpy as np
import pytest

from HCCInterventionalAILib.imaging import Geometry, Segmentation
from HCCInterventionalAILib.segmentation_stats import (
    BURDEN_COLUMN,
    TOTAL_TUMOUR_ROW,
    is_liver,
    is_tumour,
    structure_volumes,
    tumour_burden_percent,
)

SHAPE = (10, 20, 30)  # k, j, i


def _box(k0, k1, j0, j1, i0, i1):
    mask = np.zeros(SHAPE, dtype=bool)
    mask[k0:k1, j0:j1, i0:i1] = True
    return mask


@pytest.fixture
def segmentation():
    """Spacing 2 × 1.5 × 2.5 mm → one voxel = 7.5 mm³ = 0.0075 ml.

    Liver: 10·10·20 = 2000 voxels (includes the tumours) → 15 ml.
    Tumor 1: 2·2·5 = 20 voxels → 0.15 ml; Tumor 2: 2·5·2 = 20 voxels, 2·2·2 = 8 of them shared with Tumor 1
    (k 0–1, j 0–1, i 3–4) → union 32 voxels = 0.24 ml. Lung: 2·2·2 = 8 voxels outside the liver → 0.06 ml.
    Burden = 32 / 2000 = 1.6 %.
    """
    seg = Segmentation(Geometry(SHAPE, spacing=(2.0, 1.5, 2.5)), name="Test")
    seg.add("Liver", _box(0, 10, 0, 10, 0, 20))
    seg.add("Tumor 1", _box(0, 2, 0, 2, 0, 5))
    seg.add("Tumor 2", _box(0, 2, 0, 5, 3, 5))
    seg.add("Lung", _box(0, 2, 15, 17, 25, 27))
    return seg


def test_volumes_and_burden(segmentation):
    result = structure_volumes(segmentation)
    assert result.names == ["Liver", "Tumor 1", "Tumor 2", "Lung"]
    assert result.voxels == [2000, 20, 20, 8]
    np.testing.assert_allclose(result.volumes_ml, [15.0, 0.15, 0.15, 0.06], rtol=1e-12)
    assert result.liver_name == "Liver"
    assert result.tumour_names == ["Tumor 1", "Tumor 2"]
    assert result.total_tumour_voxels == 32
    assert result.total_tumour_ml == pytest.approx(0.24)
    assert result.tumour_burden_percent == pytest.approx(1.6)


def test_exclusive_labels_give_the_same_burden(segmentation):
    """LiTS-style: liver label excludes the tumours; |L ∪ T| is still 2000 voxels → 1.6 %."""
    exclusive = Segmentation(segmentation.geometry)
    tumours = segmentation.mask("Tumor 1") | segmentation.mask("Tumor 2")
    exclusive.add("liver", segmentation.mask("Liver") & ~tumours)
    exclusive.add("HCC", tumours)
    assert structure_volumes(exclusive).tumour_burden_percent == pytest.approx(1.6)


def test_dataframe(segmentation):
    table = structure_volumes(segmentation).to_dataframe()
    assert list(table.columns) == ["Segment", "Voxels", "Volume (ml)", BURDEN_COLUMN]
    assert list(table["Segment"]) == ["Liver", "Tumor 1", "Tumor 2", "Lung", TOTAL_TUMOUR_ROW]
    # Each tumour is 20 / 2000 = 1 % of the liver; liver and lung rows have no percentage.
    np.testing.assert_allclose(table[BURDEN_COLUMN].iloc[1:3], [1.0, 1.0])
    assert np.isnan(table[BURDEN_COLUMN].iloc[0]) and np.isnan(table[BURDEN_COLUMN].iloc[3])
    assert table[BURDEN_COLUMN].iloc[4] == pytest.approx(1.6)
    assert table["Voxels"].iloc[4] == 32


def test_no_liver_no_burden():
    seg = Segmentation(Geometry(SHAPE))
    seg.add("Tumor", _box(0, 1, 0, 1, 0, 3))
    result = structure_volumes(seg)
    assert result.tumour_burden_percent is None
    assert result.volumes_ml == [pytest.approx(0.003)]  # 3 voxels of 1 mm³


def test_liver_without_tumour_is_zero_burden():
    seg = Segmentation(Geometry(SHAPE))
    seg.add("Liver", _box(0, 5, 0, 5, 0, 5))
    result = structure_volumes(seg)
    assert result.tumour_burden_percent == 0.0
    assert TOTAL_TUMOUR_ROW not in list(result.to_dataframe()["Segment"])


def test_empty_segment_gives_zero_volume():
    seg = Segmentation(Geometry(SHAPE))
    seg.add("Liver", np.zeros(SHAPE, dtype=bool))
    result = structure_volumes(seg)
    assert result.volumes_ml == [0.0]
    assert result.tumour_burden_percent is None


def test_burden_function_checks_shapes():
    with pytest.raises(ValueError, match="shape"):
        tumour_burden_percent(np.ones((2, 2, 2), bool), [np.ones((2, 2, 3), bool)])
    with pytest.raises(ValueError, match="undefined"):
        tumour_burden_percent(np.zeros((2, 2, 2), bool), [])
    # 1 tumour voxel inside an 8-voxel liver: 12.5 %.
    tumour = np.zeros((2, 2, 2), bool)
    tumour[0, 0, 0] = True
    assert tumour_burden_percent(np.ones((2, 2, 2), bool), [tumour]) == pytest.approx(12.5)


@pytest.mark.parametrize(
    ("name", "liver", "tumour"),
    [("Liver", True, False), ("liver", True, False), ("Tumor 3", False, True), ("HCC", False, True),
     ("lesion_1", False, True), ("Liver tumour", False, True), ("Lung", False, False), ("Portal vein", False, False)],
)
def test_recognition(name, liver, tumour):
    seg = Segmentation(Geometry((1, 1, 1)))
    segment = seg.add(name, np.ones((1, 1, 1), bool))
    assert is_tumour(segment) is tumour
    assert is_liver(segment) is liver or tumour  # a "Liver tumour" is a tumour first
