"""File I/O of volumes and segmentations: NRRD/NIfTI/MetaImage, DICOM series, DICOM SEG and Slicer .seg.nrrd.

Geometry is checked against hand-written formulas (LPS point = origin + R · diag(spacing) · ijk), against
other readers (ITK's index→point mapping, nibabel's RAS affine, pydicom's pixel decoding, Slicer's own
segmentation reader from slicer-core) and against the real sample data in ``../shared/data`` (skipped when
absent; override the location with ``HCCAI_SHARED_DATA``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from optional_deps import require_highdicom, require_mrml
from reference_data import DCMQI, TARANIS  # noqa: E402

from HCCInterventionalAILib.imaging.dicom_io import (
    DicomSeriesError,
    list_dicom_series,
    read_dicom_series,
    write_dicom_series,
)
from HCCInterventionalAILib.imaging.intensity import NonFiniteError
from HCCInterventionalAILib.imaging.io import (
    ImageReadError,
    UnsupportedFormatError,
    from_sitk,
    read_segmentation,
    read_volume,
    to_sitk,
    write_segmentation,
    write_volume,
)
from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.terminology import Code, Terminology
from HCCInterventionalAILib.imaging.volume import Geometry, Volume


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


def rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Rodrigues' formula: R = I + sin(a) K + (1 - cos(a)) K², K the cross-product matrix of the unit axis."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    a = np.radians(degrees)
    return np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


R30 = rotation((1.0, 2.0, 3.0), 30.0)
SPACING = (0.7, 0.9, 2.0)  # (i, j, k), deliberately anisotropic so swapped axes are caught
ORIGIN = (-12.3, 45.6, 7.8)


def hand_lps(ijk: np.ndarray, origin=ORIGIN, spacing=SPACING, direction=R30) -> np.ndarray:
    """LPS position of voxel (i, j, k): origin + direction · (spacing ⊙ ijk)."""
    return np.asarray(origin) + direction @ (np.asarray(spacing) * np.asarray(ijk, dtype=float))


def oblique_volume(shape=(5, 6, 7), dtype=np.int16, direction=R30, seed=0) -> Volume:
    rng = np.random.default_rng(seed)
    if np.issubdtype(dtype, np.integer):
        array = rng.integers(-1024, 2000, size=shape).astype(dtype)
    else:
        array = rng.uniform(-50.0, 950.5, size=shape).astype(dtype)
    return Volume(array, Geometry(shape, SPACING, ORIGIN, direction), name="oblique", modality="CT", units="HU")


# --------------------------------------------------------------------------------------------------------
# SimpleITK conversion and volume files
# --------------------------------------------------------------------------------------------------------
def test_to_sitk_maps_indices_like_the_hand_formula():
    volume = oblique_volume()
    image = to_sitk(volume)
    for ijk in [(0, 0, 0), (6, 0, 0), (0, 5, 0), (0, 0, 4), (3, 2, 1)]:
        np.testing.assert_allclose(image.TransformIndexToPhysicalPoint(ijk), hand_lps(ijk), atol=1e-9)
        assert image[ijk] == volume.array[ijk[2], ijk[1], ijk[0]]
    back = from_sitk(image, name="x")
    np.testing.assert_array_equal(back.array, volume.array)
    assert back.geometry.same_grid(volume.geometry, tolerance_mm=1e-9)


def test_from_sitk_rejects_2d_and_vector_images():
    with pytest.raises(ImageReadError, match="3D"):
        from_sitk(sitk.Image(4, 5, sitk.sitkFloat32))
    with pytest.raises(ImageReadError, match="components"):
        from_sitk(sitk.Image([4, 5, 6], sitk.sitkVectorFloat32, 3))


@pytest.mark.parametrize("suffix", [".nrrd", ".nii.gz", ".nii", ".mha"])
@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_volume_round_trip_keeps_values_and_oblique_geometry(tmp_path, suffix, dtype):
    volume = oblique_volume(dtype=dtype)
    path = write_volume(volume, tmp_path / "sub" / f"image{suffix}")
    back = read_volume(path)
    assert back.array.dtype == volume.array.dtype
    np.testing.assert_array_equal(back.array, volume.array)
    corner = np.array(volume.shape[::-1]) - 1
    # NIfTI stores the affine in float32: allow 1e-4 mm; NRRD/MetaImage keep full precision.
    tolerance = 1e-4 if suffix.startswith(".nii") else 1e-9
    np.testing.assert_allclose(back.geometry.physical_points([0, 0, 0])[0], hand_lps([0, 0, 0]), atol=tolerance)
    np.testing.assert_allclose(back.geometry.physical_points(corner)[0], hand_lps(corner), atol=tolerance)
    assert back.name == "image"
    if suffix in (".nrrd", ".mha"):
        assert (back.modality, back.units) == ("CT", "HU")


def test_nifti_affine_is_ras_for_nibabel(tmp_path):
    """nibabel reads the NIfTI affine in RAS: x and y of our LPS matrix are negated (RAS = diag(-1,-1,1) LPS)."""
    nibabel = pytest.importorskip("nibabel")
    volume = oblique_volume(dtype=np.float32)
    path = write_volume(volume, tmp_path / "image.nii.gz")
    affine = nibabel.load(str(path)).affine
    expected = np.eye(4)
    expected[:3, :3] = np.diag([-1.0, -1.0, 1.0]) @ R30 @ np.diag(SPACING)
    expected[:3, 3] = np.array(ORIGIN) * [-1.0, -1.0, 1.0]
    np.testing.assert_allclose(affine, expected, atol=1e-4)
    # nibabel's data array is indexed (i, j, k)
    np.testing.assert_array_equal(np.asarray(nibabel.load(str(path)).dataobj), volume.array.transpose(2, 1, 0))


def test_nrrd_header_has_lps_space_directions(tmp_path):
    """NRRD 'space directions' are the i, j, k axis vectors (direction column × spacing), in LPS."""
    path = write_volume(oblique_volume(), tmp_path / "image.nrrd")
    header = path.read_bytes().split(b"\n\n", 1)[0].decode("ascii", "replace")
    assert "space: left-posterior-superior" in header
    directions_line = re.search(r"space directions: (.*)", header).group(1)
    vectors = [[float(v) for v in group.split(",")] for group in re.findall(r"\(([^)]*)\)", directions_line)]
    for axis in range(3):
        np.testing.assert_allclose(vectors[axis], R30[:, axis] * SPACING[axis], atol=1e-12)
    origin = [float(v) for v in re.search(r"space origin: \(([^)]*)\)", header).group(1).split(",")]
    np.testing.assert_allclose(origin, ORIGIN, atol=1e-12)


def test_boolean_mask_is_written_as_uint8(tmp_path):
    mask = np.zeros((3, 4, 5), dtype=bool)
    mask[1, 2, 3] = True
    back = read_volume(write_volume(Volume.from_array(mask), tmp_path / "mask.nrrd"))
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, mask.astype(np.uint8))


def test_bad_paths_and_formats_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nrrd"):
        read_volume(tmp_path / "missing.nrrd")
    with pytest.raises(FileNotFoundError):
        read_segmentation(tmp_path / "missing.seg.nrrd")
    (tmp_path / "notes.xyz").write_text("hello")
    with pytest.raises(UnsupportedFormatError, match="notes.xyz"):
        read_volume(tmp_path / "notes.xyz")
    with pytest.raises(UnsupportedFormatError):
        write_volume(oblique_volume(), tmp_path / "out.png")
    with pytest.raises(UnsupportedFormatError, match="write_dicom_series"):
        write_volume(oblique_volume(), tmp_path / "out.dcm")
    (tmp_path / "broken.nrrd").write_text("not an image")
    with pytest.raises(ImageReadError, match="broken.nrrd"):
        read_volume(tmp_path / "broken.nrrd")
    sitk.WriteImage(sitk.Image(4, 5, sitk.sitkInt16), str(tmp_path / "flat.nrrd"))
    with pytest.raises(ImageReadError, match="3D"):
        read_volume(tmp_path / "flat.nrrd")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DicomSeriesError, match="No DICOM image series"):
        read_volume(empty)
    assert issubclass(UnsupportedFormatError, ValueError) and issubclass(DicomSeriesError, ValueError)


# --------------------------------------------------------------------------------------------------------
# Segmentations
# --------------------------------------------------------------------------------------------------------
def _slicer_reading(path: Path) -> dict[str, dict]:
    """What Slicer's own C++ reader (vtkMRMLSegmentationStorageNode, from slicer-core) finds in a .seg.nrrd."""
    slicer, vtk = require_mrml()
    from vtk.util import numpy_support

    scene = slicer.vtkMRMLScene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(node) == 1
    segmentation = node.GetSegmentation()
    found = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetSegment(segmentation.GetNthSegmentID(index))
        labelmap = segment.GetRepresentation("Binary labelmap")
        scalars = labelmap.GetPointData().GetScalars() if labelmap.GetPointData() else None
        values = numpy_support.vtk_to_numpy(scalars) if scalars is not None else np.zeros(0)
        terminology = vtk.reference("")
        segment.GetTag("TerminologyEntry", terminology)
        found[segment.GetName()] = {
            "color": segment.GetColor(),
            "voxels": int(np.count_nonzero(values == segment.GetLabelValue())),
            "terminology": str(terminology),
        }
    return found


