"""Radiomics library: features of analytic phantoms, peritumoral rings, lesion tables, delta radiomics, ICC
against Shrout & Fleiss's published example, and clear errors on bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

pytest.importorskip("radiomics")

from HCCInterventionalAILib.imaging.segmentation import EmptyMaskError, Segmentation  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.radiomics import (  # noqa: E402
    GridMismatchWarning,
    LesionRadiomicsRequest,
    NotCTError,
    delta_features,
    extract_features,
    icc,
    lesion_radiomics,
    load_params,
    mask_perturbations,
    peritumoral_rings,
    robustness_table,
)

#: Small parameter set for speed: first order and shape only, no resampling, bin width 25 HU.
FAST = {"setting": {"binWidth": 25, "label": 1}, "imageType": {"Original": {}},
        "featureClass": {"firstorder": ["Mean", "Median"], "shape": ["VoxelVolume", "MeshVolume"]}}


def _ball(shape, centre, radius_mm, spacing=(1.0, 1.0, 1.0)):
    grids = np.meshgrid(*[(np.arange(n) - c) * s for n, c, s in zip(shape, centre, spacing[::-1], strict=True)],
                        indexing="ij")
    return sum(g * g for g in grids) <= radius_mm**2


def _phantom():
    """CT-like 48³ phantom, 1 mm voxels: air -1000, liver cube 100 HU, lesions of radius 6 mm at 40 HU."""
    geometry = Geometry((48, 48, 48), (1.0, 1.0, 1.0))
    image = np.full(geometry.shape, -1000.0, np.float32)
    liver = np.zeros(geometry.shape, bool)
    liver[4:44, 4:44, 4:44] = True
    lesion_a, lesion_b = _ball(geometry.shape, (16, 16, 16), 6.0), _ball(geometry.shape, (31, 31, 31), 5.0)
    image[liver] = 100.0
    image[lesion_a | lesion_b] = 40.0
    seg = Segmentation(geometry, name="phantom")
    seg.add("Liver", liver)
    seg.add("Tumour", lesion_a | lesion_b)
    return Volume(image, geometry, modality="CT", units="HU"), seg, lesion_a, lesion_b


def test_first_order_and_shape_features_of_a_constant_sphere():
    """A 40 HU ball of radius 6 mm: mean = median = 40 HU; voxel volume ≈ 4/3·π·6³ = 904.8 mm³ (±3 %)."""
    image, _, lesion, _ = _phantom()
    vector = extract_features(image, lesion, FAST)
    assert vector.features["original_firstorder_Mean"] == pytest.approx(40.0)
    assert vector.features["original_firstorder_Median"] == pytest.approx(40.0)
    assert vector.features["original_shape_VoxelVolume"] == pytest.approx(4 / 3 * math.pi * 6**3, rel=0.03)


def test_peritumoral_rings_have_the_analytic_shell_volumes_and_are_clipped_to_the_liver():
    """Ball of radius R = 6 mm, 1 mm voxels: shell (R, R+5] has 4/3·π·(11³ - 6³) = 4670.5 mm³ and (R+5, R+10]
    has 4/3·π·(16³ - 11³) = 11581.8 mm³. Distances are measured to the voxel centres of the voxelised ball,
    which lie up to ~0.5 mm inside the continuous sphere, so the voxelised shells are a few percent smaller:
    tolerance 8 % (a 1 mm error in either radius changes the first shell by > 20 %). A liver holding only
    the half-space i < centre keeps half of each shell."""
    shape = (48, 48, 48)
    lesion = _ball(shape, (24, 24, 24), 6.0)
    liver = np.ones(shape, bool)
    rings = peritumoral_rings(lesion, liver, (1.0, 1.0, 1.0))
    assert list(rings) == ["ring 0-5 mm", "ring 5-10 mm"]
    assert rings["ring 0-5 mm"].sum() == pytest.approx(4 / 3 * math.pi * (11**3 - 6**3), rel=0.08)
    assert rings["ring 5-10 mm"].sum() == pytest.approx(4 / 3 * math.pi * (16**3 - 11**3), rel=0.08)
    assert not (rings["ring 0-5 mm"] & lesion).any()
    half = liver.copy()
    half[:, :, 24:] = False
    clipped = peritumoral_rings(lesion, half, (1.0, 1.0, 1.0))
    assert clipped["ring 5-10 mm"].sum() == pytest.approx(0.5 * 4 / 3 * math.pi * (16**3 - 11**3), rel=0.08)
    with pytest.raises(EmptyMaskError):
        peritumoral_rings(np.zeros(shape, bool), liver, (1, 1, 1))


def test_lesion_table_rows_per_lesion_and_region():
    """Two lesions × (tumour, ring 0-5, ring 5-10) = 6 rows; tumour means 40 HU, ring means 100 HU (the rings
    hold only liver, the other lesion excluded)."""
    image, seg, _, _ = _phantom()
    table = lesion_radiomics(image, seg, LesionRadiomicsRequest(params=FAST)).to_dataframe()
    assert len(table) == 6
    assert set(table["region"]) == {"tumour", "ring 0-5 mm", "ring 5-10 mm"}
    means = table.set_index(["lesion", "region"])["original_firstorder_Mean"]
    assert means[("lesion 1", "tumour")] == pytest.approx(40.0) and means[("lesion 2", "tumour")] == pytest.approx(40.0)
    assert means[("lesion 1", "ring 5-10 mm")] == pytest.approx(100.0)
    # Lesion 1 is the larger one (radius 6 mm vs 5 mm): components are numbered largest first.
    voxels = table.set_index(["lesion", "region"])["voxels"]
    assert voxels[("lesion 1", "tumour")] > voxels[("lesion 2", "tumour")]


def test_icc_matches_shrout_fleiss_published_example():
    """Shrout & Fleiss 1979, Table 2 (6 targets × 4 judges): ICC(1,1) = 0.17, ICC(2,1) = 0.29, ICC(3,1) = 0.71."""
    table = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    assert icc(table, "1,1") == pytest.approx(0.17, abs=0.005)
    assert icc(table, "2,1") == pytest.approx(0.29, abs=0.005)
    assert icc(table, "3,1") == pytest.approx(0.71, abs=0.005)
    with pytest.raises(ValueError, match="at least 2"):
        icc(table[:1])


def test_robustness_flags_a_perturbation_sensitive_feature():
    """Volume follows erosion/dilation strongly for small lesions, the mean of a constant lesion does not vary
    at all (undefined ICC → not robust); the relative spread of volumes across lesions of radius 4-9 mm is
    large against the perturbation, so its ICC(2,1) is high (≥ 0.75)."""
    shape = (40, 40, 40)
    subjects = []
    for radius in (4.0, 5.5, 7.0, 9.0):
        lesion = _ball(shape, (20, 20, 20), radius)
        subjects.append({name: {"volume": float(mask.sum()), "constant": 1.0}
                         for name, mask in mask_perturbations(lesion).items()})
    table = robustness_table(subjects)
    assert table.loc["volume", "icc_2_1"] >= 0.75 and bool(table.loc["volume", "robust"])
    assert not bool(table.loc["constant", "robust"])


def test_delta_radiomics():
    """Mean 40 → 30 HU is a change of -10 HU = -25 %; a zero baseline gives an undefined (NaN) percentage."""
    delta = delta_features({"mean": 40.0, "zero": 0.0}, {"mean": 30.0, "zero": 1.0, "new": 5.0})
    assert delta["mean"]["delta"] == -10.0 and delta["mean"]["delta_percent"] == pytest.approx(-25.0)
    assert math.isnan(delta["zero"]["delta_percent"]) and "new" not in delta
    with pytest.raises(ValueError, match="share no feature"):
        delta_features({"a": 1.0}, {"b": 1.0})


def test_bad_inputs_give_clear_errors():
    image, seg, lesion, _ = _phantom()
    with pytest.raises(EmptyMaskError, match="no voxel with label 1"):
        extract_features(image, np.zeros(image.shape, bool), FAST)
    with pytest.raises(ValueError, match="3D image"):
        extract_features(Volume(np.zeros((1, 8, 8), np.float32), Geometry((1, 8, 8))), np.ones((1, 8, 8), bool), FAST)
    not_ct = image.with_array((image.array + 1000.0) / 1100.0)  # 0..1 intensities
    with pytest.raises(NotCTError, match="Hounsfield"):
        extract_features(not_ct, lesion, "ibsi-ct")
    with pytest.raises(ValueError, match="Unknown radiomics preset|No radiomics parameter file"):
        load_params("no-such-preset")
    with pytest.raises(ValueError, match="shape"):
        extract_features(image, lesion[:-1], FAST)
    # A mask on a coarser grid is resampled onto the image grid (nearest neighbour), with a warning. Coarse
    # voxel c (origin 0.5 mm, 2 mm spacing) is centred at 2c + 0.5 mm, between fine voxels 2c and 2c + 1, so
    # the coarse cube [4, 10)³ is exactly the fine cube [8, 20)³: 12³ = 1728 voxels, all at 40 HU here.
    cube_image = image.with_array(np.full(image.shape, 100.0, np.float32))
    cube_image.array[8:20, 8:20, 8:20] = 40.0
    coarse = Geometry((24, 24, 24), (2.0, 2.0, 2.0), origin=(0.5, 0.5, 0.5))
    coarse_cube = np.zeros((24, 24, 24), np.uint8)
    coarse_cube[4:10, 4:10, 4:10] = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vector = extract_features(cube_image, Volume(coarse_cube, coarse), FAST)
    assert any(issubclass(w.category, GridMismatchWarning) for w in caught)
    # resample_mask decides by sub-voxel coverage, which may drop the 8 corner voxels of the cube.
    assert 1720 <= vector.voxels <= 1728 and vector.features["original_firstorder_Mean"] == pytest.approx(40.0)
    far = Geometry((24, 24, 24), (2.0, 2.0, 2.0), origin=(500.0, 500.0, 500.0))
    with pytest.raises(ValueError, match="does not overlap"):
        extract_features(cube_image, Volume(coarse_cube, far), FAST)


def test_presets_load_and_name_their_settings():
    for name in ("ibsi-ct", "ct-arterial", "ct-portal-venous"):
        params, modality = load_params(name)
        assert modality == "CT" and params["setting"]["binWidth"] == 25
        assert params["setting"]["resampledPixelSpacing"] == [1, 1, 1]
