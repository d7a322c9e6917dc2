"""SHAP explanations of tabular models (Lundberg & Lee, NeurIPS 2017), without the ``shap`` package.

The ``shap`` package depends on an unrelated PyPI package named ``slicer`` that replaces the MRML library's
``slicer`` module (slicer-core) in the same environment, so it cannot be installed beside this project:

* logistic (integrated) models: exact SHAP values on the log-odds scale with an interventional (independent)
  background, ``φ_j = β_j (x_j − E_background[x_j])`` per design term, ``E[f] = β0 + Σ_j β_j E[x_j]``; for a
  linear model these are the Shapley values of ``v(S) = E_background[f(x_S, X_{S̄})]`` (Štrumbelj & Kononenko,
  Knowl. Inf. Syst. 41:647–665, 2014; Lundberg & Lee 2017, "Linear SHAP");
* XGBoost models: XGBoost's own TreeSHAP (``Booster.predict(pred_contribs=True)``; Lundberg et al., Nat. Mach.
  Intell. 2:56–67, 2020) on the margin (log-odds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["linear_shap", "tree_shap", "mean_absolute_shap"]


def linear_shap(model: Any, background: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Exact SHAP values of an integrated-model pipeline (``prep → LogisticRegression``) on the log-odds scale.

    Args:
        model: fitted pipeline from :func:`~.modelling.fit_integrated_model`.
        background: rows defining the expectation (e.g. the training set).
        rows: rows to explain.

    Returns:
        ``(values, expected_value)``: one column per design term (``name`` or ``name=level``); each row's values
        sum to ``f(x) − expected_value``.
    """
    from .modelling import _term_name, categories_as_text

    prep, logistic = model.named_steps["prep"], model.named_steps["model"]
    categorical = [c for name, _, columns in prep.transformers_ if name == "categorical" for c in columns]
    design_background = prep.transform(categories_as_text(background, categorical))
    design_rows = prep.transform(categories_as_text(rows, categorical))
    beta = logistic.coef_[0]
    mean = design_background.mean(axis=0)
    values = (design_rows - mean) * beta
    names = [_term_name(prep, str(n)) for n in prep.get_feature_names_out()]
    expected = float(logistic.intercept_[0] + mean @ beta)
    return pd.DataFrame(values, columns=names, index=rows.index), expected


def tree_shap(model: Any, rows: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, float]:
    """TreeSHAP values of a fitted XGBoost classifier on its margin, computed by XGBoost.

    Returns:
        ``(values (n, features), expected_value)``.
    """
    import xgboost

    contributions = model.get_booster().predict(xgboost.DMatrix(np.asarray(rows, dtype=float)), pred_contribs=True)
    return contributions[:, :-1], float(contributions[0, -1])


def mean_absolute_shap(values: pd.DataFrame) -> pd.DataFrame:
    """Global importance: mean |SHAP| per term, largest first."""
    importance = values.abs().mean().sort_values(ascending=False)
    return pd.DataFrame({"term": importance.index, "mean_abs_shap": importance.to_numpy()})
