"""Dose-volume histograms and dose metrics per structure (mean, D_x, V_x, BED, EUD).

Definitions (ICRU Report 83 conventions applied to voxels of equal volume):
    D_x  = minimum dose received by the hottest x% of the structure: sort voxel doses in decreasing order,
           D_x = d_(⌈x·N/100⌉)  (e.g. N = 100 voxels of 1..100 Gy → D70 = 31 Gy)
    V_y  = percentage of the structure's voxels receiving at least y Gy
    cumulative DVH: V(≥d) for d on a dose grid
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from HCCInterventionalAILib.imaging.checks import require_finite

from .errors import MissingStructureError, NonFiniteValuesError, Y90InputError
from .presets import TissueRadiobiology, radiobiology
from .radiobiology import bed_permanent_implant, equivalent_uniform_dose
from .results import SerializableResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume

__all__ = [
    "DoseStatistics",
    "dose_at_volume",
    "volume_at_dose",
    "dose_statistics",
    "dose_statistics_table",
    "cumulative_dvh",
    "dvh_table",
    "DEFAULT_D_LEVELS",
    "DEFAULT_V_LEVELS_GY",
    "MAX_DVH_BINS",
    "MAX_DOSE_GY",
    "dvh_figure",
]

DEFAULT_D_LEVELS: tuple[float, ...] = (2, 50, 70, 90, 98)
DEFAULT_V_LEVELS_GY: tuple[float, ...] = (100, 205)
#: Largest dose (Gy) the statistics accept: far above any voxel dose (1 GBq in one 1 mm³ voxel gives 5·10⁷ Gy),
#: low enough that sums of squares cannot overflow.
MAX_DOSE_GY = 1e12
#: Most bins a cumulative DVH may have (memory guard against a bin width in the wrong unit).
MAX_DVH_BINS = 1_000_000


def _values(dose: np.ndarray, mask: np.ndarray | None, name: str) -> np.ndarray:
    dose = np.asarray(dose, dtype=float)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != dose.shape:
            from HCCInterventionalAILib.imaging.volume import GeometryMismatchError

            raise GeometryMismatchError(f"Mask '{name}' has shape {mask.shape}, dose has {dose.shape}")
        dose = dose[mask]
    return _checked_doses(dose, name)


def _checked_doses(doses: np.ndarray, name: str = "dose") -> np.ndarray:
    """Flat float array of absorbed doses, refusing empty, non-finite or negative values."""
    try:
        d = np.asarray(doses, dtype=float).ravel()
    except (TypeError, ValueError):
        raise Y90InputError(f"Dose in '{name}' must be numbers") from None
    if d.size == 0:
        raise MissingStructureError(f"Structure '{name}' is empty: no dose statistics")
    require_finite(d, f"dose in '{name}'", error=NonFiniteValuesError)
    if d.min() < 0:
        raise Y90InputError(f"Dose in '{name}' has negative values (minimum {d.min():g} Gy): an absorbed dose is ≥ 0")
    if d.max() > MAX_DOSE_GY:
        raise Y90InputError(f"Dose in '{name}' reaches {d.max():g} Gy, above {MAX_DOSE_GY:g} Gy: check the units")
    return d


def _finite_number(value: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise Y90InputError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise Y90InputError(f"{what} must be finite, got {value}")
    return value


def dose_at_volume(doses: np.ndarray, percent: float) -> float:
    """D_x: the minimum dose to the hottest ``percent`` % of the voxels (see module docstring).

    Raises:
        Y90InputError: x outside (0, 100], or doses that are negative, NaN or infinite.
        MissingStructureError: no doses.
    """
    x = _finite_number(percent, "D_x percentage")
    if not 0 < x <= 100:
        raise Y90InputError(f"D_x needs 0 < x ≤ 100, got {percent}")
    d = np.sort(_checked_doses(doses))[::-1]
    index = max(int(math.ceil(x / 100.0 * d.size - 1e-9)), 1) - 1
    return float(d[index])


def volume_at_dose(doses: np.ndarray, threshold_gy: float) -> float:
    """V_y: percentage of voxels with dose ≥ ``threshold_gy``.

    Raises:
        Y90InputError: a negative or non-finite threshold, or doses that are negative, NaN or infinite.
        MissingStructureError: no doses.
    """
    y = _finite_number(threshold_gy, "V_y threshold (Gy)")
    if y < 0:
        raise Y90InputError(f"V_y needs a threshold ≥ 0 Gy, got {threshold_gy}")
    d = _checked_doses(doses)
    return float(100.0 * np.count_nonzero(d >= y) / d.size)


@dataclass
class DoseStatistics(SerializableResult):
    """Dose metrics of one structure; BED/EUD fields are None when no radiobiology preset applies."""

    structure: str
    n_voxels: int
    volume_ml: float
    mean_gy: float
    std_gy: float
    min_gy: float
    max_gy: float
    d_gy: dict[str, float]
    v_percent: dict[str, float]
    radiobiology: str | None = None
    mean_bed_gy: float | None = None
    eud_gy: float | None = None
    eubed_gy: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Flat dictionary for a table row (D50_Gy, V100_%, …)."""
        out: dict[str, Any] = {"structure": self.structure, "voxels": self.n_voxels, "volume_ml": self.volume_ml,
                               "mean_Gy": self.mean_gy, "std_Gy": self.std_gy, "min_Gy": self.min_gy,
                               "max_Gy": self.max_gy}
        out.update({f"{k}_Gy": v for k, v in self.d_gy.items()})
        out.update({f"{k}_%": v for k, v in self.v_percent.items()})
        out.update({"radiobiology": self.radiobiology, "mean_BED_Gy": self.mean_bed_gy, "EUD_Gy": self.eud_gy,
                    "EUBED_Gy": self.eubed_gy})
        return out


