import logging
from enum import Enum
from typing import Union

import slicer
import vtk
from slicer import (
    vtkMRMLMarkupsROINode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLSequenceNode,
)
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
    SegmentRolePickers,
    WorkerPoller,
    cancellable,
    ensure_python_requirements,
    ensure_pytorch,
    enum_labels,
    module_resource_path,
    progress_to_widgets,
    show_in_layout,
)

#
# HCCImageEnhancement
#


class HCCImageEnhancement(ScriptedLoadableModule):
    """Motion-compensated DSA of angiographic runs and CT denoising with quality and safety checks."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("HCC Image Enhancement")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "HCC Interventional AI")]
        self.parent.dependencies = []
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
Digital subtraction angiography in log space, log(mask) - log(frame), with the mask registered to every frame
(rigid or deformable), or mask-free by a network trained on SYNTHETIC runs only, and a time-intensity curve;
CT denoising (Noise2Self trained on the scan itself, or a registered denoiser model card) with a difference map,
SNR/CNR/PSNR and a hallucination check.
Research use only, not for clinical use.
""")
        self.parent.acknowledgementText = _("""
Uses SimpleITK, PyTorch and the model cards' published networks (see each card for its source and licence).
""")


@enum_labels(lambda: {"NONE": _("None (plain subtraction)"), "RIGID": _("Rigid"),
                      "DEFORMABLE": _("Deformable (rigid + B-spline)")})
class MotionModel(Enum):
    """Motion compensation (stored by member name: never rename members)."""

    NONE = "none"
    RIGID = "rigid"
    DEFORMABLE = "deformable"


@enum_labels(lambda: {"CLASSICAL": _("Classical (mask subtraction)"),
                      "DL": _("Mask-free network (trained on synthetic runs only)")})
class DSAMethod(Enum):
    """DSA method (stored by member name: never rename members)."""

    CLASSICAL = "classical"
    DL = "dl"


@parameterNodeWrapper
class HCCImageEnhancementParameterNode:
    """
    The parameters of the module.

    runNode - angiographic run: a sequence of 2D frames or a volume whose k axis is the frames.
    dsaMethod - classical (mask subtraction) or the mask-free network (model card dsa-maskfree-synthetic).
    automaticMask / maskIndex - mask frame: the last contrast-free frame, or this index.
    motion - motion compensation of the mask.
    frameRate - frames per second when the run has no frame times.
    roiNode / roiSegment - optional region of the time-intensity curve (markups ROI, or a segment).
    ctVolume - the CT to denoise; denoiseMethod - "noise2self" or a denoiser model card id.
    iterations - Noise2Self training steps.
    qualitySegmentation / lesionSegment / backgroundSegment - optional SNR/CNR regions.
    referenceVolume - optional noise-free reference for the PSNR.
    runInWorker - compute in a worker process (Slicer stays responsive).
    """

    runNode: Union[vtkMRMLSequenceNode, vtkMRMLScalarVolumeNode]
    dsaMethod: DSAMethod = DSAMethod.CLASSICAL
    automaticMask: bool = True
    maskIndex: int = 0
    motion: MotionModel = MotionModel.RIGID
    frameRate: float = 3.0
    roiNode: Union[vtkMRMLMarkupsROINode, vtkMRMLSegmentationNode]
    roiSegment: str = ""
    ctVolume: vtkMRMLScalarVolumeNode
    denoiseMethod: str = "noise2self"
    iterations: int = 1000
    qualitySegmentation: vtkMRMLSegmentationNode
    lesionSegment: str = ""
    backgroundSegment: str = ""
    referenceVolume: vtkMRMLScalarVolumeNode
    runInWorker: bool = True


#
# HCCImageEnhancementWidget
#


class HCCImageEnhancementWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._running = {"dsa": None, "denoise": None}  # CancelToken or WorkerRunner (both have cancel())
        self._workers = []

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HCCImageEnhancement.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HCCImageEnhancementLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.dsaProgressBar.hide()
        self.ui.denoiseProgressBar.hide()
        self.ui.dsaButton.connect("clicked(bool)", self.onDSAButton)
        self.ui.denoiseButton.connect("clicked(bool)", self.onDenoiseButton)
        self.ui.denoiseMethodComboBox.connect("currentIndexChanged(int)", self.onMethodSelected)
        self._roiPickers = SegmentRolePickers(self, {"roiSegment": (self.ui.roiSegmentComboBox, _("First segment"))},
                                              lambda: self._parameterNode)
        self._qualityPickers = SegmentRolePickers(self, {
            "lesionSegment": (self.ui.lesionSegmentComboBox, _("None")),
            "backgroundSegment": (self.ui.backgroundSegmentComboBox, _("None"))}, lambda: self._parameterNode)
        self.populateMethods()
        self.initializeParameterNode()

    def cleanup(self) -> None:
        for worker in self._workers:
            worker.stop()
        for running in self._running.values():
            if running is not None:
                running.cancel()
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

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.runNode:
            self._parameterNode.runNode = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSequenceNode")
        if not self._parameterNode.ctVolume:
            self._parameterNode.ctVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            if self.hasObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply):
                self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._checkCanApply)
            index = self.ui.denoiseMethodComboBox.findData(self._parameterNode.denoiseMethod)
            self.ui.denoiseMethodComboBox.currentIndex = max(index, 0)
            self._checkCanApply()

    def populateMethods(self) -> None:
        """Noise2Self and every registered CT denoiser model card (the registry is read again)."""
        combo = self.ui.denoiseMethodComboBox
        wasBlocked = combo.blockSignals(True)
        try:
            combo.clear()
            for label, key in self.logic.denoiserChoices():
                combo.addItem(label, key)
        finally:
            combo.blockSignals(wasBlocked)

    def onMethodSelected(self, index: int) -> None:
        if self._parameterNode and index >= 0:
            self._parameterNode.denoiseMethod = self.ui.denoiseMethodComboBox.itemData(index) or "noise2self"

    def _checkCanApply(self, caller=None, event=None) -> None:
        p = self._parameterNode
        roi = p.roiNode if p else None
        self._roiPickers.follow(roi if roi is not None and roi.IsA("vtkMRMLSegmentationNode") else None)
        self._qualityPickers.follow(p.qualitySegmentation if p else None)
        for key, button, ready, idle, tip in (
                ("dsa", self.ui.dsaButton, bool(p and p.runNode), _("Subtract"), _("Select a run")),
                ("denoise", self.ui.denoiseButton, bool(p and p.ctVolume), _("Denoise"), _("Select a CT"))):
            running = self._running[key] is not None
            button.enabled = running or ready
            button.text = _("Cancel") if running else idle
            button.toolTip = _("Stop the computation") if running else ("" if ready else tip)
        if p:
            classical = p.dsaMethod == DSAMethod.CLASSICAL
            self.ui.automaticMaskCheckBox.enabled = self.ui.motionComboBox.enabled = classical
            self.ui.maskIndexSpinBox.enabled = classical and not p.automaticMask
            self.ui.iterationsSpinBox.enabled = p.denoiseMethod == "noise2self"

    def _setRunning(self, key: str, running) -> None:
        """The running computation's CancelToken or worker (its button turns into Cancel), None when it ends."""
        self._running[key] = running
        bar = self.ui.dsaProgressBar if key == "dsa" else self.ui.denoiseProgressBar
        bar.setVisible(running is not None)
        bar.value = 0
        self.ui.runInWorkerCheckBox.enabled = all(value is None for value in self._running.values())
        self._checkCanApply()

    def _start(self, key: str, label, run, startWorker, loadResult, show) -> None:
        """Run in-process (cancellable) or in a worker followed by a WorkerPoller; ``show`` reports the nodes."""
        if self._running[key] is not None:
            self._running[key].cancel()
            label.text = _("Cancelling...")
            return
        bar = self.ui.dsaProgressBar if key == "dsa" else self.ui.denoiseProgressBar
        progressCallback = progress_to_widgets(bar, label)
        with slicer.util.tryWithErrorDisplay(_("Image enhancement failed."), waitCursor=True):
            self.logic.installRequirements()
            if self._parameterNode.runInWorker:
                label.text = _("Starting the worker process...")
                runner, context = startWorker(progressCallback)

                def load(runner) -> None:
                    with slicer.util.tryWithErrorDisplay(_("Reading the result failed."), waitCursor=True):
                        show(loadResult(runner, context))

                self._workers.append(WorkerPoller(runner, label, lambda r: self._setRunning(key, r), load))
                return
            with cancellable(label, lambda token: self._setRunning(key, token)) as cancelToken:
                show(run(progressCallback, cancelToken))

    def onDSAButton(self) -> None:
        """Subtract the run (the button turns into Cancel while it runs)."""
        p = self._parameterNode
        options = dict(motion=p.motion.value, maskIndex=None if p.automaticMask else p.maskIndex,
                       frameRate=p.frameRate, roiNode=p.roiNode, roiSegment=p.roiSegment, method=p.dsaMethod.value)

        def show(nodes) -> None:
            output, result = nodes.get("sequence") or nodes.get("volume"), nodes["result"]
            mask = getattr(result, "mask_index", None)
            self.ui.dsaStatusLabel.text = _("Created '{name}' ({how}, {fps:.1f} frames/s).").format(
                name=output.GetName(), fps=result.frames_per_second,
                how=_("mask-free network") if mask is None else _("mask frame {mask}").format(mask=mask))

        self._start("dsa", self.ui.dsaStatusLabel,
                    lambda progress, token: self.logic.subtract(p.runNode, progressCallback=progress,
                                                                cancelToken=token, **options),
                    lambda progress: self.logic.startSubtractWorker(p.runNode, progressCallback=progress, **options),
                    self.logic.loadSubtractResult, show)

    def onDenoiseButton(self) -> None:
        """Denoise the CT (the button turns into Cancel while it runs)."""
        p = self._parameterNode
        options = dict(method=p.denoiseMethod, iterations=p.iterations, qualitySegmentation=p.qualitySegmentation,
                       lesionSegment=p.lesionSegment, backgroundSegment=p.backgroundSegment,
                       referenceVolume=p.referenceVolume)

        def show(nodes) -> None:
            result = nodes["result"]
            self.ui.denoiseStatusLabel.text = _("Created '{name}': noise {before:.1f} -> {after:.1f} HU.").format(
                name=nodes["denoised"].GetName(), before=result.noise_sd_before_hu, after=result.noise_sd_after_hu)
            flagged = result.hallucination.flagged
            text = (_("HALLUCINATION FLAG: the network changed {count} region(s) more than noise explains; compare "
                      "with the difference map.").format(count=len(result.hallucination.regions)) if flagged
                    else _("No hallucination flag: the changes are consistent with noise removal."))
            if result.reverted_fraction is not None:
                text += " " + _("Structure guard: the input was kept in {percent:.1f} % of soft tissue.").format(
                    percent=100 * result.reverted_fraction)
            self.ui.hallucinationLabel.text = text

        self._start("denoise", self.ui.denoiseStatusLabel,
                    lambda progress, token: self.logic.denoise(p.ctVolume, progressCallback=progress,
                                                               cancelToken=token, **options),
                    lambda progress: self.logic.startDenoiseWorker(p.ctVolume, progressCallback=progress, **options),
                    self.logic.loadDenoiseResult, show)


