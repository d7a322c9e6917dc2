"""Nomogram of a logistic model: points per predictor, total points, predicted probability, and its figure.

For a logistic model ``logit p = β0 + Σ_v c_v(x_v)`` with ``c_v = β_v·x_v`` (numeric) or ``β_{v=level}``
(categorical, reference level 0), each predictor's axis spans its contribution range
``R_v = max c_v − min c_v`` over the training range (numeric: observed minimum to maximum) or levels. With
``R = max_v R_v`` (the predictor with the widest range gets 0–100 points)::

    points_v(x) = 100 · (c_v(x) − min c_v) / R
    logit p = β0 + Σ_v min c_v + (R / 100) · Σ_v points_v

(Iasonos, Schrag, Raj & Panageas, J. Clin. Oncol. 26:1364–1370, 2008; Harrell's ``rms::nomogram``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MissingValuesError, PredictionInputError, UnseenCategoryError

__all__ = ["NomogramAxis", "Nomogram", "nomogram_from_model", "draw_nomogram"]


@dataclass
class NomogramAxis:
    """One predictor's axis: numeric (``beta``, ``low``, ``high``) or categorical (``level_betas``)."""

    name: str
    kind: str  # "numeric" or "categorical"
    beta: float = 0.0
    low: float = 0.0
    high: float = 0.0
    level_betas: dict[str, float] = field(default_factory=dict)

    def contribution(self, value: Any) -> float:
        """``c_v(x)`` on the logit scale."""
        if self.kind == "categorical":
            from .modelling import category_key

            key = category_key(value)
            if key not in self.level_betas:
                raise UnseenCategoryError(f"{self.name} = {key} was not seen in training "
                                          f"(known: {', '.join(self.level_betas)}).")
            return self.level_betas[key]
        try:
            number = float(value)
        except (TypeError, ValueError) as error:
            raise PredictionInputError(f"{self.name} must be a number (got {value!r}).") from error
        if not np.isfinite(number):
            raise MissingValuesError(f"{self.name} is missing.")
        return self.beta * number

    def contribution_range(self) -> tuple[float, float]:
        if self.kind == "categorical":
            values = list(self.level_betas.values())
        else:
            values = [self.beta * self.low, self.beta * self.high]
        return min(values), max(values)


@dataclass
class Nomogram:
    """Points scale of a logistic model (see module docstring)."""

    intercept: float
    axes: list[NomogramAxis]
    outcome_label: str = "Probability of the outcome"

    @property
    def logit_per_point(self) -> float:
        """``R / 100``."""
        widest = max(hi - lo for lo, hi in (a.contribution_range() for a in self.axes))
        return widest / 100 if widest > 0 else 1.0

    def points(self, values: Mapping[str, Any]) -> dict[str, float]:
        """Points per predictor for one patient, plus ``"total"``.

        Raises:
            MissingValuesError: a predictor is absent or NaN.
            UnseenCategoryError: a categorical value unknown to the model.
        """
        missing = [a.name for a in self.axes if a.name not in values or values[a.name] is None]
        if missing:
            raise MissingValuesError(f"Missing value(s) for {', '.join(missing)}.")
        scale = self.logit_per_point
        result = {a.name: (a.contribution(values[a.name]) - a.contribution_range()[0]) / scale for a in self.axes}
        result["total"] = float(sum(result.values()))
        return result

    def linear_predictor(self, total_points: float) -> float:
        """``logit p`` for a total number of points."""
        base = self.intercept + sum(a.contribution_range()[0] for a in self.axes)
        return base + self.logit_per_point * total_points

    def probability(self, total_points: float) -> float:
        """Predicted probability for a total number of points."""
        return float(1 / (1 + np.exp(-self.linear_predictor(total_points))))

    def to_dict(self) -> dict[str, Any]:
        return {"intercept": self.intercept, "outcome_label": self.outcome_label,
                "axes": [asdict(a) for a in self.axes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Nomogram:
        """Rebuild from :meth:`to_dict` output (plain JSON)."""
        return cls(float(data["intercept"]), [NomogramAxis(**a) for a in data["axes"]],
                   str(data.get("outcome_label", "Probability of the outcome")))


def nomogram_from_model(model: Any, table: Any, outcome_label: str = "Probability of the outcome") -> Nomogram:
    """Nomogram of an integrated model from :func:`~.modelling.fit_integrated_model`.

    Args:
        model: fitted pipeline ``ColumnTransformer(passthrough numeric, one-hot categorical) → LogisticRegression``.
        table: the training rows (numeric axes span their observed minimum to maximum).
        outcome_label: label of the probability axis.

    Returns:
        :class:`Nomogram`.
    """
    from .modelling import integrated_coefficients

    intercept, terms = integrated_coefficients(model)
    prep = model.named_steps["prep"]
    axes = []
    for name, transformer, columns in prep.transformers_:
        if name == "numeric":
            for column in columns:
                values = np.asarray(table[column], dtype=float)
                axes.append(NomogramAxis(column, "numeric", beta=terms[column], low=float(values.min()),
                                         high=float(values.max())))
        elif name == "categorical":
            for column, levels in zip(columns, transformer.categories_, strict=True):
                betas = {str(levels[0]): 0.0}
                betas.update({str(lv): terms[f"{column}={lv}"] for lv in levels[1:]})
                axes.append(NomogramAxis(column, "categorical", level_betas=betas))
    return Nomogram(intercept, axes, outcome_label)


def _nice_ticks(low: float, high: float, count: int = 6) -> np.ndarray:
    if high <= low:
        return np.array([low])
    step = (high - low) / count
    magnitude = 10 ** np.floor(np.log10(step))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= step), default=step)
    return np.arange(np.ceil(low / step) * step, high + 1e-9 * step, step)


