"""Liver and tumour segmentation without weights, its clean-up, metrics, structure table, DICOM SEG export and the
LiTS-117 reference case.

- :mod:`.classical` — the non-learning segmenter behind the ``liver-classical`` model card
- :mod:`.postprocess` — largest component, hole filling, tumour inside liver
- :mod:`.metrics` — :func:`overlap_metrics` (Dice, IoU, HD95, ASSD, volume difference; MONAI)
- :mod:`.structures` — :func:`structure_table` (volumes, tumour count, largest diameter, burden)
- :mod:`.dicom_seg` — :func:`write_dicom_seg` (highdicom)
- :mod:`.lits` — :func:`fetch_lits117` (real CT with expert labels from a pinned PyPI wheel)

Importing this package imports neither torch, MONAI nor highdicom; the functions that need them do.
"""

from __future__ import annotations

from .classical import ClassicalRequest, ClassicalResult, NotCTError, segment_liver_tumour
from .dicom_seg import write_dicom_seg
from .lits import LitsCase, LitsUnavailableError, fetch_lits117
from .metrics import OverlapMetrics, overlap_metrics
from .postprocess import fill_holes, largest_component, remove_small_components, tumour_inside_liver
from .structures import StructureTable, structure_table

__all__ = [
    "ClassicalRequest",
    "ClassicalResult",
    "LitsCase",
    "LitsUnavailableError",
    "NotCTError",
    "OverlapMetrics",
    "StructureTable",
    "fetch_lits117",
    "fill_holes",
    "largest_component",
    "overlap_metrics",
    "remove_small_components",
    "segment_liver_tumour",
    "structure_table",
    "tumour_inside_liver",
    "write_dicom_seg",
]
