"""SHAP explanations against brute-force Shapley values and XGBoost's local accuracy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("sklearn")

from HCCInterventionalAILib.prediction.explain import linear_shap, mean_absolute_shap, tree_shap
from HCCInterventionalAILib.prediction.modelling import fit_integrated_model


def test_linear_shap_equals_brute_force_shapley_values():
    """Shapley values of v(S) = mean over the background of the logit with the features in S taken from x and
    the others from the background row, by enumerating all 2^3 coalitions (Shapley 1953), equal the closed form;
    and E[f] + sum(phi) = logit(x) (local accuracy)."""
    rng = np.random.default_rng(0)
    n = 300
    table = pd.DataFrame({"x": rng.normal(2, 1, n), "z": rng.normal(0, 2, n), "g": rng.choice(["a", "b"], n)})
    logit = -1 + 0.7 * table["x"] - 0.3 * table["z"] + 0.9 * (table["g"] == "b")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    model = fit_integrated_model(table, y, ["x", "z", "g"], ["g"])
    rows = table.iloc[:4]
    values, expected = linear_shap(model, table, rows)

    def margin(frame):
        p = model.predict_proba(frame)[:, 1]
        return np.log(p / (1 - p))

    features = ["x", "z", "g"]
    for index, row in rows.iterrows():
        def v(coalition, row=row):
            mixed = table.copy()
            for feature in coalition:
                mixed[feature] = row[feature]
            return margin(mixed).mean()

        for feature, term in (("x", "x"), ("z", "z"), ("g", "g=b")):
            others = [f for f in features if f != feature]
            phi = 0.0
            for size in range(len(others) + 1):
                for subset in itertools.combinations(others, size):
                    weight = math.factorial(size) * math.factorial(len(features) - size - 1) / math.factorial(3)
                    phi += weight * (v((*subset, feature)) - v(subset))
            assert values.loc[index, term] == pytest.approx(phi, abs=1e-8)
        assert expected + values.loc[index].sum() == pytest.approx(margin(rows.loc[[index]])[0], abs=1e-8)
    assert set(mean_absolute_shap(values)["term"]) == {"x", "z", "g=b"}


def test_tree_shap_local_accuracy_and_unused_features():
    """XGBoost TreeSHAP: contributions + bias = margin; a feature the trees never split on gets exactly 0."""
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(0, 0.5, 300) > 0).astype(int)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=2, n_jobs=1).fit(X[:, :2], y)
    values, expected = tree_shap(model, X[:20, :2])
    margin = model.predict(X[:20, :2], output_margin=True)
    assert values.sum(axis=1) + expected == pytest.approx(margin, abs=1e-4)
    only_first = xgboost.XGBClassifier(n_estimators=10, max_depth=2, n_jobs=1).fit(
        np.column_stack([X[:, 0], np.zeros(300)]), y)
    values, _ = tree_shap(only_first, np.column_stack([X[:20, 0], np.zeros(20)]))
    assert np.all(values[:, 1] == 0)
