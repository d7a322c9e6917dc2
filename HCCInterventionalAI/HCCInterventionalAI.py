import logging
from enum import Enum
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from HCCInterventionalAILib.slicer_helpers import (
    WorkerPoller,
    cancellable,
    ensure_python_requirements,
    ensure_pytorch,
    enum_labels,
    layout_manager,
    module_resource_path,
    progress_to_widgets,
    reload_libraries,
    show_in_layout,
    show_segmentation_in_3d,
)

#: Our Python packages, reloaded (children first) by the module's Reload button in developer mode.
LIBRARY_PACKAGES = ("HCCInterventionalAILib",)

#: Attribute set on every node the sample loader creates (the data are computer generated).
SYNTHETIC_ATTRIBUTE = "HCCInterventionalAI.Synthetic"  # = HCCInterventionalAILib.sample.to_scene.SYNTHETIC_ATTRIBUTE


#
# HCCInterventionalAI
#


class HCCInterventionalAI(ScriptedLoadableModule):
    """Main module of the HCC Interventional AI extension: sample data, AI segmentation, structure volumes.

    Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("HCC Interventional AI")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "IGT") + "." + _("HCC Interventional AI")]
        self.parent.dependencies = []
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
AI-assisted tools for image-guided treatment of liver cancer (hepatocellular carcinoma):
load the built-in <b>synthetic</b> sample patient, segment liver, tumours and vessels with a registered model
(each model card states its intended use and validation status), and measure structure volumes and the liver
tumour burden. See the <a href="https://github.com/hcc-interventional-ai/SlicerHCCInterventionalAI">documentation</a>.
<br><b>Research software, not for clinical use.</b>
""")
        self.parent.acknowledgementText = _("""
Developed by the HCC Interventional AI contributors. Built on 3D Slicer's scripted module template
(Jean-Christophe Fillion-Robin, Kitware Inc., Andras Lasso, PerkLab, and Steve Pieper, Isomics, Inc.),
MONAI and PyTorch.
""")
        if getattr(slicer, "app", None) is not None:  # Sample Data entries, registered once Slicer has started
            slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData() -> None:
    """Register the synthetic patient and the public Y-90 cases in the Sample Data module (no download here)."""
    from HCCInterventionalAILib.sample_data import register_sample_data

    register_sample_data(thumbnail_file_name=module_resource_path(__file__, "Icons/HCCInterventionalAI.png"),
                         load_synthetic_patient=lambda: HCCInterventionalAILogic().loadSamplePatient())


#
# Helpers of this module (those shared with the other modules are in HCCInterventionalAILib.slicer_helpers)
#


def ensurePyTorch() -> None:
    """Install PyTorch through the PyTorch extension if missing (asks first; never pip); RuntimeError if declined."""
    ensure_pytorch(requester="HCC Interventional AI")


#
# HCCInterventionalAIParameterNode
#


@enum_labels(lambda: {"STANDARD": _("Standard"), "SMALL": _("Small (quick)")})
class SampleSize(Enum):
    """Size of the synthetic sample patient (stored by member name: never rename members)."""

    STANDARD = "standard"
    SMALL = "small"


