import logging
from enum import Enum
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLMarkupsLineNode, vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
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
    cancellable,
    ensure_python_requirements,
    enum_labels,
    module_resource_path,
    progress_to_widgets,
    reload_libraries,
    show_in_layout,
)

#: Our Python packages, reloaded (children first) by the module's Reload button in developer mode.
LIBRARY_PACKAGES = ("AblationSimulatorLib", "HCCInterventionalAILib")

#: Attribute that marks a markups line as an applicator of this module.
APPLICATOR_ATTRIBUTE = "AblationSimulator.Applicator"
#: Attribute that marks a table node as this module's applicator table.
TABLE_ATTRIBUTE = "AblationSimulator.ApplicatorTable"
#: Labels of the two control points of an applicator line, in order.
POINT_LABELS = ("tip", "entry")


#
# AblationSimulator
#


class AblationSimulator(ScriptedLoadableModule):
    """Thermal ablation planning: applicator placement, ablation-zone prediction (vendor charts, bioheat physics
    with vessel heat sink) and tumour margins.

    Uses ScriptedLoadableModule base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("Ablation Simulator")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "IGT") + "." + _("HCC Interventional AI")]
        self.parent.dependencies = ["HCCInterventionalAI"]
        self.parent.contributors = ["HCC Interventional AI contributors"]
        self.parent.helpText = _("""
Plan percutaneous thermal ablation (radiofrequency, microwave, cryo) of liver tumours: place applicators as
lines from the tip (target) to the skin entry point and read their length and angle to the axial plane.
Predict the ablation zone from the manufacturer's chart (device, power, time) or with a bioheat (Pennes) model
calibrated on that chart, in which segmented vessels act as heat sinks, and measure the tumour margins.
See the <a href="https://github.com/hcc-interventional-ai/SlicerHCCInterventionalAI">documentation</a>.
<br><b>Research software, not for clinical use.</b>
""")
        self.parent.acknowledgementText = _("""
