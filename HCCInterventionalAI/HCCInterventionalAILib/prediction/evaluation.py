"""Evaluation of binary risk models: discrimination, thresholds, calibration, clinical utility and survival.

Conventions: ``y`` is 1 for the event (e.g. progressive disease) and 0 otherwise; a higher ``score`` means the
event is more likely (pROC's ``direction = "<"``: controls < cases). Every function validates its inputs and
raises a :class:`~HCCInterventionalAILib.prediction.errors.PredictionInputError` (a ``ValueError``) with one
sentence naming the problem.

Formulas and sources:

* AUC = Mann–Whitney U / (m·n) with ties counted 1/2; its variance is DeLong's
  ``Var = S10/m + S01/n`` where ``S10``/``S01`` are the sample variances of the structural components
  ``V10(X_i) = mean_j ψ(X_i, Y_j)`` and ``V01(Y_j) = mean_i ψ(X_i, Y_j)`` (DeLong, DeLong & Clarke-Pearson,
  Biometrics 44:837–845, 1988), computed with midranks (Sun & Xu, IEEE Signal Process. Lett. 21:1389–1393,
  2014). The confidence interval is ``AUC ± z·√Var`` clipped to [0, 1], as pROC reports it (Robin et al.,
  BMC Bioinformatics 12:77, 2011).
* Paired DeLong test: ``z = (A1 − A2)/√(V1 + V2 − 2·C12)`` with the covariance of the structural components;
  unpaired: ``z = (A1 − A2)/√(V1 + V2)``.
* Youden index ``J = Se + Sp − 1`` (Youden, Cancer 3:32–35, 1950) over thresholds midway between adjacent
  distinct scores, a case being called positive when ``score ≥ threshold`` (pROC's ``coords(…, "best")``).
* Hosmer–Lemeshow: patients split at the quantiles of ``p``; ``C = Σ_g Σ_{k∈{0,1}} (O_gk − E_gk)²/E_gk`` on
  ``G − 2`` degrees of freedom (Hosmer & Lemeshow, Commun. Stat. A9:1043–1069, 1980; grouping as in R's
  ResourceSelection::hoslem.test).
* Spiegelhalter's Z: ``Z = Σ (y − p)(1 − 2p) / √(Σ (1 − 2p)² p (1 − p))``, two-sided normal p-value
  (Spiegelhalter, Stat. Med. 5:421–433, 1986).
* Log-rank test (Mantel, Cancer Chemother. Rep. 50:163–170, 1966) through lifelines.
* Net benefit at threshold probability ``pt``: ``NB = TP/n − FP/n · pt/(1 − pt)`` (Vickers & Elkin, Med.
  Decis. Making 26:565–574, 2006).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from .errors import MissingValuesError, PredictionInputError, SingleClassError

__all__ = [
    "AUCResult",
    "DeLongTestResult",
    "YoudenResult",
    "HosmerLemeshowResult",
    "SpiegelhalterResult",
    "LogRankResult",
    "DiagnosticMetrics",
    "CalibrationCurve",
    "DecisionCurve",
    "auc_ci",
    "delong_variance",
    "delong_test",
    "delong_test_unpaired",
    "youden_threshold",
    "diagnostic_metrics",
    "hosmer_lemeshow",
    "spiegelhalter_z",
    "logrank",
    "bootstrap_ci",
    "bootstrap_auc_ci",
    "calibration_curve",
    "decision_curve",
    "kaplan_meier_curves",
]


# --------------------------------------------------------------------------------------------------------------
# result types


class _Tuple:
    """Results unpack like tuples (``auc, low, high = auc_ci(...)``) and serialise with ``to_dict()``."""

    def __iter__(self):
        return iter(asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AUCResult(_Tuple):
    auc: float
    low: float
    high: float


@dataclass(frozen=True)
class DeLongTestResult(_Tuple):
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    auc_a: float
    auc_b: float


@dataclass(frozen=True)
class YoudenResult(_Tuple):
    threshold: float
    sensitivity: float
    specificity: float


@dataclass(frozen=True)
class HosmerLemeshowResult(_Tuple):
    chi2: float
    df: int
    p_value: float


@dataclass(frozen=True)
class SpiegelhalterResult(_Tuple):
    z: float
    p_value: float


@dataclass(frozen=True)
class LogRankResult(_Tuple):
    chi2: float
    df: int
    p_value: float


@dataclass(frozen=True)
class DiagnosticMetrics:
    """Counts and rates at one threshold, each rate with its exact (Clopper–Pearson) 95% CI."""

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    accuracy: float
    ci: dict[str, tuple[float, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CalibrationCurve:
    """Observed event rate per bin of predicted risk, plus calibration-in-the-large and slope."""

    predicted: np.ndarray
    observed: np.ndarray
    counts: np.ndarray
    intercept: float
    slope: float

    def to_dict(self) -> dict[str, Any]:
        return {"predicted": self.predicted.tolist(), "observed": self.observed.tolist(),
                "counts": self.counts.tolist(), "intercept": self.intercept, "slope": self.slope}


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit of the model, of treating everybody and of treating nobody (zero) per threshold."""

    thresholds: np.ndarray
    net_benefit_model: np.ndarray
    net_benefit_all: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds.tolist(), "net_benefit_model": self.net_benefit_model.tolist(),
                "net_benefit_all": self.net_benefit_all.tolist()}


