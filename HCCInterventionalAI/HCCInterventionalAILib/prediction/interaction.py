"""Treatment selection (TACE vs HAIC) with a main-effect + treatment-interaction logistic model.

Following the modified-covariate idea of Tian, Alizadeh, Gentles & Tibshirani (JASA 109:1517–1532, 2014), as
used by the DELICAITE model (An et al., 2025), the risk of the outcome (e.g. progressive disease) is::

    logit P(y = 1 | x, t) = g(x) + t · h(x) / 2,   t = +1 (alternative arm, e.g. HAIC), −1 (reference, e.g. TACE)
    g(x) = α0 + αᵀx,   h(x) = γ0 + γᵀx

fitted by maximum likelihood (statsmodels) on standardised covariates. ``h(x) < 0`` means the alternative arm
lowers the risk of the (bad) outcome for that patient, ``h(x) > 0`` the reference arm. A patient whose received
arm is the recommended one is "Maintain", otherwise "Alter"; the predicted benefit is the absolute risk reduction
``P(y | received) − P(y | recommended)``.

The interpretation as a treatment effect assumes the arms are comparable (randomised, or balanced by design);
in observational data confounding by indication biases ``h``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import PredictionInputError, SingleClassError, UnseenCategoryError
from .modelling import category_key, check_table, outcome_vector

__all__ = ["InteractionModel", "fit_interaction_model", "subgroup_analysis"]


@dataclass
class InteractionModel:
    """A fitted main-effect + interaction model, fully described by JSON-serialisable numbers."""

    predictors: list[str]
    categorical: list[str]
    levels: dict[str, list[str]]
    treatments: tuple[str, str]
    means: dict[str, float]
    scales: dict[str, float]
    terms: list[str]
    main: list[float]
    interaction: list[float]
    interaction_ci: list[tuple[float, float]] = field(default_factory=list)
    interaction_p: list[float] = field(default_factory=list)

    # -- design -------------------------------------------------------------------------------------------
    def design(self, table: pd.DataFrame) -> np.ndarray:
        """Standardised covariates with an intercept column, in the order of :attr:`terms`."""
        missing = [p for p in self.predictors if p not in table.columns]
        if missing:
            raise PredictionInputError(f"Missing predictor(s) for the interaction model: {', '.join(missing)}.")
        columns = [np.ones(len(table))]
        for predictor in self.predictors:
            if predictor in self.categorical:
                values = table[predictor].map(category_key)
                unseen = sorted(set(values) - set(self.levels[predictor]))
                if unseen:
                    raise UnseenCategoryError(f"{predictor} = {', '.join(unseen)} was not seen in training "
                                              f"(known: {', '.join(self.levels[predictor])}).")
                for level in self.levels[predictor][1:]:
                    columns.append((values == level).to_numpy(dtype=float))
            else:
                values = pd.to_numeric(table[predictor], errors="coerce").to_numpy(dtype=float)
                if np.isnan(values).any():
                    raise PredictionInputError(f"{predictor} has missing or non-numeric values.")
                columns.append((values - self.means[predictor]) / self.scales[predictor])
        return np.column_stack(columns)

    def main_effect(self, table: pd.DataFrame) -> np.ndarray:
        """``g(x)`` on the logit scale."""
        return self.design(table) @ np.asarray(self.main)

    def interaction_effect(self, table: pd.DataFrame) -> np.ndarray:
        """``h(x)`` on the logit scale; negative favours the alternative arm (:attr:`treatments` [1])."""
        return self.design(table) @ np.asarray(self.interaction)

    def risks(self, table: pd.DataFrame) -> pd.DataFrame:
        """Predicted outcome risk under each arm (columns named after the arms)."""
        design = self.design(table)
        g, h = design @ np.asarray(self.main), design @ np.asarray(self.interaction)
        reference, alternative = self.treatments
        return pd.DataFrame({reference: 1 / (1 + np.exp(-(g - h / 2))), alternative: 1 / (1 + np.exp(-(g + h / 2)))},
                            index=table.index)

    def recommend(self, table: pd.DataFrame, received: str | None = None) -> pd.DataFrame:
        """Per-patient recommendation.

        Args:
            table: patients with the predictor columns.
            received: column holding the received arm; without it only the recommendation is given.

        Returns:
            DataFrame with the risk under each arm, ``h``, ``recommended``, ``benefit`` (absolute risk reduction of
            the recommended arm vs the received one, or vs the other arm) and, with ``received``,
            ``group`` = "Maintain"/"Alter".

        Raises:
            PredictionInputError: missing predictors or unknown arm labels.
        """
        risks = self.risks(table)
        reference, alternative = self.treatments
        out = risks.rename(columns={reference: f"risk_{reference}", alternative: f"risk_{alternative}"})
        out["h"] = np.log(risks[alternative] / (1 - risks[alternative])) - np.log(risks[reference] / (1 - risks[reference]))
        out["recommended"] = np.where(risks[alternative] < risks[reference], alternative, reference)
        if received is None:
            out["benefit"] = (risks[reference] - risks[alternative]).abs()
            return out
        arms = table[received].astype(str)
        unknown = sorted(set(arms) - {reference, alternative})
        if unknown:
            raise UnseenCategoryError(f"Unknown treatment arm(s) {', '.join(unknown)}; the model knows "
                                      f"{reference} and {alternative}.")
        received_risk = np.where(arms == alternative, risks[alternative], risks[reference])
        out["received"] = arms.to_numpy()
        out["benefit"] = received_risk - np.minimum(risks[alternative], risks[reference])
        out["group"] = np.where(out["recommended"] == arms, "Maintain", "Alter")
        return out

    def coefficient_table(self) -> pd.DataFrame:
        """Main and interaction coefficients per standardised term, with the interaction's 95% CI and p-value."""
        table = pd.DataFrame({"term": self.terms, "main": self.main, "interaction": self.interaction})
        if self.interaction_ci:
            table["interaction_ci_low"] = [c[0] for c in self.interaction_ci]
            table["interaction_ci_high"] = [c[1] for c in self.interaction_ci]
            table["interaction_p"] = self.interaction_p
        return table

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["treatments"] = list(self.treatments)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InteractionModel:
        """Rebuild from :meth:`to_dict` output (plain JSON: nothing is executed)."""
        data = dict(data)
        data["treatments"] = tuple(data["treatments"])
        data["interaction_ci"] = [tuple(c) for c in data.get("interaction_ci", [])]
        return cls(**data)


