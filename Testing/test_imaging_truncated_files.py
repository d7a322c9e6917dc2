"""Truncated image files are refused with a clear error instead of being read with zero-filled voxels.

Files are written by real writers (SimpleITK, nibabel), cut short on disk, and read with ``read_volume`` /
``read_segmentation``. Expected byte counts are hand calculations from the NIfTI-1/-2 standards: a
single-file NIfTI-1 holds a 348-byte header + 4 extension bytes (vox_offset 352) followed by the voxels; a
NIfTI-2 header is 540 + 4 bytes (vox_offset 544). The grid used is 40 × 30 × 20 int16 voxels:
data = 40·30·20·2 = 48,000 bytes, one 40 × 30 slice = 2,400 bytes.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from HCCInterventionalAILib.imaging.integrity import TruncatedImageError, check_nifti_complete
from HCCInterventionalAILib.imaging.io import ImageReadError, read_segmentation, read_volume
from HCCInterventionalAILib.imaging.volume import Volume

SHAPE_KJI = (20, 30, 40)  # k (slices), j, i
SLICE_BYTES = 40 * 30 * 2  # 2,400
DATA_BYTES = SLICE_BYTES * 20  # 48,000


def _array() -> np.ndarray:
    # Strictly positive, so zero-filled voxels could not pass as data.
    return (np.arange(np.prod(SHAPE_KJI), dtype=np.int16).reshape(SHAPE_KJI) % 3000 + 1).astype(np.int16)


def _sitk_write(path: Path, compress: bool) -> Path:
    image = sitk.GetImageFromArray(_array())
    image.SetSpacing((0.8, 0.8, 2.5))
    sitk.WriteImage(image, str(path), compress)
    return path


def _cut(path: Path, keep: int) -> Path:
    target = path.with_name("cut_" + path.name)
    target.write_bytes(path.read_bytes()[:keep])
    return target


def test_complete_files_read_normally(tmp_path):
    """Negative control: the untouched files read back with all their values (no false alarm)."""
    for name, compress in (("a.nii", False), ("a.nii.gz", True), ("a.nrrd", True)):
        volume = read_volume(_sitk_write(tmp_path / name, compress))
        np.testing.assert_array_equal(volume.array, _array())


def test_half_a_nii_file_is_refused_naming_the_missing_bytes(tmp_path):
    """Hand calculation: file = 352 + 48,000 = 48,352 bytes; half = 24,176 present, 24,176 missing,
    24,176 / 2,400 = 10.07 slices."""
    path = _sitk_write(tmp_path / "ct.nii", compress=False)
    assert path.stat().st_size == 352 + DATA_BYTES
    cut = _cut(path, (352 + DATA_BYTES) // 2)
    with pytest.raises(TruncatedImageError) as error:
        read_volume(cut)
    message = str(error.value)
    assert str(cut) in message
    assert "(48,352 bytes with the 352-byte header)" in message
    assert "holds 24,176 bytes; 24,176 bytes (10.1 of 20 slices) are missing" in message
    assert isinstance(error.value, ImageReadError) and isinstance(error.value, ValueError)


@pytest.mark.parametrize("missing_slices", [3, 8])
def test_nii_gz_short_by_whole_slices_names_them(tmp_path, missing_slices):
    """A .nii.gz whose uncompressed content lacks the last 3 or 8 slices (a complete gzip stream of a short
    file, written by nibabel): missing = slices × 2,400 bytes."""
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed (extra 'ai')")
    full = tmp_path / "full.nii"
    # nibabel writes (x, y, z) arrays; transpose our (k, j, i) array.
    nib.save(nib.Nifti1Image(_array().T, np.diag([0.8, 0.8, 2.5, 1.0])), str(full))
    raw = full.read_bytes()
    assert len(raw) == 352 + DATA_BYTES
    short = tmp_path / "short.nii.gz"
    short.write_bytes(gzip.compress(raw[: len(raw) - missing_slices * SLICE_BYTES]))
    with pytest.raises(TruncatedImageError, match=rf"{missing_slices * SLICE_BYTES:,} bytes \({missing_slices} of 20 slices\)"):
        read_volume(short)


def test_nii_gz_cut_in_the_compressed_stream(tmp_path):
    """Half of the compressed bytes: the gzip stream stops early; the message says so and names the file."""
    path = _sitk_write(tmp_path / "spect.nii.gz", compress=True)
    cut = _cut(path, path.stat().st_size // 2)
    with pytest.raises(TruncatedImageError, match="gzip stream cut off") as error:
        read_volume(cut)
    assert str(cut) in str(error.value)


def test_truncated_labelmap_is_refused_too(tmp_path):
    """read_segmentation goes through the same check (a cut labelmap would lose the last slices' labels)."""
    path = _sitk_write(tmp_path / "labels.nii.gz", compress=True)
    with pytest.raises(TruncatedImageError):
        read_segmentation(_cut(path, path.stat().st_size - 200))


def test_nifti2_header_is_understood(tmp_path):
    """NIfTI-2 (540-byte header, vox_offset 544): complete file passes, 5 missing slices are named."""
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed (extra 'ai')")
    full = tmp_path / "two.nii"
    nib.save(nib.Nifti2Image(_array().T, np.eye(4)), str(full))
    layout = check_nifti_complete(full)
    assert layout is not None and layout.version == 2 and layout.vox_offset == 544
    assert layout.dims == (40, 30, 20) and layout.bitpix == 16
    with pytest.raises(TruncatedImageError, match=r"12,000 bytes \(5 of 20 slices\)"):
        check_nifti_complete(_cut(full, 544 + DATA_BYTES - 5 * SLICE_BYTES))


def test_big_endian_nifti_is_understood(tmp_path):
    """The byte order is taken from sizeof_hdr (348 read big-endian)."""
    nib = pytest.importorskip("nibabel", reason="nibabel is not installed (extra 'ai')")
    header = nib.Nifti1Header(endianness=">")
    full = tmp_path / "be.nii"
    image = nib.Nifti1Image(_array().T.astype(">i2"), np.eye(4), header)
    image.set_data_dtype(">i2")
    nib.save(image, str(full))
    assert full.read_bytes()[:4] == (348).to_bytes(4, "big")
    with pytest.raises(TruncatedImageError, match=r"7,200 bytes \(3 of 20 slices\)"):
        read_volume(_cut(full, 352 + DATA_BYTES - 3 * SLICE_BYTES))


def test_file_cut_inside_the_header(tmp_path):
    path = _sitk_write(tmp_path / "tiny.nii", compress=False)
    with pytest.raises(TruncatedImageError, match="inside its NIfTI header"):
        read_volume(_cut(path, 200))


@pytest.mark.parametrize("compress", [True, False], ids=["gzip", "raw"])
def test_truncated_nrrd_gets_the_same_error(tmp_path, compress):
    """NRRD: ITK's reader notices the short read; the error is a TruncatedImageError naming the data size
    (48,000 bytes declared by the header: 40·30·20 int16)."""
    path = _sitk_write(tmp_path / "dose.nrrd", compress=compress)
    cut = _cut(path, path.stat().st_size - 3 * SLICE_BYTES)
    with pytest.raises(TruncatedImageError, match="48,000 data bytes") as error:
        read_volume(cut)
    assert str(cut) in str(error.value)


def test_write_then_truncate_through_the_library_writer(tmp_path):
    """The library's own writer (write_volume) followed by a cut: same refusal."""
    from HCCInterventionalAILib.imaging.io import write_volume

    path = write_volume(Volume.from_array(_array(), spacing=(0.8, 0.8, 2.5)), tmp_path / "v.nii.gz")
    with pytest.raises(TruncatedImageError):
        read_volume(_cut(path, int(path.stat().st_size * 0.9)))


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "raw"])
def test_truncated_metaimage_says_truncated_not_missing_file(tmp_path, compress):
    """MetaImage: ITK's own message is "No such file or directory"; ours names the short data. Raw: the
    header declares 48,000 data bytes; 3 slices cut → 40,800 present, 7,200 missing."""
    path = _sitk_write(tmp_path / "ct.mha", compress=compress)
    cut = _cut(path, path.stat().st_size - 3 * SLICE_BYTES)
    with pytest.raises(TruncatedImageError, match="MetaImage header declares") as error:
        read_volume(cut)
    assert str(cut) in str(error.value)
    if not compress:
        assert "48,000 data bytes but only 40,800 are present; 7,200 bytes are missing" in str(error.value)


def test_truncated_metaimage_data_file(tmp_path):
    """.mhd header with a separate .raw data file that is 8 slices short (19,200 bytes missing)."""
    path = _sitk_write(tmp_path / "ct.mhd", compress=False)
    raw = tmp_path / "ct.raw"
    assert raw.stat().st_size == DATA_BYTES
    raw.write_bytes(raw.read_bytes()[: DATA_BYTES - 8 * SLICE_BYTES])
    with pytest.raises(TruncatedImageError, match="19,200 bytes are missing"):
        read_volume(path)
