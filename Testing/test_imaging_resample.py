"""Resampling between voxel grids, reorientation and CT intensity windowing.

References: analytic functions sampled in physical (LPS) space, the analytic sphere volume 4/3·π·r³,
exact voxel shifts, hand-computed window values, and the data README of the real Y-90 case
(``../shared/data/y90/taranis-sample``: "about 40% of the counts lie outside the liver").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_data import TARANIS  # noqa: E402

from HCCInterventionalAILib.imaging.intensity import (
    HU_WINDOWS,
    NonFiniteError,
    NotHounsfieldError,
    UnitsError,
    check_ct_hu,
    require_finite,
    require_units,
    window,
    window_preset,
)
from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume
from HCCInterventionalAILib.imaging.resample import (
    reorient,
    reorient_to_ras,
    resample_mask,
    resample_segmentation,
    resample_to_geometry,
    resample_to_spacing,
)
from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Geometry, Volume
from HCCInterventionalAILib.progress import Progress


def rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Rodrigues' formula: R = I + sin(a) K + (1 - cos(a)) K², K the cross-product matrix of the unit axis."""
    x, y, z = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    a = np.radians(degrees)
    return np.eye(3) + np.sin(a) * k + (1.0 - np.cos(a)) * (k @ k)


def voxel_centres(geometry: Geometry) -> np.ndarray:
    """LPS centres of all voxels, shape (k, j, i, 3), by the hand formula origin + R · (spacing ⊙ ijk)."""
    k, j, i = np.indices(geometry.shape, dtype=float)
    ijk = np.stack([i, j, k], axis=-1) * np.asarray(geometry.spacing)
    return ijk @ np.asarray(geometry.direction).T + np.asarray(geometry.origin)


def sample(function, geometry: Geometry, **kwargs) -> Volume:
    points = voxel_centres(geometry)
    return Volume(function(points[..., 0], points[..., 1], points[..., 2]).astype(np.float32), geometry, **kwargs)


def smooth(x, y, z):
    """A smooth test function of physical position (mm): curvature ≤ 100/15² ≈ 0.44 per mm²."""
    return 100.0 * np.sin(x / 15.0) * np.cos(y / 20.0) + 0.5 * z


def ramp(x, y, z):
    return 2.0 * x - 3.0 * y + 0.5 * z + 7.0


def inside(geometry: Geometry, source: Geometry, margin: float) -> np.ndarray:
    """Voxels of ``geometry`` whose centre lies at least ``margin`` voxels inside ``source``'s outer centres."""
    index = source.continuous_index(voxel_centres(geometry).reshape(-1, 3))
    size = np.asarray(source.shape[::-1])
    ok = np.all((index >= margin) & (index <= size - 1 - margin), axis=1)
    return ok.reshape(geometry.shape)


OBLIQUE = Geometry((34, 40, 36), (1.2, 1.0, 1.5), (-20.0, -25.0, -30.0), rotation((0.3, 0.5, 1.0), 30.0))


# --------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------
def test_oblique_to_axis_aligned_and_back_reproduces_a_smooth_function():
    """Linear interpolation error ≤ h²/8 · Σ|∂²f| ≈ 1.5²/8 · 0.9 ≈ 0.25 per step, amplitude 100."""
    source = sample(smooth, OBLIQUE)
    centre = OBLIQUE.physical_points((np.array(OBLIQUE.shape[::-1]) - 1) / 2)[0]
    aligned = Geometry((20, 24, 26), (1.3, 1.3, 1.3), tuple(centre - 1.3 * np.array([12.5, 11.5, 9.5])))
    on_aligned = resample_to_geometry(source, aligned)
    covered = inside(aligned, OBLIQUE, margin=1.0)
    assert covered.sum() > 0.5 * covered.size
    expected = sample(smooth, aligned).array
    assert np.abs(on_aligned.array - expected)[covered].max() < 0.6

    back = resample_to_geometry(on_aligned, OBLIQUE)
    # Back on the oblique grid, use voxels whose aligned neighbours (≤ 1.3·√3 mm away) were inside the source.
    covered_back = inside(OBLIQUE, aligned, margin=1.0) & inside(OBLIQUE, OBLIQUE, margin=4.0)
    assert covered_back.sum() > 1000
    assert np.abs(back.array - source.array)[covered_back].max() < 1.2
    # Cubic B-spline is more accurate than linear on a smooth function (away from its 4-voxel-wide support edge).
    bspline = resample_to_geometry(source, aligned, "bspline")
    deep = inside(aligned, OBLIQUE, margin=3.0)
    linear_error = np.abs(on_aligned.array - expected)[deep].max()
    assert np.abs(bspline.array - expected)[deep].max() < 0.5 * linear_error