def _label(value: float) -> str:
    return f"{value:g}"


def dose_statistics(
    dose: np.ndarray | Volume,
    mask: np.ndarray | None = None,
    *,
    name: str = "structure",
    voxel_volume_ml: float | None = None,
    d_levels: tuple[float, ...] = DEFAULT_D_LEVELS,
    v_levels_gy: tuple[float, ...] = DEFAULT_V_LEVELS_GY,
    tissue: str | TissueRadiobiology | None = None,
) -> DoseStatistics:
    """Dose metrics of the voxels in ``mask`` (all voxels when None).

    With ``tissue`` (a radiobiology preset name) the voxel-wise BED (Dale 1985), its mean, the EUD of the dose
    and the EUD of the BED (EUBED) are added, using the preset's α/β, repair half-time and α.

    Raises:
        Y90InputError: negative, NaN or infinite doses, a negative or non-finite voxel volume, or levels outside
            their ranges (see :func:`dose_at_volume`, :func:`volume_at_dose`).
        MissingStructureError: an empty structure.
    """
    array = getattr(dose, "array", dose)
    if voxel_volume_ml is None:
        geometry = getattr(dose, "geometry", None)
        voxel_volume_ml = geometry.voxel_volume_ml if geometry is not None else 0.0
    voxel_volume_ml = _finite_number(voxel_volume_ml, "Voxel volume (ml)")
    if voxel_volume_ml < 0:
        raise Y90InputError(f"Voxel volume must be ≥ 0 ml, got {voxel_volume_ml}")
    values = _values(array, mask, name)
    stats = DoseStatistics(
        structure=name, n_voxels=int(values.size), volume_ml=float(values.size * voxel_volume_ml),
        mean_gy=float(values.mean()), std_gy=float(values.std()), min_gy=float(values.min()),
        max_gy=float(values.max()),
        d_gy={f"D{_label(x)}": dose_at_volume(values, x) for x in d_levels},
        v_percent={f"V{_label(y)}": volume_at_dose(values, y) for y in v_levels_gy},
    )
    if tissue is not None:
        params = radiobiology(tissue)
        bed = bed_permanent_implant(values, params.alpha_beta_gy, params.repair_half_time_h)
        stats.radiobiology = params.name
        stats.mean_bed_gy = float(np.mean(bed))
        stats.eud_gy = equivalent_uniform_dose(values, params.alpha_per_gy)
        stats.eubed_gy = equivalent_uniform_dose(bed, params.alpha_per_gy)
        stats.parameters = params.to_dict()
    return stats


