"""The HCCResponsePrediction module: static GUI wiring, and its Logic and Widget headless on a real MRML scene.

The module lives in the HCCInterventionalAI folder (a hosted module, see Testing/packaging_lists.py), so the
static checks of test_module_gui_static are reused with its paths, and the file is loaded with the same
stand-ins as the other modules (slicer_stubs).
"""

from __future__ import annotations

import ast
import json
import math
import xml.etree.ElementTree as ET

import pytest
import test_module_gui_static as gui_static
from packaging_lists import ROOT

MODULE = "HCCResponsePrediction"
MODULE_FILE = ROOT / "HCCInterventionalAI" / f"{MODULE}.py"
UI_FILE = ROOT / "HCCInterventionalAI" / "Resources" / "UI" / f"{MODULE}.ui"


@pytest.fixture
def static_paths(monkeypatch):
    """Point the static checks at the hosted module's files."""
    monkeypatch.setattr(gui_static, "_ui_tree", lambda module: ET.parse(UI_FILE).getroot())
    monkeypatch.setattr(gui_static, "_module_tree",
                        lambda module: ast.parse(MODULE_FILE.read_text(encoding="utf-8")))


@pytest.mark.parametrize("check", ["test_ui_is_designer_xml", "test_mrml_widgets_get_the_scene",
                                   "test_every_ui_attribute_exists", "test_parameter_names_match_the_parameter_node",
                                   "test_libraries_are_imported_lazily"])
def test_static_gui_checks(static_paths, check):
    getattr(gui_static, check)(MODULE)


def test_template_classes():
    gui_static.check_template_module(MODULE_FILE, MODULE)


# -- headless -----------------------------------------------------------------------------------------------
pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture
def module(headless):
    """The module file loaded with the stand-ins (slicer_stubs.Headless.load finds it in HCCInterventionalAI/)."""
    return headless.load(MODULE)


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory):
    """A demonstration model trained once (the Logic's own training path is exercised in the widget test)."""
    from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort
    from HCCInterventionalAILib.prediction.files import write_training_outputs
    from HCCInterventionalAILib.prediction.pipeline import TrainingRequest, train_model

    cohort = make_synthetic_cohort(240, n_radiomics=10, seed=0)
    request = TrainingRequest(cohort.table, cohort.columns, nested_cv=False, synthetic=True,
                              interaction_predictors=("afp_gt_400", "pvtt", "tumour_size_cm", "ecog"))
    folder = tmp_path_factory.mktemp("trained")
    write_training_outputs(train_model(request), folder)
    return folder, cohort


@pytest.mark.scene
def test_logic_predicts_one_patient_into_a_table(module, headless, trained_folder, tmp_path):
    """Probability = logistic(intercept + sum of beta x) recomputed here from nomogram.json (plain numbers)."""
    folder, cohort = trained_folder
    logic = module.HCCResponsePredictionLogic()
    model = logic.loadModel(folder)
    template = logic.clinicalTemplate(model)
    row = cohort.table.iloc[7]
    names = [line.split("=")[0].strip() for line in template.splitlines()]
    text = "\n".join(f"{n} = {row[n]}" for n in names) + "\n# a comment\n"
    csv = tmp_path / "radiomics.csv"
    cohort.table[["patient_id", *cohort.columns.radiomics]].to_csv(csv, index=False)
    prediction, table = logic.predict(model, text, csv, row["patient_id"], "TACE", show=False)

    nomogram = json.loads((folder / "model.hccmodel" / "nomogram.json").read_text())
    logit = nomogram["intercept"]
    for axis in nomogram["axes"]:
        value = prediction.rad_score if axis["name"] == "rad_score" else row[axis["name"]]
        logit += axis["beta"] * float(value) if axis["kind"] == "numeric" else axis["level_betas"][str(value)]
    assert prediction.probability == pytest.approx(1 / (1 + math.exp(-logit)), abs=1e-9)
    assert float(table.GetAttribute("HCCResponsePrediction.Probability")) == pytest.approx(prediction.probability,
                                                                                             rel=1e-5)
    assert table.GetNumberOfRows() >= len(prediction.points) + 3
    assert prediction.recommendation["group"] in ("Maintain", "Alter")
    assert "SYNTHETIC" in logic.describePrediction(prediction)
    with pytest.raises(ValueError, match="Give a value"):
        logic.predict(model, "pvtt =", show=False)
    with pytest.raises(ValueError, match="Load a model"):
        logic.predict(None, text, show=False)


@pytest.mark.scene
def test_widget_trains_loads_and_predicts(module, headless, gui, tmp_path, monkeypatch):
    """Buttons: train a synthetic model (small, no nested CV), load it, predict with a typed rad_score."""
    import slicer_stubs

    monkeypatch.setattr(module, "ensure_python_requirements", lambda *args, **kwargs: None)
    original = module.HCCResponsePredictionLogic.trainSyntheticModel
    monkeypatch.setattr(module.HCCResponsePredictionLogic, "trainSyntheticModel",
                        lambda self, folder=None: original(self, folder, patients=200, seed=1))
    widget, ui = slicer_stubs.make_widget(module)
    assert not ui.predictButton.enabled
    widget._parameterNode.modelFolder = tmp_path / "demo-model"
    ui.trainSyntheticButton.emit("clicked(bool)")
    assert (tmp_path / "demo-model" / "model.hccmodel" / "card.json").is_file()
    assert ui.predictButton.enabled
    assert "SYNTHETIC" in ui.intendedUseLabel.text
    lines = [f"{line.split('=')[0].strip()} = 1" for line in widget._parameterNode.clinicalValues.splitlines()]
    widget._parameterNode.clinicalValues = "\n".join(lines + ["rad_score = 0.1", "tumour_size_cm = 9"])
    ui.predictButton.emit("clicked(bool)")
    assert "Probability" in ui.resultLabel.text
    widget.cleanup()