@pytest.fixture(scope="module")
def taranis_segmentation() -> Segmentation:
    return read_segmentation(_need(TARANIS / "patient_2_Segmentation.seg.nrrd"))


def test_slicer_seg_nrrd_names_colours_and_terminology(taranis_segmentation):
    """Values from the file's header (Segment<N>_Name/_Color/_Tags), as printed by `head` on the file."""
    seg = taranis_segmentation
    assert seg.names == [
        "gallbladder",
        "liver",
        "Tumor 1",
        "Tumor 2",
        "perfused volume",
        "whole liver normal",
        "perfused normal",
    ]
    assert seg.segments["liver"].color == pytest.approx((0.866667, 0.509804, 0.396078))
    assert seg.segments["Tumor 1"].color == pytest.approx((0.945098, 0.839216, 0.568627))
    liver_terms = seg.segments["liver"].terminology
    assert liver_terms.category == Code("SCT", "123037004", "Anatomical Structure")
    assert liver_terms.type == Code("SCT", "10200004", "Liver")
    assert seg.geometry.shape == (161, 512, 512)
    assert seg.geometry.spacing == pytest.approx((0.976562, 0.976562, 2.5))


@pytest.mark.scene
def test_slicer_seg_nrrd_masks_match_slicers_own_reader(taranis_segmentation):
    """Voxel counts per segment (layered labels, 4 layers) equal those of Slicer's C++ reader."""
    reference = _slicer_reading(_need(TARANIS / "patient_2_Segmentation.seg.nrrd"))
    assert set(reference) == set(taranis_segmentation.names)
    for name, expected in reference.items():
        assert int(taranis_segmentation.mask(name).sum()) == expected["voxels"], name
        assert taranis_segmentation.segments[name].color == pytest.approx(expected["color"], abs=1e-6)


