"""Prediction results as NEW nodes of an MRML scene: the one writer used by the HCCResponsePrediction module logic
and by the demo (MRML is imported lazily through :mod:`HCCInterventionalAILib.scene`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RESULT_ATTRIBUTE", "result_to_scene", "patient_to_scene"]

#: Node attribute saying which part of a prediction result a node holds.
RESULT_ATTRIBUTE = "HCCResponsePrediction.Result"


def _tag(node: Any, role: str) -> Any:
    node.SetAttribute(RESULT_ATTRIBUTE, role)
    return node


def result_to_scene(scene: Any, result: Any, base_name: str = "Prediction", *, y_test: np.ndarray | None = None,
                    test_scores: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """Write the performance, odds-ratio, nested-CV, interaction and subgroup tables and the curve charts.

    Args:
        scene: the MRML scene.
        result: a :class:`~.pipeline.TrainingResult`.
        base_name: prefix of the node names.
        y_test: held-out outcome (for the ROC chart).
        test_scores: held-out scores per model (for the ROC chart).

    Returns:
        Nodes by role: ``performanceTable``, ``multivariableTable``, ``nestedCVTable``, ``interactionTable``,
        ``subgroupTable`` (None where absent) and one chart per curve (``calibrationChart``,
        ``decision_curveChart``, ``rocChart``, ``km_…Chart``).
    """
    from HCCInterventionalAILib.scene import dataframe_to_plot, dataframe_to_table_node

    from .plots import curve_tables

    nodes: dict[str, Any] = {}
    tables = {"performanceTable": (result.performance, "performance (AUC, DeLong 95% CI)"),
              "multivariableTable": (result.multivariable, "multivariable odds ratios"),
              "nestedCVTable": (result.nested_cv, "nested cross-validation"),
              "interactionTable": (None if result.interaction is None else result.interaction["coefficients"],
                                   "treatment interaction"),
              "subgroupTable": (result.subgroups, "subgroups")}
    for role, (frame, title) in tables.items():
        nodes[role] = None if frame is None else _tag(
            dataframe_to_table_node(scene, pd.DataFrame(frame), f"{base_name} {title}"), role)
    labels = {"calibration": ("predicted risk", "observed event rate"),
              "decision_curve": ("threshold probability", "net benefit"), "roc": ("1 - specificity", "sensitivity")}
    for name, frame in curve_tables(result, y_test, test_scores).items():
        x_label, y_label = labels.get(name, ("months", "survival probability"))
        chart = dataframe_to_plot(scene, frame, frame.columns[0], list(frame.columns[1:]),
                                  f"{base_name} {name.replace('_', ' ')}", x_label=x_label, y_label=y_label)
        nodes[f"{name}Chart"] = _tag(chart, name)
    return nodes


def patient_to_scene(scene: Any, prediction: Any, base_name: str = "Patient") -> Any:
    """One patient's prediction (probability, points per predictor, recommendation) as a new table node."""
    from HCCInterventionalAILib.scene import dataframe_to_table_node

    rows = [{"item": "probability", "value": f"{prediction.probability:.3f}"},
            {"item": "risk group", "value": f"{prediction.risk_group} (threshold {prediction.threshold:.3f})"}]
    rows += [{"item": f"points: {k}", "value": f"{v:.1f}"} for k, v in prediction.points.items()]
    if prediction.recommendation:
        rows += [{"item": f"treatment: {k}", "value": str(v)} for k, v in prediction.recommendation.items()]
    rows.append({"item": "intended use", "value": prediction.intended_use})
    node = dataframe_to_table_node(scene, pd.DataFrame(rows), f"{base_name} prediction")
    node.SetAttribute("HCCResponsePrediction.Probability", f"{prediction.probability:.6g}")
    return _tag(node, "patient")
