"""SHAP explanations against closed forms (linear model) and XGBoost's own TreeSHAP (pred_contribs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("shap")

from HCCInterventionalAILib.prediction.explain import linear_shap, mean_absolute_shap, tree_shap
from HCCInterventionalAILib.prediction.modelling import fit_integrated_model, integrated_coefficients


def test_linear_shap_equals_closed_form():
    """Logistic model, independent masker: phi_j = beta_j (x_j - mean_background(x_j)) for a numeric predictor
    and beta_level ([g = level] - share of level in the background) for a dummy; E[f] + sum phi = logit(x)."""
    rng = np.random.default_rng(0)
    n = 600
    table = pd.DataFrame({"x": rng.normal(2, 1, n), "g": rng.choice(["a", "b"], n)})
    logit = -1 + 0.7 * table["x"] + 0.9 * (table["g"] == "b")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = fit_integrated_model(table, y, ["x", "g"], ["g"])
    intercept, beta = integrated_coefficients(model)
    rows = table.iloc[:5]
    values, expected = linear_shap(model, table, rows)
    share_b = (table["g"] == "b").mean()
    assert values["x"].to_numpy() == pytest.approx(beta["x"] * (rows["x"] - table["x"].mean()), abs=1e-8)
    assert values["g=b"].to_numpy() == pytest.approx(beta["g=b"] * ((rows["g"] == "b") - share_b), abs=1e-8)
    margin = intercept + beta["x"] * rows["x"] + beta["g=b"] * (rows["g"] == "b")
    assert (expected + values.sum(axis=1)).to_numpy() == pytest.approx(margin.to_numpy(), abs=1e-8)
    assert list(mean_absolute_shap(values)["term"])[0] in ("x", "g=b")


def test_tree_shap_matches_xgboost_pred_contribs():
    """shap's TreeExplainer and XGBoost's built-in TreeSHAP (predict(pred_contribs=True)) agree."""
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(0, 0.5, 300) > 0).astype(int)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3, n_jobs=1).fit(X, y)
    values, expected = tree_shap(model, X[:20])
    contribs = model.get_booster().predict(xgboost.DMatrix(X[:20]), pred_contribs=True)
    assert values == pytest.approx(contribs[:, :4], abs=1e-4)
    assert expected == pytest.approx(float(contribs[0, 4]), abs=1e-4)
