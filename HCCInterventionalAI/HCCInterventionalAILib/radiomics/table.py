"""Per-lesion, per-phase, per-region radiomics as one table (long format: one row per lesion × phase × region).

Lesions are the connected components of the union of the segmentation's tumour segments (recognised by
SNOMED CT "Neoplasm" terminology or by name); regions are the lesion itself and its peritumoral rings
clipped to the liver (:func:`~.regions.peritumoral_rings`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..imaging.segmentation import EmptyMaskError, Segmentation
from ..imaging.volume import Volume
from ..progress import Progress, ProgressCallback, as_progress
from .extraction import extract_features
from .regions import peritumoral_rings, split_lesions

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["LesionRadiomicsRequest", "RadiomicsTable", "lesion_radiomics"]

ID_COLUMNS = ("phase", "lesion", "region", "voxels")


@dataclass(frozen=True)
class LesionRadiomicsRequest:
    """What to extract: preset or parameter file, ring widths (mm, empty for none), smallest lesion (voxels)."""

    params: str = "ibsi-ct"
    ring_widths_mm: tuple[float, ...] = (5.0, 10.0)
    min_lesion_voxels: int = 10


@dataclass
class RadiomicsTable:
    """Feature rows (``phase``, ``lesion``, ``region``, ``voxels`` then pyradiomics features)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    request: LesionRadiomicsRequest | None = None

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        self.to_dataframe().to_csv(path, index=False)
        return path

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "request": None if self.request is None else vars(self.request)}


def _tumour_union(segmentation: Segmentation) -> np.ndarray:
    from ..segmentation_stats import is_tumour

    union = np.zeros(segmentation.geometry.shape, bool)
    for segment in segmentation:
        if is_tumour(segment):
            union |= segment.mask
    return union


def lesion_radiomics(
    images: Volume | Mapping[str, Volume],
    segmentation: Segmentation,
    request: LesionRadiomicsRequest | None = None,
    progress: Progress | ProgressCallback | None = None,
) -> RadiomicsTable:
    """Features of every lesion (and its peritumoral rings) in every phase.

    Args:
        images: one image or phase name → image, on the segmentation's grid.
        segmentation: holds ``Liver`` (needed for rings) and tumour segment(s).
        request: preset/parameters and rings.
        progress: progress and cancellation.

    Raises:
        EmptyMaskError: no tumour voxels; KeyError: rings asked but no liver segment;
        GeometryMismatchError: an image is not on the segmentation's grid.
    """
    request = request or LesionRadiomicsRequest()
    phases = {"image": images} if isinstance(images, Volume) else dict(images)
    for phase, image in phases.items():
        segmentation.geometry.require_same_grid(image.geometry, f"the {phase} image and the segmentation")
    tumours = _tumour_union(segmentation)
    lesions = split_lesions(tumours, request.min_lesion_voxels)
    if not lesions:
        raise EmptyMaskError(f"'{segmentation.name}' has no tumour of at least {request.min_lesion_voxels} voxels")
    liver = segmentation.mask("Liver") if request.ring_widths_mm else None
    regions: list[tuple[str, str, np.ndarray]] = []
    for number, lesion in enumerate(lesions, start=1):
        regions.append((f"lesion {number}", "tumour", lesion))
        if liver is not None:
            rings = peritumoral_rings(lesion, liver | tumours, segmentation.geometry.spacing,
                                      request.ring_widths_mm, all_tumours=tumours)
            regions.extend((f"lesion {number}", name, mask) for name, mask in rings.items() if mask.sum() >= 10)
    report = as_progress(progress)
    table = RadiomicsTable(request=request)
    jobs = [(phase, image, lesion, region, mask) for phase, image in phases.items()
            for lesion, region, mask in regions]
    for index, (phase, image, lesion, region, mask) in enumerate(jobs):
        report.update(index / len(jobs), f"{phase}: {lesion} {region}")
        vector = extract_features(image, mask, request.params)
        table.rows.append({"phase": phase, "lesion": lesion, "region": region, "voxels": vector.voxels,
                           **vector.features})
    report.update(1.0, "Radiomics done")
    return table


def feature_columns(frame: pd.DataFrame, exclude: Sequence[str] = ID_COLUMNS) -> list[str]:
    """The feature columns of a table (everything but the id columns and any ``case``)."""
    return [c for c in frame.columns if c not in exclude and c != "case"]
