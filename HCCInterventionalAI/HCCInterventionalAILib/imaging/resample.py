"""Resampling volumes and segmentations between voxel grids, exactly in physical (LPS) space.

Every output voxel centre is mapped to LPS through the target grid and sampled in the source image, so
oblique grids, flipped axes and different fields of view are handled alike (SimpleITK's resampler with
the identity transform). Images use linear (default), B-spline or nearest-neighbour interpolation;
segments are resampled one at a time so that labels never mix, with a partial-volume rule that keeps a
structure's volume when it moves from a fine grid to a coarse one (:func:`resample_mask`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import SimpleITK as sitk

from ..progress import Progress, ProgressCallback, as_progress
from .checks import require_finite
from .orientation import plan_reorientation
from .segmentation import Segmentation
from .sitk import to_sitk
from .volume import MAX_AXIS_SIZE, MAX_SPACING_MM, MIN_SPACING_MM, Geometry, GeometryError, Volume

__all__ = [
    "INTERPOLATIONS",
    "MAX_RESAMPLE_BYTES",
    "ResampleSizeError",
    "resample_to_geometry",
    "resample_to_spacing",
    "spacing_geometry",
    "resample_mask",
    "resample_segmentation",
    "reorient",
    "reorient_to_ras",
]

#: Interpolation names accepted by the resampling functions.
INTERPOLATIONS = {
    "linear": sitk.sitkLinear,
    "nearest": sitk.sitkNearestNeighbor,
    "bspline": sitk.sitkBSpline,  # cubic B-spline
}


#: Largest array (bytes) a resampling allocates unless the caller passes a larger ``max_bytes``: 8 GiB, e.g. a
#: 1024 × 1024 × 2048 float32 grid, far beyond a clinical CT (512 × 512 × ~1000 int16 = 0.5 GiB).
MAX_RESAMPLE_BYTES = 8 * 2**30


class ResampleSizeError(GeometryError):
    """Resampling onto the requested grid would allocate more memory than allowed (an absurd target grid)."""


def _require_size(shape: Sequence[int], itemsize: int, what: str, max_bytes: float | None) -> None:
    """Raise :class:`ResampleSizeError` before allocating an array of ``shape`` × ``itemsize`` bytes."""
    limit = MAX_RESAMPLE_BYTES if max_bytes is None else max_bytes
    size = math.prod(int(n) for n in shape) * int(itemsize)
    if size > limit:
        dims = " × ".join(str(int(n)) for n in shape)
        raise ResampleSizeError(
            f"Resampling {what} would allocate {size / 2**30:.4g} GiB ({dims} voxels of {itemsize} bytes), more than "
            f"the limit of {limit / 2**30:.4g} GiB; check the target grid's spacing and size (or pass max_bytes=)"
        )


def _require_storable(value: float, dtype: np.dtype) -> None:
    """Raise ValueError when ``value`` cannot be stored exactly in an integer/boolean image of ``dtype``."""
    if dtype.kind not in "iub":
        return
    low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    number = float(value)
    if not (math.isfinite(number) and number == round(number) and low <= number <= high):
        raise ValueError(
            f"default_value {value} cannot be stored in a {dtype} image (whole numbers {low}..{high}); "
            "use a representable value or resample with linear interpolation"
        )


def _interpolator(interpolation: str) -> int:
    try:
        return INTERPOLATIONS[interpolation.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"Unknown interpolation '{interpolation}'; use one of {', '.join(INTERPOLATIONS)}") from None


def _resample_image(
    image: sitk.Image, geometry: Geometry, interpolator: int, default_value: float, pixel_type: int
) -> np.ndarray:
    """Sample ``image`` at the voxel centres of ``geometry``; returns a (k, j, i) array."""
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(s) for s in geometry.shape[::-1]])
    resampler.SetOutputSpacing(geometry.spacing)
    resampler.SetOutputOrigin(geometry.origin)
    resampler.SetOutputDirection(tuple(geometry.direction_matrix.ravel()))
    resampler.SetTransform(sitk.Transform())
    resampler.SetInterpolator(interpolator)
    resampler.SetDefaultPixelValue(float(default_value))
    resampler.SetOutputPixelType(pixel_type)
    return sitk.GetArrayFromImage(resampler.Execute(image))


def resample_to_geometry(
    volume: Volume,
    geometry: Geometry,
    interpolation: str = "linear",
    default_value: float = 0.0,
    *,
    max_bytes: float | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> Volume:
    """Resample a volume onto another voxel grid (e.g. a SPECT onto its CT, or the reverse).

    Args:
        volume: source image.
        geometry: target grid (shape, spacing, origin, direction in LPS).
        interpolation: "linear" (default), "bspline" (cubic) or "nearest" (labels, masks).
        default_value: value of target voxels whose centre lies outside the source image.
        max_bytes: largest result array allowed, in bytes (default :data:`MAX_RESAMPLE_BYTES`).
        progress: progress reporter or callback.

    Returns:
        A volume on ``geometry`` with the source's name, modality, units and metadata. Linear and B-spline
        results are float32 (float64 for float64 input); nearest keeps the input dtype and values.
        When the grids are the same the values are returned unchanged (identity).

    Raises:
        ValueError: unknown interpolation, or (nearest) a ``default_value`` the integer dtype cannot hold.
        NonFiniteError: NaN/infinite values with linear/B-spline interpolation.
        ResampleSizeError: a target grid whose array would exceed ``max_bytes``, raised before allocation.
        TypeError: a volume or geometry of the wrong type, or a complex/object array.
    """
    progress = as_progress(progress)
    if not isinstance(volume, Volume) or not isinstance(geometry, Geometry):
        raise TypeError(
            f"resample_to_geometry needs a Volume and a Geometry, got {type(volume).__name__} and "
            f"{type(geometry).__name__}"
        )
    interpolator = _interpolator(interpolation)
    nearest = interpolator == sitk.sitkNearestNeighbor
    if not nearest:
        require_finite(volume)
    if nearest:
        dtype = volume.array.dtype
        _require_storable(default_value, dtype)
    else:
        dtype = np.dtype(np.float64 if volume.array.dtype == np.float64 else np.float32)
    fields = {
        "name": volume.name,
        "modality": volume.modality,
        "units": volume.units,
        "metadata": dict(volume.metadata),
    }
    _require_size(geometry.shape, dtype.itemsize, f"'{volume.name}'", max_bytes)
    progress.update(0.0, f"Resampling {volume.name}")
    if volume.geometry.same_grid(geometry, tolerance_mm=1e-4):
        progress.update(1.0, f"{volume.name} is already on the target grid")
        return Volume(volume.array.astype(dtype, copy=True), geometry, **fields)
    image = to_sitk(volume)
    pixel_type = image.GetPixelID() if nearest else (sitk.sitkFloat64 if dtype == np.float64 else sitk.sitkFloat32)
    array = _resample_image(image, geometry, interpolator, default_value, pixel_type)
    progress.update(1.0, f"Resampled {volume.name}")
    return Volume(array.astype(dtype, copy=False), geometry, **fields)


def _as_spacing(spacing: float | Sequence[float]) -> np.ndarray:
    values = np.atleast_1d(np.asarray(spacing, dtype=float))
    if values.size == 1:
        values = np.repeat(values, 3)
    if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise GeometryError(f"Spacing must be one or three positive numbers (mm, i/j/k order), got {spacing}")
    if values.min() < MIN_SPACING_MM or values.max() > MAX_SPACING_MM:
        raise GeometryError(f"Spacing {tuple(values)} mm is outside [{MIN_SPACING_MM:g}, {MAX_SPACING_MM:g}] mm")
    return values


def spacing_geometry(geometry: Geometry, spacing: float | Sequence[float]) -> Geometry:
    """The grid with the given spacing that covers the same field of view, centred on the same point.

    The number of voxels along each axis is ``round(extent / spacing)`` (at least 1), where the extent is
    ``size × spacing`` of the original grid; the direction is kept.

    Raises:
        GeometryError: a spacing that is not positive or outside [MIN_SPACING_MM, MAX_SPACING_MM].
        ResampleSizeError: more than ``MAX_AXIS_SIZE`` voxels along an axis.
    """
    new_spacing = _as_spacing(spacing)
    size_ijk = np.asarray(geometry.shape[::-1], dtype=float)
    extent = size_ijk * np.asarray(geometry.spacing)
    new_size = np.maximum(1, np.round(extent / new_spacing))
    if new_size.max() > MAX_AXIS_SIZE:
        raise ResampleSizeError(
            f"Spacing {tuple(new_spacing)} mm over a field of view of {tuple(extent)} mm needs "
            f"{tuple(int(n) for n in new_size)} voxels (i/j/k); too many for one image"
        )
    new_size = new_size.astype(int)
    centre = geometry.physical_points((size_ijk - 1.0) / 2.0)[0]
    origin = centre - geometry.direction_matrix @ (new_spacing * (new_size - 1) / 2.0)
    return Geometry(tuple(int(s) for s in new_size[::-1]), tuple(new_spacing), tuple(origin), geometry.direction)


def resample_to_spacing(
    volume: Volume,
    spacing: float | Sequence[float],
    interpolation: str = "linear",
    *,
    max_bytes: float | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> Volume:
    """Resample a volume to a new voxel size over the same field of view (see :func:`spacing_geometry`).

    Args:
        volume: source image.
        spacing: new voxel size in mm, one number (isotropic) or (i, j, k).
        interpolation: "linear", "bspline" or "nearest".
        max_bytes: largest result array allowed, in bytes (default :data:`MAX_RESAMPLE_BYTES`).
        progress: progress reporter or callback.

    Returns:
        The resampled volume (same direction, same centre).

    Raises:
        ValueError: an unknown interpolation.
        GeometryError: a spacing that is not positive or outside the limits of :class:`Geometry`.
        ResampleSizeError: a result that would exceed ``max_bytes``.
    """
    geometry = spacing_geometry(volume.geometry, spacing)
    return resample_to_geometry(volume, geometry, interpolation, max_bytes=max_bytes, progress=progress)


# --------------------------------------------------------------------------------------------------------
# Masks and segmentations
# --------------------------------------------------------------------------------------------------------
def _index_box(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Inclusive (i, j, k) bounds of the non-zero voxels, or None for an empty mask."""
    if not mask.any():
        return None
    low, high = [], []
    for axis in (2, 1, 0):  # i, j, k
        present = np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis)))
        low.append(int(present[0]))
        high.append(int(present[-1]))
    return np.array(low), np.array(high)


