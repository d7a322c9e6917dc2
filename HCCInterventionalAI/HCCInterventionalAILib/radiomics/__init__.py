"""Radiomics on pyradiomics: presets, per-lesion/per-phase tables, peritumoral rings, delta radiomics, feature
robustness (ICC) and cohorts on Dask.

Importing this package imports neither pyradiomics nor Dask; the functions that need them do.
"""

from __future__ import annotations

from .analysis import ROBUST_ICC, delta_features, icc, mask_perturbations, robustness_table
from .extraction import PRESETS, FeatureVector, GridMismatchWarning, NotCTError, extract_features, load_params
from .regions import peritumoral_rings, split_lesions
from .table import LesionRadiomicsRequest, RadiomicsTable, lesion_radiomics

__all__ = [
    "PRESETS",
    "ROBUST_ICC",
    "FeatureVector",
    "GridMismatchWarning",
    "LesionRadiomicsRequest",
    "NotCTError",
    "RadiomicsTable",
    "delta_features",
    "extract_features",
    "icc",
    "lesion_radiomics",
    "load_params",
    "mask_perturbations",
    "peritumoral_rings",
    "robustness_table",
    "split_lesions",
]
