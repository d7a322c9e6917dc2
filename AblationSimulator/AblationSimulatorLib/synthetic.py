"""Small synthetic cases with known answers, for the module's self-test (inside Slicer) and scripted checks.

* :func:`planning_case`: a textured CT of a homogeneous liver block (1.5 mm voxels) with a spherical tumour and one
  vertical applicator placed so that the chart-zone centre of the setting is the tumour centre. For a chart row
  whose ellipsoid is a sphere of radius ``r`` (Covidien 45 W / 600 s: r = 14.5 mm) the minimal ablative margin is
  ``r − r_tumour`` (concentric spheres).
* :func:`confirmation_case`: a pre CT with smooth random texture and a post CT that is the same image moved by a
  known translation; a tumour sphere on the pre CT and a zone sphere (same centre in the body) on the post CT, so
  that after registration the margin is ``r_zone − r_tumour``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging import Segmentation, Volume

    from .applicator import Applicator

__all__ = ["PlanningCase", "ConfirmationCase", "planning_case", "confirmation_case", "sphere_mask"]


def sphere_mask(volume: Volume, radius_mm: float, centre_lps: tuple[float, float, float] = (0.0, 0.0, 0.0)
                ) -> np.ndarray:
    """Voxels of ``volume``'s grid whose centre lies within ``radius_mm`` of ``centre_lps`` (uint8)."""
    g = volume.geometry
    kk, jj, ii = np.indices(g.shape)
    points = g.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)) - np.asarray(centre_lps)
    return ((points**2).sum(1) <= radius_mm**2).reshape(g.shape).astype(np.uint8)


def _textured_ct(n: int, spacing_mm: float, seed: int, origin_shift_mm=(0.0, 0.0, 0.0)) -> Volume:
    from scipy import ndimage

    from HCCInterventionalAILib.imaging import Volume

    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.normal(size=(n, n, n)), 2.5)
    array = (100.0 + 300.0 * texture / texture.std()).astype(np.float32)
    origin = tuple(-(n - 1) / 2 * spacing_mm + s for s in origin_shift_mm)
    return Volume.from_array(array, spacing=(spacing_mm,) * 3, origin=origin, modality="CT", units="HU")


@dataclass
class PlanningCase:
    """CT, segmentation (segment "Tumour"), applicator, and the tumour radius (mm)."""

    ct: Volume
    segmentation: Segmentation
    applicator: Applicator
    tumour_radius_mm: float


def planning_case(centre_offset_mm: float, tumour_radius_mm: float = 6.0, n: int = 48, spacing_mm: float = 1.5,
                  seed: int = 3) -> PlanningCase:
    """Tumour sphere at the grid centre; vertical applicator (entry superior) whose zone centre, ``centre_offset_mm``
    behind the tip, is the tumour centre."""
    from HCCInterventionalAILib.imaging import Segmentation

    from .applicator import Applicator

    ct = _textured_ct(n, spacing_mm, seed)
    segmentation = Segmentation(ct.geometry, name="Synthetic tumour")
    segmentation.add("Tumour", sphere_mask(ct, tumour_radius_mm), (0.9, 0.8, 0.2))
    # LPS: +z is superior; the entry lies above the tip, the zone centre behind the tip (towards the entry)
    applicator = Applicator((0.0, 0.0, -centre_offset_mm), (0.0, 0.0, 80.0), "Synthetic applicator")
    return PlanningCase(ct, segmentation, applicator, tumour_radius_mm)


@dataclass
class ConfirmationCase:
    """Pre/post CT, tumour segmentation (pre), zone segmentation (post), the true shift and the true margin."""

    pre_ct: Volume
    post_ct: Volume
    tumour: Segmentation
    zone: Segmentation
    shift_mm: tuple[float, float, float]
    margin_mm: float


def confirmation_case(tumour_radius_mm: float = 7.0, zone_radius_mm: float = 13.0,
                      shift_mm: tuple[float, float, float] = (4.0, -3.0, 2.5), n: int = 40,
                      spacing_mm: float = 1.5) -> ConfirmationCase:
    """The post CT holds the same voxels as the pre CT on a grid moved by ``shift_mm`` (the patient moved by it):
    a body point at ``p`` on the pre CT is at ``p + shift`` on the post CT. True margin ``r_zone − r_tumour``."""
    from HCCInterventionalAILib.imaging import Segmentation

    pre = _textured_ct(n, spacing_mm, 7)
    post = _textured_ct(n, spacing_mm, 7, shift_mm)
    tumour = Segmentation(pre.geometry, name="Pre-ablation tumour")
    tumour.add("Tumour", sphere_mask(pre, tumour_radius_mm), (0.9, 0.8, 0.2))
    zone = Segmentation(post.geometry, name="Post-ablation zone")
    zone.add("Ablation zone", sphere_mask(post, zone_radius_mm, shift_mm), (0.85, 0.1, 0.1))
    return ConfirmationCase(pre, post, tumour, zone, shift_mm, zone_radius_mm - tumour_radius_mm)
