"""Structure table of a liver/tumour segmentation: volumes, tumour count, largest diameters, tumour burden.

* Volume: voxel count × voxel volume (ml); tumour burden ``100·|T| / |L ∪ T|`` (%), as in
  :mod:`HCCInterventionalAILib.segmentation_stats`.
* Lesions: 26-connected components of the union of all tumour segments.
* Largest diameter of a lesion: the maximum 3D distance between the centres of two of its voxels (the
  maximum Feret diameter, as pyradiomics' ``Maximum3DDiameter`` but on voxel centres), found on the convex hull
  of the voxel centres (Preparata F.P., Shamos M.I., *Computational Geometry*, Springer 1985: the diameter of a
  point set is attained by hull vertices).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Geometry
from .postprocess import connected_components

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["LesionRow", "StructureTable", "max_diameter_mm", "structure_table"]


def max_diameter_mm(mask: np.ndarray, geometry: Geometry) -> float:
    """Largest distance (mm) between two voxel centres of ``mask`` (0 for a single voxel or an empty mask)."""
    ijk = np.argwhere(mask)[:, ::-1].astype(float)
    if len(ijk) < 2:
        return 0.0
    points = geometry.physical_points(ijk)
    if len(points) > 4:
        from scipy.spatial import ConvexHull, QhullError

        try:
            points = points[ConvexHull(points).vertices]
        except QhullError:  # flat (coplanar) lesion: use all points
            pass
    from scipy.spatial.distance import pdist

    return float(pdist(points).max())


@dataclass
class LesionRow:
    """One lesion: number (largest first), volume (ml), largest diameter (mm)."""

    lesion: str
    volume_ml: float
    max_diameter_mm: float


@dataclass
class StructureTable:
    """Liver volume, lesions and tumour burden."""

    liver_volume_ml: float
    tumour_volume_ml: float
    tumour_count: int
    tumour_burden_percent: float
    largest_diameter_mm: float
    lesions: list[LesionRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_dataframe(self) -> pd.DataFrame:
        """One row per structure: Liver, each lesion, and 'All tumours' (count, burden)."""
        import pandas as pd

        rows = [{"structure": "Liver", "volume_ml": self.liver_volume_ml}]
        rows += [{"structure": row.lesion, "volume_ml": row.volume_ml, "max_diameter_mm": row.max_diameter_mm}
                 for row in self.lesions]
        rows.append({"structure": "All tumours", "volume_ml": self.tumour_volume_ml, "count": self.tumour_count,
                     "max_diameter_mm": self.largest_diameter_mm, "tumour_burden_percent": self.tumour_burden_percent})
        return pd.DataFrame(rows)


def structure_table(segmentation: Segmentation, min_lesion_voxels: int = 1) -> StructureTable:
    """Volumes, lesion count, largest diameters and tumour burden of a segmentation.

    Args:
        segmentation: holds a liver segment and tumour segment(s) (SNOMED terminology or names).
        min_lesion_voxels: lesions smaller than this are not counted.

    Raises:
        KeyError: no liver segment; EmptyMaskError: empty liver.
    """
    from ..segmentation_stats import is_liver, is_tumour

    liver_segment = next((s for s in segmentation if is_liver(s)), None)
    if liver_segment is None:
        raise KeyError(f"'{segmentation.name}' has no liver segment; segments are {', '.join(segmentation.names)}")
    liver = segmentation.mask(liver_segment.name)
    tumours = np.zeros(segmentation.geometry.shape, bool)
    for segment in segmentation:
        if is_tumour(segment):
            tumours |= segment.mask
    voxel_ml = segmentation.geometry.voxel_volume_ml
    labels, count = connected_components(tumours)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    order = [i for i in np.argsort(-sizes[1:], kind="stable") + 1 if sizes[i] >= min_lesion_voxels]
    lesions = [LesionRow(f"Tumour {n}", float(sizes[i]) * voxel_ml, max_diameter_mm(labels == i, segmentation.geometry))
               for n, i in enumerate(order, start=1)]
    kept = sum(int(sizes[i]) for i in order)
    whole = int(np.count_nonzero(liver | tumours))
    return StructureTable(
        liver_volume_ml=whole * voxel_ml,
        tumour_volume_ml=kept * voxel_ml,
        tumour_count=len(lesions),
        tumour_burden_percent=100.0 * kept / whole if whole else 0.0,
        largest_diameter_mm=max((row.max_diameter_mm for row in lesions), default=0.0),
        lesions=lesions,
    )
