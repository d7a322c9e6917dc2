from enum import Enum
from pathlib import Path
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
    SegmentRolePickers,
    WorkerPoller,
    cancellable,
    ensure_python_requirements,
    enum_labels,
    module_resource_path,
    progress_to_widgets,
    reload_libraries,
    show_in_layout,
)

#: Our Python packages, reloaded (children first) by the module's Reload button in developer mode.
LIBRARY_PACKAGES = ("Y90DosimetryLib", "HCCInterventionalAILib")

#: Attribute set on every result node: the kind of output ("dose", "plan", "statistics", "dvh", "warnings").
RESULT_ATTRIBUTE = "Y90Dosimetry.Result"

#: Bounds of the inputs, as the library validates them (Y90DosimetryLib.activity: lung shunt fraction in
#: [0, 1), DuBois BSA for 50–250 cm and 10–400 kg). The module cannot import the library when it loads.
LUNG_SHUNT_PERCENT_RANGE = (0.0, 99.9)
HEIGHT_CM_RANGE = (50.0, 250.0)
WEIGHT_KG_RANGE = (10.0, 400.0)


#
# Y90Dosimetry
#


class Y90Dosimetry(ScriptedLoadableModule):
    """Y-90 radioembolization planning from 99mTc-MAA SPECT/CT and voxel dosimetry.

    Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Y-90 Dosimetry")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "IGT") + "." + _("HCC Interventional AI")]
        self.parent.dependencies = ["HCCInterventionalAI"]
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
Plan Y-90 radioembolization (TARE/SIRT) from a 99mTc-MAA SPECT(/CT) and a segmentation: lung shunt fraction,
activity by the MIRD, body-surface-area or partition model, lung dose, vial ordering with decay, voxel dose
(dose-voxel-kernel convolution or local deposition), dose-volume histograms and per-structure statistics
(mean, D70, V100, BED, EUD), with warnings against the dose limits of the chosen preset. Post-treatment
Y-90 PET or bremsstrahlung SPECT can be dosed the same way with the delivered activity.
See the <a href="https://github.com/hcc-interventional-ai/SlicerHCCInterventionalAI">documentation</a>.
<br><b>Research software, not for clinical use.</b>
""")
        self.parent.acknowledgementText = _("""
Developed by the HCC Interventional AI contributors. Formulas and limits follow AAPM Report 144 (Dezarn et al.
2011), the partition model of Ho et al. (1996) and the microsphere IFUs; each preset names its source.
Built on 3D Slicer's scripted module template (Jean-Christophe Fillion-Robin, Kitware Inc., Andras Lasso,
PerkLab, and Steve Pieper, Isomics, Inc.).
""")


#
# Helpers of this module (those shared with the other modules are in HCCInterventionalAILib.slicer_helpers)
#


def parseDateTime(text: str, what: str):
    """``datetime`` from ISO text ("2026-03-01 10:30"); None for empty text; ValueError for other text."""
    from datetime import datetime

    if isinstance(text, datetime) or not str(text or "").strip():
        return text or None
    try:
        return datetime.fromisoformat(str(text).strip())
    except ValueError as error:
        raise ValueError(_("{what} '{text}' is not a date and time like 2026-03-01 10:30").format(
            what=what, text=text)) from error


#
# Y90DosimetryParameterNode
#


# Combo-box texts: ``enum_labels`` gives each enum a ``label()`` that translates them when they are shown.


@enum_labels(lambda: {"MAA_SPECT": _("99mTc-MAA SPECT (planning)"), "Y90_PET": _("Y-90 PET (post-treatment)"),
                      "Y90_BREMSSTRAHLUNG": _("Y-90 bremsstrahlung SPECT (post-treatment)")})
class ActivityImage(Enum):
    """What the activity image shows (stored by member name: never rename members)."""

    MAA_SPECT = "maa-spect"
    Y90_PET = "y90-pet"
    Y90_BREMSSTRAHLUNG = "y90-bremsstrahlung"


@enum_labels(lambda: {"MIRD": _("MIRD single compartment"), "BSA": _("Body surface area"),
                      "PARTITION": _("Partition model"), "MULTI_COMPARTMENT": _("Multi-compartment (each tumour)")})