def test_slicer_segments_lie_in_the_spect_field_of_view(taranis_segmentation):
    """Every liver voxel centre maps inside the SPECT grid (continuous index within [-0.5, size - 0.5])."""
    spect = read_volume(_need(TARANIS / "patient_2_SPECT.nrrd"))
    assert spect.shape == (160, 128, 128)
    np.testing.assert_allclose(spect.direction, np.diag([1.0, 1.0, -1.0]))  # 'space directions' z = -2.5
    kji = np.argwhere(taranis_segmentation.mask("liver"))[::50]
    lps = taranis_segmentation.geometry.physical_points(kji[:, ::-1])
    index = spect.geometry.continuous_index(lps)
    size = np.array(spect.shape[::-1])
    assert np.all(index >= -0.5) and np.all(index <= size - 0.5)


def _synthetic_segmentation() -> Segmentation:
    geometry = Geometry((12, 14, 16), (1.5, 1.2, 2.0), (10.0, -20.0, 30.0), rotation((0.0, 1.0, 1.0), 25.0))
    k, j, i = np.indices(geometry.shape)
    seg = Segmentation(geometry, name="synthetic")
    seg.add("liver", ((i - 8) / 6.0) ** 2 + ((j - 7) / 5.0) ** 2 + ((k - 6) / 4.0) ** 2 <= 1.0)
    seg.add("Tumor 1", (i - 9) ** 2 + (j - 7) ** 2 + (k - 6) ** 2 <= 4)  # inside the liver: overlaps
    seg.add("lung", (k >= 11) & (i < 4))  # disjoint from the liver
    seg.add(
        "probe track",
        (i == 15) & (j == 0),
        color=(0.1, 0.2, 0.3),
        terminology=Terminology(
            Code("SCT", "260787004", "Physical object"), Code("SCT", "0000", "Probe"), (0.1, 0.2, 0.3)
        ),
    )
    seg.add("empty", np.zeros(geometry.shape, dtype=bool))  # no known terminology
    assert seg.segments["empty"].terminology is None
    return seg