def test_linear_interpolation_reproduces_a_linear_function_exactly():
    source = sample(ramp, OBLIQUE)
    resampled = resample_to_spacing(source, 0.9)
    covered = inside(resampled.geometry, OBLIQUE, margin=0.0)
    expected = sample(ramp, resampled.geometry).array
    np.testing.assert_allclose(resampled.array[covered], expected[covered], atol=2e-3)
    assert resampled.array.dtype == np.float32


def test_resample_to_spacing_keeps_field_of_view_and_centre():
    """36·1.2 = 43.2 mm → round(43.2/0.9) = 48 voxels; 40·1.0 → 44; 34·1.5 = 51 → 57 (56.67 rounds up)."""
    resampled = resample_to_spacing(sample(ramp, OBLIQUE), (0.9, 0.9, 0.9))
    geometry = resampled.geometry
    assert geometry.shape == (57, 44, 48)
    np.testing.assert_allclose(geometry.direction, OBLIQUE.direction)
    old_centre = OBLIQUE.physical_points((np.array(OBLIQUE.shape[::-1]) - 1) / 2)[0]
    new_centre = geometry.physical_points((np.array(geometry.shape[::-1]) - 1) / 2)[0]
    np.testing.assert_allclose(new_centre, old_centre, atol=1e-9)


def test_same_grid_is_the_identity_and_integer_shift_is_a_crop():
    source = sample(smooth, OBLIQUE, name="f", modality="CT", units="HU")
    same = resample_to_geometry(source, OBLIQUE)
    np.testing.assert_array_equal(same.array, source.array)
    assert (same.name, same.modality, same.units) == ("f", "CT", "HU")
    # A grid starting 3 voxels further along i, 2 along j, 1 along k is a sub-array of the source.
    shifted_origin = OBLIQUE.physical_points([3, 2, 1])[0]
    crop = Geometry((20, 22, 24), OBLIQUE.spacing, tuple(shifted_origin), OBLIQUE.direction)
    for interpolation in ("linear", "nearest", "bspline"):
        result = resample_to_geometry(source, crop, interpolation)
        np.testing.assert_allclose(result.array, source.array[1:21, 2:24, 3:27], atol=1e-3)


def test_nearest_keeps_only_the_original_labels():
    labels = np.zeros(OBLIQUE.shape, dtype=np.uint8)
    labels[5:20, 5:25, 5:20] = 3
    labels[10:30, 15:35, 12:30] = 7
    labels[2:8, 30:38, 25:34] = 12
    source = Volume(labels, OBLIQUE)
    target = Geometry((30, 30, 30), (1.7, 1.7, 1.7), OBLIQUE.origin, rotation((1.0, 0.0, 0.0), 20.0))
    nearest = resample_to_geometry(source, target, "nearest")
    assert nearest.array.dtype == np.uint8
    found = set(np.unique(nearest.array).tolist())
    assert found <= {0, 3, 7, 12} and {3, 7} <= found
    linear = resample_to_geometry(source, target, "linear")
    assert set(np.unique(linear.array).tolist()) - {0, 3, 7, 12}  # linear mixes labels: nearest must not


def test_default_value_outside_the_source():
    source = Volume(np.full((4, 4, 4), 5.0, dtype=np.float32), Geometry((4, 4, 4)))
    far = Geometry((2, 2, 2), origin=(100.0, 100.0, 100.0))
    assert np.all(resample_to_geometry(source, far, default_value=-1024.0).array == -1024.0)


