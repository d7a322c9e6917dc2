"""DICOM RT Dose export: pydicom reads it back, DoseGridScaling × pixels = dose within 0.1%, geometry tags right."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from HCCInterventionalAILib.imaging.volume import Volume
from Y90DosimetryLib import Y90InputError, read_rtdose, write_rtdose
from Y90DosimetryLib.rtdose import RT_DOSE_STORAGE


def _rotation(degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])


DIRECTIONS = {
    "axial": np.eye(3),
    "k-inferior": np.diag([1.0, 1.0, -1.0]),  # like the Taranis SPECT (k towards the feet)
    "oblique": _rotation(20.0) @ np.array([[1, 0, 0], [0, 0.8, -0.6], [0, 0.6, 0.8]]),
}


def _dose(direction: np.ndarray) -> Volume:
    rng = np.random.default_rng(5)
    array = rng.gamma(2.0, 20.0, size=(6, 7, 8))
    array[0, 0, 0] = 0.0
    array[5, 6, 7] = 350.0
    return Volume.from_array(array, spacing=(4.4, 3.9, 2.5), origin=(-100.0, 20.0, 1300.0), direction=direction,
                             name="dose", modality="RTDOSE", units="Gy", metadata={"method": "kernel convolution"})


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_round_trip_values_and_geometry(name, tmp_path):
    dose = _dose(DIRECTIONS[name])
    path = write_rtdose(dose, tmp_path / "dose.dcm")
    ds = pydicom.dcmread(path)
    assert ds.SOPClassUID == RT_DOSE_STORAGE and ds.Modality == "RTDOSE" and ds.DoseUnits == "GY"
    assert int(ds.NumberOfFrames) == 6 and int(ds.Rows) == 7 and int(ds.Columns) == 8
    assert [float(v) for v in ds.PixelSpacing] == pytest.approx([3.9, 4.4])  # [row spacing (j), column (i)]
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    np.testing.assert_allclose(iop, np.concatenate([dose.direction[:, 0], dose.direction[:, 1]]), atol=1e-9)
    offsets = np.array([float(v) for v in ds.GridFrameOffsetVector])
    assert offsets[0] == 0.0 and np.all(np.diff(offsets) == pytest.approx(2.5))

    # DoseGridScaling × stored pixels = dose within 0.1% (voxels ≥ 1% of the maximum) at the same positions
    stored = ds.pixel_array.astype(float) * float(ds.DoseGridScaling)
    normal = np.cross(iop[:3], iop[3:])
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    k_dir = dose.direction[:, 2]
    frames = stored if normal @ k_dir > 0 else stored[::-1]
    significant = dose.array >= 0.01 * dose.array.max()
    np.testing.assert_allclose(frames[significant], dose.array[significant], rtol=1e-3)
    # the first stored frame sits at IPP, frame f at IPP + offset_f · normal
    first_voxel = dose.geometry.physical_points(np.array([[0, 0, 0 if normal @ k_dir > 0 else 5]]))[0]
    np.testing.assert_allclose(ipp, first_voxel, atol=1e-6)

    back = read_rtdose(path)
    assert back.units == "Gy" and back.modality == "RTDOSE"
    corners = np.array([[0, 0, 0], [7, 6, 5], [3, 2, 1]], dtype=float)
    for ijk in corners:
        lps = dose.geometry.physical_points(ijk)[0]
        i, j, k = np.round(back.geometry.continuous_index(lps)[0]).astype(int)
        assert back.array[k, j, i] == pytest.approx(dose.array[int(ijk[2]), int(ijk[1]), int(ijk[0])], rel=1e-3,
                                                    abs=1e-6 * dose.array.max())


def test_reference_identifiers_are_copied(tmp_path):
    reference = Dataset()
    reference.PatientID = "P-42"
    reference.PatientName = "Test^Patient"
    reference.StudyInstanceUID = "1.2.3.4"
    reference.FrameOfReferenceUID = "1.2.3.5"
    path = write_rtdose(_dose(np.eye(3)), tmp_path / "d.dcm", reference=reference, dose_summation_type="RECORD")
    ds = pydicom.dcmread(path)
    assert (ds.PatientID, ds.StudyInstanceUID, ds.FrameOfReferenceUID) == ("P-42", "1.2.3.4", "1.2.3.5")
    assert ds.DoseSummationType == "RECORD" and ds.DoseComment == "kernel convolution"


@pytest.mark.parametrize("array, units", [(-np.ones((2, 2, 2)), "Gy"), (np.full((2, 2, 2), np.nan), "Gy"),
                                          (np.ones((2, 2, 2)), "GBq")])
def test_bad_doses_are_refused(array, units, tmp_path):
    with pytest.raises(Y90InputError):
        write_rtdose(Volume.from_array(array, units=units), tmp_path / "x.dcm")