def _structure_masks(structures: Segmentation | Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if hasattr(structures, "segments"):
        return {s.name: s.mask for s in structures}  # type: ignore[union-attr]
    return dict(structures)  # type: ignore[arg-type]


def dose_statistics_table(
    dose: Volume,
    structures: Segmentation | Mapping[str, np.ndarray],
    *,
    tissues: Mapping[str, str | TissueRadiobiology | None] | None = None,
    d_levels: tuple[float, ...] = DEFAULT_D_LEVELS,
    v_levels_gy: tuple[float, ...] = DEFAULT_V_LEVELS_GY,
    skip_empty: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """One row of dose metrics per structure.

    Args:
        dose: dose volume (Gy); masks must be on its grid.
        structures: a Segmentation on the dose grid or a {name: mask} mapping.
        tissues: {structure name: radiobiology preset} for BED/EUD.
        skip_empty: empty structures are skipped with a warning instead of raising.

    Returns:
        (DataFrame, warnings)
    """
    import pandas as pd

    if hasattr(structures, "geometry"):
        dose.geometry.require_same_grid(structures.geometry, "dose and segmentation")  # type: ignore[union-attr]
    rows, warnings = [], []
    for name, mask in _structure_masks(structures).items():
        if not np.asarray(mask).any():
            if skip_empty:
                warnings.append(f"Structure '{name}' is empty on the dose grid; no DVH")
                continue
            raise MissingStructureError(f"Structure '{name}' is empty on the dose grid")
        tissue = (tissues or {}).get(name)
        rows.append(dose_statistics(dose, mask, name=name, d_levels=d_levels, v_levels_gy=v_levels_gy,
                                    tissue=tissue).row())
    return pd.DataFrame(rows), warnings


def cumulative_dvh(dose: np.ndarray | Volume, mask: np.ndarray | None = None, *, bin_width_gy: float | None = None,
                   max_dose_gy: float | None = None, name: str = "structure") -> pd.DataFrame:
    """Cumulative DVH: columns ``dose_Gy`` and ``volume_%`` (V(≥ dose)), starting at 0 Gy (100%).

    The default bin width is max dose / 200, rounded to 1-2-5 × 10ⁿ Gy.

    Raises:
        Y90InputError: negative/non-finite doses, a non-positive bin width, a negative maximum dose, or more than
            ``MAX_DVH_BINS`` bins.
    """
    import pandas as pd

    values = _values(getattr(dose, "array", dose), mask, name)
    top = _finite_number(max_dose_gy if max_dose_gy is not None else values.max(), "DVH maximum dose (Gy)")
    if top < 0:
        raise Y90InputError(f"DVH maximum dose must be ≥ 0 Gy, got {max_dose_gy}")
    if bin_width_gy is None:
        raw = max(top / 200.0, 1e-6)
        exponent = 10.0 ** math.floor(math.log10(raw))
        bin_width_gy = next(m * exponent for m in (1, 2, 5, 10) if m * exponent >= raw)
    bin_width_gy = _finite_number(bin_width_gy, "DVH bin width (Gy)")
    if not bin_width_gy > 0:
        raise Y90InputError("DVH bin width must be positive")
    if top / bin_width_gy > MAX_DVH_BINS:
        raise Y90InputError(f"A DVH up to {top:g} Gy in bins of {bin_width_gy:g} Gy would have more than "
                            f"{MAX_DVH_BINS:,} bins; use a wider bin")
    grid = np.arange(0.0, top + bin_width_gy, bin_width_gy)
    sorted_values = np.sort(values)
    at_least = values.size - np.searchsorted(sorted_values, grid, side="left")
    return pd.DataFrame({"dose_Gy": grid, "volume_%": 100.0 * at_least / values.size})


def dvh_table(dose: Volume, structures: Segmentation | Mapping[str, np.ndarray], *,
              bin_width_gy: float | None = None) -> pd.DataFrame:
    """Cumulative DVHs of several structures on one dose grid, long format (structure, dose_Gy, volume_%).

    All structures share the bin width (default from the highest dose) so the curves can be overlaid.
    """
    import pandas as pd

    masks = {n: m for n, m in _structure_masks(structures).items() if np.asarray(m).any()}
    if not masks:
        raise MissingStructureError("No non-empty structure for the DVH")
    top = max(float(np.asarray(dose.array)[np.asarray(m, bool)].max()) for m in masks.values())
    frames = []
    for name, mask in masks.items():
        frame = cumulative_dvh(dose, mask, bin_width_gy=bin_width_gy, max_dose_gy=top, name=name)
        frame.insert(0, "structure", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


#: Line styles of segments that share one colour, in order (the first keeps a solid line).
_SHARED_COLOUR_STYLES: tuple[Any, ...] = ("-", "-.", ":", (0, (6, 2, 1, 2, 1, 2)))


def _rgb_colours(colours: Mapping[str, Any] | Segmentation | None) -> dict[str, tuple[float, float, float]]:
    """Name → (r, g, b) in 0–1, from a mapping or from a Segmentation's segments (their Slicer display colours)."""
    if colours is None:
        return {}
    items = colours.items() if isinstance(colours, Mapping) else ((s.name, s.color) for s in colours)
    out: dict[str, tuple[float, float, float]] = {}
    for name, colour in items:
        if colour is None:
            continue
        rgb = tuple(float(c) for c in colour)
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise Y90InputError(f"The colour of '{name}' must be three numbers between 0 and 1 (RGB), got {colour!r}")
        out[str(name)] = rgb  # type: ignore[assignment]
    return out


def dvh_figure(dvh: pd.DataFrame, structures: Sequence[str] | None = None, title: str = "Cumulative DVH",
               colors: Mapping[str, Any] | Segmentation | None = None) -> Any:
    """Cumulative DVH curves as a matplotlib figure, each structure in its segment's colour, legend beside the axes.

    As in Slicer's DVH plot, a structure that is a segment is drawn in that segment's display colour; derived
    structures without one (e.g. "normal liver") take the next colour of matplotlib's cycle and a dashed line;
    segments that share a colour (two tumours of one terminology) are told apart by line style (solid, dash-dot,
    dotted).
    The legend sits outside the axes (right), so it never covers a curve. matplotlib is imported here only.

    Args:
        dvh: long-format table (``structure``, ``dose_Gy``, ``volume_%``), e.g. from :func:`dvh_table`.
        structures: which structures to draw, in this order (default: all, in table order); names not in the table
            are left out.
        title: the axes title.
        colors: name → RGB (0–1), or the Segmentation whose segment colours to use.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        Y90InputError: the table lacks the columns, none of ``structures`` is in it, or a colour is not RGB in 0–1.
    """
    from HCCInterventionalAILib.report.figures import curves_figure

    missing = {"structure", "dose_Gy", "volume_%"} - set(getattr(dvh, "columns", ()))
    if missing:
        raise Y90InputError(f"The DVH table lacks the column(s) {', '.join(sorted(missing))}")
    present = list(dict.fromkeys(dvh["structure"]))
    names = [n for n in (present if structures is None else structures) if n in present]
    if not names:
        raise Y90InputError(f"None of the structures {list(structures or [])} is in the DVH table ({present})")
    rows = dvh[dvh["structure"].isin(names)]
    x = np.unique(rows["dose_Gy"].to_numpy(float))
    groups = {name: group for name, group in rows.groupby("structure", sort=False)}
    curves = {name: np.interp(x, groups[name]["dose_Gy"].to_numpy(float), groups[name]["volume_%"].to_numpy(float))
              for name in names}
    colours = _rgb_colours(colors)
    styles: dict[str, Any] = {}
    seen: dict[tuple[float, float, float], int] = {}
    for name in names:
        if name not in colours:
            styles[name] = "--"
        else:  # segments sharing a colour (e.g. two tumours of one terminology) differ by line style
            repeat = seen[colours[name]] = seen.get(colours[name], -1) + 1
            styles[name] = _SHARED_COLOUR_STYLES[repeat % len(_SHARED_COLOUR_STYLES)]
    return curves_figure(x, curves, title, "Dose (Gy)", "Volume (%)",
                         colors={n: colours[n] for n in names if n in colours}, linestyles=styles)