def test_bad_resampling_input():
    source = sample(smooth, OBLIQUE)
    with pytest.raises(ValueError, match="interpolation"):
        resample_to_geometry(source, OBLIQUE, "cubic")
    with pytest.raises(ValueError, match="Spacing"):
        resample_to_spacing(source, (1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="Spacing"):
        resample_to_spacing(source, float("nan"))
    broken = source.with_array(source.array.copy())
    broken.array[3, 3, 3] = np.nan
    with pytest.raises(NonFiniteError):
        resample_to_geometry(broken, Geometry((5, 5, 5)))


# --------------------------------------------------------------------------------------------------------
# Masks and segmentations
# --------------------------------------------------------------------------------------------------------
SPHERE_CENTRE = np.array([3.3, -4.1, 10.7])
SPHERE_RADIUS = 12.0
SPHERE_VOLUME = 4.0 / 3.0 * math.pi * SPHERE_RADIUS**3  # 7238.2 mm³


def sphere_mask(geometry: Geometry) -> np.ndarray:
    return np.linalg.norm(voxel_centres(geometry) - SPHERE_CENTRE, axis=-1) <= SPHERE_RADIUS


def centroid(mask: np.ndarray, geometry: Geometry) -> np.ndarray:
    return voxel_centres(geometry)[mask].mean(axis=0)


FINE = Geometry((40, 40, 40), (0.8, 0.8, 0.8), tuple(SPHERE_CENTRE - 0.8 * 19.5 + [0.11, -0.07, 0.05]))
COARSE = Geometry((16, 14, 14), (3.0, 3.0, 2.5), tuple(SPHERE_CENTRE - [19.0, 22.0, 17.0]), rotation((1, 1, 0), 30))


def test_sphere_fine_to_coarse_keeps_its_volume():
    fine = sphere_mask(FINE)
    assert fine.sum() * FINE.voxel_volume_mm3 == pytest.approx(SPHERE_VOLUME, rel=0.01)
    coarse = resample_mask(fine, FINE, COARSE)
    assert coarse.sum() * COARSE.voxel_volume_mm3 == pytest.approx(SPHERE_VOLUME, rel=0.05)
    np.testing.assert_allclose(centroid(coarse, COARSE), SPHERE_CENTRE, atol=0.5)


def test_sphere_coarse_to_fine_keeps_its_volume():
    coarse = sphere_mask(COARSE)
    fine = resample_mask(coarse, COARSE, FINE)
    assert coarse.sum() * COARSE.voxel_volume_mm3 == pytest.approx(SPHERE_VOLUME, rel=0.08)
    assert fine.sum() * FINE.voxel_volume_mm3 == pytest.approx(SPHERE_VOLUME, rel=0.05)
    np.testing.assert_allclose(centroid(fine, FINE), SPHERE_CENTRE, atol=0.5)


def test_thin_structure_survives_like_its_coverage_says():
    """A 1-voxel-thick (0.8 mm) slab covers 0.8/3 of a 3 mm voxel: below half, so it is dropped, while a
    2.4 mm slab (80% coverage) is kept. Nearest-neighbour would keep or drop either depending on phase."""
    aligned_coarse = Geometry((8, 8, 8), (3.0, 3.0, 3.0), (-1.1, -1.1, -1.1))
    fine = Geometry((30, 30, 30), (0.8, 0.8, 0.8), (-1.6, -1.6, -1.6))
    k = np.indices(fine.shape)[0]
    # fine voxel k covers z in [-2.0 + 0.8 k, -1.2 + 0.8 k]; coarse voxel 2 covers z in [3.4, 6.4].
    thin = k == 7  # z in [3.6, 4.4]
    thick = (k >= 6) & (k <= 8)  # z in [2.8, 5.2]: 1.8 of 3.0 mm of coarse voxel 2 → 60%
    assert not resample_mask(thin, fine, aligned_coarse).any()
    kept = resample_mask(thick, fine, aligned_coarse)
    # Coarse voxels 1..7 in x and y lie inside the fine grid (which spans -2.0…22.0 mm); voxel 0 only 80%.
    assert kept[2, 1:, 1:].all() and not kept[[0, 1, 3, 4]].any()


def test_resample_segmentation_keeps_names_colours_terminology_and_overlap():
    seg = Segmentation(FINE, name="phantom")
    seg.add("liver", sphere_mask(FINE))
    tumour = np.linalg.norm(voxel_centres(FINE) - SPHERE_CENTRE, axis=-1) <= 6.0
    seg.add("Tumor 1", tumour, color=(1.0, 0.0, 0.0))
    seg.add("empty", np.zeros(FINE.shape, dtype=bool))
    calls = []
    result = resample_segmentation(seg, COARSE, progress=Progress(lambda f, m: calls.append(f)))
    assert result.name == "phantom" and result.names == ["liver", "Tumor 1", "empty"]
    assert result.geometry == COARSE
    assert result.segments["Tumor 1"].color == (1.0, 0.0, 0.0)
    assert result.segments["liver"].terminology == seg.segments["liver"].terminology
    assert not result.mask("empty", allow_empty=True).any()
    assert np.all(result.mask("liver")[result.mask("Tumor 1")])  # the tumour stays inside the liver
    assert result.volume_ml("Tumor 1") == pytest.approx(4 / 3 * math.pi * 6.0**3 / 1000, rel=0.15)
    assert calls[-1] == pytest.approx(1.0)
    same = resample_segmentation(seg, FINE)
    for segment in seg:
        np.testing.assert_array_equal(same.mask(segment.name, allow_empty=True), segment.mask)
    with pytest.raises(ValueError, match="threshold"):
        resample_segmentation(seg, COARSE, threshold=0.0)


def test_real_segmentation_onto_the_spect_grid():
    """The data README says about 40% of the MAA counts lie outside the liver; a mis-registered or flipped
    liver mask would give a very different fraction. Liver volume is kept within 1%."""
    spect_path, seg_path = TARANIS / "patient_2_SPECT.nrrd", TARANIS / "patient_2_Segmentation.seg.nrrd"
    if not (spect_path.exists() and seg_path.exists()):
        pytest.skip(f"reference data not available: {TARANIS}")
    spect = read_volume(spect_path)
    seg = read_segmentation(seg_path)
    on_spect = resample_segmentation(seg, spect.geometry)
    counts = spect.array.astype(np.float64)
    outside = 1.0 - counts[on_spect.mask("liver")].sum() / counts.sum()
    assert outside == pytest.approx(0.40, abs=0.03)
    assert on_spect.volume_ml("liver") == pytest.approx(seg.volume_ml("liver"), rel=0.01)
    assert on_spect.volume_ml("Tumor 1") == pytest.approx(seg.volume_ml("Tumor 1"), rel=0.03)


# --------------------------------------------------------------------------------------------------------
# Reorientation
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "direction", [np.diag([1.0, 1.0, -1.0]), rotation((0.2, 1.0, 0.1), 20.0) @ np.diag([1, -1, 1])]
)
def test_reorient_to_ras_moves_voxels_without_changing_their_positions(direction):
    rng = np.random.default_rng(3)
    source = Volume(rng.normal(size=(5, 6, 7)), Geometry((5, 6, 7), (1.0, 2.0, 3.0), (4.0, 5.0, 6.0), direction))
    ras = reorient_to_ras(source)
    # Each axis now points to R (-x in LPS), A (-y), S (+z) more than anywhere else.
    wanted = np.diag([-1.0, -1.0, 1.0])
    assert np.all(np.argmax(wanted.T @ ras.direction, axis=0) == [0, 1, 2])
    assert np.all(np.diag(wanted.T @ ras.direction) > 0.9)
    # Every voxel keeps its value at its physical position.
    index = source.geometry.continuous_index(voxel_centres(ras.geometry).reshape(-1, 3))
    np.testing.assert_allclose(index, np.round(index), atol=1e-9)
    i, j, k = np.round(index).astype(int).T
    np.testing.assert_array_equal(source.array[k, j, i].reshape(ras.shape), ras.array)
    if np.allclose(direction, np.diag([1.0, 1.0, -1.0])):  # SPECT-like: i → L, j → P, k → I
        back = reorient(ras, "LPI")
        np.testing.assert_array_equal(back.array, source.array)
        assert back.geometry.same_grid(source.geometry, tolerance_mm=1e-9)
    with pytest.raises(ValueError, match="Orientation"):
        reorient(source, "RAR")


