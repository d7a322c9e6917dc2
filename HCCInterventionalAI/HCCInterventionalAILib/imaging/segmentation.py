"""Named binary masks on one voxel grid, with colours and standard (SNOMED CT) terminology.

This is the headless counterpart of a Slicer segmentation node: each :class:`Segment` holds a boolean
array in (k, j, i) order, a display colour and, where known, a terminology entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .terminology import Terminology, lookup_terminology
from .volume import Geometry, GeometryMismatchError, Volume

__all__ = ["Segment", "Segmentation", "EmptyMaskError"]


class EmptyMaskError(ValueError):
    """A mask that a computation needs has no voxels."""


@dataclass
class Segment:
    """One structure: a boolean mask with its name, colour (RGB 0–1) and terminology."""

    name: str
    mask: np.ndarray
    color: tuple[float, float, float] | None = None
    terminology: Terminology | None = None

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask).astype(bool, copy=False)
        known = lookup_terminology(self.name)
        if self.terminology is None:
            self.terminology = known
        if self.color is None:
            self.color = known.color if known else _fallback_color(self.name)


@dataclass
class Segmentation:
    """Segments sharing one voxel grid, in insertion order."""

    geometry: Geometry
    segments: dict[str, Segment] = field(default_factory=dict)
    name: str = "Segmentation"

    def add(
        self,
        name: str,
        mask: np.ndarray,
        color: tuple[float, float, float] | None = None,
        terminology: Terminology | None = None,
    ) -> Segment:
        mask = np.asarray(mask)
        if tuple(mask.shape) != self.geometry.shape:
            raise GeometryMismatchError(
                f"Segment '{name}' has shape {mask.shape} but segmentation '{self.name}' is {self.geometry.shape}"
            )
        segment = Segment(name, mask, color, terminology)
        self.segments[name] = segment
        return segment

    def __contains__(self, name: str) -> bool:
        return name in self.segments

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments.values())

    def __len__(self) -> int:
        return len(self.segments)

    @property
    def names(self) -> list[str]:
        return list(self.segments)

    def mask(self, name: str, *, allow_empty: bool = False) -> np.ndarray:
        """The boolean mask of a segment, found by exact or case-insensitive name."""
        segment = self.segments.get(name) or self.find(name)
        if segment is None:
            raise KeyError(f"No segment named '{name}' in '{self.name}'; segments are: {', '.join(self.names) or 'none'}")
        if not allow_empty and not segment.mask.any():
            raise EmptyMaskError(f"Segment '{segment.name}' in '{self.name}' is empty")
        return segment.mask

    def find(self, *candidates: str) -> Segment | None:
        """First segment whose name matches one of the candidates, ignoring case and surrounding spaces."""
        by_key = {s.name.strip().lower(): s for s in self.segments.values()}
        for candidate in candidates:
            hit = by_key.get(candidate.strip().lower())
            if hit is not None:
                return hit
        return None

    def subset(self, *names: str) -> Segmentation:
        """A segmentation holding only the named segments that exist (case-insensitive), sharing their masks."""
        subset = Segmentation(self.geometry, name=self.name)
        for name in names:
            segment = self.find(name)
            if segment is not None:
                subset.segments[segment.name] = segment
        return subset

    def volume_ml(self, name: str) -> float:
        return float(np.count_nonzero(self.mask(name, allow_empty=True))) * self.geometry.voxel_volume_ml

    def to_labelmap(self) -> Volume:
        """A label volume (1, 2, ... in segment order; later segments win where masks overlap)."""
        labels = np.zeros(self.geometry.shape, dtype=np.uint16)
        for value, segment in enumerate(self.segments.values(), start=1):
            labels[segment.mask] = value
        return Volume(labels, self.geometry, name=f"{self.name} labelmap", units="label",
                      metadata={"labels": {i + 1: n for i, n in enumerate(self.segments)}})

    @classmethod
    def from_labelmap(cls, labelmap: Volume, names: dict[int, str] | None = None, name: str | None = None) -> Segmentation:
        """One segment per non-zero label; ``names`` maps label values to segment names."""
        names = names or {int(k): v for k, v in labelmap.metadata.get("labels", {}).items()}
        seg = cls(labelmap.geometry, name=name or labelmap.name)
        for value in np.unique(labelmap.array):
            if value == 0:
                continue
            seg.add(names.get(int(value), f"Segment_{int(value)}"), labelmap.array == value)
        return seg


def _fallback_color(name: str) -> tuple[float, float, float]:
    """A stable, distinguishable colour derived from the name (for structures without terminology)."""
    import colorsys
    import zlib

    hue = (zlib.crc32(name.encode()) % 360) / 360.0
    return colorsys.hsv_to_rgb(hue, 0.65, 0.9)
