"""Tissue masses and densities: volume → mass, CT number → mass density, lung mass from CT."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .errors import MissingStructureError, NonFiniteValuesError, ZeroActivityError
from .presets import hu_to_density_points, tissue_density

if TYPE_CHECKING:  # pragma: no cover
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["mass_kg", "density_from_hu", "density_volume_from_ct", "mass_from_density"]


def mass_kg(volume_ml: float, density_g_per_ml: float | str = "liver") -> float:
    """Mass of a structure: m[kg] = V[ml] · ρ[g/ml] / 1000.

    Args:
        volume_ml: structure volume (> 0).
        density_g_per_ml: a density or the name of a tissue in the ``y90_tissue_densities`` preset.
    """
    rho = tissue_density(density_g_per_ml) if isinstance(density_g_per_ml, str) else float(density_g_per_ml)
    if not (np.isfinite(volume_ml) and volume_ml > 0):
        raise ZeroActivityError(f"Structure volume must be positive, got {volume_ml} ml")
    if not rho > 0:
        raise ZeroActivityError(f"Density must be positive, got {rho} g/ml")
    return float(volume_ml) * rho / 1000.0


def density_from_hu(hu: np.ndarray, points: tuple[tuple[float, float], ...] | None = None) -> np.ndarray:
    """Mass density (g/ml) from CT numbers by piecewise-linear interpolation of a calibration curve.

    Formula:
        ρ(HU) = linear interpolation through the (HU, ρ) calibration points, constant beyond the end points.

    Source: the ``hu_to_density`` entry of ``y90_tissue_densities.json`` (air, water, compact bone; after
    Schneider et al., Phys Med Biol 2000;45:459). With the default points ρ ≈ 1 + HU/1000 for HU ≤ 0, so lung at
    −700 HU gives 0.301 g/ml, and liver at +60 HU gives 1.032 g/ml.
    """
    pts = np.asarray(points or hu_to_density_points(), dtype=float)
    hu = np.asarray(hu, dtype=float)
    require_finite(hu, "CT numbers (HU) to convert to density", error=NonFiniteValuesError)
    return np.interp(hu, pts[:, 0], pts[:, 1])


def density_volume_from_ct(ct: Volume) -> Volume:
    """A density map (g/ml) on the CT grid (see :func:`density_from_hu`)."""
    return ct.with_array(density_from_hu(ct.array), name=f"{ct.name} density", units="g/ml", modality="")


def mass_from_density(density_g_per_ml: np.ndarray, mask: np.ndarray, voxel_volume_ml: float) -> float:
    """Mass (kg) of a masked region: m = Σ ρ_i · V_voxel / 1000."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise MissingStructureError("Cannot compute a mass: the region is empty")
    return float(np.sum(np.asarray(density_g_per_ml, dtype=float)[mask]) * voxel_volume_ml / 1000.0)
