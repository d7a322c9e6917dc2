"""Image volumes with physical geometry, in Slicer's conventions.

Arrays are indexed ``[k, j, i]`` (slice, row, column) exactly as ``slicer.util.arrayFromVolume`` and
``SimpleITK.GetArrayFromImage`` return them. Geometry is stored in **LPS** (the DICOM/ITK patient frame,
what files on disk use); :meth:`Geometry.ijk_to_ras` gives the matrix Slicer's volume nodes hold.

``spacing`` and ``origin`` are ordered (i, j, k) / (x, y, z); ``direction`` is a 3×3 matrix whose *columns*
are the unit vectors of the i, j and k axes in LPS, so oblique acquisitions are represented exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from .checks import require_finite

__all__ = [
    "LPS_TO_RAS",
    "MIN_SPACING_MM",
    "MAX_SPACING_MM",
    "MAX_EXTENT_MM",
    "MAX_COORDINATE_MM",
    "MAX_AXIS_SIZE",
    "Geometry",
    "GeometryError",
    "GeometryMismatchError",
    "Volume",
]

#: Flips L→R and P→A: multiply an LPS point (or the rows of an LPS matrix) by this to get RAS.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])

# Limits of a voxel grid that can describe a real image. They are far outside anything an imaging device
# produces (micro-CT voxels are ~1e-3 mm, the thickest clinical slabs ~10 mm, a whole-body field of view
# ~2 m) and reject what only a corrupted header or a unit mix-up gives (e.g. 1e5 mm voxels), before any
# library tries to allocate an image for such a grid.
#: Smallest voxel size (mm): 0.1 µm.
MIN_SPACING_MM = 1e-4
#: Largest voxel size (mm): 1 m.
MAX_SPACING_MM = 1e3
#: Largest extent (size × spacing) of the grid along one axis (mm): 100 m.
MAX_EXTENT_MM = 1e5
#: Largest distance of the origin from the patient-frame origin (mm): 1 km.
MAX_COORDINATE_MM = 1e6
#: Largest number of voxels along one axis (ITK stores sizes as 32-bit signed integers in places).
MAX_AXIS_SIZE = 2**31 - 1


class GeometryError(ValueError):
    """A voxel grid that cannot describe a real image (bad shape, spacing, origin or direction)."""


class GeometryMismatchError(ValueError):
    """Two images or masks that must share a voxel grid do not."""


@dataclass(frozen=True)
class Geometry:
    """A voxel grid in patient space.

    Args:
        shape: array shape in (k, j, i) order.
        spacing: voxel size in mm, (i, j, k) order.
        origin: LPS position in mm of the centre of voxel (0, 0, 0).
        direction: 3×3 matrix, columns are the LPS unit vectors of the i, j, k axes.
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[tuple[float, ...], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))

    def __post_init__(self) -> None:
        shape, spacing, origin, direction = _validated(self.shape, self.spacing, self.origin, self.direction)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "direction", direction)

    # -- matrices ---------------------------------------------------------------------------------------
    @property
    def direction_matrix(self) -> np.ndarray:
        return np.asarray(self.direction, dtype=float)

    def ijk_to_lps(self) -> np.ndarray:
        """4×4 homogeneous matrix mapping (i, j, k, 1) to LPS millimetres."""
        m = np.eye(4)
        m[:3, :3] = self.direction_matrix @ np.diag(self.spacing)
        m[:3, 3] = self.origin
        return m

    def ijk_to_ras(self) -> np.ndarray:
        """4×4 homogeneous matrix mapping (i, j, k, 1) to RAS millimetres (Slicer's IJKToRAS)."""
        flip = np.eye(4)
        flip[:3, :3] = LPS_TO_RAS
        return flip @ self.ijk_to_lps()

    @classmethod
    def from_ijk_to_lps(cls, matrix: np.ndarray, shape: tuple[int, int, int]) -> Geometry:
        """Inverse of :meth:`ijk_to_lps`: split a 4×4 matrix into spacing, origin and direction."""
        matrix = np.asarray(matrix, dtype=float)
        axes = matrix[:3, :3]
        spacing = np.linalg.norm(axes, axis=0)
        return cls(tuple(shape), tuple(spacing), tuple(matrix[:3, 3]), tuple(map(tuple, axes / spacing)))

    @classmethod
    def from_ijk_to_ras(cls, matrix: np.ndarray, shape: tuple[int, int, int]) -> Geometry:
        flip = np.eye(4)
        flip[:3, :3] = LPS_TO_RAS
        return cls.from_ijk_to_lps(flip @ np.asarray(matrix, dtype=float), shape)

    # -- derived quantities ------------------------------------------------------------------------------
    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    @property
    def voxel_volume_ml(self) -> float:
        return self.voxel_volume_mm3 / 1000.0

    @property
    def is_oblique(self) -> bool:
        d = np.abs(self.direction_matrix)
        return not np.allclose(d, np.round(d), atol=1e-6)

    def physical_points(self, ijk: np.ndarray) -> np.ndarray:
        """LPS coordinates of voxel indices given as an (N, 3) array in (i, j, k) order."""
        ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
        return ijk @ (self.direction_matrix @ np.diag(self.spacing)).T + np.asarray(self.origin)

    def continuous_index(self, lps: np.ndarray) -> np.ndarray:
        """(i, j, k) continuous indices of LPS points given as an (N, 3) array."""
        lps = np.atleast_2d(np.asarray(lps, dtype=float)) - np.asarray(self.origin)
        return lps @ np.linalg.inv(self.direction_matrix @ np.diag(self.spacing)).T

    def same_grid(self, other: Geometry, tolerance_mm: float = 1e-3) -> bool:
        """True when both grids have the same shape and their voxel centres agree within tolerance."""
        if self.shape != other.shape:
            return False
        corners = np.array([[0, 0, 0], [self.shape[2] - 1, self.shape[1] - 1, self.shape[0] - 1]], dtype=float)
        return bool(np.allclose(self.physical_points(corners), other.physical_points(corners), atol=tolerance_mm)) and (
            np.allclose(self.direction_matrix, other.direction_matrix, atol=1e-5)
        )

    def require_same_grid(self, other: Geometry, what: str = "inputs") -> None:
        if not self.same_grid(other):
            raise GeometryMismatchError(
                f"The {what} are on different voxel grids (shape {self.shape} vs {other.shape}, spacing "
                f"{self.spacing} vs {other.spacing}); resample one onto the other first"
            )

    def with_shape(self, shape: tuple[int, int, int]) -> Geometry:
        return replace(self, shape=tuple(shape))