@enum_labels(lambda: {"AUTO": _("Automatic (GPU if available)"), "CPU": _("CPU"), "CUDA": _("CUDA GPU")})
class ComputeDevice(Enum):
    """Where networks run (stored by member name: never rename members)."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


@parameterNodeWrapper
class HCCInterventionalAIParameterNode:
    """
    The parameters of the module.

    sampleSize - size of the synthetic sample patient to generate.
    sampleSeed - random seed of the sample patient (the same seed gives the same patient).
    inputVolume - the volume to segment (for the classical segmenter: the portal venous phase).
    arterialVolume - optional arterial phase of the same CT (models that take it: arterial enhancement + washout).
    modelId - id of the segmentation model card (filled from the model registry).
    device - where the network runs.
    runInWorker - segment in a worker process (the GUI stays responsive); off: in Slicer's process.
    statsSegmentation - the segmentation whose structure volumes are measured.
    """

    sampleSize: SampleSize = SampleSize.STANDARD
    sampleSeed: Annotated[int, WithinRange(0, 1000000)] = 7
    inputVolume: vtkMRMLScalarVolumeNode
    arterialVolume: vtkMRMLScalarVolumeNode
    modelId: str = ""
    device: ComputeDevice = ComputeDevice.AUTO
    runInWorker: bool = True
    statsSegmentation: vtkMRMLSegmentationNode


#
# HCCInterventionalAIWidget
#


class HCCInterventionalAIWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)  # needed for parameter node observation
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelToken = None  # the running segmentation's CancelToken, or its worker (both have cancel())
        self._worker = None  # WorkerPoller of the segmentation running in a worker process
        self._modelIds = []
        self._takesArterial = False  # the selected model takes an optional arterial phase

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HCCInterventionalAI.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = HCCInterventionalAILogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.segmentationProgressBar.hide()
        self.ui.loadSampleButton.connect("clicked(bool)", self.onLoadSampleButton)
        self.ui.segmentButton.connect("clicked(bool)", self.onSegmentButton)
        self.ui.computeVolumesButton.connect("clicked(bool)", self.onComputeVolumesButton)
        self.ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelSelected)

        self.populateModels(installIfMissing=False)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        if self._worker is not None:
            self._worker.stop()
        if self._cancelToken is not None:
            self._cancelToken.cancel()
        self.removeObservers()

    def enter(self) -> None:
        """Called each time the user opens this module."""
        self.initializeParameterNode()

    def exit(self) -> None:
        """Called each time the user opens a different module."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        """Called just after the scene is closed."""
        if self.parent.isEntered:
            self.initializeParameterNode()

    def onReload(self) -> None:
        """Reload the libraries (children first), then the module (developer mode)."""
        reload_libraries(LIBRARY_PACKAGES)
        ScriptedLoadableModuleWidget.onReload(self)

    def initializeParameterNode(self) -> None:
        """Ensure parameter node exists and observed; pick sensible default inputs."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            firstVolumeNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolumeNode:
                self._parameterNode.inputVolume = firstVolumeNode
        if not self._parameterNode.statsSegmentation:
            firstSegmentationNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if firstSegmentationNode:
                self._parameterNode.statsSegmentation = firstSegmentationNode
        self._selectModelInCombo(self._parameterNode.modelId)

    def setParameterNode(self, inputParameterNode) -> None:
        """Set and observe parameter node (the GUI follows it through SlicerParameterName properties)."""
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
        running = self._cancelToken is not None
        parameters = self._parameterNode
        canSegment = bool(parameters and parameters.inputVolume)
        self.ui.segmentButton.enabled = running or canSegment
        self.ui.segmentButton.toolTip = (
            _("Stop the segmentation") if running
            else _("Segment the input volume with the selected model") if canSegment
            else _("Select an input volume"))
        self.ui.computeVolumesButton.enabled = bool(parameters and parameters.statsSegmentation) and not running
        self.ui.loadSampleButton.enabled = not running

    # -- model list ------------------------------------------------------------------------------------
    def populateModels(self, installIfMissing: bool = True) -> None:
        """Fill the model combo box from the model registry (segmentation models only)."""
        wasBlocked = self.ui.modelComboBox.blockSignals(True)
        try:
            self.ui.modelComboBox.clear()
            self._modelIds = []
            try:
                if installIfMissing:
                    self.logic.installRequirements()
                cards = self.logic.segmentationModels()
            except ImportError as error:
                self.ui.modelInfoLabel.text = _(
                    "The model list needs this module's Python packages ({error}). "
                    "Click <b>Segment</b> to install them.").format(error=error)
                return
            except Exception as error:
                logging.exception("Could not read the model cards")
                self.ui.modelInfoLabel.text = _("Could not read the model cards: {error}").format(error=error)
                return
            for card in cards:
                self.ui.modelComboBox.addItem(f"{card.name} ({card.key})")
                self._modelIds.append(card.id)
            if not cards:
                self.ui.modelInfoLabel.text = _("No segmentation model card is registered. Add cards to "
                                                "Resources/ModelCards or to the folder in $HCCAI_MODEL_CARDS.")
        finally:
            self.ui.modelComboBox.blockSignals(wasBlocked)
        modelId = self._parameterNode.modelId if self._parameterNode else ""
        self._selectModelInCombo(modelId or (self._modelIds[0] if self._modelIds else ""))

    def _selectModelInCombo(self, modelId: str) -> None:
        """Show ``modelId`` in the combo box; an unknown or empty id takes the model shown (stored in the parameter node)."""
        if not self._modelIds:
            return
        index = self._modelIds.index(modelId) if modelId in self._modelIds else max(self.ui.modelComboBox.currentIndex, 0)
        if self.ui.modelComboBox.currentIndex != index:
            self.ui.modelComboBox.currentIndex = index  # calls onModelSelected
        else:
            self.onModelSelected(index)

    def onModelSelected(self, index: int) -> None:
        """Store the chosen model in the parameter node and show its intended use and status."""
        if index < 0 or index >= len(self._modelIds):
            return
        modelId = self._modelIds[index]
        if self._parameterNode and self._parameterNode.modelId != modelId:
            self._parameterNode.modelId = modelId
        try:
            self.ui.modelInfoLabel.text = self.logic.describeModel(modelId)
            self._takesArterial = "arterial" in self.logic.acceptedPhases(modelId)
            self.ui.arterialVolumeSelector.enabled = self._takesArterial
        except Exception as error:
            self.ui.modelInfoLabel.text = str(error)

    # -- actions ---------------------------------------------------------------------------------------
    def onLoadSampleButton(self) -> None:
        """Generate the synthetic sample patient and add it to the scene."""
        with slicer.util.tryWithErrorDisplay(_("Failed to load the sample patient."), waitCursor=True):
            self.logic.installRequirements()
            label = self.ui.sampleStatusLabel

            def showProgress(fraction: float, message: str) -> None:
                label.text = _("Generating the synthetic patient: {percent} % {message}").format(
                    percent=int(round(100 * fraction)), message=message)
                slicer.app.processEvents()

            nodes = self.logic.loadSamplePatient(seed=self._parameterNode.sampleSeed,
                                                 size=self._parameterNode.sampleSize.value,
                                                 progressCallback=showProgress)
            self._parameterNode.inputVolume = nodes["ctDisplayed"]
            self._parameterNode.arterialVolume = nodes["ct"].get("arterial")
            self._parameterNode.statsSegmentation = nodes["segmentation"]
            self.ui.sampleStatusLabel.text = _(
                "Loaded {count} CT phases, the MAA SPECT and the ground truth (synthetic data).").format(
                count=len(nodes["ct"]))

    def onSegmentButton(self) -> None:
        """Run the selected model (the button turns into Cancel while it runs)."""
        if self._cancelToken is not None:
            self._cancelToken.cancel()
            self.ui.segmentationStatusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("AI segmentation failed."), waitCursor=True):
            modelId = self._parameterNode.modelId
            self.logic.installRequirements(ai=not modelId.startswith("liver-classical"))  # classical: no PyTorch
            if not self._modelIds:
                self.populateModels()
            if not self._parameterNode.modelId:
                raise ValueError(_("No segmentation model is selected (no model card is registered)."))
            p = self._parameterNode
            arterial = p.arterialVolume if self._takesArterial else None  # only for a model that takes it
            progressCallback = progress_to_widgets(self.ui.segmentationProgressBar, self.ui.segmentationStatusLabel)
            if p.runInWorker:
                self._startWorker(p, progressCallback, arterial)
                return
            with cancellable(self.ui.segmentationStatusLabel, self._setRunning) as cancelToken:
                self._showSegmentation(self.logic.segment(
                    p.inputVolume, p.modelId, device=p.device.value, progressCallback=progressCallback,
                    cancelToken=cancelToken, arterialVolumeNode=arterial))

    def _startWorker(self, p, progressCallback, arterial) -> None:
        """Segment in a worker process, followed from a QTimer (the button turns into Cancel)."""
        self.ui.segmentationStatusLabel.text = _("Starting the worker process...")
        inputVolume, modelId = p.inputVolume, p.modelId
        runner = self.logic.segmentInBackground(inputVolume, modelId, device=p.device.value,
                                                progressCallback=progressCallback, arterialVolumeNode=arterial)

        def load(runner) -> None:
            with slicer.util.tryWithErrorDisplay(_("Reading the segmentation failed."), waitCursor=True):
                self._showSegmentation(self.logic.loadSegmentationResult(runner, inputVolume, modelId))

        self._worker = WorkerPoller(runner, self.ui.segmentationStatusLabel, self._setRunning, load)

    def _showSegmentation(self, segmentationNode) -> None:
        self._parameterNode.statsSegmentation = segmentationNode
        self.ui.segmentationStatusLabel.text = _("Created segmentation '{name}'.").format(name=segmentationNode.GetName())

    def _setRunning(self, cancelToken) -> None:
        """The cancel token of the segmentation now running (the button turns into Cancel), None when it ends."""
        self._cancelToken = cancelToken
        running = cancelToken is not None
        self.ui.segmentButton.text = _("Cancel") if running else _("Segment")
        self.ui.segmentationProgressBar.setVisible(running)
        self.ui.segmentationProgressBar.value = 0
        self.ui.inputVolumeSelector.enabled = not running
        self.ui.arterialVolumeSelector.enabled = not running and self._takesArterial
        self.ui.modelComboBox.enabled = not running
        self.ui.deviceComboBox.enabled = not running
        self.ui.runInWorkerCheckBox.enabled = not running
        self._checkCanApply()

    def onComputeVolumesButton(self) -> None:
        """Measure segment volumes and the tumour burden into a new table."""
        with slicer.util.tryWithErrorDisplay(_("Failed to compute structure volumes."), waitCursor=True):
            self.logic.installRequirements()
            tableNode, stats = self.logic.computeStructureVolumes(self._parameterNode.statsSegmentation)
            if stats.tumour_burden_percent is None:
                burden = _("no liver segment, so no tumour burden")
            else:
                burden = _("liver tumour burden {burden:.2f} % ({tumour:.1f} ml of tumour)").format(
                    burden=stats.tumour_burden_percent, tumour=stats.total_tumour_ml)
            self.ui.volumesResultLabel.text = _("Table '{table}': {count} segments; {burden}.").format(
                table=tableNode.GetName(), count=len(stats.names), burden=burden)