class DosimetryMethod(Enum):
    """Activity prescription method; values are Y90DosimetryLib.planning.METHODS (never rename members)."""

    MIRD = "mird"
    BSA = "bsa"
    PARTITION = "partition"
    MULTI_COMPARTMENT = "multi-compartment"


@enum_labels(lambda: {"GLASS": _("Glass (TheraSphere)"), "RESIN": _("Resin (SIR-Spheres)")})
class Microsphere(Enum):
    """Microsphere product; values are the ``y90_microspheres`` presets (never rename members)."""

    GLASS = "glass"
    RESIN = "resin"


@enum_labels(lambda: {"NORMAL_LIVER": _("Normal liver"), "TUMOUR": _("Tumours")})
class DoseTarget(Enum):
    """Compartment the target dose applies to (partition / multi-compartment); never rename members."""

    NORMAL_LIVER = "normal"
    TUMOUR = "tumour"


@enum_labels(lambda: {"CONVENTIONAL": _("49.67 Gy·kg/GBq (conventional)"),
                      "THERASPHERE_IFU": _("50 Gy·kg/GBq (TheraSphere IFU)"),
                      "FIRST_PRINCIPLES": _("First principles (T½ 64.04 h)")})
class DoseConstantPreset(Enum):
    """Dose constant K; values are the ``y90_dose_constants`` presets (never rename members)."""

    CONVENTIONAL = "conventional"
    THERASPHERE_IFU = "therasphere_ifu"
    FIRST_PRINCIPLES = "first_principles_64_04h"


@enum_labels(lambda: {"KERNEL": _("Dose-voxel-kernel convolution"), "LOCAL": _("Local deposition"),
                      "NONE": _("None (compartments only)")})
class VoxelDosimetry(Enum):
    """How the dose volume is computed (never rename members)."""

    KERNEL = "kernel"
    LOCAL = "local"
    NONE = "none"


@parameterNodeWrapper
class Y90DosimetryParameterNode:
    """
    The parameters of the module.

    activityVolume - MAA SPECT (planning) or Y-90 PET / bremsstrahlung SPECT (post-treatment).
    activityImage - what the activity volume shows.
    ctVolume - optional CT: tissue density, lung mass, lung region.
    segmentation - structures; the *SegmentId fields pick segments by ID ("" = detect from names).
    method, microsphere, doseTarget, targetDoseGy (0 = preset limit), usePrescribedActivity,
    prescribedActivityGBq - the prescription.
    patientHeightCm, patientWeightKg - body surface area (BSA method).
    treatmentDateTime, calibrationDateTime, residualPercent - vial ordering with decay.
    overrideLungShunt, lungShuntPercent, previousLungDoseGy, doseConstant, voxelDosimetry - advanced.
    exportRtDose, rtDoseFolder - DICOM RT Dose export.
    runInWorker - compute in a worker process (the GUI stays responsive); off: in Slicer's process.
    """

    activityVolume: vtkMRMLScalarVolumeNode
    activityImage: ActivityImage = ActivityImage.MAA_SPECT
    ctVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    liverSegmentId: str = ""
    tumourSegmentId: str = ""
    lungSegmentId: str = ""
    perfusedSegmentId: str = ""
    method: DosimetryMethod = DosimetryMethod.PARTITION
    microsphere: Microsphere = Microsphere.GLASS
    doseTarget: DoseTarget = DoseTarget.NORMAL_LIVER
    targetDoseGy: Annotated[float, WithinRange(0.0, 1000.0)] = 0.0
    usePrescribedActivity: bool = False
    prescribedActivityGBq: Annotated[float, WithinRange(0.01, 30.0)] = 2.0
    patientHeightCm: Annotated[float, WithinRange(*HEIGHT_CM_RANGE)] = 170.0
    patientWeightKg: Annotated[float, WithinRange(*WEIGHT_KG_RANGE)] = 70.0
    treatmentDateTime: str = ""
    calibrationDateTime: str = ""
    residualPercent: Annotated[float, WithinRange(0.0, 50.0)] = 0.0
    overrideLungShunt: bool = False
    lungShuntPercent: Annotated[float, WithinRange(*LUNG_SHUNT_PERCENT_RANGE)] = 5.0
    previousLungDoseGy: Annotated[float, WithinRange(0.0, 200.0)] = 0.0
    doseConstant: DoseConstantPreset = DoseConstantPreset.CONVENTIONAL
    voxelDosimetry: VoxelDosimetry = VoxelDosimetry.KERNEL
    quantitativeActivity: bool = False
    injectedActivityGBq: Annotated[float, WithinRange(0.0, 30.0)] = 0.0
    injectionDateTime: str = ""
    imageDateTime: str = ""
    allowMisregistration: bool = False
    exportRtDose: bool = False
    rtDoseFolder: Path
    runInWorker: bool = True


