"""Named, documented clinical conventions for Y-90 dosimetry, read from ``Resources/Presets/y90_*.json``.

Every value a clinician might argue about (the dose constant K, dose limits, lung-shunt rules, radiobiology
parameters, tissue densities, the dose-kernel source) lives in a JSON preset that names its source. The
accessors below return small frozen dataclasses that carry that source, so results can state it.

The folder is found, in order, from the ``HCCAI_PRESETS_DIR`` environment variable, then the extension's
top-level ``Resources/Presets`` folder (next to ``Y90Dosimetry/``).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import PresetError

__all__ = [
    "presets_dir",
    "load_preset",
    "DoseConstant",
    "DoseLimits",
    "LungShuntBand",
    "MicrosphereSpec",
    "TissueRadiobiology",
    "dose_constant",
    "dose_limits",
    "microsphere",
    "radiobiology",
    "tissue_density",
    "default_lung_mass_kg",
    "hu_to_density_points",
]

ENV_PRESETS_DIR = "HCCAI_PRESETS_DIR"


def presets_dir() -> Path:
    """Folder holding the ``y90_*.json`` presets."""
    env = os.environ.get(ENV_PRESETS_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "Resources" / "Presets"


@cache
def _load(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise PresetError(f"Preset file {file} not found (set {ENV_PRESETS_DIR} to the folder holding y90_*.json)")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PresetError(f"Preset file {file} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not str(data.get("source", "")).strip():
        raise PresetError(f"Preset file {file} must be a JSON object with a non-empty 'source'")
    return data


def load_preset(name: str) -> dict[str, Any]:
    """The parsed JSON of ``Resources/Presets/<name>.json`` (e.g. ``"y90_dose_limits"``); cached."""
    return _load(str(presets_dir() / f"{name}.json"))


def _entry(file: str, key: str | None) -> tuple[str, dict[str, Any]]:
    data = load_preset(file)
    presets = data.get("presets", {})
    key = key or data.get("default")
    if key not in presets:
        raise PresetError(f"No preset '{key}' in {file}.json; available: {', '.join(presets)}")
    entry = presets[key]
    if not str(entry.get("source", "")).strip():
        raise PresetError(f"Preset '{key}' in {file}.json has no source")
    return key, entry


@dataclass(frozen=True)
class DoseConstant:
    """K in Gy·kg/GBq (= J/GBq) with the preset name and source it came from."""

    name: str
    value: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dose_constant(name: str | float | DoseConstant | None = None) -> DoseConstant:
    """The dose constant preset ``name`` (default ``conventional`` = 49.67), or a custom number.

    A bare number is accepted for what-if calculations and is labelled ``custom`` in the provenance.
    """
    if isinstance(name, DoseConstant):
        return name
    if isinstance(name, (int, float)):
        if not name > 0:
            raise PresetError(f"Dose constant must be positive, got {name}")
        return DoseConstant("custom", float(name), "user-supplied value")
    key, entry = _entry("y90_dose_constants", name)
    return DoseConstant(key, float(entry["value_gy_kg_per_gbq"]), entry["source"])


@dataclass(frozen=True)
class LungShuntBand:
    """Activity reduction applied when lsf_from <= LSF < lsf_to (resin BSA method)."""

    lsf_from: float
    lsf_to: float
    activity_reduction: float


@dataclass(frozen=True)
class DoseLimits:
    """Limits checked by the planning functions; ``None`` disables a check."""

    name: str
    lung_dose_single_gy: float | None
    lung_dose_cumulative_gy: float | None
    lung_shunt_reductions: tuple[LungShuntBand, ...]
    lung_shunt_contraindicated_above: float | None
    normal_liver_max_gy: float | None
    tumour_min_gy: float | None
    source: str

    def reduction_for(self, lung_shunt_fraction: float) -> tuple[float, bool]:
        """(activity reduction fraction, contraindicated) for a lung shunt fraction."""
        limit = self.lung_shunt_contraindicated_above
        if limit is not None and lung_shunt_fraction > limit:
            return 1.0, True
        for band in self.lung_shunt_reductions:
            if band.lsf_from <= lung_shunt_fraction < band.lsf_to:
                return band.activity_reduction, False
        if self.lung_shunt_reductions and lung_shunt_fraction >= self.lung_shunt_reductions[-1].lsf_to:
            return self.lung_shunt_reductions[-1].activity_reduction, False
        return 0.0, False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dose_limits(name: str | DoseLimits | None = None) -> DoseLimits:
    """Dose-limit preset ``name`` (``resin_sirtex`` or ``glass_therasphere``; default resin)."""
    if isinstance(name, DoseLimits):
        return name
    key, e = _entry("y90_dose_limits", name)
    bands = tuple(LungShuntBand(float(b["lsf_from"]), float(b["lsf_to"]), float(b["activity_reduction"]))
                  for b in e.get("lung_shunt_reductions", []))

    def opt(field: str) -> float | None:
        value = e.get(field)
        return None if value is None else float(value)

    return DoseLimits(key, opt("lung_dose_single_gy"), opt("lung_dose_cumulative_gy"), bands,
                      opt("lung_shunt_contraindicated_above"), opt("normal_liver_max_gy"), opt("tumour_min_gy"),
                      e["source"])


@dataclass(frozen=True)
class MicrosphereSpec:
    """A microsphere product and the dosing conventions of its IFU.

    ``ifu_dose_constant`` names the K preset the product's IFU uses (informational: the planning default stays
    the conventional 49.67 so that reports are comparable); ``dose_limits`` is the limit preset applied by default.
    """

    name: str
    product: str
    material: str
    activity_per_sphere_bq: float
    dosing_method: str
    ifu_dose_constant: str
    dose_limits: str
    vial_activities_gbq: tuple[float, ...]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def microsphere(name: str | MicrosphereSpec | None = None) -> MicrosphereSpec:
    """Microsphere preset ``glass`` (TheraSphere) or ``resin`` (SIR-Spheres)."""
    if isinstance(name, MicrosphereSpec):
        return name
    key, e = _entry("y90_microspheres", name)
    return MicrosphereSpec(key, e["product"], e["material"], float(e["activity_per_sphere_bq_at_calibration"]),
                           e["dosing_method"], e["ifu_dose_constant"], e["dose_limits"],
                           tuple(float(v) for v in e.get("vial_activities_gbq_at_calibration", [])), e["source"])


@dataclass(frozen=True)
class TissueRadiobiology:
    """Linear-quadratic parameters of one tissue for BED/EUD."""

    name: str
    alpha_beta_gy: float
    repair_half_time_h: float
    alpha_per_gy: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def radiobiology(name: str | TissueRadiobiology) -> TissueRadiobiology:
    """Radiobiology preset ``hcc_tumour``, ``normal_liver`` or ``lung``."""
    if isinstance(name, TissueRadiobiology):
        return name
    key, e = _entry("y90_radiobiology", name)
    return TissueRadiobiology(key, float(e["alpha_beta_gy"]), float(e["repair_half_time_h"]),
                              float(e["alpha_per_gy"]), e["source"])


def tissue_density(tissue: str) -> float:
    """Mass density (g/ml) of ``liver``, ``tumour``, ``soft_tissue`` or ``lung`` from the densities preset."""
    table = load_preset("y90_tissue_densities")["densities_g_per_ml"]
    if tissue not in table:
        raise PresetError(f"No density for '{tissue}'; known: {', '.join(table)}")
    return float(table[tissue]["value"])


def default_lung_mass_kg() -> float:
    """The fixed lung mass used only when no CT-derived lung mass is available (flagged in warnings)."""
    return float(load_preset("y90_tissue_densities")["default_lung_mass_kg"]["value"])


def hu_to_density_points() -> tuple[tuple[float, float], ...]:
    """(HU, g/ml) points of the piecewise-linear CT-number to mass-density calibration."""
    points = load_preset("y90_tissue_densities")["hu_to_density"]["points_hu_g_per_ml"]
    return tuple((float(h), float(d)) for h, d in points)