def _subsampling(source: Geometry, target: Geometry) -> np.ndarray:
    """Sub-samples per target voxel along (i, j, k) so that sub-sample spacing ≤ source voxel size."""
    target_axes = target.direction_matrix @ np.diag(target.spacing)
    in_source_voxels = np.linalg.inv(source.direction_matrix @ np.diag(source.spacing)) @ target_axes
    return np.maximum(1, np.ceil(np.abs(in_source_voxels).max(axis=0) - 1e-6)).astype(int)


def resample_mask(
    mask: np.ndarray, source: Geometry, target: Geometry, *, threshold: float = 0.5, max_bytes: float | None = None
) -> np.ndarray:
    """Resample one binary mask, preserving volume when going from a fine to a coarse grid.

    Each target voxel is divided into ``n_i × n_j × n_k`` sub-voxels, ``n`` chosen so that sub-voxels are no
    larger than source voxels; the mask (as 0/1 floats) is linearly interpolated at the sub-voxel centres and
    averaged, which estimates the fraction of the target voxel covered by the structure. Voxels covered at
    least ``threshold`` (default half) are in the mask. For a target as fine as the source (n = 1) this is
    linear interpolation followed by thresholding at 0.5. Only the part of the grids around the mask's
    bounding box is computed.

    Args:
        mask: boolean array on ``source`` (k, j, i).
        source: grid of ``mask``.
        target: grid to resample onto.
        threshold: covered fraction from which a target voxel belongs to the mask, in (0, 1].
        max_bytes: largest array (result or sub-voxel samples) allowed, in bytes (default
            :data:`MAX_RESAMPLE_BYTES`).

    Returns:
        Boolean array on ``target``.

    Raises:
        ValueError: for a threshold outside (0, 1] or a mask whose shape is not the source grid's.
        ResampleSizeError: when the result or the sub-voxel samples would exceed ``max_bytes``.
    """
    if not isinstance(source, Geometry) or not isinstance(target, Geometry):
        raise TypeError("resample_mask needs Geometry objects for source and target")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"Mask threshold must be in (0, 1], got {threshold}")
    mask = np.asarray(mask).astype(bool, copy=False)
    if tuple(mask.shape) != source.shape:
        raise ValueError(f"Mask shape {mask.shape} does not match its grid {source.shape}")
    if source.same_grid(target, tolerance_mm=1e-4):
        return mask.copy()
    _require_size(target.shape, 1, "a mask", max_bytes)
    result = np.zeros(target.shape, dtype=bool)
    box = _index_box(mask)
    if box is None:
        return result
    # Source crop: the mask's bounding box plus one voxel of background on each side.
    size_ijk = np.asarray(source.shape[::-1])
    low = np.maximum(box[0] - 1, 0)
    high = np.minimum(box[1] + 1, size_ijk - 1)
    crop = mask[low[2] : high[2] + 1, low[1] : high[1] + 1, low[0] : high[0] + 1].astype(np.float32)
    crop_geometry = Geometry(crop.shape, source.spacing, tuple(source.physical_points(low)[0]), source.direction)
    # Target voxels whose extent can meet the crop: map the crop's corners (voxel edges) into the target grid.
    corners = np.array(list(itertools.product(*[(lo - 0.5, hi + 0.5) for lo, hi in zip(low, high, strict=True)])))
    in_target = target.continuous_index(source.physical_points(corners))
    target_size = np.asarray(target.shape[::-1])
    t_low = np.maximum(np.floor(in_target.min(axis=0) - 0.5).astype(int), 0)
    t_high = np.minimum(np.ceil(in_target.max(axis=0) + 0.5).astype(int), target_size - 1)
    if np.any(t_high < t_low):
        return result
    n = _subsampling(source, target)
    count = t_high - t_low + 1
    _require_size(count * n, 4, "a mask (sub-voxel samples)", max_bytes)
    fine_spacing = np.asarray(target.spacing) / n
    first_centre = target.physical_points(t_low - 0.5 + 0.5 / n)[0]  # centre of the first sub-voxel
    fine = Geometry(tuple((count * n)[::-1]), tuple(fine_spacing), tuple(first_centre), target.direction)
    samples = _resample_image(to_sitk(Volume(crop, crop_geometry)), fine, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    coverage = samples.reshape(count[2], n[2], count[1], n[1], count[0], n[0]).mean(axis=(1, 3, 5))
    result[t_low[2] : t_high[2] + 1, t_low[1] : t_high[1] + 1, t_low[0] : t_high[0] + 1] = coverage >= threshold - 1e-4
    return result


def resample_segmentation(
    seg: Segmentation,
    geometry: Geometry,
    *,
    threshold: float = 0.5,
    progress: Progress | ProgressCallback | None = None,
) -> Segmentation:
    """Resample every segment onto another grid with :func:`resample_mask` (labels never mix).

    Names, colours and terminology are kept; overlapping segments stay overlapping, empty ones stay empty.

    Args:
        seg: source segmentation.
        geometry: target grid (e.g. the SPECT's).
        threshold: partial-volume threshold, see :func:`resample_mask`.
        progress: progress reporter or callback (one step per segment).

    Returns:
        A new :class:`Segmentation` on ``geometry`` with the same name.
    """
    progress = as_progress(progress)
    result = Segmentation(geometry, name=seg.name)
    segments = list(seg)
    for segment in progress.iterate(segments, total=len(segments), message="Resampling segments"):
        mask = resample_mask(segment.mask, seg.geometry, geometry, threshold=threshold)
        result.add(segment.name, mask, color=segment.color, terminology=segment.terminology)
    return result


# --------------------------------------------------------------------------------------------------------
# Reorientation (no interpolation)
# --------------------------------------------------------------------------------------------------------
def reorient(volume: Volume, orientation: str = "RAS") -> Volume:
    """Permute and flip the array axes so that i, j, k point as close as possible to ``orientation``.

    ``orientation`` names the direction each of i, j, k *increases towards*, as in nibabel and Slicer:
    "RAS" means i goes to the patient's right, j anterior, k superior; "LPS" is ITK/DICOM's usual
    axial layout. Voxel values are moved, never interpolated, and the geometry is updated so every voxel
    keeps its physical position; an oblique grid stays oblique (only its closest axes are matched).

    Args:
        volume: the volume.
        orientation: three letters, one from each pair R/L, A/P, S/I.

    Returns:
        A new volume (always a copy of the data).

    Raises:
        ValueError: for an invalid orientation string.
    """
    direction = volume.geometry.direction_matrix
    plan = plan_reorientation(direction, orientation)  # permutation[t]: source axis that becomes axis t
    permutation, flips = plan.permutation, plan.flips
    array = np.array(plan.to_network(volume.array), order="C")  # always a copy, even when nothing moves
    size_ijk = np.asarray(volume.shape[::-1])
    first_voxel = np.zeros(3)
    new_direction = np.zeros((3, 3))
    new_spacing = []
    for t, source_axis in enumerate(permutation):
        if flips[t]:
            first_voxel[source_axis] = size_ijk[source_axis] - 1
        new_direction[:, t] = direction[:, source_axis] * (-1.0 if flips[t] else 1.0)
        new_spacing.append(volume.spacing[source_axis])
    origin = volume.geometry.physical_points(first_voxel)[0]
    geometry = Geometry(array.shape, tuple(new_spacing), tuple(origin), new_direction)
    return Volume(
        array, geometry, name=volume.name, modality=volume.modality, units=volume.units, metadata=dict(volume.metadata)
    )


def reorient_to_ras(volume: Volume) -> Volume:
    """:func:`reorient` to "RAS" (i → right, j → anterior, k → superior), nibabel's canonical layout."""
    return reorient(volume, "RAS")