#
# HCCImageEnhancementLogic
#


class HCCImageEnhancementLogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI:

    .. code-block:: python

        logic = slicer.util.getModuleLogic("HCCImageEnhancement")
        nodes = logic.subtract(sequenceNode, motion="rigid", roiNode=roi)     # NEW sequence, curve table + plot
        nodes = logic.subtract(sequenceNode, method="dl")                     # mask-free network, NEW sequence
        nodes = logic.denoise(ctNode, method="noise2self", iterations=300)    # NEW denoised + difference volumes

    Inputs are never modified; every result is a NEW node (``nodes`` maps roles to nodes, ``nodes["result"]`` is
    the library result with every number).
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return HCCImageEnhancementParameterNode(super().getParameterNode())

    def installRequirements(self) -> None:
        """Install the Python requirements if missing (asks first); PyTorch through the PyTorch extension."""
        ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="HCC Image Enhancement")
        ensure_pytorch("HCC Image Enhancement")
        ensure_python_requirements(module_resource_path(__file__, "requirements-ai.txt"),
                                   requester="HCC Image Enhancement")

    def denoiserChoices(self) -> list:
        """(label, method) pairs: Noise2Self, then every registered CT denoiser card (``card_denoise``)."""
        choices = [(_("Noise2Self (self-supervised on this scan, no weights)"), "noise2self")]
        try:
            from HCCInterventionalAILib.enhancement.card_denoise import denoiser_cards

            choices += [(f"{card.name} [{card.key}]", card.key) for card in denoiser_cards()]
        except ImportError as error:  # jsonschema/yaml not installed yet: only Noise2Self until they are
            logging.info("Model cards not listed: %s", error)
        return choices

    # -- DSA ------------------------------------------------------------------------------------------------
    def _dsaInputs(self, runNode, motion, maskIndex, frameRate, roiNode, roiSegment, method):
        from HCCInterventionalAILib.enhancement.dl_dsa import DLDSARequest
        from HCCInterventionalAILib.enhancement.pipeline import DSARequest
        from HCCInterventionalAILib.enhancement.scene_bridge import frames_from_node, roi_mask_from_node

        if method not in ("classical", "dl"):
            raise ValueError(_("DSA method must be classical or dl, got '{method}'.").format(method=method))
        run = frames_from_node(runNode, frame_rate=frameRate)
        roi = roi_mask_from_node(roiNode, run.geometry, roiSegment or None) if roiNode is not None else None
        request = (DLDSARequest(frame_rate=frameRate) if method == "dl"
                   else DSARequest(mask_index=maskIndex, motion=motion, frame_rate=frameRate))
        return run, roi, request

    def subtract(self, runNode, motion: str = "rigid", maskIndex=None, frameRate: float = 3.0, roiNode=None,
                 roiSegment: str = "", progressCallback=None, cancelToken=None, show: bool = True,
                 method: str = "classical") -> dict:
        """Log-space DSA of a run into NEW nodes.

        Args:
            runNode: a sequence of 2D frames, or a volume whose slices are the frames.
            motion: "none", "rigid" or "deformable" (classical method).
            maskIndex: mask frame, or None for the automatic mask (last contrast-free frame).
            frameRate: frames per second when the run has no times.
            roiNode: optional markups ROI or segmentation for the time-intensity curve; roiSegment its segment.
            progressCallback: called with (fraction 0–1, message); cancelToken: cancelling raises ``Cancelled``.
            show: show the curve in the layout.
            method: "classical" (mask subtraction) or "dl" (mask-free network, ``run_dsa_dl``; motion and mask unused).

        Returns:
            Nodes by role: ``sequence`` + ``browser`` (sequence input) or ``volume`` (volume input), ``table``,
            with a region ``curve`` (table) and ``chart``; ``result`` is the ``DSAResult`` / ``DLDSAResult``.
        """
        from HCCInterventionalAILib.enhancement.dl_dsa import run_dsa_dl
        from HCCInterventionalAILib.enhancement.pipeline import run_dsa
        from HCCInterventionalAILib.progress import Progress

        run, roi, request = self._dsaInputs(runNode, motion, maskIndex, frameRate, roiNode, roiSegment, method)
        progress = Progress(progressCallback, cancelToken)
        result = (run_dsa_dl if method == "dl" else run_dsa)(run.frames, request, times_s=run.times_s,
                                                              progress=progress)
        progress.check()
        return self._dsaToScene(run, result, roi, show)

    def startSubtractWorker(self, runNode, motion: str = "rigid", maskIndex=None, frameRate: float = 3.0,
                            roiNode=None, roiSegment: str = "", progressCallback=None, log=None,
                            pythonExecutable=None, method: str = "classical"):
        """:meth:`subtract` in a worker process. Returns (started WorkerRunner, context for
        :meth:`loadSubtractResult`); inputs are read and checked here, before the worker starts."""
        from HCCInterventionalAILib.enhancement.worker import start_dsa_worker

        run, roi, request = self._dsaInputs(runNode, motion, maskIndex, frameRate, roiNode, roiSegment, method)
        runner = start_dsa_worker(run.frames, run.times_s, request, python=pythonExecutable, log=log,
                                  progress=progressCallback)
        return runner, (run, roi)

    def loadSubtractResult(self, runner, context, show: bool = True) -> dict:
        """Read a finished DSA worker into NEW nodes, as :meth:`subtract` returns them."""
        from HCCInterventionalAILib.enhancement.worker import read_result

        run, roi = context
        return self._dsaToScene(run, read_result(runner), roi, show)

    def _dsaToScene(self, run, result, roi, show: bool) -> dict:
        from HCCInterventionalAILib.enhancement.dsa import time_intensity_curve
        from HCCInterventionalAILib.enhancement.scene_bridge import result_to_scene

        if roi is not None:
            result.curve = time_intensity_curve(result.dsa, roi, run.times_s)
        nodes = result_to_scene(slicer.mrmlScene, result, name=run.name, geometry=run.geometry,
                                as_volume=run.kind == "volume")
        nodes["result"] = result
        if show and "chart" in nodes:
            show_in_layout(table_node=nodes["curve"], chart_node=nodes["chart"])
        logging.info("DSA: %d frames, mask %s, %.1f frames/s", result.dsa.shape[0],
                     getattr(result, "mask_index", "none (network)"), result.frames_per_second)
        return nodes

    # -- denoising -----------------------------------------------------------------------------------------
    def _denoiseInputs(self, ctNode, method, iterations, qualitySegmentation, lesionSegment, backgroundSegment,
                       referenceVolume):
        from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings
        from HCCInterventionalAILib.enhancement.pipeline import DenoiseRequest, prepare_denoise
        from HCCInterventionalAILib.scene import node_to_segmentation, node_to_volume

        if ctNode is None:
            raise ValueError(_("Select a CT to denoise."))
        ct = prepare_denoise(node_to_volume(ctNode))
        masks = {"lesion": None, "background": None}
        if qualitySegmentation is not None:
            segmentation = node_to_segmentation(qualitySegmentation, reference_geometry=ct.geometry)
            vtkSegmentation = qualitySegmentation.GetSegmentation()
            for role, segmentId in (("lesion", lesionSegment), ("background", backgroundSegment)):
                segment = vtkSegmentation.GetSegment(segmentId) if segmentId else None
                if segment is not None:
                    masks[role] = segmentation.mask(segment.GetName(), allow_empty=True)
            if masks["lesion"] is not None and masks["background"] is not None:
                masks["background"] = masks["background"] & ~masks["lesion"]
        reference = None
        if referenceVolume is not None:
            reference = node_to_volume(referenceVolume)
            if not reference.geometry.same_grid(ct.geometry):
                raise ValueError(_("The reference CT must be on the grid of the CT to denoise."))
        request = DenoiseRequest(method=method, settings=Noise2SelfSettings(iterations=int(iterations)))
        return ct, request, masks, reference

    def denoise(self, ctNode, method: str = "noise2self", iterations: int = 1000, qualitySegmentation=None,
                lesionSegment: str = "", backgroundSegment: str = "", referenceVolume=None, progressCallback=None,
                cancelToken=None) -> dict:
        """Denoise a CT into NEW nodes: the denoised CT, the difference map (denoised − input) and a quality table
        (noise, SNR/CNR when a background/lesion segment is given, PSNR when a reference CT is given, the
        hallucination check).

        Args:
            ctNode: the CT (HU).
            method: "noise2self" or a registered denoiser model card id (``id@version``).
            iterations: Noise2Self training steps.
            qualitySegmentation, lesionSegment, backgroundSegment: optional SNR/CNR regions (segment IDs).
            referenceVolume: optional noise-free reference on the CT's grid (PSNR in a 400 HU window).
            progressCallback, cancelToken: as :meth:`subtract`.

        Returns:
            Nodes by role: ``denoised``, ``difference``, ``table``; ``result`` is the ``DenoiseResult``.
        """
        from HCCInterventionalAILib.enhancement.pipeline import run_denoise
        from HCCInterventionalAILib.progress import Progress

        ct, request, masks, reference = self._denoiseInputs(ctNode, method, iterations, qualitySegmentation,
                                                            lesionSegment, backgroundSegment, referenceVolume)
        progress = Progress(progressCallback, cancelToken)
        result = run_denoise(ct, request, lesion_roi=masks["lesion"], background_roi=masks["background"],
                             progress=progress)
        progress.check()
        return self._denoiseToScene(ctNode, ct, result, masks, reference)

    def startDenoiseWorker(self, ctNode, method: str = "noise2self", iterations: int = 300, qualitySegmentation=None,
                           lesionSegment: str = "", backgroundSegment: str = "", referenceVolume=None,
                           progressCallback=None, log=None, pythonExecutable=None):
        """:meth:`denoise` in a worker process. Returns (started WorkerRunner, context for
        :meth:`loadDenoiseResult`)."""
        from HCCInterventionalAILib.enhancement.worker import start_denoise_worker

        ct, request, masks, reference = self._denoiseInputs(ctNode, method, iterations, qualitySegmentation,
                                                            lesionSegment, backgroundSegment, referenceVolume)
        runner = start_denoise_worker(ct, request, lesion=masks["lesion"], background=masks["background"],
                                      python=pythonExecutable, log=log, progress=progressCallback)
        return runner, (ctNode, ct, masks, reference)

    def loadDenoiseResult(self, runner, context) -> dict:
        """Read a finished denoising worker into NEW nodes, as :meth:`denoise` returns them."""
        from HCCInterventionalAILib.enhancement.worker import read_result

        ctNode, ct, masks, reference = context
        return self._denoiseToScene(ctNode, ct, read_result(runner), masks, reference)

    def _denoiseToScene(self, ctNode, ct, result, masks, reference) -> dict:
        from HCCInterventionalAILib.enhancement.quality import psnr
        from HCCInterventionalAILib.enhancement.scene_bridge import result_to_scene

        nodes = result_to_scene(slicer.mrmlScene, result, name=ctNode.GetName())
        if reference is not None:
            region = masks["background"]
            table = nodes["table"].GetTable()
            for column, image in (("psnr_before_db", ct.array), ("psnr_after_db", result.denoised.array)):
                value = psnr(image, reference.array, 400.0, region)
                array = vtk.vtkDoubleArray()
                array.SetName(column)
                array.InsertNextValue(value)
                table.AddColumn(array)
                setattr(result, column, value)
        nodes["result"] = result
        logging.info("Denoising (%s): noise %.1f -> %.1f HU, hallucination flag %s", result.method,
                     result.noise_sd_before_hu, result.noise_sd_after_hu, result.hallucination.flagged)
        return nodes


