"""DICOM SEG out and back in with highdicom, on the real CT slices and liver SEG of dcmqi's test data."""

from __future__ import annotations

import numpy as np
import pytest
from reference_data import DCMQI

pytest.importorskip("highdicom")

from HCCInterventionalAILib.imaging.dicom_io import read_dicom_seg, read_dicom_series  # noqa: E402
from HCCInterventionalAILib.imaging.io import read_volume  # noqa: E402
from HCCInterventionalAILib.imaging.resample import resample_mask  # noqa: E402
from HCCInterventionalAILib.imaging.segmentation import Segmentation  # noqa: E402
from HCCInterventionalAILib.segmentation.dicom_seg import write_dicom_seg  # noqa: E402


@pytest.fixture(scope="module")
def ct_and_liver():
    if not (DCMQI / "liver.dcm").is_file():
        pytest.skip(f"dcmqi liver data not found in {DCMQI}")
    ct = read_dicom_series(DCMQI / "ct-3slice")
    seg = read_dicom_seg(DCMQI / "liver.dcm")
    liver = resample_mask(seg.mask("Liver"), seg.geometry, ct.geometry)
    return ct, liver


def test_dcmqi_seg_matches_its_nrrd_on_the_ct_grid(ct_and_liver):
    """dcmqi ships the same liver as NRRD: both, placed on the CT grid, hold the same 107,098 voxels."""
    ct, liver = ct_and_liver
    nrrd = read_volume(DCMQI / "liver_seg.nrrd")
    reference = resample_mask(nrrd.array > 0, nrrd.geometry, ct.geometry)
    assert int(liver.sum()) == 107_098
    assert (liver == reference).all()


def test_seg_round_trip_keeps_masks_labels_codes_and_colours(ct_and_liver, tmp_path):
    ct, liver = ct_and_liver
    segmentation = Segmentation(ct.geometry, name="round trip")
    segmentation.add("Liver", liver)
    tumour = np.zeros_like(liver)
    tumour[1, 200:230, 150:190] = True
    segmentation.add("Tumour", tumour & liver if (tumour & liver).any() else tumour)
    path = write_dicom_seg(segmentation, DCMQI / "ct-3slice", tmp_path / "seg.dcm", algorithm="liver-classical")
    back = read_dicom_seg(path)
    assert back.names == ["Liver", "Tumour"]
    for name in ("Liver", "Tumour"):
        mask = resample_mask(back.mask(name), back.geometry, ct.geometry)
        assert (mask == segmentation.mask(name)).all()
        assert back.segments[name].terminology.type.value == segmentation.segments[name].terminology.type.value
        assert back.segments[name].color == pytest.approx(segmentation.segments[name].color, abs=0.02)
    with pytest.raises(ValueError, match="exists"):
        write_dicom_seg(segmentation, DCMQI / "ct-3slice", path)


def test_seg_on_another_grid_is_refused(ct_and_liver, tmp_path):
    ct, liver = ct_and_liver
    other = Segmentation(ct.geometry.with_shape((3, 256, 256)), name="wrong grid")
    other.add("Liver", np.ones((3, 256, 256), bool))
    with pytest.raises(ValueError, match="not on the grid"):
        write_dicom_seg(other, DCMQI / "ct-3slice", tmp_path / "x.dcm")