def fit_interaction_model(table: pd.DataFrame, outcome: str, predictors: Sequence[str], treatment: str,
                          treatments: tuple[str, str] = ("TACE", "HAIC"),
                          categorical: Sequence[str] = ()) -> InteractionModel:
    """Fit ``logit P(y) = g(x) + t·h(x)/2`` by maximum likelihood (statsmodels ``Logit``).

    Args:
        table: training cohort.
        outcome: 0/1 outcome column (1 = the outcome to avoid, e.g. progressive disease).
        predictors: covariates of both ``g`` and ``h``.
        treatment: column with the received arm.
        treatments: ``(reference, alternative)`` labels, ``t = −1`` and ``+1``.
        categorical: categorical predictors.

    Returns:
        :class:`InteractionModel`.

    Raises:
        PredictionInputError: invalid table, unknown arms, an arm without events/non-events, or a failed fit.
    """
    import statsmodels.api as sm

    check_table(table, [*predictors, treatment], outcome)
    y = outcome_vector(table, outcome)
    arms = table[treatment].astype(str)
    unknown = sorted(set(arms) - set(treatments))
    if unknown:
        raise PredictionInputError(f"Treatment column {treatment} holds {', '.join(unknown)}; expected "
                                   f"{treatments[0]} or {treatments[1]}.")
    for arm in treatments:
        in_arm = y[(arms == arm).to_numpy()]
        if in_arm.size == 0 or in_arm.min() == in_arm.max():
            raise SingleClassError(f"The {arm} arm needs patients with and without the outcome.")
    cats = [p for p in predictors if p in categorical]
    numeric = [p for p in predictors if p not in categorical]
    means = {p: float(pd.to_numeric(table[p]).mean()) for p in numeric}
    scales = {p: float(pd.to_numeric(table[p]).std(ddof=0)) or 1.0 for p in numeric}
    levels = {p: sorted(table[p].map(category_key).unique()) for p in cats}
    terms = ["intercept"] + [t for p in predictors for t in
                             ([f"{p}={lv}" for lv in levels[p][1:]] if p in cats else [p])]
    model = InteractionModel(list(predictors), cats, levels, tuple(treatments), means, scales, terms,
                             [0.0] * len(terms), [0.0] * len(terms))
    design = model.design(table)
    t = np.where(arms == treatments[1], 1.0, -1.0)[:, None]
    full = np.hstack([design, t / 2 * design])
    try:
        fit = sm.Logit(y, full).fit(disp=0, maxiter=500)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise PredictionInputError(f"The interaction model could not be fitted: {error}") from error
    k = len(terms)
    params, ci, pvalues = np.asarray(fit.params), np.asarray(fit.conf_int()), np.asarray(fit.pvalues)
    model.main = params[:k].tolist()
    model.interaction = params[k:].tolist()
    model.interaction_ci = [(float(a), float(b)) for a, b in ci[k:]]
    model.interaction_p = pvalues[k:].tolist()
    return model