Developed by the HCC Interventional AI contributors. Built on 3D Slicer's scripted module template
(Jean-Christophe Fillion-Robin, Kitware Inc., Andras Lasso, PerkLab, and Steve Pieper, Isomics, Inc.).
""")


#
# Helpers of this module (those shared with the other modules are in HCCInterventionalAILib.slicer_helpers)
#


def definedPointCount(lineNode) -> int:
    """Number of placed control points (a point still following the mouse is not counted)."""
    if hasattr(lineNode, "GetNumberOfDefinedControlPoints"):
        return lineNode.GetNumberOfDefinedControlPoints()
    return lineNode.GetNumberOfControlPoints()


#
# AblationSimulatorParameterNode
#


@enum_labels(lambda: {"COVIDIEN_MWA": _("Covidien/Medtronic MWA"), "AMICA_PROBE": _("Amica MWA probe"),
                      "ANGIODYNAMICS_ACCULIS": _("AngioDynamics Acculis MWA")})
class AblationDevice(Enum):
    """Device presets of Resources/Presets/ablation_devices.json (stored by member name: never rename)."""

    COVIDIEN_MWA = "covidien-mwa"
    AMICA_PROBE = "amica-probe"
    ANGIODYNAMICS_ACCULIS = "angiodynamics-acculis"


@enum_labels(lambda: {"VENDOR": _("Vendor chart ellipsoid"), "PHYSICS": _("Bioheat physics (heat sink)"),
                      "BOTH": _("Both"), "NETWORK": _("Network (trained on synthetic simulations)")})
class ZoneModel(Enum):
    """Zone model of AblationSimulatorLib.pipeline (stored by member name)."""

    VENDOR = "vendor"
    PHYSICS = "physics"
    BOTH = "both"
    NETWORK = "network"


@parameterNodeWrapper
class AblationSimulatorParameterNode:
    """
    The parameters of the module.

    currentApplicator - the applicator (markups line: point 1 = tip, point 2 = entry) shown in the panel.
    applicatorTable - output table of all applicators (created when empty).
    ctVolume, segmentation - image the zone is placed on; tumour(s) and vessels (recognised by name).
    ablationDevice, powerW, timeS - generator setting (within the device chart); zoneModel; targetMarginMm.
    liveUpdate - redraw the vendor zone whenever an applicator point is moved.
    confirmPreCt, confirmTumourSegmentation, confirmPostCt, confirmZoneSegmentation, confirmDeformable - inputs of
    the post-ablation confirmation (tumour on the pre CT, zone on the post CT; demons after rigid registration).
    """

    currentApplicator: vtkMRMLMarkupsLineNode
    applicatorTable: vtkMRMLTableNode
    ctVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    ablationDevice: AblationDevice = AblationDevice.COVIDIEN_MWA
    powerW: Annotated[float, WithinRange(1.0, 200.0)] = 75.0
    timeS: Annotated[float, WithinRange(10.0, 1200.0)] = 300.0
    zoneModel: ZoneModel = ZoneModel.VENDOR
    targetMarginMm: Annotated[float, WithinRange(0.0, 20.0)] = 5.0
    liveUpdate: bool = False
    confirmPreCt: vtkMRMLScalarVolumeNode
    confirmTumourSegmentation: vtkMRMLSegmentationNode
    confirmPostCt: vtkMRMLScalarVolumeNode
    confirmZoneSegmentation: vtkMRMLSegmentationNode
    confirmDeformable: bool = True


#
# AblationSimulatorWidget
#


class AblationSimulatorWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """Uses ScriptedLoadableModuleWidget base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    #: Applicator events after which the panel and the table are refreshed (not during every drag).
    APPLICATOR_EVENTS = ("PointPositionDefinedEvent", "PointEndInteractionEvent", "PointRemovedEvent")

    def __init__(self, parent=None) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self._observedApplicator = None
        self._cancelToken = None
        self._confirmCancelToken = None
        self._liveZoneNode = None

    def setup(self) -> None:
        """Called when the user opens the module the first time and the widget is initialized."""
        ScriptedLoadableModuleWidget.setup(self)

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/AblationSimulator.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = AblationSimulatorLogic()

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)

        self.ui.addApplicatorButton.connect("clicked(bool)", self.onAddApplicatorButton)
        self.ui.updateTableButton.connect("clicked(bool)", self.onUpdateTableButton)
        self.ui.predictButton.connect("clicked(bool)", self.onPredictButton)
        self.ui.confirmButton.connect("clicked(bool)", self.onConfirmButton)
        self.ui.progressBar.hide()
        self.ui.confirmProgressBar.hide()

        self.initializeParameterNode()

    def cleanup(self) -> None:
        """Called when the application closes and the module widget is destroyed."""
        for token in (self._cancelToken, self._confirmCancelToken):
            if token is not None:
                token.cancel()
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
        self._observeApplicator(None)
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
        """Ensure parameter node exists and observed."""
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.ctVolume:
            firstVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
            if firstVolume:
                self._parameterNode.ctVolume = firstVolume
        if not self._parameterNode.confirmPreCt and self._parameterNode.ctVolume:
            self._parameterNode.confirmPreCt = self._parameterNode.ctVolume
        if not self._parameterNode.currentApplicator:
            applicators = self.logic.applicatorNodes()
            if applicators:
                self._parameterNode.currentApplicator = applicators[-1]

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
        applicator = self._parameterNode.currentApplicator if self._parameterNode else None
        self._observeApplicator(applicator)
        self._updateApplicatorInfo()

    def _observeApplicator(self, lineNode) -> None:
        if lineNode is self._observedApplicator:
            return
        if self._observedApplicator is not None:
            for event in self.APPLICATOR_EVENTS:
                self.removeObserver(self._observedApplicator, getattr(slicer.vtkMRMLMarkupsNode, event),
                                    self.onApplicatorModified)
        self._observedApplicator = lineNode
        if lineNode is not None:
            for event in self.APPLICATOR_EVENTS:
                self.addObserver(lineNode, getattr(slicer.vtkMRMLMarkupsNode, event), self.onApplicatorModified)

    def onApplicatorModified(self, caller, event) -> None:
        """Label the points, refresh the panel and, when there is one, the applicator table."""
        self.logic.labelApplicatorPoints(caller)
        self._updateApplicatorInfo()
        if self._parameterNode and self._parameterNode.applicatorTable and definedPointCount(caller) == 2:
            try:
                self.logic.applicatorsTable(tableNode=self._parameterNode.applicatorTable, show=False)
            except Exception:  # an observer must not raise; the button reports errors
                logging.exception("Failed to update the applicator table")
        p = self._parameterNode
        if p and p.liveUpdate and p.ctVolume and definedPointCount(caller) == 2:
            try:
                self._liveZoneNode = self.logic.updateLiveZone(self.logic.applicatorNodes(), p.ctVolume,
                                                               self.logic.requestFromParameterNode(p),
                                                               self._liveZoneNode)
            except Exception as error:  # e.g. a setting outside the chart: say it, do not raise in an observer
                self.ui.zoneStatusLabel.text = str(error)

    def _updateApplicatorInfo(self) -> None:
        lineNode = self._parameterNode.currentApplicator if self._parameterNode else None
        if lineNode is None:
            self.ui.applicatorInfoLabel.text = _("No applicator selected.")
            return
        placed = definedPointCount(lineNode)
        if placed < 2:
            self.ui.applicatorInfoLabel.text = _("{placed} of 2 points placed (tip first, then entry).").format(
                placed=placed)
            return
        try:
            applicator = self.logic.applicatorFromNode(lineNode)
        except ImportError:
            self.ui.applicatorInfoLabel.text = _("Click <b>Update applicator table</b> to install the packages "
                                                 "this module needs.")
            return
        except ValueError as error:
            self.ui.applicatorInfoLabel.text = str(error)
            return
        tip = applicator.tip_ras
        self.ui.applicatorInfoLabel.text = _(
            "Length <b>{length:.1f} mm</b>, <b>{angle:.1f}°</b> to the axial plane; "
            "tip R {r:.1f}, A {a:.1f}, S {s:.1f} mm.").format(
            length=applicator.length_mm, angle=applicator.insertion_angle_deg, r=tip[0], a=tip[1], s=tip[2])

    def onAddApplicatorButton(self) -> None:
        """Create a new applicator and start placing its tip, then its entry point."""
        with slicer.util.tryWithErrorDisplay(_("Failed to add an applicator."), waitCursor=True):
            lineNode = self.logic.addApplicator()
            self._parameterNode.currentApplicator = lineNode
            self.logic.startPlacement(lineNode)
            self.ui.statusLabel.text = _("Click the tip (target), then the skin entry point, in any view.")

    def onUpdateTableButton(self) -> None:
        """Write every applicator's geometry into the output table and show it."""
        with slicer.util.tryWithErrorDisplay(_("Failed to update the applicator table."), waitCursor=True):
            self.logic.installRequirements()
            tableNode = self.logic.applicatorsTable(tableNode=self._parameterNode.applicatorTable)
            self._parameterNode.applicatorTable = tableNode
            self.ui.statusLabel.text = _("{count} applicator(s) in table '{table}'.").format(
                count=tableNode.GetNumberOfRows(), table=tableNode.GetName())
            self._updateApplicatorInfo()

    def onPredictButton(self) -> None:
        """Predict the zone(s) and margins (the button turns into Cancel while it runs)."""
        if self._cancelToken is not None:
            self._cancelToken.cancel()
            self.ui.zoneStatusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("Ablation-zone prediction failed."), waitCursor=True):
            self.logic.installRequirements()
            p = self._parameterNode
            with cancellable(self.ui.zoneStatusLabel, self._setRunning) as cancelToken:
                result, nodes = self.logic.predictZone(
                    self.logic.applicatorNodes(), p.ctVolume, p.segmentation, self.logic.requestFromParameterNode(p),
                    progressCallback=progress_to_widgets(self.ui.progressBar, self.ui.zoneStatusLabel),
                    cancelToken=cancelToken)
                self.ui.marginResultsLabel.text = self.logic.summaryHtml(result)
                self.ui.zoneStatusLabel.text = _("Done: zones and tables added to the scene.")

    def onConfirmButton(self) -> None:
        """Register post onto pre CT, carry the zone over, measure the margins (the button turns into Cancel)."""
        if self._confirmCancelToken is not None:
            self._confirmCancelToken.cancel()
            self.ui.confirmStatusLabel.text = _("Cancelling...")
            return
        with slicer.util.tryWithErrorDisplay(_("Ablation confirmation failed."), waitCursor=True):
            self.logic.installRequirements()
            p = self._parameterNode
            with cancellable(self.ui.confirmStatusLabel, self._setConfirmRunning) as cancelToken:
                result, nodes = self.logic.confirmAblation(
                    p.confirmPreCt, p.confirmTumourSegmentation, p.confirmPostCt, p.confirmZoneSegmentation,
                    deformable=p.confirmDeformable, targetMarginMm=float(p.targetMarginMm),
                    progressCallback=progress_to_widgets(self.ui.confirmProgressBar, self.ui.confirmStatusLabel),
                    cancelToken=cancelToken)
                self.ui.confirmResultsLabel.text = result.margin_table().to_html(index=False, float_format="%.1f")
                self.ui.confirmStatusLabel.text = _("Done: confirmed zone, insufficient margin (yellow) and table "
                                                    "added to the scene.")

    def _setConfirmRunning(self, cancelToken) -> None:
        self._confirmCancelToken = cancelToken
        running = cancelToken is not None
        self.ui.confirmButton.text = _("Cancel") if running else _("Confirm ablation")
        self.ui.confirmProgressBar.setVisible(running)
        self.ui.confirmProgressBar.value = 0

    def _setRunning(self, cancelToken) -> None:
        """The cancel token of the prediction now running (the button turns into Cancel), None when it ends."""
        self._cancelToken = cancelToken
        running = cancelToken is not None
        self.ui.predictButton.text = _("Cancel") if running else _("Predict ablation zone")
        self.ui.progressBar.setVisible(running)
        self.ui.progressBar.value = 0
        self.ui.applicatorsCollapsibleButton.enabled = not running


