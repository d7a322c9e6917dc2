"""Training pipeline: one request vocabulary for GUI, CLI and demo, staged steps and a serialisable result.

``train_model(request)`` runs :func:`prepare` (load and check the table once, split train/test) and then short
stages: clinical predictor selection (univariable → multivariable ORs), radiomics score (LASSO; out-of-fold on
the training set), nested cross-validation of selector × classifier pipelines, the integrated logistic model
and its nomogram, evaluation on the held-out test set (DeLong CIs and test, Youden threshold from TRAINING,
sensitivity/specificity/PPV/NPV, Hosmer–Lemeshow, Spiegelhalter, calibration, decision curve, Kaplan–Meier of
model-defined risk groups) and, when a treatment arm is given, the TACE-vs-HAIC interaction model with
Maintain/Alter groups and subgroup analysis. :func:`predict_patient` applies a saved model to one patient.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .artefact import DEFAULT_RADIOMICS_PRESET
from .cohort import CohortColumns
from .errors import MissingValuesError, PredictionInputError, UnknownColumnError
from .evaluation import (
    auc_ci,
    bootstrap_auc_ci,
    calibration_curve,
    decision_curve,
    delong_test,
    diagnostic_metrics,
    hosmer_lemeshow,
    kaplan_meier_curves,
    logrank,
    spiegelhalter_z,
    youden_threshold,
)
from .interaction import InteractionModel, fit_interaction_model, subgroup_analysis
from .modelling import (
    NestedCVResult,
    categories_as_text,
    check_table,
    fit_integrated_model,
    fit_radiomics_score,
    nested_cross_validation,
    outcome_vector,
    select_clinical_predictors,
)
from .nomogram import Nomogram, nomogram_from_model

__all__ = [
    "TrainingRequest",
    "PreparedCohort",
    "TrainingResult",
    "PatientPrediction",
    "prepare",
    "train_model",
    "build_model_card",
    "predict_patient",
    "RAD_SCORE",
    "SEED_004_REFERENCE",
]

#: Name of the radiomics-score column added to the tables.
RAD_SCORE = "rad_score"

#: Reference performance quoted in the model card (An et al., DELICAITE, 2025: progressive disease after TACE/HAIC).
SEED_004_REFERENCE = {
    "source": "An et al., 'Refining intra-arterial therapy selection for large hepatocellular carcinoma: a deep "
              "learning approach based on covariate interaction analysis' (DELICAITE), 2025",
    "auc_training": 0.756, "auc_internal_test": 0.664, "auc_external_test": 0.701,
    "median_os_maintain_months": 11.3, "median_os_alter_months": 8.1,
    "note": "Published values of a different model on real patients; quoted for context, not reproduced here.",
}


@dataclass
class TrainingRequest:
    """Everything needed to build a model from a cohort table.

    Attributes:
        table: the cohort (DataFrame) or a CSV file.
        columns: role of each column.
        interaction_predictors: covariates of the treatment-interaction model (default: the selected clinical
            predictors plus the radiomics score).
        treatments: ``(reference, alternative)`` arm labels (``t = −1``, ``+1``).
        test_fraction: stratified held-out fraction.
        nested_cv: run the selector × classifier comparison.
        selectors, classifiers: what nested CV compares.
        outer_folds, inner_folds: nested-CV folds.
        score_columns: extra score columns (e.g. a deep-learning score) offered to the integrated model.
        seed: random seed (split, folds, models).
        name: model name used in the card.
        data_description: where the cohort comes from (goes into the card).
        synthetic: the cohort is synthetic (the card then says so in every section that matters).
        radiomics_preset: pyradiomics preset (``HCCInterventionalAILib.radiomics.PRESETS``) the radiomics columns
            were extracted with; recorded in the card so that a lesion can be extracted the same way at prediction.
    """

    table: pd.DataFrame | str | Path
    columns: CohortColumns
    interaction_predictors: Sequence[str] | None = None
    treatments: tuple[str, str] = ("TACE", "HAIC")
    test_fraction: float = 0.3
    nested_cv: bool = True
    selectors: Sequence[str] = ("lasso", "mrmr", "rfe")
    classifiers: Sequence[str] = ("logistic", "svm", "random_forest", "xgboost")
    outer_folds: int = 5
    inner_folds: int = 3
    score_columns: Sequence[str] = ()
    seed: int = 0
    name: str = "hcc-response-model"
    data_description: str = "user-supplied cohort table"
    synthetic: bool = False
    radiomics_preset: str = DEFAULT_RADIOMICS_PRESET


@dataclass
class PreparedCohort:
    """The checked table split once into training and test rows."""

    table: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    columns: CohortColumns


@dataclass
class TrainingResult:
    """Numbers and tables of a training run (``to_dict`` is JSON-ready); fitted objects live in ``models``."""

    name: str
    n_train: int
    n_test: int
    events_train: int
    events_test: int
    selected_predictors: list[str]
    integrated_predictors: list[str]
    univariable: pd.DataFrame
    multivariable: pd.DataFrame
    performance: pd.DataFrame
    delong: dict[str, Any]
    threshold: dict[str, Any]
    test_metrics: dict[str, Any]
    calibration: dict[str, Any]
    decision_curve: dict[str, Any]
    survival: dict[str, Any]
    nested_cv: pd.DataFrame | None = None
    interaction: dict[str, Any] | None = None
    recommendations: pd.DataFrame | None = None
    subgroups: pd.DataFrame | None = None
    shap_importance: pd.DataFrame | None = None
    card: dict[str, Any] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if key == "models":
                continue
            out[key] = _jsonable(value)
        return out


@dataclass
class PatientPrediction:
    """Prediction for one patient from a saved model."""

    probability: float
    points: dict[str, float]
    rad_score: float | None
    risk_group: str
    threshold: float
    recommendation: dict[str, Any] | None
    intended_use: str
    model_name: str
    synthetic_training_data: bool

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return value


# ------------------------------------------------------------------------------------------------------------
# stages


def prepare(request: TrainingRequest) -> PreparedCohort:
    """Load and check the table once, then split it into stratified training and test sets.

    Raises:
        FileNotFoundError: the CSV does not exist.
        PredictionInputError: missing columns or values, constant predictors, one outcome class, a bad split.
    """
    from sklearn.model_selection import train_test_split

    table = request.table
    if not isinstance(table, pd.DataFrame):
        path = Path(table)
        if not path.is_file():
            raise FileNotFoundError(f"No cohort table at {path}.")
        table = pd.read_csv(path)
    columns = request.columns
    needed = [*columns.predictors, *columns.radiomics, *request.score_columns]
    needed += [c for c in (columns.treatment, columns.time, columns.event) if c]
    check_table(table, needed, columns.outcome)
    if not 0.1 <= request.test_fraction <= 0.5:
        raise PredictionInputError(f"test_fraction must lie between 0.1 and 0.5 (got {request.test_fraction}).")
    y = outcome_vector(table, columns.outcome)
    if min(y.sum(), len(y) - y.sum()) < 10:
        raise PredictionInputError("At least 10 events and 10 non-events are needed to build and test a model.")
    train, test = train_test_split(table, test_size=request.test_fraction, stratify=y, random_state=request.seed)
    return PreparedCohort(table, train.copy(), test.copy(), outcome_vector(train, columns.outcome),
                          outcome_vector(test, columns.outcome), columns)


def _radiomics_stage(prepared: PreparedCohort, seed: int) -> Any | None:
    """Fit the LASSO radiomics score; adds ``rad_score`` (out-of-fold on training, applied on test)."""
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    radiomics = list(prepared.columns.radiomics)
    if not radiomics:
        return None
    train_x, test_x = prepared.train[radiomics], prepared.test[radiomics]
    model = fit_radiomics_score(train_x, prepared.y_train, seed=seed)
    out_of_fold = np.zeros(len(train_x))
    for fit_rows, score_rows in StratifiedKFold(5, shuffle=True, random_state=seed).split(train_x, prepared.y_train):
        fold_model = clone(model).fit(train_x.iloc[fit_rows], prepared.y_train[fit_rows])
        out_of_fold[score_rows] = fold_model.decision_function(train_x.iloc[score_rows])
    prepared.train[RAD_SCORE] = out_of_fold
    prepared.test[RAD_SCORE] = model.decision_function(test_x)
    return model


def _evaluation_stage(prepared: PreparedCohort, p_train: np.ndarray, p_test: np.ndarray,
                      others: Mapping[str, tuple[np.ndarray, np.ndarray]], seed: int) -> dict[str, Any]:
    rows = []
    for model_name, (train_score, test_score) in {"integrated": (p_train, p_test), **others}.items():
        for set_name, y, score in (("training", prepared.y_train, train_score), ("test", prepared.y_test, test_score)):
            auc, low, high = auc_ci(y, score)
            rows.append({"model": model_name, "set": set_name, "auc": auc, "ci_low": low, "ci_high": high})
    boot = bootstrap_auc_ci(prepared.y_test, p_test, n_boot=500, seed=seed)
    delong = {}
    for other, (_, test_score) in others.items():
        try:
            delong[f"integrated_vs_{other}"] = delong_test(prepared.y_test, p_test, test_score).to_dict()
        except PredictionInputError as error:
            delong[f"integrated_vs_{other}"] = {"error": str(error)}
    threshold = youden_threshold(prepared.y_train, p_train)
    metrics = diagnostic_metrics(prepared.y_test, p_test, threshold.threshold)
    curve = calibration_curve(prepared.y_test, p_test, bins=5)
    hl = hosmer_lemeshow(prepared.y_test, p_test, groups=10)
    spiegelhalter = spiegelhalter_z(prepared.y_test, p_test)
    dca = decision_curve(prepared.y_test, p_test, thresholds=np.arange(0.05, 0.96, 0.05))
    return {"performance": pd.DataFrame(rows), "bootstrap_test_auc": boot.to_dict(), "delong": delong,
            "threshold": {**threshold.to_dict(), "chosen_on": "training set (Youden index)"},
            "test_metrics": metrics.to_dict(),
            "calibration": {**curve.to_dict(), "hosmer_lemeshow": hl.to_dict(), "spiegelhalter": spiegelhalter.to_dict()},
            "decision_curve": dca.to_dict()}


def _survival_stage(prepared: PreparedCohort, p_all: np.ndarray, threshold: float,
                    groups: pd.Series | None = None) -> dict[str, Any]:
    columns = prepared.columns
    if not (columns.time and columns.event):
        return {}
    table = prepared.table
    risk_group = np.where(p_all >= threshold, "high risk", "low risk")
    out: dict[str, Any] = {}
    for label, group in (("risk_groups", risk_group), ("maintain_vs_alter", groups)):
        if group is None or len(set(np.asarray(group).tolist())) < 2:
            continue
        test = logrank(table[columns.time], table[columns.event], group)
        curves = kaplan_meier_curves(table[columns.time], table[columns.event], group)
        out[label] = {"logrank": test.to_dict(), "curves": curves,
                      "medians": {k: v["median"] for k, v in curves.items()}}
    return out


def train_model(request: TrainingRequest, progress: Any | None = None) -> TrainingResult:
    """Run every stage on a cohort (see module docstring).

    Args:
        request: the :class:`TrainingRequest`.
        progress: optional :class:`~HCCInterventionalAILib.progress.Progress`.

    Returns:
        :class:`TrainingResult` with the fitted models in ``models`` (``integrated``, ``radiomics_score``,
        ``nomogram``, ``interaction``) ready for :func:`~.artefact.save_artefact`.

    Raises:
        PredictionInputError: invalid table or request (see :func:`prepare`).
    """
    from ..progress import as_progress

    progress = as_progress(progress)
    weights = np.cumsum([0, 1, 2, 6, 1, 2, 1]) / 13
    steps = [progress.sub(a, b) for a, b in zip(weights[:-1], weights[1:], strict=True)]
    steps[0].update(0.0, "Checking the cohort table")
    prepared = prepare(request)
    columns = prepared.columns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels convergence chatter on weak univariable predictors
        selected, univariable, multivariable = select_clinical_predictors(
            prepared.train, columns.outcome, list(columns.predictors), list(columns.categorical))
    steps[1].update(0.0, "Radiomics score (LASSO)")
    radiomics_model = _radiomics_stage(prepared, request.seed)
    nested: NestedCVResult | None = None
    if request.nested_cv:
        features = [*columns.predictors, *columns.radiomics]
        nested = nested_cross_validation(
            prepared.train[features], prepared.y_train, categorical=list(columns.categorical),
            selectors=request.selectors, classifiers=request.classifiers, outer_folds=request.outer_folds,
            inner_folds=request.inner_folds, seed=request.seed, progress=steps[2])
    steps[3].update(0.0, "Integrated model and nomogram")
    scores = ([RAD_SCORE] if radiomics_model is not None else []) + list(request.score_columns)
    integrated_predictors = [*selected, *scores]
    categorical = [c for c in integrated_predictors if c in columns.categorical]
    integrated = fit_integrated_model(prepared.train, prepared.y_train, integrated_predictors, categorical)
    clinical = fit_integrated_model(prepared.train, prepared.y_train, selected, categorical)
    nomogram = nomogram_from_model(integrated, prepared.train, f"Probability of {columns.outcome}")
    train_text = categories_as_text(prepared.train, categorical)
    test_text = categories_as_text(prepared.test, categorical)
    p_train = integrated.predict_proba(train_text[integrated_predictors])[:, 1]
    p_test = integrated.predict_proba(test_text[integrated_predictors])[:, 1]
    others = {"clinical": (clinical.predict_proba(train_text[selected])[:, 1],
                           clinical.predict_proba(test_text[selected])[:, 1])}
    if radiomics_model is not None:
        others["radiomics_score"] = (prepared.train[RAD_SCORE].to_numpy(), prepared.test[RAD_SCORE].to_numpy())
    steps[4].update(0.0, "Evaluation on the held-out test set")
    evaluation = _evaluation_stage(prepared, p_train, p_test, others, request.seed)

    interaction_model: InteractionModel | None = None
    interaction_summary = recommendations = subgroups = None
    if columns.treatment:
        steps[5].update(0.0, "Treatment-interaction model")
        covariates = list(request.interaction_predictors or [*selected, *scores])
        all_rows = pd.concat([prepared.train, prepared.test])
        interaction_model = fit_interaction_model(prepared.train, columns.outcome, covariates, columns.treatment,
                                                  request.treatments, list(columns.categorical))
        recommendations = interaction_model.recommend(all_rows, received=columns.treatment)
        recommendations.insert(0, "set", ["training"] * len(prepared.train) + ["test"] * len(prepared.test))
        if columns.patient_id and columns.patient_id in all_rows:
            recommendations.insert(0, columns.patient_id, all_rows[columns.patient_id].to_numpy())
        with_group = all_rows.assign(group=recommendations["group"].to_numpy())
        binary = [c for c in covariates if c in columns.categorical or all_rows[c].nunique() <= 3]
        subgroups = subgroup_analysis(with_group, columns.outcome, columns.treatment, [*binary, "group"],
                                      request.treatments)
        test_rows = recommendations["set"] == "test"
        arm_risk = np.where(prepared.test[columns.treatment].astype(str) == request.treatments[1],
                            recommendations.loc[test_rows, f"risk_{request.treatments[1]}"],
                            recommendations.loc[test_rows, f"risk_{request.treatments[0]}"])
        interaction_summary = {
            "coefficients": interaction_model.coefficient_table(),
            "test_auc": auc_ci(prepared.y_test, arm_risk).to_dict(),
            "groups": recommendations["group"].value_counts().to_dict(),
            "outcome_rate_by_group": with_group.groupby("group")[columns.outcome].mean().to_dict(),
        }
    all_table = pd.concat([prepared.train, prepared.test])
    prepared.table = all_table
    p_all = integrated.predict_proba(categories_as_text(all_table, categorical)[integrated_predictors])[:, 1]
    survival = _survival_stage(prepared, p_all, evaluation["threshold"]["threshold"],
                               None if recommendations is None else recommendations["group"])
    steps[5].update(1.0, "Done")
    result = TrainingResult(
        request.name, len(prepared.train), len(prepared.test), int(prepared.y_train.sum()), int(prepared.y_test.sum()),
        selected, integrated_predictors, univariable, multivariable, evaluation["performance"],
        {**evaluation["delong"], "bootstrap_test_auc": evaluation["bootstrap_test_auc"]}, evaluation["threshold"],
        evaluation["test_metrics"], evaluation["calibration"], evaluation["decision_curve"], survival,
        None if nested is None else nested.table, interaction_summary, recommendations, subgroups)
    from .explain import linear_shap, mean_absolute_shap  # SHAP of the integrated model on the test set

    result.shap_importance = mean_absolute_shap(linear_shap(integrated, prepared.train, prepared.test)[0])
    result.models = {"integrated": integrated, "radiomics_score": radiomics_model, "nomogram": nomogram,
                     "interaction": interaction_model, "clinical": clinical, "y_test": prepared.y_test,
                     "test_scores": {"integrated": p_test, **{k: v[1] for k, v in others.items()}}}
    result.card = build_model_card(request, result)
    return result


def build_model_card(request: TrainingRequest, result: TrainingResult) -> dict[str, Any]:
    """TRIPOD-AI-style model card (Collins et al., BMJ 385:e078378, 2024): data, preprocessing, predictors,
    development, performance with CIs, intended use and limitations."""
    from .. import __version__

    columns = request.columns
    perf = {f"{r['model']}_{r['set']}": {"auc": r["auc"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            for r in result.performance.to_dict(orient="records")}
    synthetic = request.synthetic
    purpose = (f"Estimate the probability of {columns.outcome} after intra-arterial therapy of HCC and, with a "
               f"treatment arm, whether {request.treatments[0]} or {request.treatments[1]} lowers it.")
    return {
        "name": request.name,
        "version": "1.0.0",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "library": {"package": "HCCInterventionalAILib.prediction", "version": __version__},
        "status": "SYNTHETIC DEMONSTRATION MODEL - not clinically trained or validated" if synthetic
        else "research model - not clinically validated",
        "intended_use": {
            "summary": (("DEMONSTRATION ONLY: trained on a SYNTHETIC cohort; its numbers say nothing about real "
                         "patients. ") if synthetic else "Research use only. ") + purpose,
            "users": "researchers in interventional oncology",
            "not_for": "clinical decisions about individual patients; populations unlike the development data",
        },
        "data": {"description": request.data_description, "synthetic": synthetic, "n_train": result.n_train,
                 "n_test": result.n_test, "events_train": result.events_train, "events_test": result.events_test,
                 "outcome": columns.outcome, "split": f"stratified random, test fraction {request.test_fraction}",
                 "seed": request.seed},
        "preprocessing": {"categorical": "one-hot, first sorted level as reference",
                          "radiomics": "standardised (training mean/SD), LASSO logistic regression -> rad_score",
                          "missing_values": "not imputed: rows must be complete"},
        "predictors": {"candidates": list(columns.predictors), "radiomics": list(columns.radiomics),
                       "radiomics_preset": request.radiomics_preset,
                       "selected_clinical": result.selected_predictors,
                       "integrated": result.integrated_predictors,
                       "categorical_levels": {a.name: list(a.level_betas) for a in result.models["nomogram"].axes
                                              if a.kind == "categorical"},
                       "treatment": columns.treatment, "treatments": list(request.treatments)},
        "development": {"clinical_selection": "univariable p < 0.1, then multivariable p < 0.05 (statsmodels Logit)",
                        "integrated_model": "unpenalised logistic regression (scikit-learn), shown as a nomogram",
                        "nested_cv": {"selectors": list(request.selectors), "classifiers": list(request.classifiers),
                                      "outer_folds": request.outer_folds, "inner_folds": request.inner_folds}
                        if request.nested_cv else None,
                        "interaction_model": "logit P = g(x) + t h(x)/2, t = +1 alternative / -1 reference "
                                             "(Tian et al., JASA 2014)" if columns.treatment else None},
        "performance": {"auc_delong_95ci": perf, "threshold": result.threshold,
                        "test_at_training_threshold": {k: result.test_metrics[k] for k in
                                                       ("sensitivity", "specificity", "ppv", "npv", "accuracy")},
                        "calibration_test": {k: result.calibration[k] for k in
                                             ("intercept", "slope", "hosmer_lemeshow", "spiegelhalter")},
                        "interaction_test_auc": (result.interaction or {}).get("test_auc")},
        "reference_literature": SEED_004_REFERENCE,
        "limitations": [
            "Synthetic data with planted effects: performance reflects the generator, not clinical reality."
            if synthetic else "Single development cohort; external validation required.",
            "The treatment-interaction estimate assumes comparable arms (randomised or balanced).",
        ],
    }


# ------------------------------------------------------------------------------------------------------------
# one patient


def predict_patient(model: Any, clinical: Mapping[str, Any], radiomics: Mapping[str, Any] | None = None,
                    received: str | None = None) -> PatientPrediction:
    """Probability, nomogram points and treatment recommendation for one patient from a saved model.

    Args:
        model: a :class:`~.artefact.SavedModel`.
        clinical: clinical/semantic values by column name (and ``rad_score`` if no radiomics row is given).
        radiomics: one row of radiomics features (e.g. from a pyradiomics CSV) for the radiomics score.
        received: the arm the patient received or is planned for (gives Maintain/Alter).

    Returns:
        :class:`PatientPrediction`.

    Raises:
        MissingValuesError: a predictor or radiomics feature is missing or NaN.
        UnseenCategoryError: a categorical value the model never saw.
        UnknownColumnError: the radiomics row lacks features the score needs.
    """
    values = dict(clinical)
    rad_score = None
    needed_radiomics = model.radiomics_features
    if needed_radiomics and model.radiomics_score is not None and RAD_SCORE in model.predictors:
        if radiomics is None:
            if RAD_SCORE not in values:
                raise MissingValuesError("The model needs a radiomics row (or a rad_score value).")
            rad_score = float(values[RAD_SCORE])
        else:
            absent = [f for f in needed_radiomics if f not in radiomics]
            if absent:
                raise UnknownColumnError(f"The radiomics row lacks {len(absent)} feature(s) the model needs, e.g. "
                                         f"{', '.join(absent[:3])}.")
            row = pd.DataFrame([{f: radiomics[f] for f in needed_radiomics}])
            if row.isna().any(axis=None):
                raise MissingValuesError("The radiomics row has missing values.")
            rad_score = float(model.radiomics_score.decision_function(row.astype(float))[0])
        values[RAD_SCORE] = rad_score
    points = model.nomogram.points(values)  # checks missing values and unseen categories with clear messages
    categorical = [a.name for a in model.nomogram.axes if a.kind == "categorical"]
    frame = categories_as_text(pd.DataFrame([{p: values[p] for p in model.predictors}]), categorical)
    probability = float(model.integrated.predict_proba(frame)[:, 1][0])
    threshold = float(model.card["performance"]["threshold"]["threshold"])
    recommendation = None
    if model.interaction is not None:
        missing = [p for p in model.interaction.predictors if p not in values]
        if missing:
            raise MissingValuesError(f"Missing value(s) for the treatment model: {', '.join(missing)}.")
        row = pd.DataFrame([{p: values[p] for p in model.interaction.predictors}])
        if received is not None:
            row["received"] = received
        table = model.interaction.recommend(row, received="received" if received is not None else None)
        recommendation = {k: _jsonable(v) for k, v in table.iloc[0].to_dict().items()}
    return PatientPrediction(probability, points, rad_score, "high risk" if probability >= threshold else "low risk",
                             threshold, recommendation, model.intended_use, str(model.card["name"]),
                             bool(model.card["data"]["synthetic"]))


def nomogram_of(result: TrainingResult) -> Nomogram:
    """The nomogram of a training result."""
    return result.models["nomogram"]
