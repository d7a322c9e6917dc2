"""Regions for radiomics: individual lesions and peritumoral rings clipped to the liver.

A peritumoral ring of width ``(r0, r1]`` mm holds the voxels whose Euclidean distance to the lesion (exact
distance transform in mm, :func:`~HCCInterventionalAILib.segmentation.postprocess.distance_to_background`, Maurer C.R. et al., IEEE TPAMI
2003;25:265-270) lies in ``(r0, r1]``, that are inside the liver and outside every tumour. Rings 0-5 and
5-10 mm follow the peritumoral-region practice of HCC radiomics (e.g. microvascular invasion studies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..imaging.segmentation import EmptyMaskError
from ..imaging.volume import GeometryMismatchError

__all__ = ["peritumoral_rings", "split_lesions"]


def split_lesions(tumour: np.ndarray, min_voxels: int = 1) -> list[np.ndarray]:
    """The 26-connected components of a tumour mask, largest first (components below ``min_voxels`` dropped)."""
    labels, count = ndimage.label(np.asarray(tumour, bool), structure=np.ones((3, 3, 3), bool))
    if count == 0:
        return []
    sizes = np.bincount(labels.ravel())[1:]
    order = np.argsort(-sizes, kind="stable")
    return [labels == index + 1 for index in order if sizes[index] >= min_voxels]


def peritumoral_rings(
    lesion: np.ndarray,
    liver: np.ndarray,
    spacing: Sequence[float],
    widths_mm: Sequence[float] = (5.0, 10.0),
    *,
    all_tumours: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Rings around ``lesion``: ``{"ring 0-5 mm": mask, "ring 5-10 mm": mask}`` for widths (5, 10).

    Args:
        lesion: the lesion mask ``(k, j, i)``.
        liver: the liver mask (whole organ); rings are clipped to it.
        spacing: voxel size (x, y, z) in mm.
        widths_mm: increasing outer radii of the rings.
        all_tumours: every tumour (rings exclude them); default the lesion itself.

    Raises:
        EmptyMaskError: empty lesion; GeometryMismatchError: shapes differ; ValueError: radii not increasing.
    """
    lesion = np.asarray(lesion, bool)
    liver = np.asarray(liver, bool)
    if lesion.shape != liver.shape:
        raise GeometryMismatchError(f"Lesion {lesion.shape} and liver {liver.shape} masks differ in shape")
    if not lesion.any():
        raise EmptyMaskError("The lesion mask is empty; no peritumoral ring can be built")
    widths = [float(w) for w in widths_mm]
    if any(w <= 0 for w in widths) or any(b <= a for a, b in zip(widths, widths[1:], strict=False)):
        raise ValueError(f"Ring radii must be positive and increasing, got {widths}")
    from ..segmentation.postprocess import distance_to_background

    distance = distance_to_background(~lesion, spacing)
    allowed = liver & ~(lesion if all_tumours is None else (np.asarray(all_tumours, bool) | lesion))
    rings = {}
    inner = 0.0
    for outer in widths:
        rings[f"ring {inner:g}-{outer:g} mm"] = allowed & (distance > inner) & (distance <= outer)
        inner = outer
    return rings
