"""Conversions between :class:`~.volume.Volume` and SimpleITK images, with exact geometry.

SimpleITK works in LPS like :class:`~.volume.Geometry`, so spacing, origin and the full (oblique) direction
matrix pass through unchanged. This module is the one place that converts; file readers/writers
(:mod:`.io`, :mod:`.dicom_io`) and resampling (:mod:`.resample`) all import it, and it imports none of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import SimpleITK as sitk

from .volume import Geometry, GeometryError, Volume

__all__ = ["ImageReadError", "to_sitk", "from_sitk", "geometry_from_sitk", "set_sitk_geometry", "sitk_compatible"]


class ImageReadError(ValueError):
    """A file exists but could not be read as an image of the expected kind."""


def sitk_compatible(array: np.ndarray) -> np.ndarray:
    """The array in a dtype SimpleITK has: bool → uint8, float16 → float32; C-contiguous."""
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if np.issubdtype(array.dtype, np.complexfloating) or array.dtype == object:
        raise TypeError(f"Cannot convert an array of dtype {array.dtype} to an image")
    return np.ascontiguousarray(array)


def set_sitk_geometry(image: sitk.Image, geometry: Geometry) -> None:
    """Set spacing, origin and direction of a SimpleITK image from a :class:`Geometry`."""
    image.SetSpacing(geometry.spacing)
    image.SetOrigin(geometry.origin)
    # ITK's direction matrix is row-major with columns = axis directions, exactly like Geometry.direction.
    image.SetDirection(tuple(geometry.direction_matrix.ravel()))


def to_sitk(volume: Volume) -> sitk.Image:
    """A SimpleITK image with the volume's values and exact geometry (LPS, oblique directions kept).

    Boolean arrays become uint8 and float16 becomes float32 (SimpleITK has neither type).

    Args:
        volume: the volume to convert.

    Returns:
        A 3D scalar ``sitk.Image``; ``GetArrayFromImage`` of it equals ``volume.array``.

    Raises:
        TypeError: for complex or object arrays.
    """
    image = sitk.GetImageFromArray(sitk_compatible(volume.array), isVector=False)
    set_sitk_geometry(image, volume.geometry)
    return image


def geometry_from_sitk(image: sitk.Image, what: str = "The image") -> Geometry:
    """Geometry of a 3D (scalar or vector) SimpleITK image.

    Args:
        image: a 3D image.
        what: how to name the image in error messages (e.g. the file it came from).

    Raises:
        ImageReadError: for a 2D/4D image, a sheared (non-orthonormal) direction matrix, or a geometry that
            :class:`Geometry` refuses (e.g. zero or absurd spacing).
    """
    if image.GetDimension() != 3:
        raise ImageReadError(f"{what}: expected a 3D image, got a {image.GetDimension()}D image of size "
                             f"{image.GetSize()}")
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    if not np.all(np.isfinite(direction)):
        raise ImageReadError(f"{what}: the direction matrix holds NaN/infinite values")
    u, _, vt = np.linalg.svd(direction)
    orthonormal = u @ vt
    if not np.allclose(direction, orthonormal, atol=1e-3):
        raise ImageReadError(f"{what}: the direction matrix is not orthonormal (sheared grids are not supported)")
    size = image.GetSize()
    # Polar decomposition removes float32 round-off (e.g. NIfTI sform) without changing a valid rotation.
    try:
        return Geometry((size[2], size[1], size[0]), image.GetSpacing(), image.GetOrigin(), orthonormal)
    except GeometryError as error:
        raise ImageReadError(f"{what}: {error}") from error


def from_sitk(
    image: sitk.Image,
    name: str = "Volume",
    modality: str = "",
    units: str = "",
    metadata: dict[str, Any] | None = None,
    *,
    source: str | None = None,
) -> Volume:
    """A :class:`Volume` from a 3D scalar SimpleITK image, keeping its exact geometry.

    Args:
        image: 3D single-component image.
        name, modality, units, metadata: set on the returned volume.
        source: how to name the image in error messages (e.g. its file); defaults to ``name``.

    Returns:
        The volume; its array is a copy in (k, j, i) order.

    Raises:
        ImageReadError: for a 2D/4D image, a vector (multi-component) image, a sheared direction matrix or
            an invalid geometry (see :func:`geometry_from_sitk`).
    """
    what = f"'{source or name}'"
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ImageReadError(
            f"{what} has {image.GetNumberOfComponentsPerPixel()} components per voxel (vector, RGB or "
            "layered segmentation); a volume needs one value per voxel"
        )
    geometry = geometry_from_sitk(image, what)
    array = sitk.GetArrayFromImage(image)
    return Volume(array, geometry, name=name, modality=modality, units=units, metadata=dict(metadata or {}))