#
# HCCImageEnhancementTest
#


class HCCImageEnhancementTest(ScriptedLoadableModuleTest):
    """Self test, run inside Slicer (Developer mode › Reload and Test): a small synthetic DSA run and a denoising."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SyntheticDSA()
        self.setUp()
        self.test_Denoise()

    def test_SyntheticDSA(self):
        """Rigidly moving SYNTHETIC run as a volume (k = frames): rigid DSA has a smaller background residual than
        plain subtraction, and the output is a NEW volume of the same shape."""
        import numpy as np

        from HCCInterventionalAILib.enhancement import simulate_angio_run
        from HCCInterventionalAILib.imaging.volume import Volume
        from HCCInterventionalAILib.scene import volume_to_node

        logic = HCCImageEnhancementLogic()
        logic.installRequirements()
        run = simulate_angio_run(n_frames=6, shape=(96, 96), motion="rigid", seed=3)
        runNode = volume_to_node(slicer.mrmlScene, Volume.from_array(run.frames, name="Synthetic run"))
        background = ~run.vessel_mask & ~run.tumour_mask
        background[:8], background[-8:], background[:, :8], background[:, -8:] = False, False, False, False
        residual = {}
        for motion in ("none", "rigid"):
            nodes = logic.subtract(runNode, motion=motion, maskIndex=0, show=False)
            dsa = slicer.util.arrayFromVolume(nodes["volume"])
            self.assertEqual(dsa.shape, run.frames.shape)
            residual[motion] = float(np.sqrt(np.mean((dsa - run.iodine)[1:][:, background] ** 2)))
        self.assertLess(residual["rigid"], 0.5 * residual["none"])
        self.delayDisplay("DSA test passed")

    def test_Denoise(self):
        """A noisy SYNTHETIC CT (air around a 60 HU disc, noise sd 30 HU): Noise2Self lowers the noise, NEW nodes."""
        import numpy as np

        from HCCInterventionalAILib.imaging.volume import Volume
        from HCCInterventionalAILib.scene import volume_to_node

        logic = HCCImageEnhancementLogic()
        rng = np.random.default_rng(0)
        jj, ii = np.mgrid[0:48, 0:48]
        array = np.where((jj - 24) ** 2 + (ii - 24) ** 2 <= 21**2, 60.0, -1000.0)[None].repeat(2, axis=0)
        array = (array + 30.0 * rng.standard_normal(array.shape)).astype(np.float32)
        ctNode = volume_to_node(slicer.mrmlScene, Volume.from_array(array, modality="CT", units="HU", name="CT"))
        count = slicer.mrmlScene.GetNumberOfNodes()
        nodes = logic.denoise(ctNode, iterations=40)
        self.assertEqual(slicer.mrmlScene.GetNumberOfNodes(), count + 5)  # 2 volumes + 2 display nodes + table
        self.assertLess(nodes["result"].noise_sd_after_hu, 0.8 * nodes["result"].noise_sd_before_hu)
        self.delayDisplay("Denoising test passed")
