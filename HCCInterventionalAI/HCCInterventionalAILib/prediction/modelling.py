"""Model building from a cohort table: checks, odds ratios, nested cross-validation, radiomics score, integrated model.

* Univariable and multivariable logistic regression with odds ratios ``exp(β)`` and Wald 95% CIs
  ``exp(β ± 1.96·SE)`` (statsmodels).
* Nested cross-validation (Varma & Simon, BMC Bioinformatics 7:91, 2006): the outer folds estimate performance,
  the inner folds (``GridSearchCV``) choose the hyper-parameters of the WHOLE pipeline (scaling → feature
  selection → classifier), so nothing is learnt from an outer test fold.
* Radiomics score: the linear predictor of an L1-penalised (LASSO) logistic regression on standardised
  radiomics features, its penalty chosen by inner cross-validation (``LogisticRegressionCV``).
* Integrated model: an unpenalised logistic regression on the selected clinical predictors plus the scores
  (radiomics score, deep-learning score) — the model drawn as a nomogram.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .errors import (
    ConstantColumnError,
    MissingValuesError,
    PredictionInputError,
    SingleClassError,
    UnknownColumnError,
)
from .evaluation import auc_ci
from .selection import make_classifier, make_selector, positive_score

__all__ = [
    "NestedCVResult",
    "category_key",
    "categories_as_text",
    "check_table",
    "outcome_vector",
    "odds_ratio_table",
    "select_clinical_predictors",
    "make_preprocessor",
    "nested_cross_validation",
    "fit_radiomics_score",
    "fit_integrated_model",
    "integrated_coefficients",
]


def category_key(value: Any) -> str:
    """Text form of a categorical value, the same whether it was read as ``1``, ``1.0`` or ``"1"``."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer,)):
        return str(int(value))
    return str(value).strip()


def categories_as_text(table: pd.DataFrame, categorical: Sequence[str]) -> pd.DataFrame:
    """A copy of ``table`` with its categorical columns as text (see :func:`category_key`)."""
    table = table.copy()
    for column in categorical:
        if column in table.columns:
            table[column] = table[column].map(category_key)
    return table


def check_table(table: pd.DataFrame, columns: Sequence[str], outcome: str | None = None,
                name: str = "cohort table") -> None:
    """Refuse a table that cannot give a meaningful model.

    Args:
        table: the cohort.
        columns: predictors that must be present, complete and non-constant.
        outcome: outcome column (0/1) that must hold both classes.
        name: what to call the table in messages.

    Raises:
        UnknownColumnError: a column is absent.
        MissingValuesError: a column holds missing values (the message names the columns and counts).
        ConstantColumnError: a predictor has one value for every patient.
        SingleClassError: the outcome has one class only.
        PredictionInputError: the outcome is not 0/1.
    """
    wanted = list(dict.fromkeys([*columns, *([outcome] if outcome else [])]))
    absent = [c for c in wanted if c not in table.columns]
    if absent:
        raise UnknownColumnError(f"The {name} has no column(s) {', '.join(absent)}.")
    missing = table[wanted].isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        detail = ", ".join(f"{c} ({n})" for c, n in missing.items())
        raise MissingValuesError(f"The {name} has missing values in {detail}; impute or remove them first.")
    constant = [c for c in columns if table[c].nunique(dropna=False) < 2]
    if constant:
        raise ConstantColumnError(f"Column(s) {', '.join(constant)} have the same value for every patient.")
    if outcome:
        outcome_vector(table, outcome)


def outcome_vector(table: pd.DataFrame, outcome: str) -> np.ndarray:
    """The outcome as an int array of 0/1, refusing other codes and a single class."""
    values = pd.to_numeric(table[outcome], errors="coerce")
    if values.isna().any() or not values.isin([0, 1]).all():
        raise PredictionInputError(f"The outcome column {outcome} must hold only 0 and 1.")
    if values.nunique() < 2:
        raise SingleClassError(f"The outcome column {outcome} holds only one class ({int(values.iloc[0])}).")
    return values.to_numpy(dtype=int)


