"""Lung shunt fraction: LSF = C_lung/(C_lung + C_liver), planar geometric means, SPECT regions, lung helper."""

from __future__ import annotations

import numpy as np
import pytest
from test_y90_support import box_phantom

from HCCInterventionalAILib.imaging.volume import GeometryMismatchError, Volume
from Y90DosimetryLib import (
    LungShuntError,
    MissingStructureError,
    NegativeCountsError,
    Y90InputError,
    lung_region_from_spect,
    lung_shunt_fraction,
    planar_lung_shunt,
    spect_lung_shunt,
)


@pytest.mark.parametrize("lung, liver, expected", [(10, 90, 0.1), (0, 50, 0.0), (1, 1, 0.5), (2.5, 47.5, 0.05)])
def test_lung_shunt_fraction(lung, liver, expected):
    assert lung_shunt_fraction(lung, liver) == pytest.approx(expected)


@pytest.mark.parametrize("lung, liver", [(10, 0), (0, 0), (-1, 10), (float("nan"), 10), (10, float("inf"))])
def test_lung_shunt_fraction_rejects_bad_counts(lung, liver):
    with pytest.raises(LungShuntError):
        lung_shunt_fraction(lung, liver)


def test_planar_geometric_mean():
    """GM_lung = sqrt(100·400) = 200, GM_liver = sqrt(1600·2500) = 2000 → LSF = 200/2200 = 0.090909."""
    result = planar_lung_shunt(100, 400, 1600, 2500)
    assert result.lung_counts == pytest.approx(200.0)
    assert result.liver_counts == pytest.approx(2000.0)
    assert result.lung_shunt_fraction == pytest.approx(1 / 11)
    assert result.method == "planar geometric mean"


def test_spect_lung_shunt_on_a_box_phantom():
    """Liver 14·16·16 voxels (3584, of which the 64-voxel tumour at 400) at 100 counts, lungs 2·(10·7·16) = 2240
    voxels at 5 counts: C_liver = 3520·100 + 64·400 = 377 600, C_lung = 11 200 → LSF = 11 200/388 800 = 0.028807."""
    spect, seg = box_phantom()
    result = spect_lung_shunt(spect, seg.mask("Liver"), seg.mask("Lungs"))
    assert result.liver_counts == pytest.approx(377_600)
    assert result.lung_counts == pytest.approx(11_200)
    assert result.lung_shunt_fraction == pytest.approx(11_200 / 388_800)


def test_small_negative_counts_are_zeroed_with_a_warning_large_ones_raise():
    spect, seg = box_phantom()
    noisy = spect.array.copy()
    noisy[0, 0, :5] = -2.0
    result = spect_lung_shunt(spect.with_array(noisy), seg.mask("Liver"), seg.mask("Lungs"))
    assert result.lung_shunt_fraction == pytest.approx(11_200 / 388_800)
    assert any("negative voxels" in w for w in result.warnings)
    noisy[:, 0, 0] = -1000.0
    with pytest.raises(NegativeCountsError):
        spect_lung_shunt(spect.with_array(noisy), seg.mask("Liver"), seg.mask("Lungs"))


def test_nan_counts_and_empty_regions_raise():
    spect, seg = box_phantom()
    bad = spect.array.copy()
    bad[3, 3, 3] = np.nan
    with pytest.raises(Y90InputError):
        spect_lung_shunt(spect.with_array(bad), seg.mask("Liver"), seg.mask("Lungs"))
    with pytest.raises(MissingStructureError):
        spect_lung_shunt(spect, seg.mask("Liver"), np.zeros(spect.shape, bool))
    with pytest.raises(MissingStructureError):
        spect_lung_shunt(spect, np.zeros(spect.shape, bool), seg.mask("Lungs"))
    with pytest.raises(GeometryMismatchError):
        spect_lung_shunt(spect, seg.mask("Liver")[:-1], seg.mask("Lungs")[:-1])


def test_no_liver_counts_means_lsf_undefined():
    spect, seg = box_phantom(liver_counts=0.0, tumour_counts=0.0)
    with pytest.raises(ValueError):
        spect_lung_shunt(spect, seg.mask("Liver"), seg.mask("Lungs"))


@pytest.mark.parametrize("flip_k", [False, True])
def test_lung_region_from_counts_lies_above_the_liver_dome(flip_k):
    """Lungs (k 0–9, 4 mm voxels) are 16–52 mm above the liver dome (k 14): with a 20 mm margin the region is
    the lung voxels ≥ 20 mm above the dome (k ≤ 8), whatever the direction of the k axis."""
    spect, seg = box_phantom(flip_k=flip_k)
    region = lung_region_from_spect(spect, seg.mask("Liver"), margin_mm=20.0, smoothing_mm=0.0)
    truth = seg.mask("Lungs")
    precision = (region.mask & truth).sum() / region.mask.sum()
    assert precision == 1.0
    expected = truth.copy()
    expected[(slice(9, None) if not flip_k else slice(None, 21))] = False
    assert (region.mask == expected).all()
    assert region.warnings and "approximate" in region.warnings[0]
    result = spect_lung_shunt(spect, seg.mask("Liver"), region.mask, lung_region_method=region.method)
    assert result.lung_shunt_fraction == pytest.approx(9 * 2 * 7 * 16 * 5 / (9 * 2 * 7 * 16 * 5 + 377_600))


def test_lung_region_from_ct_threshold():
    """CT: outside air −1000 HU, body 40 HU, lungs −800 HU → the region is exactly the lungs (outside air that
    touches the border is excluded)."""
    spect, seg = box_phantom()
    hu = np.full(spect.shape, -1000.0)
    hu[:, 2:22, 2:22] = 40.0
    hu[seg.mask("Lungs")] = -800.0
    ct = spect.with_array(hu, name="CT", modality="CT", units="HU")
    region = lung_region_from_spect(spect, seg.mask("Liver"), ct=ct, min_component_ml=1.0)
    assert (region.mask == seg.mask("Lungs")).all()
    assert region.method == "CT threshold"


def test_lung_region_needs_room_above_the_liver():
    spect, seg = box_phantom()
    liver = np.zeros(spect.shape, bool)
    liver[0:5, 4:20, 4:20] = True
    with pytest.raises(MissingStructureError):
        lung_region_from_spect(spect, liver)
    with pytest.raises(MissingStructureError):
        lung_region_from_spect(spect, np.zeros(spect.shape, bool))


def test_sample_patient_lung_shunt_is_recovered(small_patient):
    """The synthetic patient puts exactly 8% of the MAA in the lungs (attenuation/scatter-free SPECT with 14 mm
    blur); counts in the whole-lung and liver masks give 8% within 10% relative (spill across borders)."""
    patient = small_patient
    seg = patient.spect_truth_segmentation
    result = spect_lung_shunt(patient.spect, seg.mask("Liver"), seg.mask("Lung"))
    truth = patient.parameters["lung_shunt_fraction"]
    assert result.lung_shunt_fraction == pytest.approx(truth, rel=0.10)


def test_results_are_json_serialisable():
    import json

    spect, seg = box_phantom()
    result = spect_lung_shunt(spect, seg.mask("Liver"), seg.mask("Lungs"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["lung_shunt_fraction"] == pytest.approx(result.lung_shunt_fraction)
    assert isinstance(spect, Volume)
