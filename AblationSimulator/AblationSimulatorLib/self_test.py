"""The module self-test's synthetic cases (vendor zone and margins, bioheat physics on a small grid, confirmation),
as a mixin of ``AblationSimulatorTest`` (``ScriptedLoadableModuleTest``): run inside Slicer or headless on a real
MRML scene. Slicer is imported only when a test runs; the cases and their known answers are in :mod:`.synthetic`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SyntheticCaseTests"]


def _planning_nodes(logic: Any, offset_mm: float) -> tuple[Any, Any, Any, Any]:
    """Synthetic CT, tumour (r = 6 mm at the centre) and an applicator whose zone centre is the tumour's."""
    from HCCInterventionalAILib.scene import segmentation_to_node, volume_to_node

    from .synthetic import planning_case

    case = planning_case(offset_mm)
    ct_node, seg_node = volume_to_node(_scene(), case.ct), segmentation_to_node(_scene(), case.segmentation)
    a = case.applicator
    line = logic.addApplicator(tipRAS=a.tip_ras, entryRAS=a.entry_ras, name="MWA")
    return case, ct_node, seg_node, line


class SyntheticCaseTests:
    """Test functions run (as ``SyntheticCaseTests.test_X(test_case)``) on a ``unittest.TestCase`` that has
    ``logicClass`` (the module logic class) and ``delayDisplay`` (``ScriptedLoadableModuleTest``)."""

    #: Run order (the applicator-table test last: it leaves its table in the scene).
    TESTS = ("test_VendorZoneAndMargins", "test_PhysicsZoneSmallGrid", "test_Confirmation", "test_ApplicatorTable")

    def test_VendorZoneAndMargins(self):
        """Covidien 45 W / 600 s: chart sphere r = 14.5 mm, concentric with a 6 mm tumour: vendor zone volume
        4/3 π 14.5³ = 12.77 ml (within 5 % on the 1.5 mm grid), minimal margin 14.5 − 6 = 8.5 mm (± one voxel)."""
        from AblationSimulatorLib.pipeline import AblationRequest

        self.delayDisplay("Vendor zone and margins")
        case, ctNode, segNode, line = _planning_nodes(self.logicClass(), 11.5)
        result, nodes = self.logicClass().predictZone(
            [line], ctNode, segNode, AblationRequest("covidien-mwa", 45.0, 600.0), show=False)
        self.assertAlmostEqual(result.zone_volume_ml("vendor") / 12.770, 1.0, delta=0.05)
        self.assertAlmostEqual(result.margins["vendor"].minimal_margin_mm, 8.5, delta=1.5)
        self.assertIsNotNone(nodes["zones"])

    def test_PhysicsZoneSmallGrid(self):
        """Bioheat physics in ex-vivo liver on a 2 mm grid, Covidien 45 W / 150 s: the Ω ≥ 1 zone volume within
        25 % of the chart ellipsoid 4/3 π · 12 · 11.5² = 6.65 ml (calibration residual ≤ 0.2 mm on this row)."""
        from AblationSimulatorLib.pipeline import AblationRequest

        self.delayDisplay("Physics zone on a small grid")
        case, ctNode, segNode, line = _planning_nodes(self.logicClass(), 11.0)
        request = AblationRequest("covidien-mwa", 45.0, 150.0, model="physics", tissue="liver_ex_vivo",
                                  grid_spacing_mm=2.0, device="cpu")
        result, _nodes = self.logicClass().predictZone([line], ctNode, segNode, request, show=False)
        self.assertAlmostEqual(result.zone_volume_ml("physics") / 6.648, 1.0, delta=0.25)

    def test_Confirmation(self):
        """Post CT = pre CT moved by (4, −3, 2.5) mm; zone r = 13 mm on the post CT, tumour r = 7 mm on the pre CT,
        same body point: after rigid registration the minimal margin is 6 mm (± one voxel, 1.5 mm)."""
        from AblationSimulatorLib.synthetic import confirmation_case
        from HCCInterventionalAILib.scene import segmentation_to_node, volume_to_node

        self.delayDisplay("Confirmation")
        case = confirmation_case()
        scene = _scene()
        result, nodes = self.logicClass().confirmAblation(
            volume_to_node(scene, case.pre_ct, "Pre CT"), segmentation_to_node(scene, case.tumour),
            volume_to_node(scene, case.post_ct, "Post CT"), segmentation_to_node(scene, case.zone),
            deformable=False, show=False)
        self.assertAlmostEqual(result.margins.minimal_margin_mm, case.margin_mm, delta=1.5)
        self.assertEqual(nodes["marginTable"].GetCellText(0, 0), "Minimal ablative margin (mm)")
        self.delayDisplay("Test passed")

    def test_ApplicatorTable(self):
        """Two applicators with hand-computed geometry.

        A1: tip RAS (10, -20, 5), entry (40, -20, 45): Δ = (30, 0, 40) → length 50 mm, atan(40/30) = 53.13°.
        A2: tip (0, 0, 0), entry (0, 60, 0): in the axial plane → length 60 mm, 0°.
        """
        self.delayDisplay("Adding applicators")
        logic = self.logicClass()
        logic.installRequirements()
        first = logic.addApplicator(tipRAS=(10, -20, 5), entryRAS=(40, -20, 45), name="A1")
        logic.addApplicator(tipRAS=(0, 0, 0), entryRAS=(0, 60, 0), name="A2")
        logic.addApplicator(name="Unplaced")  # no points yet: left out of the table
        self.assertEqual(first.GetNthControlPointLabel(0), "tip")

        table = logic.applicatorsTable()
        self.assertEqual(table.GetNumberOfRows(), 2)
        lengthColumn = table.GetColumnIndex("Length (mm)")
        angleColumn = table.GetColumnIndex("Angle to axial plane (deg)")
        self.assertAlmostEqual(float(table.GetCellText(0, lengthColumn)), 50.0, places=3)
        self.assertAlmostEqual(float(table.GetCellText(0, angleColumn)), 53.1301, places=3)
        self.assertAlmostEqual(float(table.GetCellText(1, lengthColumn)), 60.0, places=3)
        self.assertAlmostEqual(float(table.GetCellText(1, angleColumn)), 0.0, places=3)

        # Moving the entry point and refreshing updates the same (output) table in place.
        first.SetNthControlPointPosition(1, 10, -20, 55)
        same = logic.applicatorsTable(tableNode=table)
        self.assertIs(same, table)
        self.assertAlmostEqual(float(table.GetCellText(0, angleColumn)), 90.0, places=3)
        self.delayDisplay("Test passed")


def _scene() -> Any:
    import slicer

    return slicer.mrmlScene
