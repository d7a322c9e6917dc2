"""Radiomics on pyradiomics: presets, per-lesion/per-phase tables, peritumoral rings, delta radiomics, feature
robustness (ICC) and cohorts on Dask.

Importing this package imports neither pyradiomics nor Dask; the functions that need them do.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name → submodule; imported on first use (PEP 562) so that ``hccai`` starts fast (no scipy at start-up).
_EXPORTS = {
    "ROBUST_ICC": "analysis", "delta_features": "analysis", "icc": "analysis", "mask_perturbations": "analysis",
    "robustness_table": "analysis", "PRESETS": "extraction", "FeatureVector": "extraction",
    "GridMismatchWarning": "extraction", "NotCTError": "extraction", "extract_features": "extraction",
    "load_params": "extraction", "peritumoral_rings": "regions", "split_lesions": "regions",
    "LesionRadiomicsRequest": "table", "RadiomicsTable": "table", "lesion_radiomics": "table",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