def draw_nomogram(nomogram: Nomogram, path: str | Path | None = None, labels: Mapping[str, str] | None = None,
                  patient_points: Mapping[str, float] | None = None) -> Any:
    """Draw the nomogram with matplotlib (Agg); save a PNG when ``path`` is given.

    Args:
        nomogram: the points scale.
        path: PNG file to write (parent folders must exist).
        labels: display names per predictor.
        patient_points: optional output of :meth:`Nomogram.points` to mark one patient.

    Returns:
        The matplotlib figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    labels = dict(labels or {})
    scale = nomogram.logit_per_point
    rows = len(nomogram.axes) + 3
    fig, ax = plt.subplots(figsize=(9, 0.55 * rows + 1.2), dpi=110)
    ax.set_xlim(-35, 105)
    ax.set_ylim(-rows + 0.3, 1)
    ax.axis("off")

    def axis_line(y: float, label: str, positions: list[float], texts: list[str], span: tuple[float, float] | None
                  = None) -> None:
        start, end = span if span is not None else (min(positions), max(positions))
        ax.plot([start, end], [y, y], color="black", lw=0.8)
        for position, text in zip(positions, texts, strict=True):
            ax.plot([position, position], [y, y + 0.12], color="black", lw=0.8)
            ax.text(position, y + 0.18, text, ha="center", va="bottom", fontsize=7)
        ax.text(-33, y, label, ha="left", va="center", fontsize=8, weight="bold")

    axis_line(0, "Points", list(np.arange(0, 101, 10.0)), [str(v) for v in range(0, 101, 10)], (0, 100))
    for row, axis in enumerate(nomogram.axes, start=1):
        low = axis.contribution_range()[0]
        if axis.kind == "numeric":
            whole = float(axis.low).is_integer() and float(axis.high).is_integer() and axis.high - axis.low <= 6
            ticks = np.arange(axis.low, axis.high + 1) if whole else _nice_ticks(axis.low, axis.high)
            positions = [(axis.beta * t - low) / scale for t in ticks]
            texts = [f"{t:g}" for t in ticks]
        else:
            positions = [(b - low) / scale for b in axis.level_betas.values()]
            texts = list(axis.level_betas)
        axis_line(-row, labels.get(axis.name, axis.name), positions, texts)
        if patient_points and axis.name in patient_points:
            ax.plot(patient_points[axis.name], -row, "o", color="#c0392b", ms=5)
    max_total = sum((hi - lo) / scale for lo, hi in (a.contribution_range() for a in nomogram.axes))
    total_row = -(len(nomogram.axes) + 1)
    totals = _nice_ticks(0, max_total)
    axis_line(total_row, "Total points", [100 * t / max_total for t in totals], [f"{t:g}" for t in totals], (0, 100))
    probability_ticks = [p for p in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
                         if 0 <= _points_for(nomogram, p) <= max_total]
    axis_line(total_row - 1, "Probability",
              [100 * _points_for(nomogram, p) / max_total for p in probability_ticks],
              [f"{p:g}" for p in probability_ticks])
    if patient_points:
        ax.plot(100 * patient_points["total"] / max_total, total_row, "o", color="#c0392b", ms=5)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def _points_for(nomogram: Nomogram, probability: float) -> float:
    base = nomogram.linear_predictor(0.0)
    return (np.log(probability / (1 - probability)) - base) / nomogram.logit_per_point