#
# Y90DosimetryWidget
#


class Y90DosimetryWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelToken = None  # the running computation's CancelToken, or its worker (both have cancel())
        self._segmentPickers = None
        self._worker = None  # WorkerPoller of the plan running in a worker process

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/Y90Dosimetry.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = Y90DosimetryLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        # Segment pickers: parameter field → (combo box, text of the "detect from names" entry)
        self._segmentPickers = SegmentRolePickers(self, {
            "liverSegmentId": (self.ui.liverSegmentComboBox, _("(detect: 'Liver')")),
            "tumourSegmentId": (self.ui.tumourSegmentComboBox, _("(all tumour segments, detected from names)")),
            "lungSegmentId": (self.ui.lungSegmentComboBox, _("(detect 'Lung'; else threshold the image)")),
            "perfusedSegmentId": (self.ui.perfusedSegmentComboBox, _("(detect 'Perfused'; else whole liver)")),
        }, lambda: self._parameterNode)

        self.ui.progressBar.hide()
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)

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
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        """Called just before the scene is closed."""
        self._segmentPickers.follow(None)
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
        """Ensure parameter node exists and observed; pick the first SPECT-like volume and segmentation."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.activityVolume:
            candidates = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            spect = [n for n in candidates if any(k in n.GetName().upper() for k in ("SPECT", "MAA", "PET", "Y90"))]
            if spect or candidates:
                self._parameterNode.activityVolume = (spect or candidates)[0]
        if not self._parameterNode.segmentation:
            firstSegmentationNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
            if firstSegmentationNode:
                self._parameterNode.segmentation = firstSegmentationNode

    def setParameterNode(self, inputParameterNode) -> None:
        """Set and observe parameter node (the GUI follows it through SlicerParameterName properties)."""
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        parameters = self._parameterNode
        self._segmentPickers.follow(parameters.segmentation if parameters else None)
        self._updateEnabledStates()

    def _updateEnabledStates(self) -> None:
        parameters = self._parameterNode
        running = self._cancelToken is not None
        ready = bool(parameters and parameters.activityVolume and parameters.segmentation)
        self.ui.applyButton.enabled = running or ready
        self.ui.applyButton.toolTip = (
            _("Stop the computation") if running
            else _("Compute the plan, dose volume, DVH and tables") if ready
            else _("Select the activity image and the segmentation"))
        if parameters:
            method = parameters.method
            self.ui.heightSpinBox.enabled = method == DosimetryMethod.BSA
            self.ui.weightSpinBox.enabled = method == DosimetryMethod.BSA
            self.ui.doseTargetComboBox.enabled = method in (DosimetryMethod.PARTITION, DosimetryMethod.MULTI_COMPARTMENT)
            self.ui.targetDoseSpinBox.enabled = method != DosimetryMethod.BSA and not parameters.usePrescribedActivity
            self.ui.prescribedActivitySpinBox.enabled = parameters.usePrescribedActivity
            self.ui.lungShuntSliderWidget.enabled = parameters.overrideLungShunt
            self.ui.rtDoseFolderPathLineEdit.enabled = parameters.exportRtDose
            quantitative = parameters.quantitativeActivity and parameters.activityImage != ActivityImage.MAA_SPECT
            self.ui.quantitativeActivityCheckBox.enabled = parameters.activityImage != ActivityImage.MAA_SPECT
            for widget in (self.ui.injectedActivitySpinBox, self.ui.injectionDateTimeLineEdit,
                           self.ui.imageDateTimeLineEdit):
                widget.enabled = quantitative
        for widget in (self.ui.inputsCollapsibleButton, self.ui.planningCollapsibleButton,
                       self.ui.advancedCollapsibleButton, self.ui.postTreatmentCollapsibleButton):
            widget.enabled = not running

    # -- action ----------------------------------------------------------------------------------------
    def onApplyButton(self) -> None:
        """Plan and compute the dose (the button turns into Cancel while it runs)."""
        if self._cancelToken is not None:
            self._cancelToken.cancel()
            self.ui.statusLabel.text = _("Cancelling...")
            return
        p = self._parameterNode
        toScene = {"ctVolumeNode": p.ctVolume, "delivered": p.activityImage != ActivityImage.MAA_SPECT,
                   "rtDoseFolder": str(p.rtDoseFolder) if p.exportRtDose else None}
        segments = {"liver": p.liverSegmentId, "tumours": p.tumourSegmentId, "lungs": p.lungSegmentId,
                    "perfused": p.perfusedSegmentId}
        progressCallback = progress_to_widgets(self.ui.progressBar, self.ui.statusLabel)
        with slicer.util.tryWithErrorDisplay(_("Y-90 planning failed."), waitCursor=True):
            self.logic.installRequirements()
            request = self.logic.requestFromParameterNode(p)
            if p.runInWorker:
                self._startWorker(p, request, segments, toScene, progressCallback)
                return
            with cancellable(self.ui.statusLabel, self._setRunning) as cancelToken:
                outputs = self.logic.plan(p.activityVolume, p.segmentation, request, segments=segments,
                                          progressCallback=progressCallback, cancelToken=cancelToken, **toScene)
                self._showDone(outputs)

    def _showDone(self, outputs: dict) -> None:
        self.ui.resultsLabel.text = self.logic.summaryHtml(outputs)
        self.ui.statusLabel.text = _("Done: new dose volume, tables and DVH chart in the scene.")

    def _startWorker(self, p, request, segments, toScene, progressCallback) -> None:
        """Start the plan in a worker process, followed from a QTimer (Apply turns into Cancel)."""
        self.ui.statusLabel.text = _("Starting the worker process...")
        activityVolumeNode, segmentationNode = p.activityVolume, p.segmentation
        runner = self.logic.planInBackground(activityVolumeNode, segmentationNode, request, segments=segments,
                                             ctVolumeNode=toScene["ctVolumeNode"], progressCallback=progressCallback)

        def load(runner) -> None:
            with slicer.util.tryWithErrorDisplay(_("Reading the Y-90 plan failed."), waitCursor=True):
                self._showDone(self.logic.loadBackgroundResult(runner, activityVolumeNode,
                                                               segmentationNode=segmentationNode, **toScene))

        self._worker = WorkerPoller(runner, self.ui.statusLabel, self._setRunning, load)

    def _setRunning(self, cancelToken) -> None:
        """The cancel token (or worker) of the computation now running (Apply turns into Cancel), None at its end."""
        self._cancelToken = cancelToken
        running = cancelToken is not None
        self.ui.applyButton.text = _("Cancel") if running else _("Plan and compute dose")
        self.ui.progressBar.setVisible(running)
        self.ui.progressBar.value = 0
        self._updateEnabledStates()


#
# Y90DosimetryLogic
#


class Y90DosimetryLogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI (e.g. from the Slicer Python console):

    .. code-block:: python

        y90 = slicer.util.getModuleLogic("Y90Dosimetry")
        outputs = y90.plan(spectNode, segmentationNode, method="partition", microsphere="glass")
        outputs["result"].activity_gbq          # Y90DosimetryLib.DosimetryResult
        outputs["dose"], outputs["planTable"], outputs["dvhChart"]   # the new nodes

    ``plan`` takes a ``Y90DosimetryLib.PlanRequest`` (or its fields as keywords: the same vocabulary as
    ``hccai y90`` and the library), reads the nodes with the scene bridge, runs ``Y90DosimetryLib.plan_treatment``
    and writes NEW nodes with ``Y90DosimetryLib.to_scene.result_to_scene``. Inputs are never modified.
    Uses ScriptedLoadableModuleLogic base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self) -> None:
        """Called when the logic class is instantiated. Can be used for initializing member variables."""
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        """The module's parameter node (typed wrapper around the scene's scripted module node)."""
        return Y90DosimetryParameterNode(super().getParameterNode())

    def installRequirements(self) -> None:
        """Install this module's Python requirements if missing (asks first)."""
        ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="Y-90 Dosimetry")

    @staticmethod
    def requestFromParameterNode(p):
        """The ``Y90DosimetryLib.PlanRequest`` the GUI describes (the one vocabulary of library, CLI and GUI)."""
        from Y90DosimetryLib import PlanRequest

        calibration = parseDateTime(p.calibrationDateTime, _("Vial calibration time"))
        treatment = parseDateTime(p.treatmentDateTime, _("Treatment time"))
        if calibration is not None and treatment is None:
            raise ValueError(_("Give the treatment time together with the vial calibration time."))
        quantitative = p.activityImage != ActivityImage.MAA_SPECT and p.quantitativeActivity
        return PlanRequest(
            method=p.method.value, microsphere=p.microsphere.value, target=p.doseTarget.value,
            target_dose_gy=p.targetDoseGy or None,
            activity_gbq=p.prescribedActivityGBq if p.usePrescribedActivity and not quantitative else None,
            height_cm=p.patientHeightCm, weight_kg=p.patientWeightKg,
            calibration=calibration, treatment=treatment if calibration is not None else None,
            residual_fraction=p.residualPercent / 100.0,
            lung_shunt_fraction=p.lungShuntPercent / 100.0 if p.overrideLungShunt and not quantitative else None,
            previous_lung_dose_gy=p.previousLungDoseGy, dose_constant=p.doseConstant.value,
            dose_method=p.voxelDosimetry.value, activity_source="quantitative" if quantitative else "treated",
            injected_gbq=p.injectedActivityGBq if quantitative and p.injectedActivityGBq > 0 else None,
            injection_time=parseDateTime(p.injectionDateTime, _("Injection time")) if quantitative else None,
            image_time=parseDateTime(p.imageDateTime, _("Image time")) if quantitative else None,
            allow_misregistration=p.allowMisregistration)

    @staticmethod
    def segmentRoles(segmentationNode, segments) -> dict:
        """Segment names for the roles given as segment IDs or names ("" or None: detect from names)."""
        from Y90DosimetryLib.to_scene import segment_roles

        return segment_roles(segmentationNode, segments)

    def plan(self, activityVolumeNode, segmentationNode, request=None, *, ctVolumeNode=None, segments=None,
             delivered: bool = False, rtDoseFolder=None, progressCallback=None, cancelToken=None, show: bool = True,
             **options) -> dict:
        """Plan a Y-90 treatment (or dose a post-treatment image) and write the results as NEW nodes.

        Args:
            activityVolumeNode: MAA SPECT counts, or Y-90 PET / bremsstrahlung SPECT (not modified).
            segmentationNode: liver (required), tumours, lungs, perfused territory; any grid.
            request: a ``Y90DosimetryLib.PlanRequest``; ``options`` (its field names, e.g. ``method="mird"``,
                ``target_dose_gy=120``) replace its fields.
            ctVolumeNode: optional CT (densities, lung mass, lung region).
            segments: {"liver", "tumours", "lungs", "perfused"} → segment ID or name, replacing the roles detected
                from segment names.
            delivered: the image shows delivered Y-90 (names the dose "delivered"; RT Dose summation RECORD).
            rtDoseFolder: write the dose as DICOM RT Dose into this folder (None: no export).
            progressCallback: called with (fraction 0–1, message).
            cancelToken: ``HCCInterventionalAILib.progress.CancelToken``; cancelling raises ``Cancelled``.
            show: show the dose overlay, the plan table and the DVH chart in the layout.

        Returns:
            ``{"result": Y90DosimetryLib.DosimetryResult, "dose": volume node or None, "planTable",
            "statisticsTable", "warningsTable": table nodes (None when empty), "dvhChart": plot chart node or
            None, "rtDosePath": str or None}``.
        """
        from HCCInterventionalAILib.progress import Progress
        from Y90DosimetryLib import plan_treatment

        progress = Progress(progressCallback, cancelToken)
        progress.update(0.0, _("Reading the images"))
        request, activity, segmentation, ct = self._prepare(activityVolumeNode, segmentationNode, ctVolumeNode,
                                                            request, segments, options)
        result = plan_treatment(activity, segmentation, request, ct=ct, progress=progress.sub(0.1, 0.9))
        progress.check()

        progress.update(0.9, _("Writing the results"))
        outputs = self._toScene(result, activityVolumeNode, ctVolumeNode, segmentation, delivered, rtDoseFolder, show)
        progress.update(1.0, _("Done"))
        return outputs

    def _prepare(self, activityVolumeNode, segmentationNode, ctVolumeNode, request, segments, options) -> tuple:
        """The checked request, then the activity, segmentation and CT nodes as library objects."""
        from Y90DosimetryLib import PlanRequest
        from Y90DosimetryLib.to_scene import nodes_to_inputs

        if activityVolumeNode is None or segmentationNode is None:
            raise ValueError(_("Select the activity image and the segmentation."))
        roles = self.segmentRoles(segmentationNode, segments)
        request = (request or PlanRequest()).replace(**options, **({"roles": roles} if roles else {}))
        return (request, *nodes_to_inputs(activityVolumeNode, segmentationNode, ctVolumeNode))

    def planInBackground(self, activityVolumeNode, segmentationNode, request=None, *, ctVolumeNode=None,
                         segments=None, log=None, progressCallback=None, pythonExecutable=None, **options):
        """:meth:`plan` in a worker process (``PythonSlicer -m Y90DosimetryLib.worker``; ``sys.executable`` outside
        Slicer) on the inputs written to a temporary folder; bad inputs fail before it starts. Returns the started
        ``Y90DosimetryLib.worker.PlanWorker`` (a ``ProcessRunner``: ``poll()`` it from a timer or ``run()`` it,
        then :meth:`loadBackgroundResult`; ``cancel()`` ends its process tree and removes the folder)."""
        from Y90DosimetryLib.worker import start_plan_worker

        request, activity, segmentation, ct = self._prepare(activityVolumeNode, segmentationNode, ctVolumeNode,
                                                            request, segments, options)
        return start_plan_worker(activity, segmentation, request, ct=ct, python=pythonExecutable, log=log,
                                 progress=progressCallback)

    def loadBackgroundResult(self, folder, activityVolumeNode, *, segmentationNode=None, ctVolumeNode=None,
                             delivered: bool = False, rtDoseFolder=None, show: bool = True) -> dict:
        """Read a finished worker's outputs (its ``PlanWorker``, or the output folder) into NEW nodes, as
        :meth:`plan` returns them (``outputs["result"]`` is a ``Y90DosimetryLib.worker.PlanFolderResult``);
        the worker's temporary folder is removed afterwards."""
        from Y90DosimetryLib.to_scene import segment_colors_of_node
        from Y90DosimetryLib.worker import read_plan_folder, remove_work_folder

        folder = Path(getattr(folder, "output", folder))
        try:
            result = read_plan_folder(folder)
            return self._toScene(result, activityVolumeNode, ctVolumeNode, None, delivered, rtDoseFolder, show,
                                 segment_colors_of_node(segmentationNode))
        finally:
            remove_work_folder(folder.parent)  # only a worker's temporary folder (it holds a marker file)

    def _toScene(self, result, activityVolumeNode, ctVolumeNode, segmentation, delivered, rtDoseFolder, show,
                 colors=None) -> dict:
        """The result as new nodes (``Y90DosimetryLib.to_scene.result_to_scene``), RT Dose export, layout."""
        from HCCInterventionalAILib.scene import set_slice_view_layers
        from Y90DosimetryLib.to_scene import result_to_scene

        outputs = {"result": result, **result_to_scene(slicer.mrmlScene, result, activityVolumeNode.GetName(),
                                                       delivered=delivered, segmentation=segmentation,
                                                       segment_colors=colors)}
        outputs["rtDosePath"] = None
        if rtDoseFolder and result.dose is not None:
            outputs["rtDosePath"] = self.exportRtDose(result.dose, rtDoseFolder, activityVolumeNode.GetName(),
                                                      delivered=delivered)
        if show:
            if outputs["dose"] is not None:
                background = ctVolumeNode if ctVolumeNode is not None else activityVolumeNode
                set_slice_view_layers(slicer.mrmlScene, background=background, foreground=outputs["dose"],
                                      foreground_opacity=0.5)
            self.showResults(outputs)
        return outputs

    def showResults(self, outputs: dict) -> None:
        """Show the DVH chart and the plan table in a layout with a plot view and a table view."""
        show_in_layout(table_node=outputs.get("planTable"), chart_node=outputs.get("dvhChart"))

    def exportRtDose(self, dose, folder: str, baseName: str, delivered: bool = False) -> str:
        """Write a dose ``Volume`` (Gy) as DICOM RT Dose (summation PLAN, or RECORD when delivered) into ``folder``."""
        from Y90DosimetryLib.to_scene import export_rtdose

        return str(export_rtdose(dose, folder, baseName, delivered=delivered))

    def summaryHtml(self, outputs: dict) -> str:
        """Short HTML summary of a :meth:`plan` result: activity, LSF, doses, vial, warnings."""
        from html import escape

        result = outputs["result"]
        lines = [
            _("<b>Activity at treatment: {activity:.2f} GBq</b> ({method}, {spheres})").format(
                activity=result.activity_gbq, method=escape(result.method), spheres=escape(result.microsphere.name)),
            _("Lung shunt fraction: {lsf:.1f} % ({how})").format(
                lsf=100.0 * result.lung_shunt.lung_shunt_fraction, how=escape(result.lung_shunt.method)),
        ]
        for compartment in result.evaluation.compartments:
            lines.append(_("{name}: {dose:.1f} Gy").format(name=escape(compartment.name),
                                                           dose=compartment.mean_dose_gy))
        if result.evaluation.lung is not None:
            lines.append(_("Lungs: {dose:.1f} Gy").format(dose=result.evaluation.lung.dose_gy))
        if result.vial is not None:
            lines.append(_("Vial to order: {activity:.2f} GBq at calibration").format(
                activity=result.vial.activity_at_calibration_gbq))
        if outputs.get("rtDosePath"):
            lines.append(_("RT Dose written to {path}").format(path=escape(outputs["rtDosePath"])))
        if result.warnings:
            lines.append('<span style="color:#b91c1c"><b>' + _("Warnings:") + "</b><br>"
                         + "<br>".join(escape(w) for w in result.warnings) + "</span>")
        return "<br>".join(lines)


