import logging
from pathlib import Path

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from HCCInterventionalAILib.slicer_helpers import (
    ensure_python_requirements,
    module_resource_path,
    reload_libraries,
    show_in_layout,
)

#: Our Python packages, reloaded (children first) by the module's Reload button in developer mode.
LIBRARY_PACKAGES = ("HCCInterventionalAILib",)

#: Attribute on the nodes this module creates, holding the model name they come from.
MODEL_ATTRIBUTE = "HCCResponsePrediction.Model"


#
# HCCResponsePrediction
#


class HCCResponsePrediction(ScriptedLoadableModule):
    """Response prediction and TACE-vs-HAIC treatment selection for one patient, from a saved model.

    Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("HCC Response Prediction")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "IGT") + "." + _("HCC Interventional AI")]
        self.parent.dependencies = []
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
Predicts the probability of an outcome after intra-arterial therapy of liver cancer (e.g. progressive disease
after TACE or HAIC) for one patient with a saved model (<code>hccai train-model</code>): clinical values typed
in, the radiomics of the selected lesion (a CT phase and a segment; extracted with the preset recorded in
the model card) or its row from a CSV, the nomogram points, and, when the model has a treatment
interaction term, which arm is recommended ("Maintain" or "Alter" the received one). The model card's intended
use is shown with every result. <b>Research software, not for clinical use.</b>
""")
        self.parent.acknowledgementText = _("""
Developed by the HCC Interventional AI contributors on 3D Slicer's scripted module template; uses scikit-learn,
statsmodels, lifelines and skops.
""")


#
# HCCResponsePredictionParameterNode
#


@parameterNodeWrapper
class HCCResponsePredictionParameterNode:
    """
    The parameters of the module.

    modelFolder - folder of a saved model (``model.hccmodel`` or the ``hccai train-model`` output folder).
    clinicalValues - one ``name = value`` line per clinical predictor.
    radiomicsFile - radiomics CSV (e.g. pyradiomics output) holding the lesion's features.
    radiomicsCase - row of the radiomics CSV to use (its id), when the CSV has several rows.
    lesionVolume - CT phase the lesion's radiomics are extracted from (instead of the CSV).
    lesionSegmentation - segmentation holding the lesion.
    lesionSegment - name of the lesion's segment (e.g. "Tumor 1").
    receivedTreatment - the arm received or planned (e.g. TACE), for the Maintain/Alter recommendation.
    """

    modelFolder: Path
    clinicalValues: str = ""
    radiomicsFile: Path
    radiomicsCase: str = ""
    lesionVolume: vtkMRMLScalarVolumeNode
    lesionSegmentation: vtkMRMLSegmentationNode
    lesionSegment: str = ""
    receivedTreatment: str = ""


#
# HCCResponsePredictionWidget
#


class HCCResponsePredictionWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._model = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HCCResponsePrediction.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HCCResponsePredictionLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadModelButton.connect("clicked(bool)", self.onLoadModelButton)
        self.ui.trainSyntheticButton.connect("clicked(bool)", self.onTrainSyntheticButton)
        self.ui.predictButton.connect("clicked(bool)", self.onPredictButton)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        reload_libraries(LIBRARY_PACKAGES)
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            self._checkCanApply()

    def _checkCanApply(self, caller=None, event=None) -> None:
        self.ui.predictButton.enabled = self._model is not None
        self.ui.predictButton.toolTip = (_("Predict the patient with the loaded model") if self._model is not None
                                         else _("Load a model first"))

    # -- actions ---------------------------------------------------------------------------------------
    def onLoadModelButton(self) -> None:
        """Load the model (checksums and allow-list verified), show its card and a form of its predictors."""
        with slicer.util.tryWithErrorDisplay(_("Failed to load the model."), waitCursor=True):
            self.logic.installRequirements()
            self._model = self.logic.loadModel(self._parameterNode.modelFolder)
            self.ui.modelInfoLabel.text = self.logic.describeModel(self._model)
            self.ui.intendedUseLabel.text = _("Intended use: {text}").format(text=self._model.intended_use)
            if not self._parameterNode.clinicalValues.strip():
                self._parameterNode.clinicalValues = self.logic.clinicalTemplate(self._model)
            self._checkCanApply()

    def onTrainSyntheticButton(self) -> None:
        """Train a demonstration model on a SYNTHETIC cohort into the chosen folder, then load it."""
        with slicer.util.tryWithErrorDisplay(_("Failed to train the demonstration model."), waitCursor=True):
            self.logic.installRequirements(training=True)
            folder = self.logic.trainSyntheticModel(self._parameterNode.modelFolder)
            self._parameterNode.modelFolder = folder
            self._parameterNode.clinicalValues = ""
        self.onLoadModelButton()

    def onPredictButton(self) -> None:
        """Predict the patient: probability, nomogram points, recommendation, into a new table."""
        with slicer.util.tryWithErrorDisplay(_("Failed to predict."), waitCursor=True):
            parameters = self._parameterNode
            prediction, tableNode = self.logic.predict(
                self._model, parameters.clinicalValues, parameters.radiomicsFile, parameters.radiomicsCase,
                parameters.receivedTreatment, lesionVolume=parameters.lesionVolume,
                lesionSegmentation=parameters.lesionSegmentation, lesionSegment=parameters.lesionSegment)
            self.ui.resultLabel.text = self.logic.describePrediction(prediction)
            self.ui.intendedUseLabel.text = _("Intended use: {text}").format(text=prediction.intended_use)
            logging.info("Prediction written to table %s", tableNode.GetName())


