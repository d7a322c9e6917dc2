"""Nomogram arithmetic, the training pipeline, saved artefacts (skops + card, SHA-256, allow-list) and the CLI."""

from __future__ import annotations

import json
import math
import zipfile

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("lifelines")

from HCCInterventionalAILib.prediction.artefact import load_artefact, save_artefact, sha256_of
from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort
from HCCInterventionalAILib.prediction.errors import (
    ArtefactFormatError,
    ArtefactIntegrityError,
    MissingValuesError,
    PredictionInputError,
    UnknownColumnError,
    UnseenCategoryError,
)
from HCCInterventionalAILib.prediction.nomogram import Nomogram, NomogramAxis, draw_nomogram
from HCCInterventionalAILib.prediction.pipeline import TrainingRequest, predict_patient, train_model

INTERACTION = ("afp_gt_400", "pvtt", "tumour_size_cm", "ecog")


def test_nomogram_points_hand_calculation(tmp_path):
    """logit p = -1 + 0.5 x (x in [0, 4]) + 1.0 [grade = B].

    Ranges: x 0..2 logits (widest, R = 2), grade 0..1 -> x = 4 scores 100 points, grade B 50 points.
    Total 150 -> logit = -1 + 0 + (2/100) 150 = 2 -> p = 1/(1 + e^-2) = 0.880797.
    x = 1, grade A: 25 points -> logit -0.5 -> p = 0.377541.
    """
    nomogram = Nomogram(-1.0, [NomogramAxis("x", "numeric", beta=0.5, low=0.0, high=4.0),
                               NomogramAxis("grade", "categorical", level_betas={"A": 0.0, "B": 1.0})])
    points = nomogram.points({"x": 4, "grade": "B"})
    assert points == pytest.approx({"x": 100.0, "grade": 50.0, "total": 150.0})
    assert nomogram.probability(points["total"]) == pytest.approx(0.880797, abs=1e-6)
    assert nomogram.probability(nomogram.points({"x": 1, "grade": "A"})["total"]) == pytest.approx(0.377541, abs=1e-6)
    with pytest.raises(UnseenCategoryError, match="grade = C"):
        nomogram.points({"x": 1, "grade": "C"})
    with pytest.raises(MissingValuesError, match="grade"):
        nomogram.points({"x": 1})
    draw_nomogram(nomogram, tmp_path / "n.png")
    assert (tmp_path / "n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trained():
    cohort = make_synthetic_cohort(300, n_radiomics=12, seed=5)
    request = TrainingRequest(cohort.table, cohort.columns, interaction_predictors=INTERACTION, nested_cv=False,
                              seed=5, name="test-model", synthetic=True, data_description=cohort.note)
    return cohort, train_model(request)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory):
    from HCCInterventionalAILib.prediction.files import MODEL_FOLDER, write_training_outputs

    folder = tmp_path_factory.mktemp("run")
    write_training_outputs(trained[1], folder)
    return folder / MODEL_FOLDER


def test_training_result_against_planted_truth(trained):
    """Synthetic cohort: the integrated model is better than chance on held-out patients and no better than the
    oracle (the true risk used to draw the outcomes) plus sampling error; the card says the data are synthetic."""
    from HCCInterventionalAILib.prediction.evaluation import auc_ci

    cohort, result = trained
    test_rows = result.recommendations.query("set == 'test'").index
    truth = cohort.truth.loc[test_rows]
    received_haic = cohort.table.loc[test_rows, "treatment"] == "HAIC"
    oracle = np.where(received_haic, truth["risk_haic"], truth["risk_tace"])
    oracle_auc = auc_ci(cohort.table.loc[test_rows, "progressive_disease"], oracle).auc
    test = result.performance.query("model == 'integrated' and set == 'test'").iloc[0]
    assert 0.6 < test["auc"] <= oracle_auc + 0.05
    assert test["ci_low"] < test["auc"] < test["ci_high"]
    assert result.card["data"]["synthetic"] is True
    assert "SYNTHETIC" in result.card["intended_use"]["summary"]
    assert result.card["reference_literature"]["auc_training"] == 0.756
    json.dumps(result.to_dict())  # serialisable


