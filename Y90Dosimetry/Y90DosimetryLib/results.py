"""JSON serialisation and provenance shared by every result dataclass of the library."""

from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .constants import Y90_HALF_LIFE_H, Y90_MEAN_BETA_ENERGY_MEV

__all__ = ["SerializableResult", "to_jsonable", "library_provenance"]


def library_provenance() -> dict[str, Any]:
    """Library name/version and the nuclear constants every result depends on."""
    from . import __version__

    return {
        "library": "Y90DosimetryLib",
        "version": __version__,
        "y90_half_life_h": Y90_HALF_LIFE_H,
        "y90_mean_beta_energy_mev": Y90_MEAN_BETA_ENERGY_MEV,
    }


def _volume_summary(volume: Any) -> dict[str, Any]:
    geometry = volume.geometry
    return {
        "name": volume.name,
        "modality": volume.modality,
        "units": volume.units,
        "shape": list(geometry.shape),
        "spacing_mm": list(geometry.spacing),
        "origin_lps_mm": list(geometry.origin),
        "direction": [list(row) for row in geometry.direction],
        "metadata": to_jsonable(volume.metadata),
    }


def to_jsonable(value: Any) -> Any:
    """Convert results (dataclasses, DataFrames, numpy values, volumes, dates) to JSON-compatible objects.

    Volumes become a geometry summary (their voxel arrays are written to NRRD/DICOM, not to JSON); NaN and
    infinities become ``None``.
    """
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, np.ndarray):
        if value.size > 4096:  # voxel arrays: summarise, never dump
            return {"shape": list(value.shape), "dtype": str(value.dtype)}
        return [to_jsonable(v) for v in value.tolist()] if value.ndim else to_jsonable(value.item())
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and callable(value.to_dict) and not hasattr(value, "columns"):
        return value.to_dict()
    if hasattr(value, "columns") and hasattr(value, "to_dict"):  # pandas DataFrame
        return [to_jsonable(row) for row in value.to_dict(orient="records")]
    if hasattr(value, "geometry") and hasattr(value, "array"):
        return _volume_summary(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(v) for v in value]
    return str(value)


class SerializableResult:
    """Mixin for result dataclasses: ``to_dict()`` gives a JSON-serialisable dictionary of all fields."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
