"""Off-screen 3D pictures of segmentations for the reports (``report/render3d.py``).

The surface geometry is checked without rendering: a sphere mask on an OBLIQUE, anisotropic grid must give a
surface centred on the sphere's physical centre with the sphere's radius (a mistake in the IJK→LPS placement
moves it by many millimetres). The pictures need an OpenGL context (EGL/OSMesa off-screen here); where none
can be made the rendering tests skip with the reason, and the fallback (``None`` plus a logged reason) is
checked anyway.
"""

from __future__ import annotations

import io
import logging
import math

import numpy as np
import pytest

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.terminology import lookup_terminology
from HCCInterventionalAILib.imaging.volume import Geometry
from HCCInterventionalAILib.report import render3d

pytest.importorskip("vtkmodules.vtkFiltersCore", reason="VTK is not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DEMO_STRUCTURES = ["Liver", "Tumor 1", "Tumor 2", "Portal vein", "Hepatic vein", "Hepatic artery", "Aorta"]


def rotation_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def sphere_segmentation(geometry: Geometry, spheres: dict[str, tuple[np.ndarray, float, tuple]]) -> Segmentation:
    """Masks of voxels whose physical centre lies within each (centre, radius) sphere, in LPS mm."""
    nk, nj, ni = geometry.shape
    k, j, i = np.meshgrid(np.arange(nk), np.arange(nj), np.arange(ni), indexing="ij")
    points = geometry.physical_points(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1))
    segmentation = Segmentation(geometry, name="spheres")
    for name, (centre, radius, color) in spheres.items():
        inside = np.linalg.norm(points - centre, axis=1) <= radius
        segmentation.add(name, inside.reshape(geometry.shape), color=color)
    return segmentation


@pytest.fixture(scope="module")
def oblique():
    """A 30°-about-z oblique grid with anisotropic voxels and a 14 mm sphere far from the origin."""
    geometry = Geometry(shape=(30, 48, 44), spacing=(1.2, 1.5, 2.0), origin=(-35.0, 20.0, -60.0),
                        direction=rotation_z(30.0))
    # the physical point at continuous index (i, j, k) = (21.3, 23.8, 14.6): far from the origin, off the voxel lattice
    centre = geometry.physical_points(np.array([[21.3, 23.8, 14.6]]))[0]
    return sphere_segmentation(geometry, {"Sphere": (centre, 14.0, (1.0, 0.2, 0.2))}), centre


def surface_points(surface) -> np.ndarray:
    from vtkmodules.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(surface.GetPoints().GetData()).astype(float)


# -- surface geometry (no OpenGL needed) ---------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [True, False])
def test_sphere_surface_on_oblique_grid_is_centred_in_lps(oblique, smoothing):
    segmentation, centre = oblique
    geometry = segmentation.geometry
    assert geometry.is_oblique
    points = surface_points(render3d.segment_surface(segmentation, "Sphere", smoothing=smoothing))
    assert len(points) > 200
    voxel = min(geometry.spacing)
    # the test has power: reading the grid as if it were not rotated would put the centre this far off
    unrotated = Geometry(geometry.shape, geometry.spacing, geometry.origin)
    naive = unrotated.physical_points(geometry.continuous_index(centre))[0]
    assert np.linalg.norm(naive - centre) > 10 * voxel
    np.testing.assert_allclose(points.mean(axis=0), centre, atol=voxel)
    radii = np.linalg.norm(points - centre, axis=1)
    assert abs(np.median(radii) - 14.0) < max(geometry.spacing), np.median(radii)
    assert radii.max() - radii.min() < 2 * max(geometry.spacing)


def test_large_masks_are_block_averaged_but_stay_in_place(oblique):
    segmentation, centre = oblique
    points = surface_points(render3d.segment_surface(segmentation, "Sphere", max_voxels=2_000))
    _, stride, _ = render3d._block_fraction(segmentation.segments["Sphere"].mask, 2_000)
    assert stride > 1
    np.testing.assert_allclose(points.mean(axis=0), centre, atol=max(segmentation.geometry.spacing))
    assert abs(np.median(np.linalg.norm(points - centre, axis=1)) - 14.0) < 2 * max(segmentation.geometry.spacing)


def test_empty_segment_gives_an_empty_surface(oblique):
    segmentation, _ = oblique
    empty = Segmentation(segmentation.geometry, name="empty")
    empty.add("Nothing", np.zeros(segmentation.geometry.shape, dtype=bool))
    assert render3d.segment_surface(empty, "Nothing").GetNumberOfPoints() == 0
    with pytest.raises(KeyError):
        render3d.segment_surface(empty, "Missing")


def test_default_opacity_sees_through_large_organs():
    for name in ("Liver", "Body", "Lung", "left lung"):
        assert 0.25 <= render3d.default_opacity(name) <= 0.4, name
    for name in ("Tumor 1", "Portal vein", "Hepatic artery", "Aorta", "Liver tumor"):
        assert render3d.default_opacity(name) == 1.0, name


