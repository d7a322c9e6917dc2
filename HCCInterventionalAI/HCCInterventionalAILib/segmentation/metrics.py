"""Overlap and surface-distance metrics between two binary masks, computed with MONAI.

Definitions (A = test mask, B = reference mask, voxel counts |·|, surfaces ∂A, ∂B):

* Dice ``2|A∩B| / (|A|+|B|)`` (Dice L.R., Ecology 1945;26:297-302) and IoU / Jaccard ``|A∩B| / |A∪B|``;
* HD95: the larger of the two directed 95th percentiles, ``max(P95{d(a,∂B): a∈∂A}, P95{d(b,∂A): b∈∂B})``
  (MONAI's definition), HD: the same with maxima (Huttenlocher D.P. et al., IEEE TPAMI 1993;15:850-863);
* ASSD: average symmetric surface distance, the mean of ``{d(a,∂B): a∈∂A} ∪ {d(b,∂A): b∈∂B}`` (Heimann T. et al., "Comparison and
  evaluation of methods for liver segmentation from CT datasets", IEEE TMI 2009;28:1251-1265);
* volume difference ``V_A - V_B`` (ml) and relative volume difference ``100·(V_A - V_B)/V_B`` (%).

Dice, IoU and the surface distances are MONAI's (``monai.metrics.compute_dice``, ``compute_iou``,
``compute_hausdorff_distance``, ``compute_average_surface_distance``) with the voxel spacing passed through,
so distances are in millimetres. Surfaces are MONAI's boundary voxels (voxel centres), so a distance is
exact to within one voxel of the continuous shapes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..imaging.segmentation import EmptyMaskError
from ..imaging.volume import GeometryMismatchError

__all__ = ["OverlapMetrics", "overlap_metrics"]


@dataclass(frozen=True)
class OverlapMetrics:
    """Agreement of a test mask with a reference mask (distances in mm, volumes in ml)."""

    dice: float
    iou: float
    hd95_mm: float
    hd_mm: float
    assd_mm: float
    volume_test_ml: float
    volume_reference_ml: float

    @property
    def volume_difference_ml(self) -> float:
        return self.volume_test_ml - self.volume_reference_ml

    @property
    def relative_volume_difference_percent(self) -> float:
        return 100.0 * self.volume_difference_ml / self.volume_reference_ml

    def to_dict(self) -> dict[str, float]:
        values = asdict(self)
        values["volume_difference_ml"] = self.volume_difference_ml
        values["relative_volume_difference_percent"] = self.relative_volume_difference_percent
        return values


def overlap_metrics(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> OverlapMetrics:
    """Dice, IoU, HD95, HD, ASSD and volume difference of mask ``a`` (test) against ``b`` (reference).

    Args:
        a: test mask, ``(k, j, i)`` array (anything non-zero is inside).
        b: reference mask on the same grid.
        spacing: voxel size in mm in (x, y, z) = (i, j, k) order, as :attr:`Geometry.spacing`.

    Returns:
        The :class:`OverlapMetrics`. When ``a`` is empty, Dice and IoU are 0 and distances infinite.

    Raises:
        GeometryMismatchError: the masks differ in shape.
        EmptyMaskError: the reference mask ``b`` is empty.
        ValueError: the masks are not 2D/3D or the spacing is not positive.
    """
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
    )

    a = np.asarray(a) != 0
    b = np.asarray(b) != 0
    if a.shape != b.shape:
        raise GeometryMismatchError(f"The masks differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"Masks must be 2D or 3D arrays, got {a.ndim} dimensions")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != a.ndim or min(spacing) <= 0:
        raise ValueError(f"The spacing {spacing} must hold {a.ndim} positive values")
    if not b.any():
        raise EmptyMaskError("The reference mask is empty; overlap metrics need a non-empty reference")
    voxel_ml = math.prod(spacing) / 1000.0
    volume_a, volume_b = float(a.sum()) * voxel_ml, float(b.sum()) * voxel_ml
    if not a.any():
        return OverlapMetrics(0.0, 0.0, math.inf, math.inf, math.inf, volume_a, volume_b)
    # MONAI wants one-hot (batch, channel, *spatial) tensors; spacing in array-axis order.
    test = torch.from_numpy(np.stack([~a, a])[None].astype(np.float32))
    reference = torch.from_numpy(np.stack([~b, b])[None].astype(np.float32))
    array_spacing = spacing[::-1]
    dice = float(compute_dice(test, reference, include_background=False)[0, 0])
    iou = float(compute_iou(test, reference, include_background=False)[0, 0])
    hd95 = float(compute_hausdorff_distance(test, reference, percentile=95, spacing=array_spacing)[0, 0])
    hd = float(compute_hausdorff_distance(test, reference, spacing=array_spacing)[0, 0])
    assd = float(compute_average_surface_distance(test, reference, symmetric=True, spacing=array_spacing)[0, 0])
    return OverlapMetrics(dice, iou, hd95, hd, assd, volume_a, volume_b)