#
# HCCInterventionalAILogic
#


class HCCInterventionalAILogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI (e.g. from the Slicer Python console):

    .. code-block:: python

        logic = slicer.util.getModuleLogic("HCCInterventionalAI")
        nodes = logic.loadSamplePatient(seed=7, size="small")
        table, stats = logic.computeStructureVolumes(nodes["segmentation"])
        [card.id for card in logic.segmentationModels()]
        segmentationNode = logic.segment(nodes["ct"]["portal venous"], "<model id>", device="auto")

    Each method reads MRML nodes, converts them with the scene bridge (``HCCInterventionalAILib.scene``),
    calls the headless library and writes the results into NEW, uniquely named nodes; inputs are never
    modified. Uses ScriptedLoadableModuleLogic base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def getParameterNode(self):
        """The module's parameter node (typed wrapper around the scene's scripted module node)."""
        return HCCInterventionalAIParameterNode(super().getParameterNode())

    def installRequirements(self, ai: bool = False) -> None:
        """Install this module's Python requirements if missing (asks first).

        Args:
            ai: also install PyTorch (through the PyTorch extension) and the AI packages (MONAI), in that
                order, so that pip never pulls a generic torch build.
        """
        ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="HCC Interventional AI")
        if ai:
            ensurePyTorch()
            ensure_python_requirements(module_resource_path(__file__, "requirements-ai.txt"),
                                       requester="HCC Interventional AI")

    def loadSamplePatient(self, seed: int = 7, size: str = "standard", show: bool = True,
                          progressCallback=None) -> dict:
        """Generate the SYNTHETIC sample patient (``seed``: the same seed gives identical images; ``size``:
        "standard" or "small", coarser and quicker) and add it to the scene as new nodes; ``show`` the portal venous
        CT in the slice views and the ground truth in 3D; ``progressCallback(fraction 0–1, message)``.

        Returns:
            ``{"ct": {phase: volume node}, "ctDisplayed": the displayed CT node, "spect": MAA SPECT node,
            "segmentation": ground-truth segmentation node}``; every node carries the attribute
            ``HCCInterventionalAI.Synthetic`` = "1" and sits in one subject-hierarchy folder.
        """
        from HCCInterventionalAILib.sample import make_sample_patient
        from HCCInterventionalAILib.sample.to_scene import patient_to_scene
        from HCCInterventionalAILib.scene import set_slice_view_layers

        patient = make_sample_patient(seed=int(seed), size=str(size), progress=progressCallback)
        nodes = patient_to_scene(slicer.mrmlScene, patient,
                                 _("Synthetic sample patient (seed {seed})").format(seed=seed))
        if show:
            set_slice_view_layers(slicer.mrmlScene, background=nodes["ctDisplayed"])
            show_segmentation_in_3d(nodes["segmentation"])
            if layout_manager() is not None:
                slicer.util.resetSliceViews()
        return nodes

    def segmentationModels(self) -> list:
        """Model cards of the registered segmentation models (``HCCInterventionalAILib.models``)."""
        from HCCInterventionalAILib.models import list_models

        return list_models(task="segmentation")

    def describeModel(self, modelId: str) -> str:
        """HTML summary of a model card: intended use, limitations, validation, licence, research-only status."""
        from HCCInterventionalAILib.models import get_card
        from HCCInterventionalAILib.segmentation.to_scene import describe_card

        phrases = {"intended": _("Intended use: {text}"), "validation": _("Validation: {text}"),
                   "licence": _("Licence: {text}"), "limitations": _("Limitations: {text}"),
                   "research": _("<b>Research use only — not for clinical use.</b>")}
        return describe_card(get_card(modelId), phrases)

    def acceptedPhases(self, modelId: str) -> tuple:
        """The optional CT phases (e.g. "arterial") a model takes besides its input volume."""
        from HCCInterventionalAILib.models import get_card
        from HCCInterventionalAILib.segmentation.to_scene import accepted_phases

        return accepted_phases(get_card(modelId))

    @staticmethod
    def _request(inputVolumeNode, modelId: str, device: str, arterialVolumeNode):
        from HCCInterventionalAILib.segmentation.to_scene import SegmentationRequest as Request

        return Request(modelId, inputVolumeNode, {"arterial": arterialVolumeNode}, device)

    def segment(self, inputVolumeNode, modelId: str, device: str = "auto", progressCallback=None,
                cancelToken=None, show: bool = True, arterialVolumeNode=None):
        """Segment a volume with a registered model into a NEW segmentation node.

        Args:
            inputVolumeNode, modelId, device, arterialVolumeNode: as in
                ``HCCInterventionalAILib.segmentation.to_scene.SegmentationRequest`` (input_node, model_id,
                device, phase_nodes["arterial"]: for a model that takes it, see :meth:`acceptedPhases`).
            progressCallback: called with (fraction 0–1, message).
            cancelToken: ``HCCInterventionalAILib.progress.CancelToken``; cancelling raises ``Cancelled``.
            show: show the result in the slice views and in 3D.

        Returns:
            The new segmentation node ("<volume> <model id> segmentation"), with the card's segment names,
            colours and terminology.
        """
        from HCCInterventionalAILib.segmentation.to_scene import segment_request

        request = self._request(inputVolumeNode, modelId, device, arterialVolumeNode)
        return segment_request(slicer.mrmlScene, request, progressCallback, cancelToken, show=show)

    def segmentInBackground(self, inputVolumeNode, modelId: str, device: str = "auto", log=None,
                            progressCallback=None, pythonExecutable=None, arterialVolumeNode=None):
        """:meth:`segment` in a worker process (``PythonSlicer -m HCCInterventionalAILib.models.worker``;
        ``sys.executable`` outside Slicer) on the input volumes written to a temporary folder; bad inputs fail
        before it starts. Returns the started ``HCCInterventionalAILib.process_runner.WorkerRunner`` (``poll()``
        it from a timer or ``run()`` it, then :meth:`loadSegmentationResult`; ``cancel()`` ends its process tree
        and removes the folder)."""
        from HCCInterventionalAILib.segmentation.to_scene import start_request_worker

        request = self._request(inputVolumeNode, modelId, device, arterialVolumeNode)
        return start_request_worker(request, log=log, progress=progressCallback, python=pythonExecutable)

    def loadSegmentationResult(self, runner, inputVolumeNode, modelId: str, show: bool = True):
        """Read a finished worker's segmentation (its runner, or the ``.seg.nrrd``) into a NEW segmentation node,
        as :meth:`segment` returns it; the worker's temporary folder is removed afterwards."""
        from HCCInterventionalAILib.segmentation.to_scene import load_request_result

        request = self._request(inputVolumeNode, modelId, "auto", None)
        return load_request_result(slicer.mrmlScene, runner, request, show=show)

    def computeStructureVolumes(self, segmentationNode, show: bool = True):
        """Volumes (ml) of every segment and the liver tumour burden (%) into a NEW table node (shown in the
        layout when ``show``); returns ``(tableNode, stats)``, see
        ``HCCInterventionalAILib.segmentation.to_scene.structure_volumes_to_scene``."""
        from HCCInterventionalAILib.segmentation.to_scene import structure_volumes_to_scene

        if segmentationNode is None:
            raise ValueError(_("Select a segmentation."))
        tableNode, stats = structure_volumes_to_scene(slicer.mrmlScene, segmentationNode)
        if show:
            show_in_layout(table_node=tableNode)
        return tableNode, stats


