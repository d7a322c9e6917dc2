"""SHAP explanations of tabular models (the ``shap`` package; Lundberg & Lee, NeurIPS 2017).

* Logistic (integrated) models: ``shap.LinearExplainer`` with an independent masker on the model's design
  matrix. For a linear model with independent features the values are ``φ_j = β_j (x_j − E[x_j])`` on the
  log-odds scale, and ``E[f] + Σ_j φ_j = f(x)`` (local accuracy).
* Tree models (XGBoost, random forest): ``shap.TreeExplainer`` (Lundberg et al., Nat. Mach. Intell. 2:56–67,
  2020), on the model's margin (log-odds for XGBoost).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["linear_shap", "tree_shap", "mean_absolute_shap"]


def linear_shap(model: Any, background: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """SHAP values of an integrated-model pipeline (``prep → LogisticRegression``) on the log-odds scale.

    Args:
        model: fitted pipeline from :func:`~.modelling.fit_integrated_model`.
        background: rows defining the expectation (e.g. the training set).
        rows: rows to explain.

    Returns:
        ``(values, expected_value)``: one column per design term (``name`` or ``name=level``).
    """
    import shap

    from .modelling import _term_name

    prep, logistic = model.named_steps["prep"], model.named_steps["model"]
    categorical = [c for name, _, columns in prep.transformers_ if name == "categorical" for c in columns]
    from .modelling import categories_as_text

    design_background = prep.transform(categories_as_text(background, categorical))
    design_rows = prep.transform(categories_as_text(rows, categorical))
    explainer = shap.LinearExplainer(logistic, shap.maskers.Independent(design_background,
                                                                       max_samples=len(design_background)))
    values = np.asarray(explainer.shap_values(design_rows))
    names = [_term_name(prep, str(n)) for n in prep.get_feature_names_out()]
    return pd.DataFrame(values, columns=names, index=rows.index), float(np.ravel(explainer.expected_value)[0])


def tree_shap(model: Any, rows: np.ndarray | pd.DataFrame) -> tuple[np.ndarray, float]:
    """TreeSHAP values of a fitted tree ensemble (XGBoost or scikit-learn) on its margin output.

    Returns:
        ``(values, expected_value)``; for a binary scikit-learn forest, the values of the event class.
    """
    import shap

    explainer = shap.TreeExplainer(model)
    values = explainer.shap_values(rows)
    expected = np.ravel(explainer.expected_value)
    if isinstance(values, list):  # older shap: one array per class
        values, expected = values[1], expected[1:]
    values = np.asarray(values)
    if values.ndim == 3:  # (rows, features, classes)
        values, expected = values[..., 1], expected[1:]
    return values, float(expected[0])


def mean_absolute_shap(values: pd.DataFrame) -> pd.DataFrame:
    """Global importance: mean |SHAP| per term, largest first."""
    importance = values.abs().mean().sort_values(ascending=False)
    return pd.DataFrame({"term": importance.index, "mean_abs_shap": importance.to_numpy()})