#
# HCCResponsePredictionLogic
#


class HCCResponsePredictionLogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI (e.g. from the Slicer Python console):

    .. code-block:: python

        logic = slicer.util.getModuleLogic("HCCResponsePrediction")
        model = logic.loadModel("/path/to/hccai-model")
        prediction, table = logic.predict(model, "pvtt = 1\\nafp_gt_400 = 0", "/path/radiomics.csv", "", "TACE")

    Results go into NEW table nodes; nothing in the scene is modified. Uses ScriptedLoadableModuleLogic base
    class, available at: https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return HCCResponsePredictionParameterNode(super().getParameterNode())

    def installRequirements(self, training: bool = False) -> None:
        """Install the Python packages of prediction (scikit-learn, statsmodels, lifelines, skops) if missing."""
        ensure_python_requirements(module_resource_path(__file__, "Resources/requirements.txt"),
                                   "HCCResponsePrediction")
        ensure_python_requirements(module_resource_path(__file__, "Resources/requirements-prediction.txt"),
                                   "HCCResponsePrediction")

    def loadModel(self, folder):
        """Load a saved model (``model.hccmodel`` or a ``hccai train-model`` output folder); never runs its code.

        Raises:
            ValueError: no folder given, a tampered artefact (checksum) or a disallowed type in it.
        """
        from HCCInterventionalAILib.prediction.artefact import load_artefact
        from HCCInterventionalAILib.prediction.files import MODEL_FOLDER

        if not folder or not str(folder).strip() or str(folder) == ".":
            raise ValueError(_("Choose the folder of a saved model."))
        folder = Path(folder)
        return load_artefact(folder / MODEL_FOLDER if (folder / MODEL_FOLDER).is_dir() else folder)

    def describeModel(self, model) -> str:
        """HTML summary of the model card: name, status, data, predictors and held-out performance."""
        from html import escape

        card = model.card
        test = card["performance"]["auc_delong_95ci"].get("integrated_test", {})
        lines = [f"<b>{escape(str(card['name']))}</b> {escape(str(card.get('version', '')))}",
                 escape(str(card["status"])),
                 _("Data: {text}").format(text=escape(str(card["data"]["description"]))),
                 _("Predictors: {names}").format(names=escape(", ".join(model.predictors)))]
        if test:
            lines.append(_("Test AUC {auc:.3f} (95% CI {low:.3f}-{high:.3f})").format(
                auc=test["auc"], low=test["ci_low"], high=test["ci_high"]))
        return "<br>".join(lines)

    def clinicalTemplate(self, model) -> str:
        """One ``name = `` line per value the model needs (the radiomics score comes from the radiomics row)."""
        names = [p for p in model.predictors if p != "rad_score"]
        if model.interaction is not None:
            names += [p for p in model.interaction.predictors if p not in names and p != "rad_score"]
        return "\n".join(f"{name} = " for name in names)

    def parseClinicalValues(self, text: str) -> dict:
        """``name = value`` lines (blank lines and ``#`` comments ignored); numbers parsed when possible.

        Raises:
            ValueError: a line without ``=`` or with an empty value.
        """
        from HCCInterventionalAILib.prediction.files import parse_values

        pairs = []
        for line in (text or "").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if "=" not in line or not line.split("=", 1)[1].strip():
                raise ValueError(_("Give a value for '{line}' (as name = value).").format(line=line))
            name, value = line.split("=", 1)
            pairs.append(f"{name.strip()}={value.strip()}")
        return parse_values(pairs)

    def lesionRadiomics(self, model, volumeNode, segmentationNode, segmentName: str) -> dict:
        """The radiomics row of the selected lesion, extracted with the preset the model card records.

        Raises:
            ValueError: no model, no CT phase or segmentation, a missing or empty segment, a model without radiomics.
        """
        from HCCInterventionalAILib.prediction.lesion import LesionRadiomicsError, lesion_radiomics_row
        from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

        if model is None:
            raise ValueError(_("Load a model first."))
        if volumeNode is None or segmentationNode is None:
            raise LesionRadiomicsError(_("Choose both the lesion's CT phase and its segmentation."))
        image = node_to_volume(volumeNode)
        segmentation = node_to_segmentation(segmentationNode, reference_geometry=image.geometry)
        return lesion_radiomics_row(model, image, segmentation, segmentName)

    def predict(self, model, clinicalText: str, radiomicsFile=None, radiomicsCase: str = "",
                receivedTreatment: str = "", show: bool = True, lesionVolume=None, lesionSegmentation=None,
                lesionSegment: str = ""):
        """Predict one patient into a NEW table node.

        The radiomics come from the selected lesion (``lesionVolume`` + ``lesionSegmentation`` + ``lesionSegment``)
        or, as an alternative, from a row of ``radiomicsFile``; not both.

        Returns:
            ``(prediction, tableNode)``; the prediction is a
            ``HCCInterventionalAILib.prediction.pipeline.PatientPrediction``.

        Raises:
            ValueError: no model, missing or unknown values, unseen categories, a radiomics row that is missing,
                both a lesion and a radiomics CSV given, a missing or empty lesion segment.
        """
        from HCCInterventionalAILib.prediction.files import read_radiomics_row
        from HCCInterventionalAILib.prediction.pipeline import predict_patient
        from HCCInterventionalAILib.prediction.to_scene import patient_to_scene

        if model is None:
            raise ValueError(_("Load a model first."))
        values = self.parseClinicalValues(clinicalText)
        radiomicsRow = None
        useCsv = bool(radiomicsFile and str(radiomicsFile).strip() and str(radiomicsFile) != ".")
        if lesionVolume is not None or lesionSegmentation is not None:
            if useCsv:
                raise ValueError(_("Give the radiomics either from a lesion or from a CSV, not both."))
            radiomicsRow = self.lesionRadiomics(model, lesionVolume, lesionSegmentation, lesionSegment)
        elif useCsv:
            radiomicsRow = read_radiomics_row(radiomicsFile, radiomicsCase.strip() or None)
        prediction = predict_patient(model, values, radiomicsRow, received=receivedTreatment.strip() or None)
        tableNode = patient_to_scene(slicer.mrmlScene, prediction, str(model.card["name"]))
        tableNode.SetAttribute(MODEL_ATTRIBUTE, str(model.card["name"]))
        if show:
            show_in_layout(table_node=tableNode)
        return prediction, tableNode

    def describePrediction(self, prediction) -> str:
        """HTML summary: probability, risk group, points and the recommendation."""
        lines = [_("Probability: <b>{p:.1%}</b> ({group})").format(p=prediction.probability,
                                                                    group=prediction.risk_group),
                 _("Nomogram points: {points}").format(points=", ".join(
                     f"{k} {v:.0f}" for k, v in prediction.points.items()))]
        rec = prediction.recommendation
        if rec:
            text = _("Recommended arm: <b>{arm}</b> (predicted absolute risk reduction {b:.1%})").format(
                arm=rec["recommended"], b=rec["benefit"])
            if "group" in rec:
                text += " — " + (_("Maintain") if rec["group"] == "Maintain" else _("Alter"))
            lines.append(text)
        if prediction.synthetic_training_data:
            lines.append(_("<b>This model was trained on SYNTHETIC data: a demonstration only.</b>"))
        return "<br>".join(lines)

    def trainSyntheticModel(self, folder=None, patients: int = 300, seed: int = 0) -> Path:
        """Train a demonstration model on a SYNTHETIC cohort (no nested CV) and save it; returns its folder.

        Args:
            folder: output folder (a new ``hccai-demo-model`` in the temporary folder when empty); an existing
                non-empty folder is refused.
            patients: size of the synthetic cohort.
            seed: random seed.
        """
        import tempfile

        from HCCInterventionalAILib.outputs import atomic_output
        from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort
        from HCCInterventionalAILib.prediction.files import write_training_outputs
        from HCCInterventionalAILib.prediction.pipeline import TrainingRequest, train_model

        if not folder or not str(folder).strip() or str(folder) == ".":
            folder = Path(tempfile.mkdtemp(prefix="hccai-")) / "hccai-demo-model"
        cohort = make_synthetic_cohort(patients, seed=seed)
        request = TrainingRequest(cohort.table, cohort.columns, nested_cv=False, seed=seed, synthetic=True,
                                  interaction_predictors=("afp_gt_400", "pvtt", "tumour_size_cm", "ecog"),
                                  name="synthetic-demo-response-model", data_description=cohort.note)
        with atomic_output(Path(folder), overwrite=False) as staging:
            write_training_outputs(train_model(request), staging)
        return Path(folder)


#
# HCCResponsePredictionTest
#


class HCCResponsePredictionTest(ScriptedLoadableModuleTest):
    """Self test, run inside Slicer (Developer mode › Reload and Test)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SyntheticModelAndOnePatient()

    def test_SyntheticModelAndOnePatient(self):
        """Train the synthetic demonstration model, then predict one patient with it."""
        import tempfile

        self.delayDisplay("Training a demonstration model on a synthetic cohort")
        logic = HCCResponsePredictionLogic()
        logic.installRequirements(training=True)
        folder = logic.trainSyntheticModel(Path(tempfile.mkdtemp()) / "model", patients=240)
        model = logic.loadModel(folder)
        values = "\n".join(f"{name} = 1" for name in logic.clinicalTemplate(model).replace(" = ", "").splitlines())
        prediction, table = logic.predict(model, values + "\nrad_score = 0", show=False)
        self.assertGreater(prediction.probability, 0.0)
        self.assertLess(prediction.probability, 1.0)
        self.assertIn("SYNTHETIC", prediction.intended_use)
        self.assertGreater(table.GetNumberOfRows(), 3)
        self.delayDisplay("Test passed")
