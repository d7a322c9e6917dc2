"""Smooth analytic solids in patient space (LPS, millimetres) and their rasterisation on any voxel grid.

The synthetic sample patient is described by these shapes, never by voxels, so the same anatomy can be
rasterised on the CT grid, on the coarser SPECT grid, or on any grid a user asks for, and so that volumes
can be checked against closed-form formulas.

Every shape exposes :meth:`Shape.field`: a function of LPS coordinates whose zero level set is the exact
surface, negative inside, and approximately the signed distance in mm near the surface (first-order
estimate ``(ρ − 1) / |∇ρ|`` of the normalised radius ρ). Masks are "voxel centre inside the surface";
a positive ``margin_mm`` grows a shape by about that many millimetres (used for thin layers such as the
diaphragm or a tumour capsule).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..imaging.volume import Geometry

__all__ = [
    "Shape",
    "Ellipsoid",
    "SuperEllipticCylinder",
    "Capsule",
    "tube",
    "Union",
    "Intersection",
    "Difference",
    "Offset",
    "rotation_matrix",
]

#: Stand-in for an unbounded extent (mm); far beyond any clinical field of view.
_FAR = 1.0e5

Box = tuple[slice, slice, slice]


def rotation_matrix(z_deg: float = 0.0, y_deg: float = 0.0, x_deg: float = 0.0) -> np.ndarray:
    """Rotation R = Rz · Ry · Rx (angles in degrees, right-handed about the LPS axes).

    A shape's local axes are the columns of R: local point q maps to ``centre + R @ q``.
    """
    cz, sz = np.cos(np.radians(z_deg)), np.sin(np.radians(z_deg))
    cy, sy = np.cos(np.radians(y_deg)), np.sin(np.radians(y_deg))
    cx, sx = np.cos(np.radians(x_deg)), np.sin(np.radians(x_deg))
    rz = np.array([[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]])
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
    return rz @ ry @ rx


class Shape(ABC):
    """A solid in LPS millimetres."""

    @abstractmethod
    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Approximate signed distance (mm, negative inside) at LPS points; inputs broadcast together."""

    @abstractmethod
    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Axis-aligned LPS bounding box (low corner, high corner) in mm."""

    @property
    def volume_ml(self) -> float | None:
        """Exact volume in millilitres where a closed form exists, else None."""
        return None

    # -- queries ----------------------------------------------------------------------------------------
    def contains(self, points: np.ndarray, margin_mm: float = 0.0) -> np.ndarray:
        """Whether LPS points, an (N, 3) array in mm, lie inside the shape (grown by ``margin_mm``)."""
        p = np.atleast_2d(np.asarray(points, dtype=float))
        return self.field(p[:, 0], p[:, 1], p[:, 2]) <= margin_mm

    def boxes(self, geometry: Geometry, margin_mm: float = 0.0) -> Iterator[tuple[Box, np.ndarray]]:
        """Yield (index box, boolean mask of the box) pieces that together cover the shape on a grid.

        The mask of a box may have singleton axes (broadcast it to the box).
        """
        lo, hi = self.bounds()
        box = _index_box(geometry, lo - margin_mm, hi + margin_mm)
        if box is not None:
            x, y, z = _coordinates(geometry, box)
            yield box, self.field(x, y, z) <= margin_mm

    def rasterise(self, geometry: Geometry, margin_mm: float = 0.0) -> np.ndarray:
        """Boolean mask (k, j, i) of the voxels whose centres lie inside the shape."""
        mask = np.zeros(geometry.shape, dtype=bool)
        for box, sub in self.boxes(geometry, margin_mm):
            mask[box] |= np.broadcast_to(sub, mask[box].shape)
        return mask

    def dilated(self, margin_mm: float) -> Offset:
        """This shape grown by about ``margin_mm`` (shrunk when negative)."""
        return Offset(self, margin_mm)


# -- primitives -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ellipsoid(Shape):
    """An ellipsoid, optionally tapered and bent along its local x axis.

    Starting from the ellipsoid with semi-axes (a, b, c), with u = x/a:

    * taper scales the y and z extents by ``(1 + taper[0]·u)`` and ``(1 + taper[1]·u)``;
    * bend shifts y and z by ``bend_y[0]·u + bend_y[1]·u²`` and ``bend_z[0]·u + bend_z[1]·u²``
      (a shear: its Jacobian determinant is 1, so it keeps the volume);
    * then the local frame is rotated by ``rotation`` and moved to ``center``.

    Volume (exact): the taper's Jacobian is (1 + t_y u)(1 + t_z u); over the ellipsoid the mean of u is 0
    and of u² is 1/5, so V = 4/3·π·a·b·c·(1 + t_y·t_z/5).

    Args:
        center: LPS centre in mm.
        semi_axes: (a, b, c) in mm along the local x, y, z axes.
        rotation: 3×3 rotation whose columns are the local axes in LPS (identity when None).
        taper: (t_y, t_z), each in (−1, 1).
        bend_y, bend_z: (linear, quadratic) shear coefficients in mm.
    """

    center: tuple[float, float, float]
    semi_axes: tuple[float, float, float]
    rotation: tuple[tuple[float, float, float], ...] | None = None
    taper: tuple[float, float] = (0.0, 0.0)
    bend_y: tuple[float, float] = (0.0, 0.0)
    bend_z: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.rotation is not None:
            object.__setattr__(self, "rotation", tuple(tuple(float(v) for v in row) for row in np.asarray(self.rotation)))
        if min(self.semi_axes) <= 0:
            raise ValueError(f"Ellipsoid semi-axes must be positive, got {self.semi_axes}")
        if max(abs(t) for t in self.taper) >= 0.9:
            raise ValueError(f"Taper coefficients must lie in (−0.9, 0.9), got {self.taper}")

    @property
    def volume_ml(self) -> float:
        a, b, c = self.semi_axes
        return 4.0 / 3.0 * np.pi * a * b * c * (1.0 + self.taper[0] * self.taper[1] / 5.0) / 1000.0

    def _local(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, ...]:
        return _to_local(self.center, self.rotation, x, y, z)

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        qx, qy, qz = self._local(x, y, z)
        a, b, c = self.semi_axes
        u = qx / a
        qy = qy - (self.bend_y[0] * u + self.bend_y[1] * u * u)
        qz = qz - (self.bend_z[0] * u + self.bend_z[1] * u * u)
        b_eff = b * np.maximum(1.0 + self.taper[0] * u, 0.05)
        c_eff = c * np.maximum(1.0 + self.taper[1] * u, 0.05)
        return _ellipsoid_distance((qx, qy, qz), (a, b_eff, c_eff))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a, b, c = self.semi_axes
        half = np.array([
            a,
            b * (1.0 + abs(self.taper[0])) + abs(self.bend_y[0]) + abs(self.bend_y[1]),
            c * (1.0 + abs(self.taper[1])) + abs(self.bend_z[0]) + abs(self.bend_z[1]),
        ])
        return _rotated_box(self.center, self.rotation, half)

    def surface_points(self, n: int = 400) -> np.ndarray:
        """About ``n`` LPS points on the surface (Fibonacci sphere mapped through the deformations)."""
        k = np.arange(n) + 0.5
        polar = np.arccos(1.0 - 2.0 * k / n)
        azimuth = np.pi * (1.0 + 5.0**0.5) * k
        unit = np.stack([np.cos(polar), np.sin(polar) * np.cos(azimuth), np.sin(polar) * np.sin(azimuth)], axis=1)
        a, b, c = self.semi_axes
        u = unit[:, 0]
        q = np.stack([
            a * u,
            b * unit[:, 1] * (1.0 + self.taper[0] * u) + self.bend_y[0] * u + self.bend_y[1] * u * u,
            c * unit[:, 2] * (1.0 + self.taper[1] * u) + self.bend_z[0] * u + self.bend_z[1] * u * u,
        ], axis=1)
        rotation = np.eye(3) if self.rotation is None else np.asarray(self.rotation, dtype=float)
        return q @ rotation.T + np.asarray(self.center, dtype=float)


@dataclass(frozen=True)
class SuperEllipticCylinder(Shape):
    """A cylinder along z with a super-elliptic cross-section |x/a|^n + |y/b|^n ≤ 1.

    Args:
        center: LPS centre (x, y, z) in mm; z is the middle of the slab when ``half_height`` is set.
        semi_axes: (a, b) in mm along x and y.
        exponent: n ≥ 2; 2 is an ellipse, larger values are boxier (a body's cross-section is ≈ 2.5).
        half_height: half the length along z in mm; None for an unbounded cylinder.

    Volume (exact, when bounded): 4·a·b·Γ(1 + 1/n)² / Γ(1 + 2/n) · 2·half_height.
    """

    center: tuple[float, float, float]
    semi_axes: tuple[float, float]
    exponent: float = 2.0
    half_height: float | None = None

    @property
    def volume_ml(self) -> float | None:
        if self.half_height is None:
            return None
        from math import gamma

        n = self.exponent
        area = 4.0 * self.semi_axes[0] * self.semi_axes[1] * gamma(1.0 + 1.0 / n) ** 2 / gamma(1.0 + 2.0 / n)
        return area * 2.0 * self.half_height / 1000.0

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a, b = self.semi_axes
        n = self.exponent
        ax = np.abs(np.asarray(x, dtype=float) - self.center[0]) / a
        ay = np.abs(np.asarray(y, dtype=float) - self.center[1]) / b
        rho = (ax**n + ay**n) ** (1.0 / n)
        with np.errstate(divide="ignore", invalid="ignore"):
            grad = rho ** (1.0 - n) * np.hypot(ax ** (n - 1.0) / a, ay ** (n - 1.0) / b)
            distance = np.where(grad > 1e-12, (rho - 1.0) / grad, -min(a, b))
        if self.half_height is not None:
            distance = np.maximum(distance, np.abs(np.asarray(z, dtype=float) - self.center[2]) - self.half_height)
        return distance

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        hz = _FAR if self.half_height is None else self.half_height
        half = np.array([self.semi_axes[0], self.semi_axes[1], hz])
        c = np.asarray(self.center, dtype=float)
        return c - half, c + half


@dataclass(frozen=True)
class Capsule(Shape):
    """A segment from ``start`` to ``end`` swept by a sphere whose radius varies linearly along it."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    radius_start: float
    radius_end: float

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        a = np.asarray(self.start, dtype=float)
        d = np.asarray(self.end, dtype=float) - a
        length2 = max(float(d @ d), 1e-12)
        px, py, pz = (np.asarray(v, dtype=float) - a[i] for i, v in enumerate((x, y, z)))
        t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / length2, 0.0, 1.0)
        dist = np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2)
        return dist - (self.radius_start + t * (self.radius_end - self.radius_start))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.asarray(self.start, dtype=float), np.asarray(self.end, dtype=float)
        r = max(self.radius_start, self.radius_end)
        return np.minimum(a, b) - r, np.maximum(a, b) + r