def _codes(terminology: Terminology | None) -> tuple | None:
    return None if terminology is None else (terminology.category, terminology.type, terminology.region)


def test_write_segmentation_round_trip_through_our_reader(tmp_path):
    seg = _synthetic_segmentation()
    path = write_segmentation(seg, tmp_path / "out" / "synthetic.seg.nrrd")
    image = sitk.ReadImage(str(path))
    # liver, lung, probe and empty fit in one layer; Tumor 1 overlaps the liver and needs a second one.
    assert image.GetNumberOfComponentsPerPixel() == 2
    back = read_segmentation(path)
    assert back.names == seg.names
    assert back.geometry.same_grid(seg.geometry, tolerance_mm=1e-9)
    for segment in seg:
        other = back.segments[segment.name]
        np.testing.assert_array_equal(other.mask, segment.mask)
        assert other.color == pytest.approx(segment.color, abs=1e-6)
        assert _codes(other.terminology) == _codes(segment.terminology)


@pytest.mark.scene
def test_written_segmentation_loads_in_slicer_with_names_colours_terminology(tmp_path):
    seg = _synthetic_segmentation()
    path = write_segmentation(seg, tmp_path / "synthetic.seg.nrrd")
    reference = _slicer_reading(path)
    assert list(reference) == seg.names
    for segment in seg:
        assert reference[segment.name]["voxels"] == int(segment.mask.sum()), segment.name
        assert reference[segment.name]["color"] == pytest.approx(segment.color, abs=1e-6)
        if segment.terminology is not None:  # without one, Slicer fills in its default ("Tissue")
            assert reference[segment.name]["terminology"] == segment.terminology.to_slicer()


def test_segment_extents_limit_a_layer_like_in_slicer(tmp_path):
    """Slicer reads a layer's labels only inside the bounding box of its segments' Segment<N>_Extent.

    Layer 0 holds liver, lung (k = 11 only), probe track (k = 0..11) and an empty segment; with their extents
    cut to k = 0..5 the liver keeps slices 0..5, the lung loses all voxels, the probe keeps 6 voxels.
    """
    seg = _synthetic_segmentation()
    image = sitk.ReadImage(str(write_segmentation(seg, tmp_path / "full.seg.nrrd")))
    image.SetMetaData("Segment0_Extent", "0 15 0 13 0 5")  # liver
    image.SetMetaData("Segment2_Extent", "0 3 0 13 0 5")  # lung
    image.SetMetaData("Segment3_Extent", "15 15 0 0 0 5")  # probe track
    sitk.WriteImage(image, str(tmp_path / "cropped.seg.nrrd"), True)
    back = read_segmentation(tmp_path / "cropped.seg.nrrd")
    expected = {name: seg.mask(name, allow_empty=True).copy() for name in seg.names}
    for name in ("liver", "lung", "probe track"):
        expected[name][6:] = False
    assert int(expected["probe track"].sum()) == 6 and not expected["lung"].any()
    for name, mask in expected.items():
        np.testing.assert_array_equal(back.mask(name, allow_empty=True), mask, err_msg=name)
    slicer_counts = {name: found["voxels"] for name, found in _slicer_reading(tmp_path / "cropped.seg.nrrd").items()}
    assert slicer_counts == {name: int(mask.sum()) for name, mask in expected.items()}


