"""HCCResponsePrediction gathers the radiomics of the selected lesion itself (issue 9, item 5), headless on real MRML.

A small SYNTHETIC model is trained whose radiomics columns carry names that pyradiomics produces; the module is then
pointed at "Tumor 1" of the sample segmentation on the portal venous CT. The independent reference is a direct call
of ``radiomics.extract_features`` on the same voxel arrays with the preset the card records (exact equality), and
the library's ``predict_patient`` on that row (probability equal to 1e-12).
"""

from __future__ import annotations

import dataclasses

import pytest
from packaging_lists import ROOT

pytest.importorskip("sklearn")
pytest.importorskip("skops")
pytest.importorskip("radiomics")

MODULE = "HCCResponsePrediction"
MODULE_FILE = ROOT / "HCCInterventionalAI" / f"{MODULE}.py"
PRESET = "ct-portal-venous"


@pytest.fixture
def module(headless):
    """The module file loaded with the stand-ins (slicer_stubs.Headless.load finds it in HCCInterventionalAI/)."""
    return headless.load(MODULE)


def _lesion_arrays(sample):
    """Portal venous CT and the "Tumor 1" mask read from the nodes (the same arrays the module sees)."""
    from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

    image = node_to_volume(sample["ctDisplayed"])
    segmentation = node_to_segmentation(sample["segmentation"], reference_geometry=image.geometry)
    return image, segmentation.mask("Tumor 1")


def _train(folder, feature_names):
    """A small synthetic model whose radiomics columns are renamed to real pyradiomics feature names."""
    from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort
    from HCCInterventionalAILib.prediction.files import write_training_outputs
    from HCCInterventionalAILib.prediction.pipeline import TrainingRequest, train_model

    cohort = make_synthetic_cohort(240, n_radiomics=len(feature_names), seed=0)
    renames = dict(zip(cohort.columns.radiomics, feature_names, strict=True))
    table = cohort.table.rename(columns=renames)
    columns = dataclasses.replace(cohort.columns, radiomics=tuple(feature_names))
    request = TrainingRequest(table, columns, nested_cv=False, synthetic=True, radiomics_preset=PRESET,
                              interaction_predictors=("afp_gt_400", "pvtt", "tumour_size_cm", "ecog"))
    write_training_outputs(train_model(request), folder)
    return cohort


@pytest.mark.scene
def test_module_predicts_from_the_selected_lesion(module, sample, tmp_path, monkeypatch):
    from HCCInterventionalAILib.prediction import pipeline
    from HCCInterventionalAILib.prediction.lesion import LesionRadiomicsError
    from HCCInterventionalAILib.radiomics import extract_features

    image, mask = _lesion_arrays(sample)
    reference = extract_features(image, mask, PRESET).features
    default = extract_features(image, mask).features  # ibsi-ct has no LoG/wavelet images: only the preset gives them
    names = ([n for n in reference if n.startswith("log-sigma-3-0-mm-3D_firstorder_") and n not in default][:3]
             + [n for n in reference if n.startswith("original_glcm_")][:3])
    assert len(names) == 6
    cohort = _train(tmp_path / "model", names)

    logic = module.HCCResponsePredictionLogic()
    model = logic.loadModel(tmp_path / "model")
    assert model.radiomics_preset == PRESET and model.radiomics_features == names
    assert "rad_score" in model.predictors
    row = cohort.table.iloc[3]
    clinical = {n: row[n] for n in (line.split("=")[0].strip() for line in logic.clinicalTemplate(model).splitlines())}
    text = "\n".join(f"{k} = {v}" for k, v in clinical.items())

    seen = []
    original = pipeline.predict_patient
    monkeypatch.setattr(pipeline, "predict_patient",
                        lambda m, values, radiomics=None, received=None:
                        seen.append(radiomics) or original(m, values, radiomics, received=received))
    prediction, table = logic.predict(model, text, receivedTreatment="TACE", show=False,
                                      lesionVolume=sample["ctDisplayed"], lesionSegmentation=sample["segmentation"],
                                      lesionSegment="Tumor 1")
    expected_row = {n: reference[n] for n in names}
    assert seen == [expected_row]  # exact: same arrays, same preset
    direct = original(model, logic.parseClinicalValues(text), expected_row, received="TACE")
    assert prediction.probability == pytest.approx(direct.probability, abs=1e-12)
    assert prediction.rad_score == pytest.approx(direct.rad_score, abs=1e-12)
    assert table.GetNumberOfRows() > 3

    # bad input: clear errors, nothing added to the scene
    tables = sample["segmentation"].GetScene().GetNumberOfNodesByClass("vtkMRMLTableNode")
    with pytest.raises(LesionRadiomicsError, match="No segment named 'Tumour 99'"):
        logic.predict(model, text, show=False, lesionVolume=sample["ctDisplayed"],
                      lesionSegmentation=sample["segmentation"], lesionSegment="Tumour 99")
    sample["segmentation"].GetSegmentation().AddEmptySegment("empty", "Empty lesion")
    with pytest.raises(LesionRadiomicsError, match="'Empty lesion' is empty"):
        logic.predict(model, text, show=False, lesionVolume=sample["ctDisplayed"],
                      lesionSegmentation=sample["segmentation"], lesionSegment="Empty lesion")
    with pytest.raises(LesionRadiomicsError, match="CT phase and its segmentation"):
        logic.predict(model, text, show=False, lesionSegmentation=sample["segmentation"], lesionSegment="Tumor 1")
    with pytest.raises(ValueError, match="not both"):
        logic.predict(model, text, tmp_path / "radiomics.csv", show=False, lesionVolume=sample["ctDisplayed"],
                      lesionSegmentation=sample["segmentation"], lesionSegment="Tumor 1")
    card = {**model.card, "predictors": {**model.card["predictors"], "radiomics": []}}
    with pytest.raises(LesionRadiomicsError, match="uses no radiomics features"):
        logic.predict(dataclasses.replace(model, card=card), text, show=False, lesionVolume=sample["ctDisplayed"],
                      lesionSegmentation=sample["segmentation"], lesionSegment="Tumor 1")
    assert sample["segmentation"].GetScene().GetNumberOfNodesByClass("vtkMRMLTableNode") == tables


def test_cards_without_a_preset_default_to_ibsi_ct():
    """Artefacts saved before the preset was recorded keep loading: ``extract_features``' own default applies."""
    import inspect

    from HCCInterventionalAILib.prediction.artefact import DEFAULT_RADIOMICS_PRESET, SavedModel
    from HCCInterventionalAILib.radiomics import extraction

    old = SavedModel({"predictors": {"integrated": [], "radiomics": ["original_firstorder_Mean"]}}, None, None)
    assert old.radiomics_preset == DEFAULT_RADIOMICS_PRESET == "ibsi-ct"
    assert "default ``ibsi-ct``" in inspect.getdoc(extraction.extract_features)
