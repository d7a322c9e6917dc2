"""Ablation zones on a voxel grid: the vendor ellipsoid model and measurements of a zone along rays.

Vendor model: for an applicator with unit direction ``d`` (entry → tip) and a chart ellipsoid with semi-axes
``a`` (along the shaft), ``b₁, b₂`` (perpendicular) centred ``c`` mm behind the tip (``x_c = tip − c d``), a
point ``x`` is inside when ``(u·d/a)² + (u·e₁/b₁)² + (u·e₂/b₂)² ≤ 1`` with ``u = x − x_c``; ``e₁`` is the unit
vector perpendicular to ``d`` closest to the patient's superior axis (left–right when ``d`` is cranio-caudal),
``e₂ = d × e₁``. Several applicators give the union of their ellipsoids.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .errors import AblationInputError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from HCCInterventionalAILib.imaging import Geometry

    from .applicator import Applicator
    from .devices import Ellipsoid

__all__ = ["perpendicular_axes", "ellipsoid_mask", "composite_ellipsoid_zone", "zone_extent_mm"]


def perpendicular_axes(direction: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(e₁, e₂): orthonormal axes perpendicular to ``direction`` (see module docstring)."""
    d = np.asarray(direction, dtype=float)
    d = d / np.linalg.norm(d)
    reference = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = reference - (reference @ d) * d
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _index_box(geometry: Geometry, centre: np.ndarray, radius_mm: float) -> tuple[slice, slice, slice] | None:
    """(k, j, i) slices of the voxels within the axis-aligned box of half-size ``radius_mm`` around ``centre``."""
    offsets = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    corners = geometry.continuous_index(centre + radius_mm * offsets)
    lo = np.floor(corners.min(axis=0)).astype(int)
    hi = np.ceil(corners.max(axis=0)).astype(int) + 1
    size = np.array(geometry.shape[::-1])
    lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    if np.any(hi <= lo):
        return None
    return slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0])


def ellipsoid_mask(
    geometry: Geometry, applicator: Applicator, ellipsoid: Ellipsoid, out: np.ndarray | None = None
) -> np.ndarray:
    """uint8 mask (k, j, i) of one applicator's chart ellipsoid; only its bounding box is evaluated.

    Args:
        out: a uint8 mask to add (OR) the ellipsoid into, in place (the union of several applicators).
    """
    mask = np.zeros(geometry.shape, dtype=np.uint8) if out is None else out
    d = applicator.direction_lps
    e1, e2 = perpendicular_axes(d)
    centre = applicator.point_from_tip(ellipsoid.centre_offset_mm)
    reach = max(ellipsoid.along_mm, ellipsoid.perpendicular_1_mm, ellipsoid.perpendicular_2_mm)
    box = _index_box(geometry, centre, reach)
    if box is None:
        return mask
    # x(i, j, k) − centre = (origin − centre) + i a_i + j a_j + k a_k: separable, so each projection onto an
    # ellipsoid axis is a sum of three 1-D arrays broadcast over the box (no (N, 3) point array).
    columns = geometry.direction_matrix @ np.diag(geometry.spacing)
    offset = np.asarray(geometry.origin) - centre
    indices = [np.arange(box[2].start, box[2].stop), np.arange(box[1].start, box[1].stop),
               np.arange(box[0].start, box[0].stop)]
    total = 0.0
    for axis, semi in ((d, ellipsoid.along_mm), (e1, ellipsoid.perpendicular_1_mm), (e2, ellipsoid.perpendicular_2_mm)):
        steps = columns.T @ axis  # projection of one step along i, j, k
        proj = (offset @ axis + (indices[2] * steps[2])[:, None, None] + (indices[1] * steps[1])[None, :, None]
                + (indices[0] * steps[0])[None, None, :])
        total = total + (proj / semi) ** 2
    mask[box] |= (total <= 1.0).astype(np.uint8)
    return mask


def composite_ellipsoid_zone(
    geometry: Geometry, placements: Iterable[tuple[Applicator, Ellipsoid]]
) -> np.ndarray:
    """Union of the ellipsoids of several applicators (uint8, (k, j, i))."""
    zone = np.zeros(geometry.shape, dtype=np.uint8)
    for applicator, ellipsoid in placements:
        ellipsoid_mask(geometry, applicator, ellipsoid, out=zone)
    return zone


def zone_extent_mm(
    field: np.ndarray,
    geometry: Geometry,
    start_lps: Sequence[float],
    direction_lps: Sequence[float],
    threshold: float = 1.0,
    max_mm: float = 100.0,
    step_mm: float = 0.05,
    log_scale: bool = True,
) -> float:
    """Distance from ``start_lps`` along a ray to where ``field`` first drops below ``threshold``.

    The field (e.g. Arrhenius Ω) is sampled with trilinear interpolation (of ``log Ω`` when ``log_scale``, which
    varies smoothly across the zone edge), so the result is sub-voxel.

    Raises:
        AblationInputError: when the start point is not inside the zone.
    """
    from scipy import ndimage

    d = np.asarray(direction_lps, dtype=float)
    d = d / np.linalg.norm(d)
    distances = np.arange(0.0, max_mm + step_mm, step_mm)
    points = np.asarray(start_lps, dtype=float)[None, :] + distances[:, None] * d[None, :]
    ijk = geometry.continuous_index(points)
    values = np.log(np.maximum(field, 1e-300)) if log_scale else np.asarray(field, dtype=float)
    level = math.log(threshold) if log_scale else threshold
    sampled = ndimage.map_coordinates(values, ijk[:, ::-1].T, order=1, mode="nearest")
    if sampled[0] < level:
        raise AblationInputError("The ray starts outside the zone")
    below = np.flatnonzero(sampled < level)
    if below.size == 0:
        return float(max_mm)
    i = below[0]
    f = (sampled[i - 1] - level) / (sampled[i - 1] - sampled[i])
    return float(distances[i - 1] + f * step_mm)