def test_disjoint_segments_are_written_in_one_layer(tmp_path):
    seg = _synthetic_segmentation()
    del seg.segments["Tumor 1"]
    image = sitk.ReadImage(str(write_segmentation(seg, tmp_path / "flat.seg.nrrd")))
    assert image.GetNumberOfComponentsPerPixel() == 1
    with pytest.raises(UnsupportedFormatError):
        write_segmentation(seg, tmp_path / "flat.nii.gz")


def test_plain_labelmap_with_names(tmp_path):
    labels = np.zeros((4, 5, 6), dtype=np.uint8)
    labels[1:3, 1:3, 1:3] = 1
    labels[3, 4, 5] = 5
    write_volume(Volume.from_array(labels, spacing=(2.0, 2.0, 3.0)), tmp_path / "labels.nii.gz")
    seg = read_segmentation(tmp_path / "labels.nii.gz", names={1: "liver", 5: "Tumor"})
    assert seg.names == ["liver", "Tumor"]
    assert seg.volume_ml("liver") == pytest.approx(8 * 12.0 / 1000.0)  # 8 voxels of 2·2·3 mm³
    np.testing.assert_array_equal(seg.mask("Tumor"), labels == 5)
    assert seg.segments["liver"].terminology.type.value == "10200004"  # looked up from the name
    unnamed = read_segmentation(tmp_path / "labels.nii.gz")
    assert unnamed.names == ["Segment_1", "Segment_5"]
    write_volume(Volume.from_array(labels + 0.5), tmp_path / "fractional.nrrd")
    with pytest.raises(ImageReadError, match="integer"):
        read_segmentation(tmp_path / "fractional.nrrd")


def test_read_volume_refuses_a_layered_segmentation(tmp_path):
    path = write_segmentation(_synthetic_segmentation(), tmp_path / "s.seg.nrrd")
    with pytest.raises(ImageReadError, match="read_segmentation"):
        read_volume(path)


# --------------------------------------------------------------------------------------------------------
# Real DICOM: CT slices and DICOM SEG (dcmqi test data)
# --------------------------------------------------------------------------------------------------------
def test_ct_series_geometry_and_hounsfield_units():
    """Reference: pydicom's decoding of each file, HU = stored · RescaleSlope + RescaleIntercept.

    The slices are at z = -126.69, -127.69, -128.69 mm: spacing 1.0 mm from the positions (Slice Thickness
    says 1.25 mm), origin at the lowest slice, in-plane spacing 0.810547 mm.
    """
    import pydicom

    folder = _need(DCMQI / "ct-3slice")
    volume = read_dicom_series(folder)
    assert volume.shape == (3, 512, 512)
    assert (volume.modality, volume.units) == ("CT", "HU")
    np.testing.assert_allclose(volume.spacing, (0.810547, 0.810547, 1.0), atol=1e-5)
    np.testing.assert_allclose(volume.origin, (-235.199997, -226.800003, -128.690002), atol=1e-5)
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-9)
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        k = int(round(float(ds.ImagePositionPatient[2]) - volume.origin[2]))
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(volume.array[k], hu)
    assert volume.array.min() < -1000 and volume.array.max() > 100  # air and contrast-enhanced tissue
    same = read_volume(folder / "02.dcm")  # one file of the series reads the whole series
    np.testing.assert_array_equal(same.array, volume.array)