# --------------------------------------------------------------------------------------------------------------
# validation


def _as_outcome(y: Sequence[Any] | np.ndarray, name: str = "y") -> np.ndarray:
    array = np.asarray(y, dtype=float).ravel()
    if array.size == 0:
        raise PredictionInputError(f"{name} is empty.")
    if np.isnan(array).any():
        raise MissingValuesError(f"{name} holds {int(np.isnan(array).sum())} missing values.")
    if not np.isin(array, (0.0, 1.0)).all():
        raise PredictionInputError(f"{name} must hold only 0 (no event) and 1 (event).")
    return array.astype(int)


def _as_score(score: Sequence[float] | np.ndarray, n: int, name: str = "score") -> np.ndarray:
    array = np.asarray(score, dtype=float).ravel()
    if array.size != n:
        raise PredictionInputError(f"{name} has {array.size} values but the outcome has {n}.")
    if not np.isfinite(array).all():
        raise MissingValuesError(f"{name} holds {int((~np.isfinite(array)).sum())} missing or infinite values.")
    return array


def _both_classes(y: np.ndarray, name: str = "y") -> None:
    if y.min() == y.max():
        raise SingleClassError(f"{name} holds only one class ({int(y[0])}); an AUC needs events and non-events.")


def _probabilities(p: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    array = _as_score(p, n, "p")
    if (array < 0).any() or (array > 1).any():
        raise PredictionInputError("p must hold probabilities between 0 and 1.")
    return array


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise PredictionInputError(f"level must lie between 0 and 1 (got {level}).")
    return float(stats.norm.ppf(0.5 + level / 2))


# --------------------------------------------------------------------------------------------------------------
# DeLong


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and DeLong structural components V10 (cases) and V01 (controls) for each row of ``scores``.

    Midrank formulation of Sun & Xu (2014): with ``T_z`` the midranks in the pooled sample and ``T_x``/``T_y``
    the midranks within cases/controls, ``V10_i = (T_z,i − T_x,i)/n`` and ``V01_j = 1 − (T_z,j − T_y,j)/m``.
    """
    cases, controls = scores[:, y == 1], scores[:, y == 0]
    m, n = cases.shape[1], controls.shape[1]
    aucs, v10, v01 = [], [], []
    for x, c in zip(cases, controls, strict=True):
        tz = stats.rankdata(np.concatenate([x, c]))
        tx, ty = stats.rankdata(x), stats.rankdata(c)
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
    return np.asarray(aucs), np.asarray(v10), np.asarray(v01)


def delong_variance(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance ``S10/m + S01/n``.

    Args:
        y: outcome, 1 = event.
        score: higher = event more likely.

    Returns:
        ``(auc, variance)``.

    Raises:
        PredictionInputError: empty, missing or non-binary outcome, one class only, mismatched lengths.
    """
    y = _as_outcome(y)
    score = _as_score(score, y.size)
    _both_classes(y)
    aucs, v10, v01 = _structural_components(y, score[None, :])
    m, n = v10.shape[1], v01.shape[1]
    s10 = float(np.var(v10[0], ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01[0], ddof=1)) if n > 1 else 0.0
    return float(aucs[0]), s10 / m + s01 / n


def auc_ci(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, level: float = 0.95) -> AUCResult:
    """ROC AUC with DeLong's confidence interval ``AUC ± z_{(1+level)/2}·√Var`` clipped to [0, 1].

    Args:
        y: outcome, 1 = event.
        score: higher = event more likely.
        level: confidence level.

    Returns:
        :class:`AUCResult` ``(auc, low, high)``.

    Raises:
        PredictionInputError: invalid outcome or scores (see :func:`delong_variance`).
    """
    z = _z(level)
    auc, variance = delong_variance(y, score)
    half = z * math.sqrt(variance)
    return AUCResult(auc, max(0.0, auc - half), min(1.0, auc + half))


def delong_test(y: Sequence[int] | np.ndarray, score_a: Sequence[float] | np.ndarray,
                score_b: Sequence[float] | np.ndarray, level: float = 0.95) -> DeLongTestResult:
    """DeLong's test for two correlated AUCs (both scores measured on the same patients).

    ``z = (A − B)/√(Var A + Var B − 2 Cov(A, B))``, two-sided p-value, and the CI of ``A − B``.

    Args:
        y: outcome, 1 = event.
        score_a: first model's scores.
        score_b: second model's scores, same patients and order.
        level: confidence level of the difference's CI.

    Returns:
        :class:`DeLongTestResult`.

    Raises:
        PredictionInputError: invalid inputs, or two scores whose AUC difference has zero variance (e.g.
            identical rankings), for which the test is undefined.
    """
    y = _as_outcome(y)
    a, b = _as_score(score_a, y.size, "score_a"), _as_score(score_b, y.size, "score_b")
    _both_classes(y)
    aucs, v10, v01 = _structural_components(y, np.vstack([a, b]))
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.cov(v10) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(v01) if n > 1 else np.zeros((2, 2))
    covariance = s10 / m + s01 / n
    contrast = np.array([1.0, -1.0])
    variance = float(contrast @ covariance @ contrast)
    difference = float(aucs[0] - aucs[1])
    if variance <= 1e-15:
        raise PredictionInputError("The two scores rank the patients identically; DeLong's test is undefined.")
    return _test_result(difference, variance, level, float(aucs[0]), float(aucs[1]))


def delong_test_unpaired(y_a: Sequence[int] | np.ndarray, score_a: Sequence[float] | np.ndarray,
                         y_b: Sequence[int] | np.ndarray, score_b: Sequence[float] | np.ndarray,
                         level: float = 0.95) -> DeLongTestResult:
    """DeLong's test for two independent AUCs (different patients): ``z = (A − B)/√(Var A + Var B)``.

    Args:
        y_a: outcome of the first sample.
        score_a: scores of the first sample.
        y_b: outcome of the second sample.
        score_b: scores of the second sample.
        level: confidence level of the difference's CI.

    Returns:
        :class:`DeLongTestResult`.

    Raises:
        PredictionInputError: invalid inputs in either sample.
    """
    auc_a, var_a = delong_variance(y_a, score_a)
    auc_b, var_b = delong_variance(y_b, score_b)
    if var_a + var_b <= 1e-15:
        raise PredictionInputError("Both AUCs have zero variance (perfect separation); the test is undefined.")
    return _test_result(auc_a - auc_b, var_a + var_b, level, auc_a, auc_b)


def _test_result(difference: float, variance: float, level: float, auc_a: float, auc_b: float) -> DeLongTestResult:
    sd = math.sqrt(variance)
    z = difference / sd
    half = _z(level) * sd
    return DeLongTestResult(z, float(2 * stats.norm.sf(abs(z))), difference - half, difference + half, auc_a, auc_b)


# --------------------------------------------------------------------------------------------------------------
# thresholds


def youden_threshold(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray) -> YoudenResult:
    """The threshold maximising Youden's ``J = Se + Sp − 1``, taken midway between adjacent distinct scores.

    A patient is called positive when ``score ≥ threshold``. Of tied maxima, the lowest threshold is returned.

    Args:
        y: outcome, 1 = event.
        score: higher = event more likely.

    Returns:
        :class:`YoudenResult` ``(threshold, sensitivity, specificity)``.

    Raises:
        PredictionInputError: invalid outcome or scores, one class only.
    """
    y = _as_outcome(y)
    score = _as_score(score, y.size)
    _both_classes(y)
    values = np.unique(score)
    thresholds = np.concatenate([[-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]])
    positive = score[None, :] >= thresholds[:, None]
    sensitivity = (positive & (y == 1)).sum(axis=1) / (y == 1).sum()
    specificity = (~positive & (y == 0)).sum(axis=1) / (y == 0).sum()
    best = int(np.argmax(sensitivity + specificity))
    return YoudenResult(float(thresholds[best]), float(sensitivity[best]), float(specificity[best]))


def _exact_ci(successes: int, total: int, level: float) -> tuple[float, float]:
    if total == 0:
        return (math.nan, math.nan)
    interval = stats.binomtest(successes, total).proportion_ci(confidence_level=level, method="exact")
    return (float(interval.low), float(interval.high))


def diagnostic_metrics(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, threshold: float,
                       level: float = 0.95) -> DiagnosticMetrics:
    """Sensitivity, specificity, PPV, NPV and accuracy when ``score ≥ threshold`` is called positive.

    Use the threshold chosen on the TRAINING set (e.g. by :func:`youden_threshold`) when evaluating a test set.
    Each rate has an exact Clopper–Pearson interval (Clopper & Pearson, Biometrika 26:404–413, 1934).

    Args:
        y: outcome, 1 = event.
        score: higher = event more likely.
        threshold: decision threshold on the score scale.
        level: confidence level.

    Returns:
        :class:`DiagnosticMetrics`; a rate whose denominator is zero is NaN.

    Raises:
        PredictionInputError: invalid outcome or scores, or a non-finite threshold.
    """
    y = _as_outcome(y)
    score = _as_score(score, y.size)
    if not math.isfinite(threshold):
        raise PredictionInputError("threshold must be a finite number.")
    positive = score >= threshold
    tp = int((positive & (y == 1)).sum())
    fp = int((positive & (y == 0)).sum())
    tn = int((~positive & (y == 0)).sum())
    fn = int((~positive & (y == 1)).sum())

    def rate(a: int, b: int) -> float:
        return a / b if b else math.nan

    ci = {"sensitivity": _exact_ci(tp, tp + fn, level), "specificity": _exact_ci(tn, tn + fp, level),
          "ppv": _exact_ci(tp, tp + fp, level), "npv": _exact_ci(tn, tn + fn, level),
          "accuracy": _exact_ci(tp + tn, y.size, level)}
    return DiagnosticMetrics(float(threshold), tp, fp, tn, fn, rate(tp, tp + fn), rate(tn, tn + fp),
                             rate(tp, tp + fp), rate(tn, tn + fn), (tp + tn) / y.size, ci)


# --------------------------------------------------------------------------------------------------------------
# calibration


def hosmer_lemeshow(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray,
                    groups: int = 10) -> HosmerLemeshowResult:
    """Hosmer–Lemeshow goodness-of-fit test with groups cut at the quantiles of the predicted risk.

    Breaks are the ``0, 1/g, …, 1`` quantiles of ``p`` (duplicates removed); intervals are right-closed with
    the lowest included, as in R's ``cut(p, quantile(p, seq(0, 1, 1/g)), include.lowest = TRUE)``.

    Args:
        y: outcome, 1 = event.
        p: predicted probabilities.
        groups: number of risk groups ``g`` (≥ 3).

    Returns:
        :class:`HosmerLemeshowResult` ``(chi2, df = G − 2, p_value)`` with ``G`` the non-empty groups.

    Raises:
        PredictionInputError: invalid inputs, fewer than 3 groups, or a group whose expected count is zero.
    """
    y = _as_outcome(y)
    p = _probabilities(p, y.size)
    if groups < 3:
        raise PredictionInputError(f"groups must be at least 3 (got {groups}).")
    breaks = np.unique(np.quantile(p, np.linspace(0, 1, groups + 1)))
    index = np.searchsorted(breaks[1:-1], p, side="left")
    chi2, used = 0.0, 0
    for g in np.unique(index):
        members = index == g
        expected1, expected0 = p[members].sum(), (1 - p[members]).sum()
        observed1 = y[members].sum()
        observed0 = members.sum() - observed1
        if expected1 <= 0 or expected0 <= 0:
            raise PredictionInputError("A Hosmer–Lemeshow group has zero expected events or non-events.")
        chi2 += (observed1 - expected1) ** 2 / expected1 + (observed0 - expected0) ** 2 / expected0
        used += 1
    df = used - 2
    if df < 1:
        raise PredictionInputError("Too few distinct predicted risks for a Hosmer–Lemeshow test.")
    return HosmerLemeshowResult(float(chi2), df, float(stats.chi2.sf(chi2, df)))


def spiegelhalter_z(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray) -> SpiegelhalterResult:
    """Spiegelhalter's Z test of calibration, ``Z = Σ(y−p)(1−2p) / √Σ(1−2p)²p(1−p)``, two-sided.

    Args:
        y: outcome, 1 = event.
        p: predicted probabilities.

    Returns:
        :class:`SpiegelhalterResult` ``(z, p_value)``.

    Raises:
        PredictionInputError: invalid inputs, or all risks 0, 0.5 or 1 (zero variance).
    """
    y = _as_outcome(y)
    p = _probabilities(p, y.size)
    numerator = float(np.sum((y - p) * (1 - 2 * p)))
    variance = float(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    if variance <= 0:
        raise PredictionInputError("Spiegelhalter's Z is undefined when every predicted risk is 0, 0.5 or 1.")
    z = numerator / math.sqrt(variance)
    return SpiegelhalterResult(z, float(2 * stats.norm.sf(abs(z))))


def calibration_curve(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray, bins: int = 10,
                      strategy: str = "quantile") -> CalibrationCurve:
    """Observed vs predicted risk per bin (scikit-learn) with logistic calibration intercept and slope.

    The slope is the coefficient of ``logit(p)`` in ``logit P(y=1) = a + b·logit(p)`` and the intercept is
    ``a`` with the slope fixed at 1 (calibration-in-the-large), both fitted by statsmodels (Cox, Biometrika
    45:562–565, 1958; Van Calster et al., J. Clin. Epidemiol. 74:167–176, 2016).

    Args:
        y: outcome, 1 = event.
        p: predicted probabilities.
        bins: number of bins.
        strategy: "quantile" (equal counts) or "uniform" (equal widths).

    Returns:
        :class:`CalibrationCurve`.

    Raises:
        PredictionInputError: invalid inputs or one class only.
    """
    import statsmodels.api as sm
    from sklearn.calibration import calibration_curve as sk_calibration_curve

    y = _as_outcome(y)
    p = _probabilities(p, y.size)
    _both_classes(y)
    observed, predicted = sk_calibration_curve(y, p, n_bins=bins, strategy=strategy)
    edges = (np.quantile(p, np.linspace(0, 1, bins + 1)) if strategy == "quantile" else np.linspace(0, 1, bins + 1))
    counts = np.bincount(np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, bins - 1), minlength=bins)
    counts = counts[counts > 0]
    logit = np.log(np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, 1))
    slope_fit = sm.GLM(y, sm.add_constant(logit), family=sm.families.Binomial()).fit()
    intercept_fit = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=logit).fit()
    return CalibrationCurve(predicted, observed, counts[: predicted.size], float(intercept_fit.params[0]),
                            float(slope_fit.params[1]))