def test_saved_model_round_trip_and_no_pickle(trained, saved):
    cohort, result = trained
    model = load_artefact(saved)
    card = json.loads((saved / "card.json").read_text())
    assert card["files"]["model.skops"] == sha256_of(saved / "model.skops")
    with zipfile.ZipFile(saved / "model.skops") as archive:  # skops: a zip of JSON schema + numpy arrays
        assert "schema.json" in archive.namelist()
        assert not any(name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    row = cohort.table.iloc[3]
    prediction = predict_patient(model, row.to_dict(), row[list(cohort.columns.radiomics)].to_dict(),
                                 received=row["treatment"])
    frame = row.to_frame().T
    expected = result.models["integrated"].predict_proba(
        frame.assign(rad_score=prediction.rad_score)[result.integrated_predictors])[0, 1]
    assert prediction.probability == pytest.approx(expected, abs=1e-9)
    assert model.nomogram.probability(prediction.points["total"]) == pytest.approx(prediction.probability, abs=1e-9)
    assert prediction.recommendation["group"] in ("Maintain", "Alter")
    assert "SYNTHETIC" in prediction.intended_use


def test_tampered_artefact_is_refused(saved, tmp_path):
    import shutil

    copy = tmp_path / "copy.hccmodel"
    shutil.copytree(saved, copy)
    data = bytearray((copy / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ArtefactIntegrityError, match="model.skops .* does not match the SHA-256"):
        load_artefact(copy)
    shutil.copy(saved / "model.skops", copy / "model.skops")
    load_artefact(copy)  # restored: loads again
    (copy / "nomogram.json").unlink()
    with pytest.raises(ArtefactIntegrityError, match="missing"):
        load_artefact(copy)


def test_artefact_with_disallowed_type_is_refused_without_running_it(tmp_path):
    """A model.skops holding a FunctionTransformer(os.system) with a matching checksum is still refused."""
    import os

    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    evil = Pipeline([("run", FunctionTransformer(os.system))])
    nomogram = Nomogram(0.0, [NomogramAxis("x", "numeric", beta=1.0, low=0.0, high=1.0)])
    folder = save_artefact(tmp_path / "evil.hccmodel", {"name": "evil"}, integrated=evil, nomogram=nomogram)
    with pytest.raises(ArtefactFormatError, match="not allowed"):
        load_artefact(folder)


def test_one_patient_bad_inputs(trained, saved):
    cohort, _ = trained
    model = load_artefact(saved)
    row = cohort.table.iloc[0].to_dict()
    radiomics = {f: row[f] for f in cohort.columns.radiomics}
    predictor = next(p for p in model.predictors if p != "rad_score")
    with pytest.raises(MissingValuesError, match=predictor):
        predict_patient(model, {k: v for k, v in row.items() if k != predictor}, radiomics)
    with pytest.raises(UnknownColumnError, match="lacks 1 feature"):
        predict_patient(model, row, {k: v for k, v in list(radiomics.items())[1:]})
    with pytest.raises(MissingValuesError, match="radiomics row has missing"):
        predict_patient(model, row, {**radiomics, next(iter(radiomics)): math.nan})


def test_training_bad_tables():
    cohort = make_synthetic_cohort(200, n_radiomics=6, seed=9)
    with pytest.raises(MissingValuesError, match="age"):
        train_model(TrainingRequest(cohort.table.assign(age=np.nan), cohort.columns, nested_cv=False))
    with pytest.raises(PredictionInputError, match="same value"):
        train_model(TrainingRequest(cohort.table.assign(ecog=1), cohort.columns, nested_cv=False))
    with pytest.raises(PredictionInputError, match="one class"):
        train_model(TrainingRequest(cohort.table.assign(progressive_disease=0), cohort.columns, nested_cv=False))


def test_cli_train_and_predict(tmp_path):
    """`hccai train-model --synthetic` then `hccai predict`; a bad value exits 2 with one line, no traceback."""
    from typer.testing import CliRunner

    from HCCInterventionalAILib.cli.main import app

    runner = CliRunner()
    out = tmp_path / "model"
    result = runner.invoke(app, ["train-model", "--synthetic", "220", "--no-nested-cv", "--interaction",
                                 ",".join(INTERACTION), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "SYNTHETIC" in result.output
    assert (out / "model.hccmodel" / "card.json").is_file() and (out / "nomogram.png").is_file()
    card = json.loads((out / "model.hccmodel" / "card.json").read_text())
    values = {p: 1 for p in card["predictors"]["integrated"] if p != "rad_score"} | {"rad_score": 0.2}
    values |= {p: 1 for p in INTERACTION} | {"tumour_size_cm": 9}
    args = ["predict", str(out)] + [f"--value={k}={v}" for k, v in values.items()] + ["--received", "TACE"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Probability of the outcome" in result.output and "Recommended arm" in result.output
    result = runner.invoke(app, ["predict", str(out), "--value", "pvtt=1"])
    assert result.exit_code == 2
    assert "needs a radiomics row" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