def _design(table: pd.DataFrame, predictors: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    numeric = [c for c in predictors if c not in categorical]
    parts = [table[numeric].astype(float)]
    for column in [c for c in predictors if c in categorical]:
        text = table[column].map(category_key)
        levels = sorted(text.unique())
        dummies = pd.get_dummies(text, prefix=column, prefix_sep="=", dtype=float)
        parts.append(dummies[[f"{column}={lv}" for lv in levels[1:]]])  # first level = reference
    return pd.concat(parts, axis=1)


def odds_ratio_table(table: pd.DataFrame, outcome: str, predictors: Sequence[str],
                     categorical: Sequence[str] = (), multivariable: bool = False) -> pd.DataFrame:
    """Logistic odds ratios with Wald 95% CIs, one predictor at a time or all together (statsmodels).

    Args:
        table: cohort table.
        outcome: 0/1 outcome column.
        predictors: predictor columns.
        categorical: which predictors are categorical (dummy-coded, first sorted level = reference).
        multivariable: fit one model with all predictors instead of one model per predictor.

    Returns:
        DataFrame with columns ``variable, term, odds_ratio, ci_low, ci_high, p_value``.

    Raises:
        PredictionInputError: invalid table (see :func:`check_table`) or a fit that separates the outcome
            perfectly.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

    check_table(table, predictors, outcome)
    y = outcome_vector(table, outcome)
    groups = [list(predictors)] if multivariable else [[p] for p in predictors]
    rows = []
    for group in groups:
        design = sm.add_constant(_design(table, group, categorical), has_constant="add")
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("error", PerfectSeparationWarning)
                fit = sm.Logit(y, design).fit(disp=0, maxiter=200)
        except (PerfectSeparationError, PerfectSeparationWarning, np.linalg.LinAlgError) as error:
            raise PredictionInputError(f"Logistic regression on {', '.join(group)} failed: {error}") from error
        ci = fit.conf_int()
        for term in design.columns[1:]:
            variable = term.split("=")[0]
            rows.append({"variable": variable, "term": term, "odds_ratio": float(np.exp(fit.params[term])),
                         "ci_low": float(np.exp(ci.loc[term, 0])), "ci_high": float(np.exp(ci.loc[term, 1])),
                         "p_value": float(fit.pvalues[term])})
    return pd.DataFrame(rows)


def select_clinical_predictors(table: pd.DataFrame, outcome: str, predictors: Sequence[str],
                               categorical: Sequence[str] = (), univariable_p: float = 0.1,
                               multivariable_p: float = 0.05) -> tuple[list[str], pd.DataFrame, pd.DataFrame]:
    """Two-step selection used by both seed studies: univariable screen, then multivariable significance.

    Args:
        table: training cohort.
        outcome: outcome column.
        predictors: candidate clinical/semantic predictors.
        categorical: categorical predictors.
        univariable_p: a predictor enters the multivariable model when any of its terms has ``p <`` this.
        multivariable_p: it is kept when any of its terms has ``p <`` this in the multivariable model.

    Returns:
        ``(selected, univariable_table, multivariable_table)``; if nothing passes, the predictor with the smallest
        univariable p-value is kept so the integrated model always has a clinical term.
    """
    univariable = odds_ratio_table(table, outcome, predictors, categorical)
    best_p = univariable.groupby("variable")["p_value"].min()
    screened = [p for p in predictors if best_p.get(p, 1.0) < univariable_p] or [str(best_p.idxmin())]
    multivariable = odds_ratio_table(table, outcome, screened, categorical, multivariable=True)
    kept_p = multivariable.groupby("variable")["p_value"].min()
    selected = [p for p in screened if kept_p.get(p, 1.0) < multivariable_p] or [str(kept_p.idxmin())]
    return selected, univariable, multivariable


def make_preprocessor(numeric: Sequence[str], categorical: Sequence[str], scale: bool = True) -> Any:
    """ColumnTransformer: numeric columns standardised (or passed through), categorical one-hot (first dropped).

    Unknown categories at prediction time raise in scikit-learn; :mod:`.artefact` checks them first to give a
    clear :class:`~.errors.UnseenCategoryError`.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    transformers = []
    if numeric:
        transformers.append(("numeric", StandardScaler() if scale else "passthrough", list(numeric)))
    if categorical:
        transformers.append(("categorical", OneHotEncoder(drop="first", handle_unknown="error",
                                                          sparse_output=False), list(categorical)))
    return ColumnTransformer(transformers, verbose_feature_names_out=False)


@dataclass
class NestedCVResult:
    """Performance of every selector × classifier combination, from outer-fold predictions only."""

    table: pd.DataFrame
    out_of_fold: dict[str, np.ndarray] = field(default_factory=dict)
    chosen_parameters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def best(self) -> str:
        """Name (``selector+classifier``) with the highest cross-validated AUC."""
        return str(self.table.sort_values("auc", ascending=False).iloc[0]["model"])


def nested_cross_validation(X: pd.DataFrame, y: np.ndarray, *, categorical: Sequence[str] = (),
                            selectors: Sequence[str] = ("lasso", "mrmr", "rfe"),
                            classifiers: Sequence[str] = ("logistic", "svm", "random_forest", "xgboost"),
                            outer_folds: int = 5, inner_folds: int = 3, seed: int = 0,
                            progress: Any | None = None) -> NestedCVResult:
    """Nested cross-validation of pipelines ``standardise → select → classify``.

    Args:
        X: predictors (numeric, plus ``categorical`` columns).
        y: 0/1 outcome.
        categorical: categorical columns of ``X``.
        selectors: feature selectors (see :data:`~.selection.SELECTORS`).
        classifiers: classifiers (see :data:`~.selection.CLASSIFIERS`).
        outer_folds: stratified outer folds (performance).
        inner_folds: stratified inner folds (hyper-parameters, including how many features to select).
        seed: random seed of the fold splits and models.
        progress: optional :class:`~HCCInterventionalAILib.progress.Progress`.

    Returns:
        :class:`NestedCVResult` with AUC and DeLong 95% CI of the pooled out-of-fold scores per combination
        (scores are rank-normalised within each outer fold before pooling, so folds with differently scaled
        decision functions can be pooled).

    Raises:
        PredictionInputError: invalid table, fewer events than outer folds.
    """
    from scipy.stats import rankdata
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    check_table(X, list(X.columns))
    y = np.asarray(y, dtype=int)
    if min(int(y.sum()), int((1 - y).sum())) < outer_folds:
        raise SingleClassError(f"Fewer events or non-events than the {outer_folds} outer folds.")
    # Categories are dummy-coded once (unsupervised: level names only); scaling and everything learnt from the
    # outcome happen inside the folds. A plain array keeps scikit-learn's per-column DataFrame checks away.
    design = _design(X, list(X.columns), categorical).to_numpy(dtype=float)
    outer = StratifiedKFold(outer_folds, shuffle=True, random_state=seed)
    inner = StratifiedKFold(inner_folds, shuffle=True, random_state=seed + 1)
    combos = [(s, c) for s in selectors for c in classifiers]
    rows, oof, chosen = [], {}, {}
    for index, (selector_name, classifier_name) in enumerate(combos):
        name = f"{selector_name}+{classifier_name}"
        if progress is not None:
            progress.update(index / len(combos), f"Nested cross-validation: {name}")
        selector, selector_grid = make_selector(selector_name, seed)
        classifier, classifier_grid = make_classifier(classifier_name, seed)
        pipeline = Pipeline([("scale", StandardScaler()), ("select", selector), ("model", classifier)])
        scores = np.zeros(len(y))
        chosen[name] = []
        for train, test in outer.split(design, y):
            search = GridSearchCV(pipeline, {**selector_grid, **classifier_grid}, scoring="roc_auc", cv=inner,
                                  n_jobs=1, error_score="raise")
            search.fit(design[train], y[train])
            fold_scores = positive_score(search.best_estimator_, design[test])
            scores[test] = rankdata(fold_scores) / len(test)
            chosen[name].append(search.best_params_)
        auc, low, high = auc_ci(y, scores)
        rows.append({"model": name, "selector": selector_name, "classifier": classifier_name, "auc": auc,
                     "ci_low": low, "ci_high": high})
        oof[name] = scores
    return NestedCVResult(pd.DataFrame(rows), oof, chosen)


def _neg_log_loss(estimator: Any, X: Any, y: Any) -> float:
    """Mean log-likelihood of a binary classifier (scikit-learn scorer signature, without its per-call checks)."""
    p = np.clip(estimator.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)
    y = np.asarray(y, dtype=float)
    return float(np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_radiomics_score(X: pd.DataFrame, y: np.ndarray, seed: int = 0, folds: int = 5) -> Any:
    """LASSO radiomics score: ``StandardScaler → L1 logistic regression``; the score is its linear predictor.

    The penalty ``C`` is chosen by stratified ``folds``-fold cross-validated log-likelihood over 8 values
    (``LogisticRegressionCV``); the returned pipeline is refitted on all rows with that ``C`` and holds only a
    scaler and a ``LogisticRegression``.

    Args:
        X: radiomics features (numeric).
        y: 0/1 outcome.
        seed: random seed of the solver.
        folds: folds choosing the penalty.

    Returns:
        A fitted scikit-learn pipeline; ``decision_function`` gives the radiomics score.

    Raises:
        PredictionInputError: invalid features (missing values, constant columns).
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    check_table(X, list(X.columns), name="radiomics table")
    scaled = StandardScaler().fit_transform(X)
    search = LogisticRegressionCV(Cs=np.logspace(-2.5, 0.5, 8), l1_ratios=(1.0,), solver="liblinear", cv=folds,
                                  scoring=_neg_log_loss, max_iter=5000, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # attribute layout change announced for scikit-learn 1.10
        search.fit(scaled, y)
    chosen = float(np.ravel(search.C_)[0])
    lasso = LogisticRegression(l1_ratio=1.0, solver="liblinear", C=chosen, max_iter=5000, random_state=seed)
    return Pipeline([("scale", StandardScaler()), ("lasso", lasso)]).fit(X, y)


def fit_integrated_model(table: pd.DataFrame, y: np.ndarray, predictors: Sequence[str],
                         categorical: Sequence[str] = ()) -> Any:
    """Unpenalised (maximum-likelihood) logistic regression on raw-scale predictors, for the nomogram.

    Args:
        table: rows of the training cohort with the predictor columns (clinical + score columns).
        y: 0/1 outcome.
        predictors: predictor columns.
        categorical: categorical predictors (one-hot, first sorted level = reference).

    Returns:
        A fitted scikit-learn pipeline ``ColumnTransformer(passthrough, one-hot) → LogisticRegression``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    check_table(table, predictors, name="integrated-model table")
    numeric = [p for p in predictors if p not in categorical]
    cats = [p for p in predictors if p in categorical]
    model = Pipeline([("prep", make_preprocessor(numeric, cats, scale=False)),
                      ("model", LogisticRegression(C=np.inf, solver="newton-cholesky", max_iter=1000))])
    return model.fit(categories_as_text(table[list(predictors)], cats), y)


def integrated_coefficients(model: Any) -> tuple[float, dict[str, float]]:
    """Intercept and coefficient per design term (``name`` or ``name=level``) of an integrated model."""
    prep, logistic = model.named_steps["prep"], model.named_steps["model"]
    names = [str(n) for n in prep.get_feature_names_out()]
    terms: dict[str, float] = {}
    for name, beta in zip(names, logistic.coef_[0], strict=True):
        terms[_term_name(prep, name)] = float(beta)
    return float(logistic.intercept_[0]), terms


def _term_name(prep: Any, feature_name: str) -> str:
    """scikit-learn names one-hot columns ``column_level``; turn them into ``column=level``."""
    for name, transformer, columns in prep.transformers_:
        if name == "categorical":
            for column, levels in zip(columns, transformer.categories_, strict=True):
                for level in levels:
                    if feature_name == f"{column}_{level}":
                        return f"{column}={level}"
    return feature_name