# --------------------------------------------------------------------------------------------------------------
# clinical utility, resampling, survival


def decision_curve(y: Sequence[int] | np.ndarray, p: Sequence[float] | np.ndarray,
                   thresholds: Sequence[float] | np.ndarray | None = None) -> DecisionCurve:
    """Decision-curve analysis: net benefit ``TP/n − FP/n · pt/(1−pt)`` of the model and of treating all.

    Args:
        y: outcome, 1 = event.
        p: predicted probabilities.
        thresholds: threshold probabilities ``pt`` in (0, 1); default 0.01–0.99 in steps of 0.01.

    Returns:
        :class:`DecisionCurve` (treating nobody has net benefit 0).

    Raises:
        PredictionInputError: invalid inputs or thresholds outside (0, 1).
    """
    y = _as_outcome(y)
    p = _probabilities(p, y.size)
    pt = np.arange(1, 100) / 100 if thresholds is None else np.asarray(thresholds, dtype=float)
    if ((pt <= 0) | (pt >= 1)).any():
        raise PredictionInputError("Decision-curve thresholds must lie strictly between 0 and 1.")
    n = y.size
    odds = pt / (1 - pt)
    positive = p[None, :] >= pt[:, None]
    tp = (positive & (y == 1)).sum(axis=1)
    fp = (positive & (y == 0)).sum(axis=1)
    prevalence = y.mean()
    return DecisionCurve(pt, tp / n - fp / n * odds, prevalence - (1 - prevalence) * odds)


