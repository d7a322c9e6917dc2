"""Feature selectors and classifiers as scikit-learn pipeline steps, so selection runs inside each CV fold.

* LASSO: non-zero coefficients of an L1-penalised logistic regression (Tibshirani, JRSS B 58:267–288, 1996).
* mRMR: minimum-redundancy maximum-relevance (Peng, Long & Ding, IEEE TPAMI 27:1226–1238, 2005), F-statistic
  relevance and mean absolute Pearson correlation redundancy ("FCQ"), vectorised here with numpy (the
  ``mrmr-selection`` package computes the same criterion but starts a process pool on every call, far too slow
  inside nested cross-validation).
* RFE: recursive feature elimination with a linear logistic model (Guyon et al., Mach. Learn. 46:389–422, 2002).

Classifiers: logistic regression, RBF support-vector machine, random forest and XGBoost (``xgboost-cpu``).
scikit-learn and xgboost are imported inside the functions that need them.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .errors import PredictionInputError

try:  # scikit-learn is an optional dependency (extra "prediction"); the class below needs its base classes
    from sklearn.base import BaseEstimator
    from sklearn.feature_selection import SelectorMixin
except ImportError:  # pragma: no cover - exercised only without the extra
    BaseEstimator = object  # type: ignore[assignment,misc]
    SelectorMixin = object  # type: ignore[assignment,misc]

__all__ = ["LassoSelector", "MRMRSelector", "SELECTORS", "CLASSIFIERS", "make_selector", "make_classifier", "positive_score"]

#: Feature-selection methods and their inner-loop grids (parameter of the pipeline step "select").
SELECTORS = ("lasso", "mrmr", "rfe", "none")
#: Classifiers and their inner-loop grids (parameter of the pipeline step "model").
CLASSIFIERS = ("logistic", "svm", "random_forest", "xgboost")


class LassoSelector(SelectorMixin, BaseEstimator):
    """Keep the features with a non-zero coefficient in an L1-penalised logistic regression.

    When the penalty removes every feature (pure noise), ``C`` is doubled until at least one feature enters the
    LASSO path, so the pipeline always has an input.

    Args:
        C: inverse penalty strength.
        seed: random seed of the liblinear solver.
    """

    def __init__(self, C: float = 0.1, seed: int = 0):
        self.C = C
        self.seed = seed

    def fit(self, X: Any, y: Any) -> LassoSelector:
        from sklearn.linear_model import LogisticRegression

        array = np.asarray(X, dtype=float)
        c = float(self.C)
        for _ in range(30):
            model = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=c, max_iter=5000,
                                       random_state=self.seed).fit(array, y)
            self.support_ = np.abs(model.coef_[0]) > 1e-10
            if self.support_.any():
                break
            c *= 2
        self.n_features_in_ = array.shape[1]
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.support_


class MRMRSelector(SelectorMixin, BaseEstimator):
    """Keep ``k`` features chosen greedily by mRMR (Peng, Long & Ding 2005), the "FCQ" quotient criterion.

    Relevance is the ANOVA F statistic of each feature (scikit-learn ``f_classif``), redundancy the mean absolute
    Pearson correlation with the features already chosen; each step adds the feature maximising
    ``F_j / mean_{s ∈ S} |r_js|`` (the first one maximises ``F_j``), as in the ``mrmr-selection`` package's
    default (Zhao, Anand & Wang, IEEE DSAA 2019).

    Args:
        k: number of features to keep.
    """

    def __init__(self, k: int = 10):
        self.k = k

    def fit(self, X: Any, y: Any) -> MRMRSelector:
        from sklearn.feature_selection import f_classif

        array = np.asarray(X, dtype=float)
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")  # constant columns inside a fold: F is NaN, set to 0 below
            relevance = np.nan_to_num(f_classif(array, y)[0], nan=0.0, posinf=0.0)
        centred = array - array.mean(axis=0)
        norms = np.linalg.norm(centred, axis=0)
        norms[norms == 0] = 1.0
        unit = centred / norms
        k = int(min(self.k, array.shape[1]))
        chosen = [int(np.argmax(relevance))]
        redundancy_sum = np.abs(unit.T @ unit[:, chosen[0]])
        for step in range(1, k):
            score = relevance / np.maximum(redundancy_sum / step, 1e-6)
            score[chosen] = -np.inf
            best = int(np.argmax(score))
            chosen.append(best)
            redundancy_sum += np.abs(unit.T @ unit[:, best])
        self.support_ = np.zeros(array.shape[1], dtype=bool)
        self.support_[chosen] = True
        self.n_features_in_ = array.shape[1]
        return self

    def _get_support_mask(self) -> np.ndarray:
        return self.support_


def make_selector(name: str, seed: int = 0) -> tuple[Any, dict[str, list[Any]]]:
    """A selector step and its inner-loop grid.

    Args:
        name: one of :data:`SELECTORS`.
        seed: random seed.

    Returns:
        ``(step, grid)`` where the grid keys are prefixed ``select__``.

    Raises:
        PredictionInputError: unknown name.
    """
    from sklearn.feature_selection import RFE
    from sklearn.linear_model import LogisticRegression

    if name == "lasso":
        return LassoSelector(C=0.1, seed=seed), {"select__C": [0.05, 0.2]}
    if name == "mrmr":
        return MRMRSelector(k=10), {"select__k": [5, 10]}
    if name == "rfe":
        base = LogisticRegression(C=1.0, solver="liblinear")
        return RFE(base, n_features_to_select=10, step=0.3), {"select__n_features_to_select": [5, 10]}
    if name == "none":
        return "passthrough", {}
    raise PredictionInputError(f"Unknown feature selection '{name}'; choose one of {', '.join(SELECTORS)}.")


def make_classifier(name: str, seed: int = 0) -> tuple[Any, dict[str, list[Any]]]:
    """A classifier step and its inner-loop grid.

    Args:
        name: one of :data:`CLASSIFIERS`.
        seed: random seed.

    Returns:
        ``(step, grid)`` where the grid keys are prefixed ``model__``.

    Raises:
        PredictionInputError: unknown name.
        ImportError: xgboost is not installed (``pip install xgboost-cpu``).
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC

    if name == "logistic":
        return LogisticRegression(solver="liblinear"), {"model__C": [0.1, 1.0]}
    if name == "svm":
        return SVC(kernel="rbf", gamma="scale"), {"model__C": [0.5, 2.0]}
    if name == "random_forest":
        forest = RandomForestClassifier(n_estimators=100, min_samples_leaf=3, random_state=seed, n_jobs=1)
        return forest, {}
    if name == "xgboost":
        from xgboost import XGBClassifier

        booster = XGBClassifier(n_estimators=100, max_depth=2, learning_rate=0.1, subsample=0.8,
                                random_state=seed, n_jobs=1, verbosity=0)
        return booster, {}
    raise PredictionInputError(f"Unknown classifier '{name}'; choose one of {', '.join(CLASSIFIERS)}.")


def positive_score(model: Any, X: Any) -> np.ndarray:
    """Score of the event class: ``predict_proba[:, 1]`` where available, otherwise ``decision_function``."""
    if hasattr(model, "predict_proba"):
        try:
            return np.asarray(model.predict_proba(X))[:, 1]
        except AttributeError:  # SVC without probability=True exposes the attribute but refuses to run it
            pass
    return np.asarray(model.decision_function(X), dtype=float)
