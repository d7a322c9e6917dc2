"""PNG figures of a training result (matplotlib, Agg): ROC curves, calibration, decision curve, Kaplan–Meier,
nomogram; and the same curves as DataFrames for Slicer plot nodes (:func:`curve_tables`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .nomogram import draw_nomogram

__all__ = ["roc_points", "curve_tables", "save_figures"]


def roc_points(y: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """ROC curve: ``1 − specificity`` and sensitivity at every distinct threshold (scikit-learn ``roc_curve``)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y, dtype=int), np.asarray(score, dtype=float))
    return pd.DataFrame({"1 - specificity": fpr, "sensitivity": tpr})


def curve_tables(result: Any, y_test: np.ndarray | None = None,
                 test_scores: dict[str, np.ndarray] | None = None) -> dict[str, pd.DataFrame]:
    """Curves of a :class:`~.pipeline.TrainingResult` as tables (x column first), for plots and Slicer charts.

    Returns:
        ``{"calibration", "decision_curve", "roc" (when test scores are given), "km_<split>"}``.
    """
    tables: dict[str, pd.DataFrame] = {}
    calibration = result.calibration
    tables["calibration"] = pd.DataFrame({"predicted risk": calibration["predicted"],
                                          "observed rate": calibration["observed"],
                                          "ideal": calibration["predicted"]})
    dca = result.decision_curve
    tables["decision_curve"] = pd.DataFrame({"threshold probability": dca["thresholds"],
                                             "model": dca["net_benefit_model"], "treat all": dca["net_benefit_all"],
                                             "treat none": np.zeros(len(dca["thresholds"]))})
    if y_test is not None and test_scores:
        grid = np.linspace(0, 1, 101)
        columns = {"1 - specificity": grid}
        for name, score in test_scores.items():
            points = roc_points(y_test, score)
            columns[name] = np.interp(grid, points["1 - specificity"], points["sensitivity"])
        tables["roc"] = pd.DataFrame(columns)
    for split, content in result.survival.items():
        grid_end = max(max(c["time"]) for c in content["curves"].values())
        grid = np.linspace(0, grid_end, 200)
        columns = {"months": grid}
        for group, curve in content["curves"].items():
            index = np.searchsorted(np.asarray(curve["time"]), grid, side="right") - 1
            columns[group] = np.asarray(curve["survival"])[np.clip(index, 0, None)]
        tables[f"km_{split}"] = pd.DataFrame(columns)
    return tables


def save_figures(result: Any, folder: str | Path, y_test: np.ndarray | None = None,
                 test_scores: dict[str, np.ndarray] | None = None) -> dict[str, Path]:
    """Write ``roc.png``, ``calibration.png``, ``decision_curve.png``, ``km_*.png`` and ``nomogram.png``.

    Args:
        result: a :class:`~.pipeline.TrainingResult`.
        folder: existing output folder.
        y_test: held-out outcome (for the ROC figure).
        test_scores: held-out scores per model name (for the ROC figure).

    Returns:
        Paths of the files written, by figure name.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    folder = Path(folder)
    written: dict[str, Path] = {}
    for name, table in curve_tables(result, y_test, test_scores).items():
        fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
        x = table.columns[0]
        for column in table.columns[1:]:
            style = "--" if column in ("ideal", "treat none") else "-"
            drawstyle = "steps-post" if name.startswith("km_") else "default"
            ax.plot(table[x], table[column], style, label=str(column), drawstyle=drawstyle)
        ax.set_xlabel(str(x))
        ax.set_ylabel({"calibration": "observed event rate", "decision_curve": "net benefit", "roc": "sensitivity"}
                      .get(name, "survival probability"))
        if name == "decision_curve":
            ax.set_ylim(-0.05, max(0.05, float(table[["model", "treat all"]].max().max()) + 0.05))
        if name.startswith("km_"):
            test = result.survival[name[3:]]["logrank"]
            ax.set_title(f"log-rank chi2 = {test['chi2']:.2f}, p = {test['p_value']:.3g}", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        written[name] = path
    nomogram = result.models.get("nomogram")
    if nomogram is not None:
        fig = draw_nomogram(nomogram, folder / "nomogram.png")
        plt.close(fig)
        written["nomogram"] = folder / "nomogram.png"
    return written