# --------------------------------------------------------------------------------------------------------
# Intensity windowing and checks
# --------------------------------------------------------------------------------------------------------
def test_window_values_by_hand():
    """Abdomen L40/W400 spans -160…240 HU: -160 → 0, 40 → 0.5, 140 → 0.75, 240 → 1, clipped outside."""
    hu = np.array([-1000.0, -160.0, 40.0, 140.0, 240.0, 3000.0])
    np.testing.assert_allclose(window(hu, 40, 400), [0.0, 0.0, 0.5, 0.75, 1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(window_preset(hu, "Abdomen"), window(hu, 40, 400))
    # Liver L60/W160 spans -20…140 HU.
    np.testing.assert_allclose(window_preset(np.array([-20.0, 60.0, 100.0]), "liver"), [0.0, 0.5, 0.75], atol=1e-6)
    assert HU_WINDOWS == {
        "liver": (60, 160),
        "abdomen": (40, 400),
        "lung": (-600, 1500),
        "bone": (400, 1800),
        "arterial": (40, 250),
    }
    with pytest.raises(ValueError, match="width"):
        window(hu, 40, 0)
    with pytest.raises(KeyError, match="known presets"):
        window_preset(hu, "brain")
    with pytest.raises(NonFiniteError):
        window(np.array([1.0, np.nan]), 40, 400)


def _ct(values: np.ndarray, **kwargs) -> Volume:
    return Volume(values.reshape(1, 1, -1).astype(np.float32), Geometry((1, 1, values.size)), name="ct", **kwargs)


def test_check_ct_hu():
    check_ct_hu(_ct(np.array([-1000.0, -80.0, 50.0, 300.0]), modality="CT", units="HU"))
    check_ct_hu(_ct(np.array([-1000.0, 50.0])))  # modality and units unknown: values decide
    with pytest.raises(NotHounsfieldError, match="no air"):
        check_ct_hu(_ct(np.array([0.0, 1024.0, 1100.0])))  # stored values without the -1024 intercept
    with pytest.raises(NotHounsfieldError, match="no soft tissue"):
        check_ct_hu(_ct(np.array([-1000.0, -900.0])))
    with pytest.raises(NotHounsfieldError, match="modality 'NM'"):
        check_ct_hu(_ct(np.array([-1000.0, 50.0]), modality="NM"))
    with pytest.raises(NotHounsfieldError, match="Bq/ml"):
        check_ct_hu(_ct(np.array([-1000.0, 50.0]), units="Bq/ml"))
    with pytest.raises(NonFiniteError):
        check_ct_hu(_ct(np.array([-1000.0, np.inf])))
    check_ct_hu(_ct(np.array([0.0, 10.0])), body=False)  # a phantom without air may skip the value checks
    assert issubclass(NotHounsfieldError, ValueError)


def test_require_units_and_finite():
    spect = _ct(np.array([1.0, 2.0]), units="Bq/mL")
    require_units(spect, ("bq/ml", "BQML"))
    with pytest.raises(UnitsError, match="expected HU"):
        require_units(spect, "HU")
    unknown = _ct(np.array([1.0, 2.0]))
    with pytest.raises(UnitsError, match="no units"):
        require_units(unknown, "HU")
    require_units(unknown, "HU", allow_unknown=True)
    require_finite(np.arange(3))
    with pytest.raises(NonFiniteError, match="2 NaN"):
        require_finite(np.array([np.nan, 1.0, -np.inf]), "dose map")