# -- composites -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Union(Shape):
    """Points inside any of the parts; rasterised part by part (cheap for long thin trees)."""

    parts: tuple[Shape, ...]

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.minimum.reduce(np.broadcast_arrays(*(p.field(x, y, z) for p in self.parts)))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        corners = [p.bounds() for p in self.parts]
        return np.min([c[0] for c in corners], axis=0), np.max([c[1] for c in corners], axis=0)

    def boxes(self, geometry: Geometry, margin_mm: float = 0.0) -> Iterator[tuple[Box, np.ndarray]]:
        for part in self.parts:
            yield from part.boxes(geometry, margin_mm)


def tube(points: Sequence[Sequence[float]], radii: float | Sequence[float]) -> Union:
    """A vessel: a polyline of LPS points (mm) with a radius at each point (or one radius), as capsules."""
    pts = [tuple(float(v) for v in p) for p in points]
    if len(pts) < 2:
        raise ValueError("A tube needs at least two points")
    r = [float(radii)] * len(pts) if np.isscalar(radii) else [float(v) for v in radii]  # type: ignore[arg-type]
    if len(r) != len(pts) or min(r) <= 0:
        raise ValueError("A tube needs one positive radius per point")
    return Union(tuple(Capsule(pts[i], pts[i + 1], r[i], r[i + 1]) for i in range(len(pts) - 1)))