@dataclass
class Volume:
    """A 3D image with geometry.

    Args:
        array: voxel values, (k, j, i) order.
        geometry: voxel grid; its shape must equal ``array.shape``.
        name: display name (becomes the node name in Slicer).
        modality: e.g. "CT", "NM", "PT", "MR", "RTDOSE".
        units: e.g. "HU", "counts", "Bq/ml", "Gy".
        metadata: free-form provenance (series UID, phase, ...), JSON-serialisable.
    """

    array: np.ndarray
    geometry: Geometry
    name: str = "Volume"
    modality: str = ""
    units: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        if self.array.ndim != 3:
            raise ValueError(f"Volume '{self.name}' needs a 3D array (k, j, i), got {self.array.ndim}D")
        if tuple(self.array.shape) != tuple(self.geometry.shape):
            raise GeometryMismatchError(
                f"Volume '{self.name}': array shape {self.array.shape} != geometry shape {self.geometry.shape}"
            )

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
        origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
        direction: np.ndarray | None = None,
        **kwargs: Any,
    ) -> Volume:
        array = np.asarray(array)
        geometry = Geometry(array.shape, spacing, origin, np.eye(3) if direction is None else direction)
        return cls(array, geometry, **kwargs)

    # Convenience read-only views of the geometry.
    @property
    def spacing(self) -> tuple[float, float, float]:
        return self.geometry.spacing

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.geometry.origin

    @property
    def direction(self) -> np.ndarray:
        return self.geometry.direction_matrix

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.geometry.shape

    def with_array(self, array: np.ndarray, **changes: Any) -> Volume:
        """A new volume on the same grid (e.g. a filtered image or a dose map)."""
        fields = {"name": self.name, "modality": self.modality, "units": self.units, "metadata": dict(self.metadata)}
        fields.update(changes)
        return Volume(np.asarray(array), self.geometry, **fields)

    def require_finite(self) -> None:
        """Raise :class:`~.checks.NonFiniteError` when the image holds NaN or infinite values."""
        require_finite(self)


