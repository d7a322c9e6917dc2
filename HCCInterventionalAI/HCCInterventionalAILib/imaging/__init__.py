"""Imaging core: volumes with geometry, named masks, file I/O and resampling.

The I/O and resampling functions (SimpleITK, pydicom) are imported from their submodules
(``imaging.io``, ``imaging.dicom_io``, ``imaging.resample``, ``imaging.intensity``).
"""

from .intensity import HU_WINDOWS, NonFiniteError, NotHounsfieldError, UnitsError, check_ct_hu, window
from .segmentation import EmptyMaskError, Segment, Segmentation
from .terminology import Terminology, lookup_terminology
from .volume import Geometry, GeometryMismatchError, Volume

__all__ = [
    "HU_WINDOWS",
    "EmptyMaskError",
    "Geometry",
    "GeometryMismatchError",
    "NonFiniteError",
    "NotHounsfieldError",
    "Segment",
    "Segmentation",
    "Terminology",
    "UnitsError",
    "Volume",
    "check_ct_hu",
    "lookup_terminology",
    "window",
]
