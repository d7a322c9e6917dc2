"""Structure volumes and liver tumour burden of a segmentation.

Definitions (voxel counting on the segmentation's own grid):

* volume of a segment: ``V = N · Δx · Δy · Δz / 1000`` ml, with ``N`` its voxel count and ``Δ`` the spacing
  in mm;
* liver tumour burden (percent): ``B = 100 · |T| / |L ∪ T|``, with ``T`` the union of all tumour segments and
  ``L`` the liver segment. Taking the union in the denominator makes the result the same whether the liver
  segment includes the tumours (Slicer's overlapping segments) or excludes them (LiTS-style exclusive labels).

Structures are recognised by their SNOMED CT terminology (Liver 10200004, Neoplasm 108369006) or, failing
that, by their name ("Liver", "Tumor 2", "HCC", "lesion_1", ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .imaging.segmentation import Segment, Segmentation
from .imaging.terminology import lookup_terminology

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "StructureVolumes",
    "is_liver",
    "is_tumour",
    "structure_volumes",
    "tumour_burden_percent",
    "TOTAL_TUMOUR_ROW",
    "BURDEN_COLUMN",
]

LIVER_CODE = "10200004"
TUMOUR_CODE = "108369006"
_TUMOUR_WORDS = ("tumor", "tumour", "lesion", "hcc", "neoplasm", "cancer")

#: Name of the summary row and of the burden column in :meth:`StructureVolumes.to_dataframe`.
TOTAL_TUMOUR_ROW = "All tumours"
BURDEN_COLUMN = "Percent of liver (%)"


def _type_code(segment: Segment) -> str | None:
    terminology = segment.terminology or lookup_terminology(segment.name)
    return terminology.type.value if terminology is not None else None


def is_liver(segment: Segment) -> bool:
    """True for the liver segment (terminology Liver, or a name such as 'Liver')."""
    return _type_code(segment) == LIVER_CODE or segment.name.strip().lower() == "liver"


def is_tumour(segment: Segment) -> bool:
    """True for a tumour segment (terminology Neoplasm, or a name with tumour/lesion/HCC in it)."""
    if _type_code(segment) == TUMOUR_CODE:
        return True
    name = segment.name.strip().lower()
    return any(word in name for word in _TUMOUR_WORDS)


def tumour_burden_percent(liver_mask: np.ndarray, tumour_masks: list[np.ndarray]) -> float:
    """Liver tumour burden ``100 · |T| / |L ∪ T|`` in percent (see the module docstring).

    Args:
        liver_mask: boolean liver mask.
        tumour_masks: boolean tumour masks on the same grid (may be empty: burden 0).

    Raises:
        ValueError: when the masks differ in shape, or liver and tumours are all empty.
    """
    liver = np.asarray(liver_mask, dtype=bool)
    tumour = np.zeros(liver.shape, dtype=bool)
    for mask in tumour_masks:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != liver.shape:
            raise ValueError(f"Tumour mask shape {mask.shape} differs from the liver mask shape {liver.shape}")
        tumour |= mask
    denominator = np.count_nonzero(liver | tumour)
    if denominator == 0:
        raise ValueError("The liver and tumour masks are empty: the tumour burden is undefined")
    return 100.0 * np.count_nonzero(tumour) / denominator


#: Former spellings of the public functions (identifiers are spelt ``tumour``); kept so scripts keep working.
is_tumor = is_tumour
tumor_burden_percent = tumour_burden_percent


@dataclass
class StructureVolumes:
    """Per-segment volumes and the liver tumour burden.

    Attributes:
        names: segment names, in segmentation order.
        voxels: voxel count per segment.
        volumes_ml: volume per segment in ml.
        tumour_names: the segments counted as tumours.
        liver_name: the segment counted as liver (None when there is none).
        total_tumour_ml: volume of the union of the tumour segments (overlaps counted once).
        total_tumour_voxels: voxel count of that union.
        liver_with_tumours_ml: volume of ``L ∪ T`` (None without a liver segment).
        tumour_burden_percent: ``100 · |T| / |L ∪ T|`` (None without a liver segment).
    """

    names: list[str]
    voxels: list[int]
    volumes_ml: list[float]
    tumour_names: list[str]
    liver_name: str | None
    total_tumour_ml: float
    total_tumour_voxels: int
    liver_with_tumours_ml: float | None
    tumour_burden_percent: float | None

    def to_dataframe(self) -> pd.DataFrame:
        """One row per segment (Segment, Voxels, Volume (ml), Percent of liver (%)) plus an 'All tumours' row.

        The percent column is filled for tumour rows and the summary row (the burden) when a liver exists.
        """
        import pandas as pd

        liver_total = self.liver_with_tumours_ml or None
        rows = []
        for name, count, volume in zip(self.names, self.voxels, self.volumes_ml, strict=True):
            percent = 100.0 * volume / liver_total if (liver_total and name in self.tumour_names) else np.nan
            rows.append({"Segment": name, "Voxels": count, "Volume (ml)": volume, BURDEN_COLUMN: percent})
        if self.tumour_names:
            rows.append({
                "Segment": TOTAL_TUMOUR_ROW,
                "Voxels": self.total_tumour_voxels,
                "Volume (ml)": self.total_tumour_ml,
                BURDEN_COLUMN: self.tumour_burden_percent if self.tumour_burden_percent is not None else np.nan,
            })
        return pd.DataFrame(rows, columns=["Segment", "Voxels", "Volume (ml)", BURDEN_COLUMN])


def structure_volumes(segmentation: Segmentation) -> StructureVolumes:
    """Volumes in ml of every segment and the liver tumour burden.

    Args:
        segmentation: named masks on one grid (empty segments are allowed and give 0 ml).

    Returns:
        :class:`StructureVolumes`; ``tumour_burden_percent`` is None when no liver segment is present, and
        0 when a liver is present but no tumour is.
    """
    voxel_ml = segmentation.geometry.voxel_volume_ml
    names, voxels, volumes = [], [], []
    liver: Segment | None = None
    tumours: list[Segment] = []
    for segment in segmentation:
        count = int(np.count_nonzero(segment.mask))
        names.append(segment.name)
        voxels.append(count)
        volumes.append(count * voxel_ml)
        if is_tumour(segment):
            tumours.append(segment)
        elif liver is None and is_liver(segment):
            liver = segment
    union = np.zeros(segmentation.geometry.shape, dtype=bool)
    for segment in tumours:
        union |= segment.mask
    burden = liver_with_tumours_ml = None
    if liver is not None and (liver.mask.any() or union.any()):
        burden = tumour_burden_percent(liver.mask, [s.mask for s in tumours])
        liver_with_tumours_ml = float(np.count_nonzero(liver.mask | union)) * voxel_ml
    return StructureVolumes(
        names=names,
        voxels=voxels,
        volumes_ml=volumes,
        tumour_names=[s.name for s in tumours],
        liver_name=liver.name if liver is not None else None,
        total_tumour_ml=float(np.count_nonzero(union)) * voxel_ml,
        total_tumour_voxels=int(np.count_nonzero(union)),
        liver_with_tumours_ml=liver_with_tumours_ml,
        tumour_burden_percent=burden,
    )