def bootstrap_ci(metric: Callable[[np.ndarray, np.ndarray], float], y: Sequence[int] | np.ndarray,
                 score: Sequence[float] | np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
                 stratified: bool = True) -> tuple[float, float, float]:
    """Percentile bootstrap CI of any ``metric(y, score)`` (Efron & Tibshirani, 1993, ch. 13).

    Resamples patients with replacement; ``stratified`` keeps the numbers of events and non-events fixed (as
    pROC's default). Replicates for which the metric raises ``ValueError`` are skipped.

    Args:
        metric: function of ``(y, score)`` returning a number.
        y: outcome, 1 = event.
        score: scores or probabilities.
        n_boot: number of bootstrap replicates.
        level: confidence level.
        seed: random seed.
        stratified: resample cases and controls separately.

    Returns:
        ``(estimate, low, high)``; the estimate is the metric on the original data.

    Raises:
        PredictionInputError: invalid inputs, ``n_boot < 100``, or fewer than half the replicates usable.
    """
    y = _as_outcome(y)
    score = _as_score(score, y.size)
    if n_boot < 100:
        raise PredictionInputError(f"n_boot must be at least 100 (got {n_boot}).")
    _z(level)
    rng = np.random.default_rng(seed)
    cases, controls = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    values = []
    for _ in range(n_boot):
        if stratified:
            index = np.concatenate([rng.choice(cases, cases.size), rng.choice(controls, controls.size)])
        else:
            index = rng.integers(0, y.size, y.size)
        try:
            values.append(float(metric(y[index], score[index])))
        except ValueError:
            continue
    if len(values) < n_boot / 2:
        raise PredictionInputError("Most bootstrap replicates were unusable (too few events?).")
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return float(metric(y, score)), float(low), float(high)


