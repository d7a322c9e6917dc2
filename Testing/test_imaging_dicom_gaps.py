"""DICOM series with a missing slice: refused by default, resampled with a warning when asked.

Series are written with the library's pydicom writer (``write_dicom_series``, one file per slice with Image
Position (Patient)), then one file is deleted. Reference numbers are hand calculations:

* 30 slices 6.0 mm apart span 29 × 6 = 174 mm. Without slice 15 (file ``CT00016.dcm``), 29 files span the
  same 174 mm in 28 steps, so stacking them gives 174 / 28 = 6.214 mm (the issue's 6.13 mm is the same effect
  for 48 slices: 47 × 6 / 46) and every slice after the gap lands up to 6 mm away from its true position.
* The voxel values are linear in the slice index, ``v = 10·k + i`` (HU), so linear interpolation across the
  gap reproduces the deleted slice exactly: 10 · 15 + i.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.dicom_io import (
    DicomSeriesError,
    DicomSliceGapError,
    DicomSliceGapWarning,
    read_dicom_series,
    write_dicom_series,
)
from HCCInterventionalAILib.imaging.io import read_volume
from HCCInterventionalAILib.imaging.volume import Geometry, Volume

SLICES = 30
SPACING = (0.8, 0.9, 6.0)


def _rotation(axis, degrees):
    """Rodrigues' formula R = I + sin(a) K + (1 - cos(a)) K²."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    a = np.radians(degrees)
    return np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


def _ct(direction=None) -> Volume:
    k, _, i = np.meshgrid(np.arange(SLICES), np.arange(12), np.arange(10), indexing="ij")
    array = (10 * k + i - 500).astype(np.int16)
    geometry = Geometry(array.shape, SPACING, (-40.0, 25.0, -300.0), np.eye(3) if direction is None else direction)
    return Volume(array, geometry, name="gap test", modality="CT", units="HU")


def _series_without(tmp_path, missing: list[int], direction=None):
    volume = _ct(direction)
    paths = write_dicom_series(volume, tmp_path / "ct")
    for index in missing:
        paths[index].unlink()
    return volume, tmp_path / "ct"


def test_complete_series_reads_without_warning(tmp_path):
    """Negative control: nothing missing → 6.0 mm, no warning, no error."""
    volume, folder = _series_without(tmp_path, [])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read = read_dicom_series(folder)
    assert read.spacing[2] == pytest.approx(6.0, abs=1e-6)
    np.testing.assert_array_equal(read.array, volume.array)


def test_missing_slice_is_an_error_naming_the_gap(tmp_path):
    _, folder = _series_without(tmp_path, [15])
    with pytest.raises(DicomSliceGapError) as error:
        read_dicom_series(folder)
    message = str(error.value)
    assert isinstance(error.value, DicomSeriesError) and isinstance(error.value, ValueError)
    # The gap: 12 mm between the 15th and 17th files (CT00015, CT00017), at z = -300 + 14·6 = -216 and -204.
    assert "expected 6 mm" in message and "found 12 mm" in message
    assert "CT00015.dcm at (-40.00, 25.00, -216.00)" in message and "CT00017.dcm at (-40.00, 25.00, -204.00)" in message
    assert "about 1 slice(s) missing" in message
    assert "wrong spacing of 6.214 mm" in message  # 174 / 28
    assert "allow_gaps=True" in message


def test_read_volume_refuses_too_and_passes_allow_gaps(tmp_path):
    _, folder = _series_without(tmp_path, [15])
    with pytest.raises(DicomSliceGapError):
        read_volume(folder)
    with pytest.warns(DicomSliceGapWarning):
        volume = read_volume(next(folder.glob("*.dcm")), allow_gaps=True)
    assert volume.spacing[2] == pytest.approx(6.0, abs=1e-6)


def test_allow_gaps_resamples_onto_the_true_grid_with_a_warning(tmp_path):
    original, folder = _series_without(tmp_path, [15])
    with pytest.warns(DicomSliceGapWarning, match=r"found 12 mm .*\(1 slice\(s\) interpolated\)"):
        read = read_dicom_series(folder, allow_gaps=True)
    assert read.shape == original.shape  # 30 slices again
    assert read.spacing[2] == pytest.approx(6.0, abs=1e-6)  # not 6.214
    assert read.geometry.same_grid(original.geometry, tolerance_mm=1e-3)
    # Acquired slices unchanged, the deleted one rebuilt exactly (values linear in k).
    np.testing.assert_array_equal(read.array, original.array)
    assert read.metadata["slice_gaps"] == [
        {"after_file": "CT00015.dcm", "before_file": "CT00017.dcm", "gap_mm": pytest.approx(12.0), "expected_mm": 6.0}
    ]


def test_two_gaps_are_both_named(tmp_path):
    """Slices 5 and 20 missing (hand: 28 files over 174 mm → 6.444 mm if stacked)."""
    _, folder = _series_without(tmp_path, [5, 20])
    with pytest.raises(DicomSliceGapError, match="6.444 mm") as error:
        read_dicom_series(folder)
    assert "CT00005.dcm" in str(error.value) and "CT00020.dcm" in str(error.value)


def test_two_adjacent_missing_slices(tmp_path):
    """Slices 10 and 11 missing: one 18 mm step (about 2 slices missing); allow_gaps rebuilds both exactly."""
    original, folder = _series_without(tmp_path, [10, 11])
    with pytest.raises(DicomSliceGapError, match=r"found 18 mm .*about 2 slice\(s\) missing"):
        read_dicom_series(folder)
    with pytest.warns(DicomSliceGapWarning):
        read = read_dicom_series(folder, allow_gaps=True)
    np.testing.assert_array_equal(read.array, original.array)


def test_oblique_series_with_a_gap(tmp_path):
    """A 30° oblique series (rotation about (1, 2, 3)): the gap is measured along the slice normal, and the
    regularised grid puts every voxel at its original LPS position."""
    direction = _rotation((1.0, 2.0, 3.0), 30.0)
    original, folder = _series_without(tmp_path, [7], direction)
    with pytest.raises(DicomSliceGapError, match="found 12 mm"):
        read_dicom_series(folder)
    with pytest.warns(DicomSliceGapWarning):
        read = read_dicom_series(folder, allow_gaps=True)
    assert read.geometry.is_oblique
    corners = np.array([[0, 0, 0], [9, 11, 29], [9, 0, 7]], dtype=float)
    np.testing.assert_allclose(
        read.geometry.physical_points(corners), original.geometry.physical_points(corners), atol=1e-3
    )
    np.testing.assert_array_equal(read.array, original.array)


def test_pet_series_gap_interpolates_float_values(tmp_path):
    """PET (float Bq/ml): the rebuilt slice is the mean of its neighbours (linear interpolation halfway)."""
    rng = np.random.default_rng(3)
    array = rng.uniform(0.0, 5000.0, size=(12, 8, 8)).astype(np.float32)
    pet = Volume(array, Geometry(array.shape, (4.0, 4.0, 4.0)), name="pet", modality="PT", units="Bq/ml")
    paths = write_dicom_series(pet, tmp_path / "pt", modality="PT")
    paths[6].unlink()
    with pytest.warns(DicomSliceGapWarning):
        read = read_dicom_series(tmp_path / "pt", allow_gaps=True)
    slope = (array.max() - array.min()) / 65535  # quantisation step of the writer
    np.testing.assert_allclose(read.array[6], (array[5] + array[7]) / 2, atol=slope)
    np.testing.assert_allclose(read.array[[5, 7]], array[[5, 7]], atol=slope)
