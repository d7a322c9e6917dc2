"""Model building: nested CV without leakage, feature selectors, odds ratios, bad tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("statsmodels")

from HCCInterventionalAILib.prediction.cohort import make_noise_cohort, make_synthetic_cohort
from HCCInterventionalAILib.prediction.errors import (
    ConstantColumnError,
    MissingValuesError,
    SingleClassError,
    UnknownColumnError,
)
from HCCInterventionalAILib.prediction.evaluation import auc_ci
from HCCInterventionalAILib.prediction.modelling import (
    check_table,
    fit_integrated_model,
    integrated_coefficients,
    nested_cross_validation,
    odds_ratio_table,
)
from HCCInterventionalAILib.prediction.selection import LassoSelector, MRMRSelector


@pytest.fixture(scope="module")
def noise():
    return make_noise_cohort(200, 1000, seed=0)


@pytest.mark.parametrize("selector", ["lasso", "mrmr", "rfe"])
def test_nested_cv_on_pure_noise_gives_chance_auc(noise, selector):
    """200 patients x 1,000 noise features: with selection inside the inner loop the CV AUC is 0.5 +- 0.07.

    (The standard error of an AUC of 0.5 with 100 + 100 patients is sqrt((m+n+1)/(12 m n)) = 0.041, so 0.07 is
    about 1.7 SE.)
    """
    X, y = noise
    result = nested_cross_validation(X, y, selectors=[selector], classifiers=["logistic"], seed=0)
    assert abs(result.table["auc"].iloc[0] - 0.5) <= 0.07


def test_selection_outside_cv_would_leak(noise):
    """The same noise with the 20 best features chosen on ALL patients before CV looks predictive (AUC > 0.75):
    the leak the nested design prevents, and proof that the noise test above can fail."""
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    X, y = noise
    leaked = SelectKBest(f_classif, k=20).fit_transform(X, y)
    scores = cross_val_predict(LogisticRegression(max_iter=2000), leaked, y,
                               cv=StratifiedKFold(5, shuffle=True, random_state=0), method="decision_function")
    assert auc_ci(y, scores).auc > 0.75


def test_nested_cv_finds_planted_signal_with_every_classifier():
    """Synthetic cohort with planted effects: every classifier beats chance clearly (lower CI bound > 0.5)."""
    cohort = make_synthetic_cohort(240, n_radiomics=12, seed=4, interaction_strength=0.0)
    columns = cohort.columns
    X = cohort.table[[*columns.predictors, *columns.radiomics]]
    result = nested_cross_validation(X, cohort.table[columns.outcome].to_numpy(), categorical=list(columns.categorical),
                                     selectors=["lasso"], outer_folds=3, inner_folds=2, seed=1)
    assert set(result.table["classifier"]) == {"logistic", "svm", "random_forest", "xgboost"}
    assert (result.table["ci_low"] > 0.5).all(), result.table


def test_mrmr_prefers_relevant_non_redundant_feature():
    """f0 = y + e0, f1 = f0 + tiny noise (a redundant copy), f2 = y + e2 (as relevant, other noise), f3 noise.

    All three relevant features have F ~ 430. After the first, the FCQ quotient F/|r| is ~430/1 for the copy but
    ~430/0.5 for f2 (corr(f0, f2) = var(y)/(var(y) + 0.25) = 0.5), so mRMR with k = 2 takes f2, not the copy.
    """
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    f0 = y + rng.normal(0, 0.5, 400)
    X = np.column_stack([f0, f0 + rng.normal(0, 0.01, 400), y + rng.normal(0, 0.5, 400), rng.normal(size=400)])
    support = MRMRSelector(k=2).fit(X, y).get_support()
    assert support[2] and support[:2].sum() == 1 and not support[3]


def test_lasso_selector_keeps_at_least_one_feature(noise):
    X, y = noise
    selector = LassoSelector(C=1e-4).fit(X.to_numpy()[:, :50], y)
    assert selector.get_support().sum() >= 1


def test_odds_ratios_recover_known_logistic_coefficients():
    """y ~ Bernoulli(logistic(-0.5 + 0.8 x + 1.2 [g = b])): the 95% CIs cover exp(0.8) = 2.23 and exp(1.2) = 3.32,
    and statsmodels' Logit and scikit-learn's unpenalised LogisticRegression give the same coefficients."""
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=n)
    g = rng.choice(["a", "b"], n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + 0.8 * x + 1.2 * (g == "b"))))).astype(int)
    table = pd.DataFrame({"x": x, "g": g, "y": y})
    ors = odds_ratio_table(table, "y", ["x", "g"], ["g"], multivariable=True).set_index("term")
    assert ors.loc["x", "ci_low"] < np.exp(0.8) < ors.loc["x", "ci_high"]
    assert ors.loc["g=b", "ci_low"] < np.exp(1.2) < ors.loc["g=b", "ci_high"]
    model = fit_integrated_model(table, y, ["x", "g"], ["g"])
    _, terms = integrated_coefficients(model)
    assert np.log(ors.loc["x", "odds_ratio"]) == pytest.approx(terms["x"], abs=1e-4)
    assert np.log(ors.loc["g=b", "odds_ratio"]) == pytest.approx(terms["g=b"], abs=1e-4)


def test_bad_tables_give_clear_errors():
    table = pd.DataFrame({"a": [1.0, 2.0, np.nan, 4.0], "b": [1, 1, 1, 1], "y": [0, 1, 0, 1]})
    with pytest.raises(MissingValuesError, match=r"missing values in a \(1\)"):
        check_table(table, ["a"], "y")
    with pytest.raises(ConstantColumnError, match="b have the same value"):
        check_table(table.fillna(3.0), ["a", "b"], "y")
    with pytest.raises(SingleClassError, match="only one class"):
        check_table(table.fillna(3.0).assign(y=1), ["a"], "y")
    with pytest.raises(UnknownColumnError, match="no column"):
        check_table(table, ["c"], "y")