def bootstrap_auc_ci(y: Sequence[int] | np.ndarray, score: Sequence[float] | np.ndarray, n_boot: int = 2000,
                     level: float = 0.95, seed: int = 0) -> AUCResult:
    """Stratified percentile-bootstrap CI of the AUC (pROC's ``ci.auc(method = "bootstrap")``).

    Args:
        y: outcome, 1 = event.
        score: higher = event more likely.
        n_boot: replicates.
        level: confidence level.
        seed: random seed.

    Returns:
        :class:`AUCResult`.

    Raises:
        PredictionInputError: invalid inputs (see :func:`bootstrap_ci`).
    """
    y_checked = _as_outcome(y)
    _both_classes(y_checked)

    def auc(yy: np.ndarray, ss: np.ndarray) -> float:
        return float(_structural_components(yy, ss[None, :])[0][0])

    return AUCResult(*bootstrap_ci(auc, y_checked, score, n_boot=n_boot, level=level, seed=seed))


def logrank(durations: Sequence[float] | np.ndarray, events: Sequence[int] | np.ndarray,
            groups: Sequence[Any] | np.ndarray) -> LogRankResult:
    """Log-rank (Mantel–Cox) test between two or more groups, computed by lifelines.

    Args:
        durations: follow-up times (> 0).
        events: 1 = event observed (death, progression), 0 = censored.
        groups: group label per patient (≥ 2 distinct labels).

    Returns:
        :class:`LogRankResult` ``(chi2, df = groups − 1, p_value)``.

    Raises:
        PredictionInputError: lengths differ, missing or negative times, non-binary events, one group, no event.
    """
    from lifelines.statistics import multivariate_logrank_test

    events_array = _as_outcome(events, "events")
    durations_array = _as_score(durations, events_array.size, "durations")
    if (durations_array < 0).any():
        raise PredictionInputError("durations must not be negative.")
    groups_array = np.asarray(groups, dtype=object).ravel()
    if groups_array.size != events_array.size:
        raise PredictionInputError(f"groups has {groups_array.size} values but events has {events_array.size}.")
    if len(set(groups_array.tolist())) < 2:
        raise SingleClassError("The log-rank test needs at least two groups.")
    if events_array.sum() == 0:
        raise PredictionInputError("No events were observed; the log-rank test is undefined.")
    result = multivariate_logrank_test(durations_array, groups_array.astype(str), events_array)
    return LogRankResult(float(result.test_statistic), int(result.degrees_of_freedom), float(result.p_value))


