"""Predicted (99mTc-MAA) versus delivered (Y-90 PET / bremsstrahlung SPECT) dose: per-structure differences and
the 3D gamma index."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .dvh import dose_statistics
from .errors import NonFiniteValuesError, Y90InputError
from .results import SerializableResult, library_provenance

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["compare_doses", "GammaResult", "gamma_index"]


def compare_doses(
    predicted: Volume,
    delivered: Volume,
    structures: Segmentation | Mapping[str, np.ndarray],
    *,
    d_levels: tuple[float, ...] = (50, 70, 90),
) -> pd.DataFrame:
    """Per-structure comparison of two dose maps on the same grid.

    Columns: mean and D_x of each map, their differences (delivered − predicted, Gy) and the relative mean
    difference (% of predicted), as reported by Plachouris D et al., Med Phys 2021;48:7427 (seed 001).

    Raises:
        GeometryMismatchError: the maps (or the segmentation) are on different grids; resample the delivered
            dose onto the predicted grid first (``imaging.resample.resample_to_geometry``).
    """
    import pandas as pd

    predicted.geometry.require_same_grid(delivered.geometry, "predicted and delivered doses")
    if hasattr(structures, "geometry"):
        predicted.geometry.require_same_grid(structures.geometry, "doses and segmentation")  # type: ignore[union-attr]
        masks = {s.name: s.mask for s in structures}  # type: ignore[union-attr]
    else:
        masks = dict(structures)  # type: ignore[arg-type]
    rows = []
    for name, mask in masks.items():
        if not np.asarray(mask).any():
            continue
        p = dose_statistics(predicted, mask, name=name, d_levels=d_levels, v_levels_gy=())
        d = dose_statistics(delivered, mask, name=name, d_levels=d_levels, v_levels_gy=())
        row: dict[str, Any] = {"structure": name, "volume_ml": p.volume_ml,
                               "predicted_mean_Gy": p.mean_gy, "delivered_mean_Gy": d.mean_gy,
                               "mean_difference_Gy": d.mean_gy - p.mean_gy,
                               "mean_difference_%": 100.0 * (d.mean_gy - p.mean_gy) / p.mean_gy if p.mean_gy > 0
                               else float("nan")}
        for key in p.d_gy:
            row[f"predicted_{key}_Gy"] = p.d_gy[key]
            row[f"delivered_{key}_Gy"] = d.d_gy[key]
            row[f"{key}_difference_Gy"] = d.d_gy[key] - p.d_gy[key]
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class GammaResult(SerializableResult):
    """3D gamma index of an evaluated dose against a reference dose.

    ``gamma`` holds γ at the evaluated points and −1 elsewhere (below the threshold / outside the mask).
    γ values above ``max_gamma`` are upper bounds (the search stops at max_gamma·DTA).
    """

    gamma: Volume
    pass_rate_percent: float
    mean_gamma: float
    gamma_95th_percentile: float
    n_points: int
    criteria: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=library_provenance)


def _offsets(spacing: tuple[float, float, float], radius_mm: float, step_mm: float) -> np.ndarray:
    """Physical offsets (mm, in k, j, i order) on a cubic grid of ``step_mm`` within a sphere, sorted by length."""
    n = int(math.floor(radius_mm / step_mm))
    axis = np.arange(-n, n + 1) * step_mm
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
    length = np.linalg.norm(grid, axis=1)
    keep = length <= radius_mm + 1e-9
    grid, length = grid[keep], length[keep]
    return grid[np.argsort(length, kind="stable")]


def gamma_index(
    reference: Volume,
    evaluated: Volume,
    *,
    dose_percent: float = 3.0,
    dta_mm: float = 3.0,
    local: bool = False,
    normalisation_dose_gy: float | None = None,
    threshold_percent: float = 10.0,
    max_gamma: float = 2.0,
    step_mm: float | None = None,
    mask: np.ndarray | None = None,
) -> GammaResult:
    """Gamma index (Low DA et al., Med Phys 1998;25:656) of ``evaluated`` against ``reference``.

    Formula, for each reference point r above the threshold:
        γ(r) = min_{r'} sqrt( |r' − r|² / DTA² + (D_eval(r') − D_ref(r))² / ΔD² )
        ΔD = dose_percent % of the normalisation dose (global: max reference dose unless given) or of D_ref(r)
        (local). γ ≤ 1 passes.

    r' runs over a cubic grid of offsets (step ``step_mm`` = h, default min(DTA/10, smallest voxel/2)) within
    max_gamma·DTA, with the evaluated dose linearly interpolated; offsets are visited by increasing distance and
    the search ends for a point once no remaining offset can lower its γ. The offset grid overestimates γ by at
    most γ_h² − γ² ≤ (h/2)²·(3/DTA² + |∇D|²/ΔD²) (nearest grid offset to the true minimiser), so steep
    gradients with a tight dose criterion need a finer step. Analytic check: a dose ramp of gradient g shifted
    by s gives γ = s / sqrt(DTA² + (ΔD/g)²).

    Args:
        reference, evaluated: doses on the same grid (Gy).
        threshold_percent: reference points below this % of the maximum reference dose are not evaluated.
        mask: optional boolean mask restricting the evaluated points.
    """
    from scipy.ndimage import map_coordinates

    reference.geometry.require_same_grid(evaluated.geometry, "reference and evaluated doses")
    if not (dose_percent > 0 and dta_mm > 0 and max_gamma > 0):
        raise Y90InputError("Gamma criteria (dose %, DTA, max gamma) must be positive")
    ref = np.asarray(reference.array, dtype=float)
    ev = np.asarray(evaluated.array, dtype=float)
    require_finite(ref, "reference dose map for the gamma index", error=NonFiniteValuesError)
    require_finite(ev, "evaluated dose map for the gamma index", error=NonFiniteValuesError)
    max_ref = float(ref.max())
    if not max_ref > 0:
        raise Y90InputError("Reference dose is zero everywhere")
    points = ref >= threshold_percent / 100.0 * max_ref
    if mask is not None:
        points &= np.asarray(mask, dtype=bool)
    idx = np.argwhere(points).astype(float)  # (k, j, i)
    if idx.size == 0:
        raise Y90InputError("No reference points above the gamma threshold")
    d_ref = ref[points]
    norm = normalisation_dose_gy if normalisation_dose_gy is not None else max_ref
    delta_d = dose_percent / 100.0 * (np.maximum(d_ref, threshold_percent / 100.0 * max_ref) if local else norm)
    spacing_kji = np.asarray(reference.spacing[::-1], dtype=float)
    step = step_mm or min(dta_mm / 10.0, float(spacing_kji.min()) / 2.0)
    offsets = _offsets(tuple(spacing_kji), max_gamma * dta_mm, step)

    delta_d = np.broadcast_to(np.asarray(delta_d, dtype=float), d_ref.shape)
    best = np.full(d_ref.shape, np.inf)  # current min of γ² per point
    for offset in offsets:
        distance2 = float(offset @ offset) / dta_mm**2
        active = np.flatnonzero(best > distance2)  # only these points can still improve
        if active.size == 0:
            break
        coords = (idx[active] + offset / spacing_kji).T
        values = map_coordinates(ev, coords, order=1, mode="constant", cval=np.nan)
        g2 = distance2 + ((values - d_ref[active]) / delta_d[active]) ** 2
        best[active] = np.fmin(best[active], g2)
    gamma_values = np.sqrt(best)
    out = np.full(ref.shape, -1.0)
    out[points] = gamma_values
    finite = gamma_values[np.isfinite(gamma_values)]
    volume = reference.with_array(out, name="gamma index", modality="", units="",
                                  metadata={"not_evaluated_value": -1.0})
    return GammaResult(
        gamma=volume,
        pass_rate_percent=float(100.0 * np.count_nonzero(gamma_values <= 1.0) / gamma_values.size),
        mean_gamma=float(finite.mean()) if finite.size else float("nan"),
        gamma_95th_percentile=float(np.percentile(finite, 95)) if finite.size else float("nan"),
        n_points=int(gamma_values.size),
        criteria={"dose_percent": dose_percent, "dta_mm": dta_mm, "local": local, "normalisation_dose_gy": norm,
                  "threshold_percent": threshold_percent, "max_gamma": max_gamma, "step_mm": step,
                  "interpolation": "linear"},
    )