@dataclass(frozen=True)
class Intersection(Shape):
    """Points inside every part."""

    parts: tuple[Shape, ...]

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return np.maximum.reduce(np.broadcast_arrays(*(p.field(x, y, z) for p in self.parts)))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        corners = [p.bounds() for p in self.parts]
        return np.max([c[0] for c in corners], axis=0), np.min([c[1] for c in corners], axis=0)


@dataclass(frozen=True)
class Difference(Shape):
    """Points inside ``base`` and outside every shape in ``removed``."""

    base: Shape
    removed: tuple[Shape, ...] = field(default_factory=tuple)

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        out = self.base.field(x, y, z)
        for shape in self.removed:
            out = np.maximum(out, -shape.field(x, y, z))
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.base.bounds()


@dataclass(frozen=True)
class Offset(Shape):
    """``shape`` grown by ``margin_mm`` (approximately, through its distance estimate)."""

    shape: Shape
    margin_mm: float

    def field(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return self.shape.field(x, y, z) - self.margin_mm

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.shape.bounds()
        return lo - self.margin_mm, hi + self.margin_mm

    def boxes(self, geometry: Geometry, margin_mm: float = 0.0) -> Iterator[tuple[Box, np.ndarray]]:
        yield from self.shape.boxes(geometry, margin_mm + self.margin_mm)


# -- helpers ----------------------------------------------------------------------------------------------
def _to_local(
    center: Sequence[float], rotation: Sequence[Sequence[float]] | None, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dx, dy, dz = (np.asarray(v, dtype=float) - c for v, c in zip((x, y, z), center, strict=True))
    if rotation is None:
        return dx, dy, dz
    r = np.asarray(rotation, dtype=float)  # q = Rᵀ (p − c)
    return (r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
            r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
            r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz)


def _ellipsoid_distance(q: tuple[np.ndarray, ...], axes: tuple) -> np.ndarray:
    """First-order signed distance to the ellipsoid Σ(q_i/a_i)² = 1: (ρ − 1)/|∇ρ|, exact sign."""
    rho2 = sum((qi / ai) ** 2 for qi, ai in zip(q, axes, strict=True))
    grad2 = sum((qi / ai**2) ** 2 for qi, ai in zip(q, axes, strict=True))
    rho = np.sqrt(rho2)
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = np.where(grad2 > 1e-18, (rho - 1.0) * rho / np.sqrt(grad2), -np.min([np.min(a) for a in axes]))
    return distance


def _rotated_box(center: Sequence[float], rotation: Sequence[Sequence[float]] | None, half: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.eye(3) if rotation is None else np.asarray(rotation, dtype=float)
    extent = np.abs(r) @ half
    c = np.asarray(center, dtype=float)
    return c - extent, c + extent


def _index_box(geometry: Geometry, lo: np.ndarray, hi: np.ndarray) -> Box | None:
    """Index slices (k, j, i) of the grid voxels that may lie in the LPS box [lo, hi], or None."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    ijk = geometry.continuous_index(np.clip(corners, -_FAR, _FAR))
    first = np.floor(ijk.min(axis=0)).astype(int)
    last = np.ceil(ijk.max(axis=0)).astype(int)
    size = np.array(geometry.shape[::-1])  # (i, j, k)
    first = np.clip(first, 0, size)
    last = np.clip(last + 1, 0, size)
    if np.any(last <= first):
        return None
    return slice(first[2], last[2]), slice(first[1], last[1]), slice(first[0], last[0])


def _coordinates(geometry: Geometry, box: Box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS x, y, z of the voxel centres in a box, as arrays that broadcast to the box's (k, j, i) shape."""
    k = np.arange(box[0].start, box[0].stop, dtype=float).reshape(-1, 1, 1)
    j = np.arange(box[1].start, box[1].stop, dtype=float).reshape(1, -1, 1)
    i = np.arange(box[2].start, box[2].stop, dtype=float).reshape(1, 1, -1)
    matrix = geometry.direction_matrix @ np.diag(geometry.spacing)
    out = []
    for axis in range(3):
        value = np.full((1, 1, 1), geometry.origin[axis])
        for coefficient, index in zip(matrix[axis], (i, j, k), strict=True):
            if abs(coefficient) > 1e-12:
                value = value + coefficient * index
        out.append(value)
    return out[0], out[1], out[2]
