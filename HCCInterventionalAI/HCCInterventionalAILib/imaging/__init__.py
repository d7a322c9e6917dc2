"""Imaging core: volumes with geometry, named masks, file I/O and resampling."""

from .segmentation import EmptyMaskError, Segment, Segmentation
from .terminology import Terminology, lookup_terminology
from .volume import Geometry, GeometryMismatchError, Volume

__all__ = [
    "EmptyMaskError",
    "Geometry",
    "GeometryMismatchError",
    "Segment",
    "Segmentation",
    "Terminology",
    "Volume",
    "lookup_terminology",
]