def _numbers(values: Any, count: int, what: str) -> tuple[float, ...]:
    try:
        numbers = tuple(float(v) for v in np.asarray(values, dtype=float).ravel())
    except (TypeError, ValueError):
        raise GeometryError(f"The {what} must be {count} numbers, got {values!r}") from None
    if len(numbers) != count:
        raise GeometryError(f"The {what} must be {count} numbers, got {values!r}")
    return numbers


def _validated(
    shape: Any, spacing: Any, origin: Any, direction: Any
) -> tuple[tuple[int, int, int], tuple[float, ...], tuple[float, ...], tuple[tuple[float, ...], ...]]:
    """Shape, spacing, origin and direction as plain tuples, or :class:`GeometryError` naming the problem."""
    sizes = _numbers(shape, 3, "shape (k, j, i)")
    if not all(np.isfinite(sizes)) or any(s != round(s) or s < 1 or s > MAX_AXIS_SIZE for s in sizes):
        raise GeometryError(f"Geometry needs a 3D shape of positive whole sizes up to {MAX_AXIS_SIZE}, got {shape}")
    size_kji = (int(sizes[0]), int(sizes[1]), int(sizes[2]))
    step = _numbers(spacing, 3, "voxel spacing (mm, i/j/k)")
    if not all(np.isfinite(step)) or min(step) <= 0:
        raise GeometryError(f"Voxel spacing must be three positive finite numbers (mm), got {spacing}")
    if min(step) < MIN_SPACING_MM or max(step) > MAX_SPACING_MM:
        raise GeometryError(
            f"Voxel spacing {step} mm is outside [{MIN_SPACING_MM:g}, {MAX_SPACING_MM:g}] mm, which no imaging "
            "device produces; the file's header is probably corrupt or in other units"
        )
    extent = [n * d for n, d in zip(size_kji[::-1], step, strict=True)]
    if max(extent) > MAX_EXTENT_MM:
        raise GeometryError(
            f"The grid spans {max(extent):.4g} mm along one axis (size {size_kji[::-1]} × spacing {step} mm, i/j/k), "
            f"more than {MAX_EXTENT_MM:g} mm; this is not an image of a patient"
        )
    position = _numbers(origin, 3, "origin (mm, LPS)")
    if not all(np.isfinite(position)) or max(abs(p) for p in position) > MAX_COORDINATE_MM:
        raise GeometryError(f"The origin must be finite and within {MAX_COORDINATE_MM:g} mm, got {origin}")
    try:
        matrix = np.asarray(direction, dtype=float)
    except (TypeError, ValueError):
        matrix = np.zeros(0)
    if (
        matrix.shape != (3, 3)
        or not np.all(np.isfinite(matrix))
        or not np.allclose(matrix.T @ matrix, np.eye(3), atol=1e-4)
    ):
        raise GeometryError("Direction must be an orthonormal 3×3 matrix (columns = i, j, k axes in LPS)")
    return size_kji, step, position, tuple(tuple(float(v) for v in row) for row in matrix)
