"""``hccai train-model`` and ``hccai predict``, registered through the ``hccai.commands`` entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..cli import OverwriteOption, QuietOption, atomic_file, atomic_output, terminal_progress, user_errors
from ..outputs import check_output_path

__all__ = ["register"]


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text else ()


def register(app: typer.Typer) -> None:
    """Add ``hccai train-model`` and ``hccai predict`` to the root app."""

    @app.command("train-model")
    def train_model_command(
        cohort: Annotated[Path | None, typer.Argument(help="Cohort table (CSV), one row per patient.")] = None,
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder.")] = Path("hccai-model"),
        outcome: Annotated[str, typer.Option(help="0/1 outcome column (1 = event).")] = "progressive_disease",
        clinical: Annotated[str | None, typer.Option(help="Numeric clinical columns, comma-separated.")] = None,
        categorical: Annotated[str | None, typer.Option(help="Categorical columns, comma-separated.")] = None,
        semantic: Annotated[str | None, typer.Option(help="Radiologist semantic (0/1) columns.")] = None,
        radiomics_prefix: Annotated[str | None, typer.Option(
            help="Every column starting with this is a radiomics feature (e.g. 'original_').")] = None,
        treatment: Annotated[str | None, typer.Option(help="Received-arm column (e.g. TACE/HAIC).")] = None,
        treatments: Annotated[str, typer.Option(help="Reference,alternative arm labels.")] = "TACE,HAIC",
        interaction: Annotated[str | None, typer.Option(help="Covariates of the treatment-interaction model.")] = None,
        time: Annotated[str | None, typer.Option(help="Survival time column (months).")] = None,
        event: Annotated[str | None, typer.Option(help="Survival event column (1 = death).")] = None,
        synthetic: Annotated[int | None, typer.Option(
            help="Instead of COHORT, train on a SYNTHETIC cohort of this many patients (demonstration).")] = None,
        nested_cv: Annotated[bool, typer.Option(help="Compare selectors x classifiers in nested CV.")] = True,
        name: Annotated[str, typer.Option(help="Model name (model card).")] = "hcc-response-model",
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Build a response-prediction model from a cohort table and save it with its model card.

        Writes OUTPUT/model.hccmodel (skops + JSON, with a TRIPOD-AI-style card), results.json, CSV tables and
        PNG figures (ROC, calibration, decision curve, Kaplan-Meier, nomogram), all at once when complete.
        """
        with user_errors(output):
            check_output_path(output, folder=True, overwrite=overwrite)
            from .cohort import CohortColumns, make_synthetic_cohort
            from .errors import PredictionInputError
            from .pipeline import TrainingRequest

            if (cohort is None) == (synthetic is None):
                raise PredictionInputError("Give either a COHORT table or --synthetic N, not both or neither.")
            arms = _names(treatments)
            if len(arms) != 2:
                raise PredictionInputError("--treatments must name two arms, e.g. TACE,HAIC.")
            if synthetic is not None:
                generated = make_synthetic_cohort(synthetic, seed=seed)
                request = TrainingRequest(generated.table, generated.columns, seed=seed, name=name, synthetic=True,
                                          interaction_predictors=_names(interaction) or None, nested_cv=nested_cv,
                                          data_description=generated.note)
            else:
                import pandas as pd

                if not cohort.is_file():
                    raise FileNotFoundError(f"No cohort table at {cohort}.")
                table = pd.read_csv(cohort)
                radiomics = tuple(c for c in table.columns if radiomics_prefix and str(c).startswith(radiomics_prefix))
                columns = CohortColumns(outcome=outcome, clinical=_names(clinical), categorical=_names(categorical),
                                        semantic=_names(semantic), radiomics=radiomics, treatment=treatment,
                                        time=time, event=event, patient_id=None)
                request = TrainingRequest(table, columns, interaction_predictors=_names(interaction) or None,
                                          treatments=(arms[0], arms[1]), nested_cv=nested_cv, seed=seed, name=name,
                                          data_description=f"cohort table {cohort.name}")
            from .files import write_training_outputs
            from .pipeline import train_model

            with atomic_output(output, overwrite=overwrite) as staging, \
                    terminal_progress("hccai train-model", enabled=not quiet) as progress:
                result = train_model(request, progress=progress)
                write_training_outputs(result, staging)
        test = result.performance.query("model == 'integrated' and set == 'test'").iloc[0]
        typer.echo(f"Integrated model ({', '.join(result.integrated_predictors)}): test AUC {test['auc']:.3f} "
                   f"(95% CI {test['ci_low']:.3f}-{test['ci_high']:.3f})")
        if synthetic is not None:
            typer.echo("Trained on a SYNTHETIC cohort: a demonstration, not a clinical model.")
        typer.echo(f"Outputs in {output}")

    @app.command("predict")
    def predict_command(
        model: Annotated[Path, typer.Argument(help="Model folder (model.hccmodel, or the train-model output).")],
        value: Annotated[list[str] | None, typer.Option(
            "--value", help="Clinical value as name=value (repeatable).")] = None,
        values_json: Annotated[Path | None, typer.Option(help="JSON object of clinical values.")] = None,
        radiomics: Annotated[Path | None, typer.Option(help="Radiomics CSV (one row, or choose --case).")] = None,
        case: Annotated[str | None, typer.Option(help="Row of the radiomics CSV (id column value).")] = None,
        received: Annotated[str | None, typer.Option(help="Received or planned arm, for Maintain/Alter.")] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the prediction as JSON.")] = None,
        overwrite: OverwriteOption = False,
    ) -> None:
        """Predict one patient with a saved model: probability, nomogram points, treatment recommendation."""
        with user_errors(output):
            if output is not None:
                check_output_path(output, folder=False, overwrite=overwrite)
            from .artefact import load_artefact
            from .files import MODEL_FOLDER, parse_values, read_radiomics_row
            from .pipeline import predict_patient

            folder = model / MODEL_FOLDER if (model / MODEL_FOLDER).is_dir() else model
            saved = load_artefact(folder)
            values = parse_values(value or [], values_json)
            row = read_radiomics_row(radiomics, case) if radiomics is not None else None
            prediction = predict_patient(saved, values, row, received=received)
            if output is not None:
                with atomic_file(output, overwrite=overwrite) as staging:
                    Path(staging).write_text(json.dumps(prediction.to_dict(), indent=2))
        typer.echo(f"Probability of the outcome: {prediction.probability:.3f} ({prediction.risk_group})")
        typer.echo("Nomogram points: " + ", ".join(f"{k} {v:.1f}" for k, v in prediction.points.items()))
        if prediction.recommendation:
            rec = prediction.recommendation
            line = f"Recommended arm: {rec['recommended']} (predicted benefit {rec['benefit']:.3f})"
            if "group" in rec:
                line += f"; {rec['group']} the received arm"
            typer.echo(line)
        typer.echo(f"Intended use: {prediction.intended_use}")
