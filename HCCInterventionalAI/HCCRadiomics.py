import logging
from enum import Enum

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
    cancellable,
    ensure_python_requirements,
    enum_labels,
    module_resource_path,
    progress_to_widgets,
    show_in_layout,
)

#
# HCCRadiomics
#


class HCCRadiomics(ScriptedLoadableModule):
    """Radiomics of liver lesions with pyradiomics: presets, per lesion and phase, peritumoral rings."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("HCC Radiomics")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "HCC Interventional AI")]
        self.parent.dependencies = []
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
Radiomic features (pyradiomics; IBSI-checked on the IBSI digital phantom) of every lesion of a segmentation and
of its 5 and 10 mm peritumoral rings clipped to the liver, with IBSI-style CT presets for the arterial and portal
venous phases. Research use only, not for clinical use.
""")
        self.parent.acknowledgementText = _("""
Uses pyradiomics (van Griethuysen et al., Cancer Research 2017;77:e104-e107).
""")


@enum_labels(lambda: {"IBSI_CT": _("IBSI-style CT"), "CT_ARTERIAL": _("CT arterial phase"),
                      "CT_PORTAL_VENOUS": _("CT portal venous phase")})
class RadiomicsPreset(Enum):
    """Parameter-file presets (stored by member name: never rename members)."""

    IBSI_CT = "ibsi-ct"
    CT_ARTERIAL = "ct-arterial"
    CT_PORTAL_VENOUS = "ct-portal-venous"


@parameterNodeWrapper
class HCCRadiomicsParameterNode:
    """
    The parameters of the module.

    inputVolume - the image the features are computed on.
    segmentation - segmentation with a Liver segment and tumour segment(s).
    preset - pyradiomics parameter-file preset.
    rings - also compute the 0-5 mm and 5-10 mm peritumoral rings (clipped to the liver).
    """

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    preset: RadiomicsPreset = RadiomicsPreset.IBSI_CT
    rings: bool = True


#
# HCCRadiomicsWidget
#


class HCCRadiomicsWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._cancelToken = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/HCCRadiomics.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = HCCRadiomicsLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.radiomicsProgressBar.hide()
        self.ui.extractButton.connect("clicked(bool)", self.onExtractButton)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        if self._cancelToken is not None:
            self._cancelToken.cancel()
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
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
        if not self._parameterNode.segmentation:
            self._parameterNode.segmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")

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
        running = self._cancelToken is not None
        ready = bool(self._parameterNode and self._parameterNode.inputVolume and self._parameterNode.segmentation)
        self.ui.extractButton.enabled = running or ready
        self.ui.extractButton.toolTip = (_("Stop the extraction") if running else _("Compute the features")
                                         if ready else _("Select an image and a segmentation"))

    def onExtractButton(self) -> None:
        """Extract the features (the button turns into Cancel while it runs)."""
        if self._cancelToken is not None:
            self._cancelToken.cancel()
            self.ui.radiomicsStatusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("Radiomics failed."), waitCursor=True):
            self.logic.installRequirements()
            with cancellable(self.ui.radiomicsStatusLabel, self._setRunning) as cancelToken:
                tableNode = self.logic.extract(
                    self._parameterNode.inputVolume, self._parameterNode.segmentation,
                    preset=self._parameterNode.preset.value, rings=self._parameterNode.rings,
                    progressCallback=progress_to_widgets(self.ui.radiomicsProgressBar, self.ui.radiomicsStatusLabel),
                    cancelToken=cancelToken)
                self.ui.radiomicsStatusLabel.text = _("Table '{name}': {rows} regions.").format(
                    name=tableNode.GetName(), rows=tableNode.GetNumberOfRows())

    def _setRunning(self, cancelToken) -> None:
        self._cancelToken = cancelToken
        running = cancelToken is not None
        self.ui.extractButton.text = _("Cancel") if running else _("Extract features")
        self.ui.radiomicsProgressBar.setVisible(running)
        self.ui.radiomicsProgressBar.value = 0
        self._checkCanApply()


#
# HCCRadiomicsLogic
#


class HCCRadiomicsLogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI:

    .. code-block:: python

        logic = slicer.util.getModuleLogic("HCCRadiomics")
        table = logic.extract(ctNode, segmentationNode, preset="ct-portal-venous", rings=True)

    Inputs are never modified; the result is a NEW table node (one row per lesion × region).
    """

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        return HCCRadiomicsParameterNode(super().getParameterNode())

    def installRequirements(self) -> None:
        """Install pyradiomics if missing (asks first); its build needs numpy, which Slicer has."""
        ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="HCC Radiomics")
        ensure_python_requirements(module_resource_path(__file__, "requirements-radiomics.txt"),
                                   requester="HCC Radiomics")

    def extract(self, volumeNode, segmentationNode, preset: str = "ibsi-ct", rings: bool = True,
                progressCallback=None, cancelToken=None, show: bool = True):
        """Features of every lesion (and its peritumoral rings) into a NEW table node.

        Args:
            volumeNode: the image (on the segmentation's grid or resampled onto it by the bridge).
            segmentationNode: a segmentation with ``Liver`` and tumour segment(s).
            preset: ``ibsi-ct``, ``ct-arterial`` or ``ct-portal-venous`` (or a parameter file path).
            rings: add the 0-5 and 5-10 mm rings clipped to the liver.
            progressCallback: called with (fraction 0–1, message).
            cancelToken: ``HCCInterventionalAILib.progress.CancelToken``; cancelling raises ``Cancelled``.
            show: show the table in the layout.

        Returns:
            The table node ("<volume> radiomics").
        """
        from HCCInterventionalAILib.progress import Progress
        from HCCInterventionalAILib.radiomics import LesionRadiomicsRequest, lesion_radiomics
        from HCCInterventionalAILib.scene import dataframe_to_table_node, node_to_segmentation, node_to_volume

        if volumeNode is None:
            raise ValueError(_("Select an image."))
        if segmentationNode is None:
            raise ValueError(_("Select a segmentation."))
        volume = node_to_volume(volumeNode)
        segmentation = node_to_segmentation(segmentationNode, reference_geometry=volume.geometry)
        request = LesionRadiomicsRequest(params=preset, ring_widths_mm=(5.0, 10.0) if rings else ())
        progress = Progress(progressCallback, cancelToken)
        table = lesion_radiomics({volumeNode.GetName(): volume}, segmentation, request, progress)
        progress.check()
        tableNode = dataframe_to_table_node(slicer.mrmlScene, table.to_dataframe(), f"{volumeNode.GetName()} radiomics")
        if show:
            show_in_layout(table_node=tableNode)
        logging.info("Radiomics: %d regions", tableNode.GetNumberOfRows())
        return tableNode


#
# HCCRadiomicsTest
#


class HCCRadiomicsTest(ScriptedLoadableModuleTest):
    """Self test, run inside Slicer (Developer mode › Reload and Test)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_SampleLesions()

    def test_SampleLesions(self):
        """Radiomics of the small synthetic patient's lesions: tumour darker than its rings in portal venous CT."""
        from HCCInterventionalAILib.sample import make_sample_patient
        from HCCInterventionalAILib.scene import segmentation_to_node, table_node_to_dataframe, volume_to_node

        logic = HCCRadiomicsLogic()
        logic.installRequirements()
        patient = make_sample_patient(size="small")
        ct = volume_to_node(slicer.mrmlScene, patient.ct["portal venous"], "CT portal venous")
        seg = segmentation_to_node(slicer.mrmlScene, patient.truth.subset("Liver", "Tumor 1", "Tumor 2"), "Truth",
                                   reference_volume_node=ct)
        frame = table_node_to_dataframe(logic.extract(ct, seg, show=False)).set_index(["lesion", "region"])
        tumour = float(frame.loc[("lesion 1", "tumour"), "original_firstorder_Mean"])
        ring = float(frame.loc[("lesion 1", "ring 5-10 mm"), "original_firstorder_Mean"])
        self.assertLess(tumour, ring)
        self.delayDisplay("Test passed")