# -- fallback without OpenGL ----------------------------------------------------------------------------------
def test_unavailable_rendering_returns_none_with_the_reason(oblique, monkeypatch, caplog):
    segmentation, _ = oblique
    monkeypatch.setattr(render3d, "offscreen_rendering_status", lambda: (False, "no OpenGL context in this test"))
    with caplog.at_level(logging.WARNING, logger=render3d.__name__):
        assert render3d.render_segmentation_png(segmentation) is None
    assert "no OpenGL context in this test" in caplog.text
    assert render3d.last_render_problem() == "no OpenGL context in this test"


def test_rendering_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("HCCAI_OFFSCREEN_3D", "0")
    available, reason = render3d.offscreen_rendering_status.__wrapped__()
    assert not available and "HCCAI_OFFSCREEN_3D" in reason


# -- pictures (need an off-screen OpenGL context) --------------------------------------------------------------
@pytest.fixture(scope="module")
def rendering():
    available, reason = render3d.offscreen_rendering_status()
    if not available:
        pytest.skip(f"off-screen VTK rendering is unavailable here: {reason}")
    return reason


def decode(png: bytes) -> np.ndarray:
    from matplotlib import image

    assert png[:8] == PNG_SIGNATURE
    return image.imread(io.BytesIO(png), format="png")[..., :3].astype(float)


def foreground(picture: np.ndarray) -> np.ndarray:
    return np.abs(picture - np.asarray(render3d.BACKGROUND)).max(axis=2) > 0.05


def chroma_share(picture: np.ndarray, colors: dict[str, tuple]) -> dict[str, int]:
    """Foreground pixels whose chromaticity (rgb / sum, brightness-free) is nearest each colour."""
    mask = foreground(picture)
    pixels = picture[mask]
    pixels = pixels / np.maximum(pixels.sum(axis=1, keepdims=True), 1e-6)
    refs = np.array([np.asarray(c) / sum(c) for c in colors.values()])
    nearest = np.linalg.norm(pixels[:, None, :] - refs[None, :, :], axis=2).argmin(axis=1)
    return {name: int(np.count_nonzero(nearest == n)) for n, name in enumerate(colors)}


@pytest.fixture(scope="module")
def sample_picture(rendering, small_patient):
    patient = small_patient
    png = render3d.render_segmentation_png(patient.truth, names=DEMO_STRUCTURES)
    assert png is not None, render3d.last_render_problem()
    return patient, png


def test_sample_patient_renders_a_valid_png_of_the_requested_size(sample_picture):
    _, png = sample_picture
    picture = decode(png)
    assert picture.shape == (480, 640, 3)
    assert picture.var() > 0
    assert 0.05 < foreground(picture).mean() < 0.9


def test_custom_size_is_honoured(sample_picture):
    patient, _ = sample_picture
    png = render3d.render_segmentation_png(patient.truth, names=["Liver", "Tumor 1"], size=(320, 200),
                                           smoothing=False)
    assert decode(png).shape == (200, 320, 3)


def test_liver_colour_dominates_the_tumour_colour(sample_picture):
    _, png = sample_picture
    liver, tumor = lookup_terminology("liver").color, lookup_terminology("tumor").color
    share = chroma_share(decode(png), {"liver": liver, "tumor": tumor})
    assert share["liver"] > 3 * share["tumor"], share
    assert share["tumor"] > 0, "the tumours must show through the see-through liver"


def test_anterior_view_puts_patient_right_on_image_left_and_head_up(rendering):
    geometry = Geometry(shape=(40, 40, 40), spacing=(3.0, 3.0, 3.0), origin=(-58.5, -58.5, -58.5),
                        direction=rotation_z(30.0))
    segmentation = sphere_segmentation(geometry, {
        "Right": (np.array([-35.0, 0.0, 0.0]), 14.0, (1.0, 0.0, 0.0)),           # patient's right (LPS −x)
        "Left superior": (np.array([35.0, 0.0, 35.0]), 12.0, (0.0, 0.3, 1.0)),   # patient's left, towards the head
    })
    picture = decode(render3d.render_segmentation_png(segmentation, size=(400, 300)))
    rows, cols = np.indices(picture.shape[:2])
    red = foreground(picture) & (picture[..., 0] > 2 * picture[..., 2])
    blue = foreground(picture) & (picture[..., 2] > 2 * picture[..., 0])
    assert red.sum() > 100 and blue.sum() > 100
    assert cols[red].mean() < 200 < cols[blue].mean()
    assert rows[blue].mean() < rows[red].mean()  # superior is up (image rows grow downwards)


def test_single_oblique_sphere_is_centred_in_the_picture(rendering, oblique):
    segmentation, _ = oblique
    picture = decode(render3d.render_segmentation_png(segmentation, size=(300, 240)))
    rows, cols = np.indices(picture.shape[:2])
    disc = foreground(picture)
    assert disc.sum() > 1000
    assert abs(cols[disc].mean() - 149.5) < 3 and abs(rows[disc].mean() - 119.5) < 3
    # a sphere projects to a round disc: as wide as it is high
    width, height = np.ptp(cols[disc]) + 1, np.ptp(rows[disc]) + 1
    assert abs(width - height) <= 0.05 * max(width, height)
