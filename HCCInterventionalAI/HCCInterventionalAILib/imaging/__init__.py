"""Imaging core: volumes with geometry, named masks, file I/O and resampling.

The I/O and resampling functions (SimpleITK, pydicom) are imported from their submodules
(``imaging.io``, ``imaging.dicom_io``, ``imaging.resample``, ``imaging.intensity``); ``imaging.sitk`` holds
the Volume <-> SimpleITK conversions they share, ``imaging.checks`` the project's one non-finite check.
"""

from .checks import NonFiniteError, require_finite
from .intensity import HU_WINDOWS, NotHounsfieldError, UnitsError, check_ct_hu, window
from .segmentation import EmptyMaskError, Segment, Segmentation
from .terminology import Terminology, lookup_terminology
from .volume import Geometry, GeometryError, GeometryMismatchError, Volume

__all__ = [
    "HU_WINDOWS",
    "EmptyMaskError",
    "Geometry",
    "GeometryError",
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
    "require_finite",
    "window",
]