#
# AblationSimulatorLogic
#


class AblationSimulatorLogic(ScriptedLoadableModuleLogic):
    """Computations of the module, usable without the GUI (e.g. from the Slicer Python console):

    ``logic = slicer.util.getModuleLogic("AblationSimulator")``;
    ``line = logic.addApplicator(tipRAS=(10, -20, 5), entryRAS=(40, -20, 45))``; ``logic.applicatorsTable()``.
    An applicator is a markups line: control point 1 is the tip, point 2 the skin entry. Scene-level work is in
    ``AblationSimulatorLib.module_logic``.
    Uses ScriptedLoadableModuleLogic base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    def __init__(self) -> None:
        """Called when the logic class is instantiated. Can be used for initializing member variables."""
        ScriptedLoadableModuleLogic.__init__(self)

    def getParameterNode(self):
        """The module's parameter node (typed wrapper around the scene's scripted module node)."""
        return AblationSimulatorParameterNode(super().getParameterNode())

    def installRequirements(self) -> None:
        """Install this module's Python requirements if missing (asks first)."""
        ensure_python_requirements(module_resource_path(__file__, "requirements.txt"), requester="Ablation Simulator")

    def addApplicator(self, tipRAS=None, entryRAS=None, name: str | None = None):
        """Add a NEW applicator line (``vtkMRMLMarkupsLineNode``) named ``name`` (made unique). With ``tipRAS`` and
        ``entryRAS`` (RAS mm) the line is complete; without points it is empty, ready for :meth:`startPlacement`.

        Raises:
            ValueError: only one of the two points, or tip and entry at the same place.
        """
        from AblationSimulatorLib.module_logic import add_applicator_line

        if (tipRAS is None) != (entryRAS is None):
            raise ValueError(_("Give both the tip and the entry point, or neither."))
        return add_applicator_line(slicer.mrmlScene, tipRAS, entryRAS, name or _("Applicator"), APPLICATOR_ATTRIBUTE,
                                   POINT_LABELS)

    def startPlacement(self, lineNode) -> None:
        """Enter click-to-place mode for ``lineNode``: the next two clicks place its tip, then its entry."""
        if not getattr(slicer, "app", None):
            raise RuntimeError(_("Interactive placement needs the Slicer application."))
        applicationLogic = slicer.app.applicationLogic()
        selectionNode = applicationLogic.GetSelectionNode()
        selectionNode.SetReferenceActivePlaceNodeClassName("vtkMRMLMarkupsLineNode")
        selectionNode.SetActivePlaceNodeID(lineNode.GetID())
        interactionNode = applicationLogic.GetInteractionNode()
        interactionNode.SetPlaceModePersistence(0)
        interactionNode.SetCurrentInteractionMode(interactionNode.Place)

    def labelApplicatorPoints(self, lineNode) -> None:
        """Name the line's control points "tip" and "entry" (in that order)."""
        for index, label in enumerate(POINT_LABELS[: lineNode.GetNumberOfControlPoints()]):
            if lineNode.GetNthControlPointLabel(index) != label:
                lineNode.SetNthControlPointLabel(index, label)

    def applicatorNodes(self) -> list:
        """Every applicator line of the scene (lines created by this module), in scene order."""
        scene = slicer.mrmlScene
        nodes = [scene.GetNthNodeByClass(i, "vtkMRMLMarkupsLineNode")
                 for i in range(scene.GetNumberOfNodesByClass("vtkMRMLMarkupsLineNode"))]
        return [node for node in nodes if node.GetAttribute(APPLICATOR_ATTRIBUTE) == "1"]

    def applicatorFromNode(self, lineNode):
        """The ``AblationSimulatorLib.Applicator`` (LPS geometry) of a line: point 1 = tip, point 2 = entry.

        Raises:
            ValueError: the line does not have both points, or they coincide.
        """
        from AblationSimulatorLib import Applicator
        from HCCInterventionalAILib.scene import markups_line_to_points

        tip, entry = markups_line_to_points(lineNode)
        return Applicator(tuple(tip), tuple(entry), lineNode.GetName())

    def applicatorsTable(self, lineNodes=None, tableNode=None, show: bool = True):
        """Table of applicators (name, tip and entry RAS mm, length mm, angle to the axial plane deg) of
        ``lineNodes`` (default: :meth:`applicatorNodes`; incomplete lines skipped), refreshed in place when
        ``tableNode`` is this module's output table, else a NEW table ("Applicators").
        """
        from AblationSimulatorLib.module_logic import applicators_table_in_scene

        applicators = []
        for node in self.applicatorNodes() if lineNodes is None else lineNodes:
            try:
                applicators += [self.applicatorFromNode(node)] if definedPointCount(node) == 2 else []
            except ValueError as error:
                logging.warning(f"Skipping applicator '{node.GetName()}': {error}")
        tableNode = applicators_table_in_scene(slicer.mrmlScene, applicators, tableNode, TABLE_ATTRIBUTE,
                                               _("Applicators"))
        if show:
            show_in_layout(table_node=tableNode)
        return tableNode

    def requestFromParameterNode(self, parameterNode):
        """The ``AblationSimulatorLib.AblationRequest`` of the panel's settings."""
        from AblationSimulatorLib.pipeline import AblationRequest

        p = parameterNode
        return AblationRequest(ablation_device=p.ablationDevice.value, power_w=float(p.powerW),
                               time_s=float(p.timeS), model=p.zoneModel.value,
                               target_margin_mm=float(p.targetMarginMm))

    def predictZone(self, lineNodes, ctVolumeNode, segmentationNode=None, request=None, progressCallback=None,
                    cancelToken=None, show: bool = True):
        """Predict the ablation zone of the applicators (lines without both points skipped) on a CT and the margins of
        the tumour(s) of ``segmentationNode`` (tumours and vessels recognised by name), with an
        ``AblationSimulatorLib.AblationRequest``; ``cancelToken`` cancelling raises ``Cancelled``, nothing added.

        Returns:
            (``AblationResult``, dict of the NEW nodes written by ``result_to_scene``).

        Raises:
            ValueError: no CT, no complete applicator, or an input the library refuses.
        """
        from AblationSimulatorLib.module_logic import predict_zone_in_scene
        from AblationSimulatorLib.pipeline import AblationRequest
        from HCCInterventionalAILib.progress import Progress

        if ctVolumeNode is None:
            raise ValueError(_("Select the CT the zone is placed on."))
        applicators = [self.applicatorFromNode(n) for n in lineNodes if definedPointCount(n) == 2]
        if not applicators:
            raise ValueError(_("Place at least one applicator (tip and entry point)."))
        progress = Progress(progressCallback, cancelToken)
        result, nodes = predict_zone_in_scene(slicer.mrmlScene, applicators, ctVolumeNode, segmentationNode,
                                              request or AblationRequest(), progress)
        if show and nodes["marginTable"] is not None:
            show_in_layout(table_node=nodes["marginTable"])
        progress.update(1.0, _("Done"))
        return result, nodes

    def confirmAblation(self, preCtNode, tumourSegmentationNode, postCtNode, zoneSegmentationNode,
                        deformable: bool = True, targetMarginMm: float = 5.0, progressCallback=None,
                        cancelToken=None, show: bool = True):
        """Register the post CT onto the pre CT (rigid, then demons when ``deformable``), carry the zone segmented on
        the post CT over and measure the margins around the tumour segmented on the pre CT (names recognised).

        Returns:
            (``ConfirmationResult``, ``{"zones", "marginTable"}``: NEW nodes, insufficient margin in yellow).

        Raises:
            ValueError: a missing input, or an empty/missing tumour or zone segment.
        """
        from AblationSimulatorLib.confirmation import ConfirmationRequest
        from AblationSimulatorLib.module_logic import confirm_in_scene
        from HCCInterventionalAILib.progress import Progress
        from HCCInterventionalAILib.slicer_helpers import show_segmentation_in_3d

        request = ConfirmationRequest(deformable=deformable, target_margin_mm=targetMarginMm)
        progress = Progress(progressCallback, cancelToken)
        result, nodes = confirm_in_scene(slicer.mrmlScene, preCtNode, tumourSegmentationNode, postCtNode,
                                         zoneSegmentationNode, request, progress)
        if show:
            show_segmentation_in_3d(nodes["zones"])
            show_in_layout(table_node=nodes["marginTable"])
        progress.update(1.0, _("Done"))
        return result, nodes

    def summaryHtml(self, result) -> str:
        """Zone volumes and the margin table as HTML for the panel."""
        return result.summary_html()

    def updateLiveZone(self, lineNodes, ctVolumeNode, request=None, zoneNode=None):
        """Recompute the vendor zone of the applicators and write it into the live zone node (in place).

        Fast enough to follow an applicator being moved (the chart ellipsoid only; benchmarks/ablation.py).

        Returns:
            The live segmentation node (``zoneNode`` when it is this module's live node, else a new one).
        """
        from AblationSimulatorLib.to_scene import live_zone_for_nodes

        applicators = [self.applicatorFromNode(n) for n in lineNodes if definedPointCount(n) == 2]
        return live_zone_for_nodes(slicer.mrmlScene, applicators, ctVolumeNode, request, zoneNode,
                                   name=_("Live ablation zone"))


#
# AblationSimulatorTest
#


class AblationSimulatorTest(ScriptedLoadableModuleTest):
    """
    Self test of the module, run inside Slicer (Developer mode › Reload and Test); the synthetic-case tests (vendor
    zone and margins, physics on a small grid, confirmation, applicator table) come from ``AblationSimulatorLib.self_test``.
    Uses ScriptedLoadableModuleTest base class, available at:
    https://github.com/Slicer/Slicer/blob/main/Base/Python/slicer/ScriptedLoadableModule.py
    """

    logicClass = AblationSimulatorLogic

    def setUp(self):
        """Do whatever is needed to reset the state - typically a scene clear will be enough."""
        slicer.mrmlScene.Clear()

    def runTest(self):
        """Run the synthetic-case tests of ``AblationSimulatorLib.self_test.SyntheticCaseTests`` on this test case."""
        from AblationSimulatorLib.self_test import SyntheticCaseTests

        for name in SyntheticCaseTests.TESTS:
            self.setUp()
            getattr(SyntheticCaseTests, name)(self)
