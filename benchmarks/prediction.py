"""Benchmark of response-model training on SYNTHETIC cohorts of 1,000 and 10,000 patients.

For each cohort size the table gives the median wall time of several runs of:

- ``integrated model only``: the unpenalised logistic regression on the clinical predictors plus the radiomics
  score (the baseline of the ratio column);
- ``pipeline, no nested CV``: :func:`train_model` end to end (clinical selection with statsmodels, LASSO
  radiomics score with out-of-fold scores, integrated model, nomogram, evaluation with DeLong/bootstrap/
  calibration/decision curve/Kaplan–Meier, treatment-interaction model and subgroups);
- ``pipeline + nested CV``: the same plus nested cross-validation (5 outer × 3 inner folds) of LASSO selection
  with logistic regression and XGBoost;
- ``save + load artefact``: skops + JSON with SHA-256 checks.

Everything runs on the CPU (scikit-learn, statsmodels, lifelines, XGBoost ``n_jobs=1``); there is no GPU path.

Usage: ``python benchmarks/prediction.py [--quick] [--repeats N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from _common import median_time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HCCInterventionalAI"))  # runnable from a plain checkout too

from HCCInterventionalAILib.prediction.artefact import load_artefact, save_artefact  # noqa: E402
from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort  # noqa: E402
from HCCInterventionalAILib.prediction.modelling import fit_integrated_model  # noqa: E402
from HCCInterventionalAILib.prediction.pipeline import TrainingRequest, train_model  # noqa: E402

INTERACTION = ("afp_gt_400", "pvtt", "tumour_size_cm", "ecog")


def _bench_size(n: int, repeats: int) -> list[tuple[str, str, str, float, float]]:
    cohort = make_synthetic_cohort(n, n_radiomics=30, seed=0)

    def request(nested: bool) -> TrainingRequest:
        return TrainingRequest(cohort.table, cohort.columns, interaction_predictors=INTERACTION, nested_cv=nested,
                               selectors=("lasso",), classifiers=("logistic", "xgboost"), synthetic=True)

    result = train_model(request(False))  # also warms imports up
    predictors = result.integrated_predictors
    table = cohort.table.assign(rad_score=result.models["radiomics_score"].decision_function(
        cohort.table[list(cohort.columns.radiomics)]))
    y = cohort.table[cohort.columns.outcome].to_numpy()
    categorical = [p for p in predictors if p in cohort.columns.categorical]
    baseline = median_time(lambda: fit_integrated_model(table, y, predictors, categorical), max(repeats, 3))
    cases = {"integrated model only": baseline,
             "pipeline, no nested CV": median_time(lambda: train_model(request(False)), repeats),
             "pipeline + nested CV (lasso x logistic, xgboost)": median_time(lambda: train_model(request(True)),
                                                                               repeats)}
    with tempfile.TemporaryDirectory() as folder:
        def save_load() -> None:
            target = Path(folder) / f"m{time.perf_counter_ns()}.hccmodel"
            models = result.models
            save_artefact(target, result.card, integrated=models["integrated"], nomogram=models["nomogram"],
                          radiomics_score=models["radiomics_score"], interaction=models["interaction"])
            load_artefact(target)

        cases["save + load artefact"] = median_time(save_load, max(repeats, 3))
    return [(case, f"{n:,} patients", "cpu", seconds, seconds / baseline) for case, seconds in cases.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 patients only, one run each")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [1000] if args.quick else [1000, 10000]
    repeats = 1 if args.quick else args.repeats
    warnings.simplefilter("ignore")
    rows = [row for n in sizes for row in _bench_size(n, repeats)]
    print(f"CPU cores available: {os.cpu_count()}")
    print(f"| {'case':<50} | {'size':<16} | device | median s | ratio vs integrated model |")
    print(f"|{'-' * 52}|{'-' * 18}|--------|----------|---------------------------|")
    for case, size, device, seconds, ratio in rows:
        print(f"| {case:<50} | {size:<16} | {device:<6} | {seconds:8.3f} | {ratio:25.1f} |")


if __name__ == "__main__":
    main()
