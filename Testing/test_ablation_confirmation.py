"""Post-ablation confirmation: registration recovers a known synthetic transform; margins match the truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from AblationSimulatorLib.confirmation import confirm_ablation, register_post_to_pre
from AblationSimulatorLib.errors import EmptyStructureError
from AblationSimulatorLib.margins import compute_margins
from HCCInterventionalAILib.imaging import Volume
from HCCInterventionalAILib.imaging.io import from_sitk, to_sitk

N, H = 48, 1.5  # voxels per side, mm


def _pre_ct() -> Volume:
    """Smooth random texture (features for mutual information) inside an ellipsoidal 'liver', air outside."""
    rng = np.random.default_rng(7)
    from scipy import ndimage

    texture = ndimage.gaussian_filter(rng.normal(size=(N, N, N)), 2.5)
    texture = 60.0 + 400.0 * texture / texture.std()
    c = (np.arange(N) - (N - 1) / 2) * H
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    body = (x / 32) ** 2 + (y / 28) ** 2 + (z / 30) ** 2 <= 1
    return Volume.from_array(np.where(body, texture, -1000.0).astype(np.float32), spacing=(H, H, H),
                             origin=(c[0], c[0], c[0]), modality="CT", units="HU")


def _sphere(volume: Volume, radius: float, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    kk, jj, ii = np.indices(volume.geometry.shape)
    p = volume.geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)) - np.asarray(centre)
    return ((p**2).sum(1) <= radius**2).reshape(volume.geometry.shape)


def _zone_in_post(pre: Volume, radius: float, post_to_pre) -> np.ndarray:
    """The zone (sphere of ``radius`` about the pre-CT origin) on the post grid, without voxel snapping: the smooth
    field |p| − radius is resampled linearly through the true transform and thresholded at 0."""
    kk, jj, ii = np.indices(pre.geometry.shape)
    p = pre.geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1))
    level = pre.with_array((np.sqrt((p**2).sum(1)) - radius).reshape(pre.geometry.shape).astype(np.float32))
    out = sitk.Resample(to_sitk(level), to_sitk(level), post_to_pre, sitk.sitkLinear, 100.0)
    return sitk.GetArrayFromImage(out) <= 0


def _true_rigid():
    """Post point → pre point: rotation 4° about S and 2° about L, translation (4, −3, 2.5) mm."""
    t = sitk.Euler3DTransform()
    t.SetRotation(math.radians(2.0), 0.0, math.radians(4.0))
    t.SetTranslation((4.0, -3.0, 2.5))
    return t


def test_rigid_registration_recovers_known_transform_and_margins():
    """The post CT is the pre CT moved by a known rigid transform; the zone (sphere r = 13 mm) is moved with it.
    After rigid registration the carried zone must give the true margins of a tumour (r = 7 mm, concentric):
    13 − 7 = 6 mm within one voxel (1.5 mm), and the registration must map points within 1 mm of the truth."""
    pre = _pre_ct()
    truth = _true_rigid()
    post = from_sitk(sitk.Resample(to_sitk(pre), to_sitk(pre), truth, sitk.sitkLinear, -1000.0), modality="CT")
    zone_pre = _sphere(pre, 13.0)
    zone_post = _zone_in_post(pre, 13.0, truth)
    tumour = _sphere(pre, 7.0)
    result = confirm_ablation(pre, post, tumour, zone_post, deformable=False)
    # registration maps pre points to post points: the inverse of the truth
    probe = np.array([[10.0, -5.0, 8.0], [-15.0, 12.0, -6.0], [0.0, 0.0, 0.0]])
    expected = np.array([truth.GetInverse().TransformPoint(tuple(p)) for p in probe])
    np.testing.assert_allclose(result.registration.map_points(probe), expected, atol=1.0)
    reference = compute_margins(tumour, zone_pre, pre.geometry.spacing)
    assert result.margins.minimal_margin_mm == pytest.approx(6.0, abs=H)
    assert result.margins.minimal_margin_mm == pytest.approx(reference.minimal_margin_mm, abs=H)
    dice = 2 * (result.zone_on_pre.astype(bool) & zone_pre).sum() / (result.zone_on_pre.sum() + zone_pre.sum())
    assert dice > 0.9


def test_deformable_stage_reduces_residual_after_a_local_deformation():
    """Post = pre moved rigidly plus a smooth local bulge (Gaussian displacement, 4 mm peak, σ 12 mm) next to the
    zone. Demons after rigid must bring the carried zone closer to the true zone (higher Dice) than rigid alone."""
    pre = _pre_ct()
    disp = np.zeros((N, N, N, 3))
    c = (np.arange(N) - (N - 1) / 2) * H
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    disp[..., 0] = 4.0 * np.exp(-((x - 10) ** 2 + y**2 + z**2) / (2 * 12.0**2))
    field = sitk.GetImageFromArray(disp, isVector=True)
    field.CopyInformation(to_sitk(pre))
    bulge = sitk.DisplacementFieldTransform(sitk.Cast(field, sitk.sitkVectorFloat64))
    truth = sitk.CompositeTransform(3)
    truth.AddTransform(_true_rigid())
    truth.AddTransform(bulge)  # post point → bulge → rigid → pre point
    post = from_sitk(sitk.Resample(to_sitk(pre), to_sitk(pre), truth, sitk.sitkLinear, -1000.0), modality="CT")
    zone_pre = _sphere(pre, 13.0)
    zone_post = _zone_in_post(pre, 13.0, truth)
    tumour = _sphere(pre, 7.0)

    def dice(mask):
        return 2 * (mask.astype(bool) & zone_pre).sum() / (mask.sum() + zone_pre.sum())

    rigid = confirm_ablation(pre, post, tumour, zone_post, deformable=False)
    full = confirm_ablation(pre, post, tumour, zone_post, deformable=True)
    assert full.registration.deformable and full.registration.max_displacement_mm > 0.5
    assert dice(full.zone_on_pre) > dice(rigid.zone_on_pre)
    assert dice(full.zone_on_pre) > 0.9
    assert full.margins.minimal_margin_mm == pytest.approx(6.0, abs=H)


def test_confirmation_refuses_empty_segments():
    pre = _pre_ct()
    empty = np.zeros(pre.geometry.shape, dtype=bool)
    with pytest.raises(EmptyStructureError, match="tumour"):
        confirm_ablation(pre, pre, empty, _sphere(pre, 5.0))
    with pytest.raises(EmptyStructureError, match="zone"):
        confirm_ablation(pre, pre, _sphere(pre, 5.0), empty)


def test_registration_of_identical_images_is_identity():
    pre = _pre_ct()
    reg = register_post_to_pre(pre, pre, deformable=False)
    np.testing.assert_allclose(reg.map_points(np.array([[12.0, -7.0, 3.0]])), [[12.0, -7.0, 3.0]], atol=0.5)