def test_dicom_seg_matches_the_nrrd_export_voxel_for_voxel():
    """liver.dcm (DICOM SEG) and liver_seg.nrrd (the same segmentation as NRRD) agree in physical space."""
    require_highdicom()
    dicom_seg = read_segmentation(_need(DCMQI / "liver.dcm"))
    nrrd_seg = read_segmentation(_need(DCMQI / "liver_seg.nrrd"))
    assert dicom_seg.names == ["Liver"]
    segment = dicom_seg.segments["Liver"]
    assert segment.terminology.type == Code("SRT", "T-62000", "Liver")
    assert segment.color == pytest.approx((221 / 255, 130 / 255, 101 / 255), abs=2 / 255)  # CIELab → Slicer's liver
    # Map every NRRD voxel centre into the SEG grid: it must land exactly on a SEG voxel centre.
    nrrd_geometry = nrrd_seg.geometry
    kji = np.argwhere(np.ones(nrrd_geometry.shape, dtype=bool))
    index = dicom_seg.geometry.continuous_index(nrrd_geometry.physical_points(kji[:, ::-1]))
    np.testing.assert_allclose(index, np.round(index), atol=1e-3)
    ijk = np.round(index).astype(int)
    seg_mask = dicom_seg.mask("Liver")[ijk[:, 2], ijk[:, 1], ijk[:, 0]].reshape(nrrd_geometry.shape)
    np.testing.assert_array_equal(seg_mask, nrrd_seg.mask("Segment_1"))
    assert seg_mask.sum() > 1000


def test_dicom_seg_and_image_are_not_confused():
    with pytest.raises(DicomSeriesError, match="read_segmentation"):
        read_volume(_need(DCMQI / "liver.dcm"))
    with pytest.raises(DicomSeriesError, match="not a DICOM Segmentation"):
        read_segmentation(_need(DCMQI / "ct-3slice" / "01.dcm"))


def test_dicom_seg_is_not_taken_for_an_image_series(tmp_path):
    folder = tmp_path / "seg-only"
    folder.mkdir()
    shutil.copy(_need(DCMQI / "liver.dcm"), folder / "liver.dcm")
    assert [s.modality for s in list_dicom_series(folder)] == ["SEG"]
    with pytest.raises(DicomSeriesError, match="non-image"):
        read_dicom_series(folder)


# --------------------------------------------------------------------------------------------------------
# Writing DICOM series
# --------------------------------------------------------------------------------------------------------
def test_dicom_write_read_round_trip_oblique_exact(tmp_path):
    import pydicom
    from pydicom.uid import UID

    volume = oblique_volume(shape=(5, 6, 7), dtype=np.int16)
    study = pydicom.uid.generate_uid()
    paths = write_dicom_series(volume, tmp_path / "ct", series_description="oblique test", study_uid=study)
    assert len(paths) == 5
    back = read_dicom_series(tmp_path / "ct")
    np.testing.assert_array_equal(back.array, volume.array)
    assert (back.modality, back.units, back.name) == ("CT", "HU", "oblique test")
    corner = np.array(volume.shape[::-1]) - 1
    np.testing.assert_allclose(back.geometry.physical_points([0, 0, 0])[0], hand_lps([0, 0, 0]), atol=1e-6)
    np.testing.assert_allclose(back.geometry.physical_points(corner)[0], hand_lps(corner), atol=1e-6)
    np.testing.assert_allclose(back.spacing, SPACING, atol=1e-6)

    # The files themselves, read with pydicom: DICOM's conventions written out by hand.
    instance_uids = set()
    for k, path in enumerate(paths):
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == study and UID(ds.SeriesInstanceUID).is_valid
        instance_uids.add(ds.SOPInstanceUID)
        np.testing.assert_allclose([float(v) for v in ds.ImagePositionPatient], hand_lps([0, 0, k]), atol=1e-9)
        np.testing.assert_allclose([float(v) for v in ds.ImageOrientationPatient], [*R30[:, 0], *R30[:, 1]], atol=1e-12)
        assert [float(v) for v in ds.PixelSpacing] == [SPACING[1], SPACING[0]]  # (row spacing = j, column = i)
        assert (ds.Rows, ds.Columns) == (6, 7)
        hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_array_equal(hu, volume.array[k])
    assert len(instance_uids) == 5