def subgroup_analysis(table: pd.DataFrame, outcome: str, treatment: str, subgroups: Sequence[str],
                      treatments: tuple[str, str] = ("TACE", "HAIC")) -> pd.DataFrame:
    """Outcome rate per arm and the odds ratio of the alternative vs the reference arm within each subgroup.

    Args:
        table: cohort (optionally with a "group" column from :meth:`InteractionModel.recommend`, which is then
            analysed as a subgroup variable too).
        outcome: 0/1 outcome column.
        treatment: received arm column.
        subgroups: categorical or binary columns defining subgroups.
        treatments: ``(reference, alternative)``.

    Returns:
        DataFrame with ``subgroup, level, n, rate_<ref>, rate_<alt>, odds_ratio, ci_low, ci_high, p_value``; the
        odds ratio is NaN where an arm is empty or has one outcome class.
    """
    import statsmodels.api as sm

    reference, alternative = treatments
    rows = []
    for column in subgroups:
        for level, part in table.groupby(table[column].map(category_key)):
            y = part[outcome].to_numpy(dtype=int)
            is_alt = (part[treatment].astype(str) == alternative).to_numpy()
            row = {"subgroup": column, "level": level, "n": len(part),
                   f"rate_{reference}": float(y[~is_alt].mean()) if (~is_alt).any() else np.nan,
                   f"rate_{alternative}": float(y[is_alt].mean()) if is_alt.any() else np.nan,
                   "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
            usable = is_alt.any() and (~is_alt).any() and 0 < y.sum() < len(y)
            if usable:
                try:
                    with np.errstate(over="ignore"):  # a separated tiny subgroup: infinite CI bound
                        fit = sm.Logit(y, sm.add_constant(is_alt.astype(float))).fit(disp=0)
                        ci = np.asarray(fit.conf_int())[1]
                        row.update(odds_ratio=float(np.exp(fit.params[1])), ci_low=float(np.exp(ci[0])),
                                   ci_high=float(np.exp(ci[1])), p_value=float(fit.pvalues[1]))
                except (np.linalg.LinAlgError, ValueError, Exception):  # noqa: BLE001 - separation in a tiny group
                    pass
            rows.append(row)
    return pd.DataFrame(rows)
