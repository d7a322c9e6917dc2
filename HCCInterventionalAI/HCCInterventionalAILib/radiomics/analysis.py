"""Delta radiomics and feature robustness (intraclass correlation under mask perturbation).

ICC definitions (Shrout P.E., Fleiss J.L., "Intraclass correlations: uses in assessing rater reliability",
Psychological Bulletin 1979;86:420-428), from a two-way ANOVA of an ``n`` subjects × ``k`` raters table with
mean squares BMS (between subjects), WMS (within subjects), JMS (between raters) and EMS (residual):

* ICC(1,1) = (BMS - WMS) / (BMS + (k-1)·WMS)
* ICC(2,1) = (BMS - EMS) / (BMS + (k-1)·EMS + k·(JMS - EMS)/n)   (absolute agreement, random raters)
* ICC(3,1) = (BMS - EMS) / (BMS + (k-1)·EMS)                     (consistency, fixed raters)

For mask perturbation the "raters" are the perturbed masks (original, eroded, dilated, shifted) and the
subjects are lesions/cases; features with ICC(2,1) < 0.75 are flagged as not robust (poor-to-moderate
reliability: Koo T.K., Li M.Y., J Chiropr Med 2016;15:155-163). Perturbation follows Zwanenburg A. et al.,
"Assessing robustness of radiomic features by image perturbation", Sci Rep 2019;9:614.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["ROBUST_ICC", "delta_features", "icc", "mask_perturbations", "robustness_table"]

#: ICC(2,1) threshold below which a feature is flagged as not robust (Koo & Li 2016: "good" ≥ 0.75).
ROBUST_ICC = 0.75


def delta_features(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Change of each feature between two time points: absolute ``after - before`` and relative (%).

    The relative change ``100·(after - before)/|before|`` is NaN when ``before`` is 0.

    Raises:
        ValueError: the two feature sets share no feature name.
    """
    common = [name for name in before if name in after]
    if not common:
        raise ValueError("The two feature sets share no feature name (different parameter files?)")
    out = {}
    for name in common:
        a, b = float(before[name]), float(after[name])
        out[name] = {"before": a, "after": b, "delta": b - a,
                     "delta_percent": 100.0 * (b - a) / abs(a) if a != 0 else float("nan")}
    return out


def icc(table: np.ndarray, kind: str = "2,1") -> float:
    """Intraclass correlation of an ``(n subjects, k raters)`` table (Shrout & Fleiss 1979).

    Args:
        table: ratings, subjects in rows.
        kind: ``"1,1"``, ``"2,1"`` or ``"3,1"``.

    Raises:
        ValueError: fewer than 2 subjects or raters, non-finite values or an unknown kind.
    """
    x = np.asarray(table, dtype=float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ICC needs at least 2 subjects × 2 raters, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("ICC needs finite values")
    n, k = x.shape
    grand = x.mean()
    ss_subjects = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((x - grand) ** 2).sum()
    ss_error = ss_total - ss_subjects - ss_raters
    bms = ss_subjects / (n - 1)
    wms = (ss_total - ss_subjects) / (n * (k - 1))
    jms = ss_raters / (k - 1)
    ems = ss_error / ((n - 1) * (k - 1))
    if kind == "1,1":
        denominator = bms + (k - 1) * wms
        return float((bms - wms) / denominator) if denominator else float("nan")
    if kind == "2,1":
        denominator = bms + (k - 1) * ems + k * (jms - ems) / n
        return float((bms - ems) / denominator) if denominator else float("nan")
    if kind == "3,1":
        denominator = bms + (k - 1) * ems
        return float((bms - ems) / denominator) if denominator else float("nan")
    raise ValueError(f"Unknown ICC kind '{kind}'; expected 1,1, 2,1 or 3,1")


def mask_perturbations(mask: np.ndarray, spacing: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """The original mask and small perturbations of it: 1-voxel erosion and dilation, 1-voxel shifts in i and j.

    Perturbations that would empty the mask are left out.
    """
    mask = np.asarray(mask, bool)
    structure = ndimage.generate_binary_structure(3, 1)
    variants = {
        "original": mask,
        "eroded": ndimage.binary_erosion(mask, structure),
        "dilated": ndimage.binary_dilation(mask, structure),
        "shift +i": np.roll(mask, 1, axis=2),
        "shift +j": np.roll(mask, 1, axis=1),
    }
    return {name: m for name, m in variants.items() if m.any()}


def robustness_table(
    features_per_subject: Sequence[Mapping[str, Mapping[str, float]]],
    threshold: float = ROBUST_ICC,
) -> pd.DataFrame:
    """ICC(2,1) and ICC(3,1) of every feature over subjects × perturbations, with a robustness flag.

    Args:
        features_per_subject: for each subject, perturbation name → {feature: value}; every subject must
            have the same perturbations.
        threshold: ICC(2,1) below which a feature is flagged ``robust = False``.

    Returns:
        A pandas DataFrame indexed by feature: ``icc_2_1``, ``icc_3_1``, ``robust``.

    Raises:
        ValueError: fewer than 2 subjects.
    """
    import pandas as pd

    if len(features_per_subject) < 2:
        raise ValueError("Feature robustness needs at least 2 subjects (lesions or cases)")
    perturbations = sorted(set.intersection(*(set(s) for s in features_per_subject)))
    names = [n for n in features_per_subject[0][perturbations[0]]
             if all(n in s[p] for s in features_per_subject for p in perturbations)]
    rows = {}
    for name in names:
        table = np.array([[s[p][name] for p in perturbations] for s in features_per_subject], dtype=float)
        if not np.isfinite(table).all() or np.ptp(table) == 0:
            rows[name] = {"icc_2_1": float("nan"), "icc_3_1": float("nan"), "robust": False}
            continue
        value = icc(table, "2,1")
        rows[name] = {"icc_2_1": value, "icc_3_1": icc(table, "3,1"), "robust": bool(value >= threshold)}
    return pd.DataFrame.from_dict(rows, orient="index")