def test_dicom_float_values_within_quantisation(tmp_path):
    """Non-integer data uses slope = (max - min) / 65535, so each value is restored within slope / 2."""
    volume = oblique_volume(shape=(3, 4, 5), dtype=np.float32)
    write_dicom_series(volume, tmp_path / "f")
    back = read_dicom_series(tmp_path / "f")
    half_step = (volume.array.max() - volume.array.min()) / 65535 / 2
    np.testing.assert_allclose(back.array, volume.array, atol=half_step * 1.01 + 1e-4)
    assert np.abs(back.array - volume.array).max() > 0  # it really was quantised, not stored exactly


def test_dicom_pet_units(tmp_path):
    pet = Volume(
        np.linspace(0.0, 12345.6, 3 * 4 * 5).reshape(3, 4, 5),
        Geometry((3, 4, 5), (4.0, 4.0, 4.0)),
        name="pet",
        modality="PT",
        units="Bq/ml",
    )
    write_dicom_series(pet, tmp_path / "pet", modality="PT")
    back = read_dicom_series(tmp_path / "pet")
    assert (back.modality, back.units) == ("PT", "Bq/ml")
    np.testing.assert_allclose(back.array, pet.array, atol=12345.6 / 65535)


def test_dicom_left_handed_grid_comes_back_with_k_reversed(tmp_path):
    """Slices are stacked along row × column: a det = -1 grid is re-read in the other k order, same voxels."""
    direction = R30 @ np.diag([1.0, 1.0, -1.0])
    volume = oblique_volume(shape=(4, 3, 5), direction=direction)
    write_dicom_series(volume, tmp_path / "lh")
    back = read_dicom_series(tmp_path / "lh")
    np.testing.assert_array_equal(back.array, volume.array[::-1])
    np.testing.assert_allclose(back.direction, R30, atol=1e-6)
    np.testing.assert_allclose(back.origin, hand_lps([0, 0, 3], direction=direction), atol=1e-6)


def test_several_series_need_a_uid(tmp_path):
    first = oblique_volume(seed=1)
    second = oblique_volume(seed=2)
    write_dicom_series(first, tmp_path / "a")
    write_dicom_series(second, tmp_path / "b")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for path in [*(tmp_path / "a").iterdir(), *(tmp_path / "b").iterdir()]:
        shutil.copy(path, mixed / f"{path.parent.name}_{path.name}")
    series = list_dicom_series(mixed)
    assert len(series) == 2
    with pytest.raises(DicomSeriesError, match="2 image series") as error:
        read_dicom_series(mixed)
    assert all(s.series_uid in str(error.value) for s in series)
    uid = read_dicom_series(tmp_path / "b").metadata["series_uid"]
    np.testing.assert_array_equal(read_dicom_series(mixed, uid).array, second.array)
    with pytest.raises(DicomSeriesError, match="No series with UID"):
        read_dicom_series(mixed, "1.2.3.4")


def test_write_dicom_series_rejects_bad_input(tmp_path):
    volume = oblique_volume()
    with pytest.raises(ValueError, match="modality"):
        write_dicom_series(volume, tmp_path / "us", modality="US")
    with pytest.raises(ValueError, match="Hounsfield"):
        write_dicom_series(volume.with_array(volume.array, units="Gy"), tmp_path / "gy")
    nan = volume.with_array(volume.array.astype(np.float32))
    nan.array[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        write_dicom_series(nan, tmp_path / "nan")
    write_dicom_series(volume, tmp_path / "once")
    with pytest.raises(ValueError, match="not empty"):
        write_dicom_series(volume, tmp_path / "once")