#
# Y90DosimetryTest
#


class Y90DosimetryTest(ScriptedLoadableModuleTest):
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
        self.test_PartitionPlanOnSample()

    def test_PartitionPlanOnSample(self):
        """Partition plan on the small synthetic patient, given an activity of 2 GBq.

        Checks that do not depend on the image: the activity is the one given, the compartment masses are
        positive, the lungs receive LSF · A, and the new nodes exist without touching the inputs.
        """
        import HCCInterventionalAI

        self.delayDisplay("Loading the synthetic sample patient")
        sampleLogic = HCCInterventionalAI.HCCInterventionalAILogic()
        sampleLogic.installRequirements()
        nodes = sampleLogic.loadSamplePatient(seed=7, size="small", show=False)
        spectNode, segmentationNode = nodes["spect"], nodes["segmentation"]
        before = spectNode.GetImageData().GetScalarRange()

        self.delayDisplay("Planning")
        logic = Y90DosimetryLogic()
        logic.installRequirements()
        outputs = logic.plan(spectNode, segmentationNode, method="partition", microsphere="resin",
                             activity_gbq=2.0, dose_method="local")
        result = outputs["result"]
        self.assertAlmostEqual(result.activity_gbq, 2.0, places=6)
        lsf = result.lung_shunt.lung_shunt_fraction
        self.assertGreater(lsf, 0.0)
        self.assertLess(lsf, 1.0)
        self.assertAlmostEqual(result.evaluation.lung.activity_gbq, 2.0 * lsf, places=6)
        self.assertIsNotNone(outputs["dose"])
        self.assertIsNotNone(outputs["dvhChart"])
        self.assertGreater(outputs["planTable"].GetNumberOfRows(), 1)
        self.assertEqual(spectNode.GetImageData().GetScalarRange(), before)
        self.delayDisplay("Test passed")