#
# HCCInterventionalAITest
#


class HCCInterventionalAITest(ScriptedLoadableModuleTest):
    """
    Self test of the module, run inside Slicer (Developer mode › Reload and Test).
    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def setUp(self):
        """Do whatever is needed to reset the state - typically a scene clear will be enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run as few or as many tests as needed here."""
        self.setUp()
        self.test_SampleAndVolumes()
        self.setUp()
        self.test_ModelRegistry()

    def test_SampleAndVolumes(self):
        """Load the small synthetic patient, then measure its ground truth."""
        self.delayDisplay("Loading the synthetic sample patient")
        logic = HCCInterventionalAILogic()
        logic.installRequirements()
        nodes = logic.loadSamplePatient(seed=7, size="small")
        self.assertEqual(len(nodes["ct"]), 3)
        self.assertIsNotNone(nodes["spect"].GetImageData())
        segmentation = nodes["segmentation"].GetSegmentation()
        self.assertIsNotNone(segmentation.GetSegmentIdBySegmentName("Liver"))
        self.assertEqual(nodes["segmentation"].GetAttribute(SYNTHETIC_ATTRIBUTE), "1")

        self.delayDisplay("Computing structure volumes")
        tableNode, stats = logic.computeStructureVolumes(nodes["segmentation"])
        self.assertEqual(tableNode.GetNumberOfRows(), len(stats.names) + (1 if stats.tumour_names else 0))
        self.assertGreater(stats.volumes_ml[stats.names.index("Liver")], 100.0)  # an adult liver: > 100 ml
        self.assertIsNotNone(stats.tumour_burden_percent)
        self.assertGreater(stats.tumour_burden_percent, 0.0)
        self.assertLess(stats.tumour_burden_percent, 100.0)
        self.delayDisplay("Test passed")

    def test_ModelRegistry(self):
        """Every registered segmentation model has a card with an intended use and a status."""
        logic = HCCInterventionalAILogic()
        logic.installRequirements()
        for card in logic.segmentationModels():
            self.assertIn("Intended use", logic.describeModel(card.id))
        self.delayDisplay("Test passed")
