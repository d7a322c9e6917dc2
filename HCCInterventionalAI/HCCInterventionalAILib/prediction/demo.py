"""Demo step ``70-prediction``: train and evaluate a response model on a SYNTHETIC cohort, and say so."""

from __future__ import annotations

from typing import Any

__all__ = ["prediction_demo_step", "DEMO_COHORT_SIZE"]

#: Patients of the synthetic demo cohort for each demo size.
DEMO_COHORT_SIZE = {"standard": 500, "small": 200}


def _round(value: Any, digits: int = 4) -> Any:
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    return value


def prediction_demo_step(context: Any) -> None:
    """Synthetic cohort → nested CV, integrated model + nomogram, evaluation, TACE-vs-HAIC recommendation."""
    import matplotlib.pyplot as plt

    from .cohort import make_synthetic_cohort
    from .files import write_training_outputs
    from .nomogram import draw_nomogram
    from .pipeline import TrainingRequest, train_model

    small = (getattr(context.report, "metadata", None) or {}).get("size") == "small"
    n = DEMO_COHORT_SIZE["small" if small else "standard"]
    section = context.report.section("Response prediction and TACE vs HAIC selection (SYNTHETIC cohort)")
    section.warning(f"Every number in this section comes from a SYNTHETIC cohort of {n} patients generated with "
                    "planted effects (HCCInterventionalAILib.prediction.cohort). It demonstrates the method; it is "
                    "not a clinical model and says nothing about real patients.")
    cohort = make_synthetic_cohort(n, seed=11)
    request = TrainingRequest(
        cohort.table, cohort.columns, interaction_predictors=("afp_gt_400", "pvtt", "tumour_size_cm", "ecog"),
        selectors=("lasso", "mrmr", "rfe") if not small else ("lasso",),
        classifiers=("logistic", "svm", "random_forest", "xgboost") if not small else ("logistic",),
        outer_folds=5 if not small else 3, inner_folds=3 if not small else 2, seed=11,
        name="synthetic-demo-response-model", synthetic=True,
        data_description=cohort.note)
    result = train_model(request, progress=context.progress)
    folder = context.output_dir / "prediction"
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_training_outputs(result, folder)

    test = result.performance.query("set == 'test'").set_index("model")
    recommendations = result.recommendations
    agreement = float((recommendations["recommended"].to_numpy()
                       == cohort.truth.loc[recommendations.index, "better_treatment"].to_numpy()).mean())
    section.text(f"Clinical predictors kept by univariable then multivariable logistic regression: "
                 f"{', '.join(result.selected_predictors)}. Integrated model: {', '.join(result.integrated_predictors)}.")
    section.table(result.performance, "AUC with DeLong 95% CI (training and held-out test)")
    if result.nested_cv is not None:
        section.table(result.nested_cv, "Nested cross-validation (training set): selectors x classifiers")
    section.key_values({"Youden threshold (training)": result.threshold["threshold"],
                        "Test sensitivity": result.test_metrics["sensitivity"],
                        "Test specificity": result.test_metrics["specificity"],
                        "Test PPV": result.test_metrics["ppv"], "Test NPV": result.test_metrics["npv"],
                        "Hosmer-Lemeshow p (test)": result.calibration["hosmer_lemeshow"]["p_value"],
                        "Spiegelhalter p (test)": result.calibration["spiegelhalter"]["p_value"],
                        "Recommendation = planted better arm": agreement})
    fig = draw_nomogram(result.models["nomogram"])
    section.figure(fig, "Nomogram of the integrated model (synthetic cohort)")
    plt.close(fig)
    for name in ("roc", "calibration", "decision_curve", "km_maintain_vs_alter"):
        if name in paths:
            section.image(paths[name].read_bytes(), name.replace("_", " "))
    if result.subgroups is not None:
        section.table(result.subgroups, "Progressive-disease rate by arm within subgroups, OR HAIC vs TACE")
    survival = result.survival.get("maintain_vs_alter", {})
    context.results["prediction"] = _round({
        "synthetic_cohort": True, "n_patients": n, "note": cohort.note,
        "selected_predictors": result.selected_predictors, "integrated_predictors": result.integrated_predictors,
        "test_auc": {m: {"auc": float(r["auc"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])}
                     for m, r in test.iterrows()},
        "performance": result.performance.to_dict(orient="records"),
        "subgroups": None if result.subgroups is None else
        result.subgroups.astype(object).where(result.subgroups.notna(), None).to_dict(orient="records"),
        "nested_cv": None if result.nested_cv is None else result.nested_cv[["model", "auc", "ci_low", "ci_high"]]
        .to_dict(orient="records"),
        "threshold": result.threshold["threshold"],
        "test_metrics": {k: result.test_metrics[k] for k in ("sensitivity", "specificity", "ppv", "npv")},
        "hosmer_lemeshow": result.calibration["hosmer_lemeshow"],
        "spiegelhalter": result.calibration["spiegelhalter"],
        "recommendation_agreement_with_planted": agreement,
        "groups": result.interaction["groups"] if result.interaction else None,
        "maintain_vs_alter_median_os_months": survival.get("medians"),
        "maintain_vs_alter_logrank": survival.get("logrank"),
        "model_folder": str(paths["model"].relative_to(context.output_dir)),
    })
    if context.scene is not None:
        from .to_scene import result_to_scene

        result_to_scene(context.scene, result, "Synthetic cohort", y_test=result.models["y_test"],
                        test_scores=result.models["test_scores"])