def kaplan_meier_curves(durations: Sequence[float] | np.ndarray, events: Sequence[int] | np.ndarray,
                        groups: Sequence[Any] | np.ndarray) -> dict[str, dict[str, Any]]:
    """Kaplan–Meier survival curves (lifelines) per group, with 95% CIs and median survival.

    Args:
        durations: follow-up times.
        events: 1 = event observed, 0 = censored.
        groups: group label per patient.

    Returns:
        ``{group: {"time": [...], "survival": [...], "low": [...], "high": [...], "median": float, "n": int}}``;
        a median not reached is ``inf``.

    Raises:
        PredictionInputError: invalid inputs.
    """
    from lifelines import KaplanMeierFitter

    events_array = _as_outcome(events, "events")
    durations_array = _as_score(durations, events_array.size, "durations")
    groups_array = np.asarray(groups, dtype=object).astype(str).ravel()
    if groups_array.size != events_array.size:
        raise PredictionInputError(f"groups has {groups_array.size} values but events has {events_array.size}.")
    curves: dict[str, dict[str, Any]] = {}
    for group in sorted(set(groups_array.tolist())):
        members = groups_array == group
        fitter = KaplanMeierFitter().fit(durations_array[members], events_array[members], label=group)
        table = fitter.survival_function_.join(fitter.confidence_interval_)
        curves[group] = {"time": table.index.to_numpy().tolist(), "survival": table.iloc[:, 0].tolist(),
                         "low": table.iloc[:, 1].tolist(), "high": table.iloc[:, 2].tolist(),
                         "median": float(fitter.median_survival_time_), "n": int(members.sum())}
    return curves
