"""Scene bridge on a real MRML scene (slicer-core): volumes, segmentations, tables, markups, plots, names.

Geometry is checked against matrices and points worked out by hand (in the docstrings), not against
what the library computes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from optional_deps import require_mrml

slicer, vtk = require_mrml()

from HCCInterventionalAILib.imaging import Geometry, Segmentation, Volume  # noqa: E402
from HCCInterventionalAILib.imaging.terminology import STRUCTURES  # noqa: E402
from HCCInterventionalAILib.scene import (  # noqa: E402
    color_node,
    dataframe_to_plot,
    dataframe_to_table_node,
    ensure_scene,
    line_to_markups,
    markups_line_to_points,
    markups_to_points,
    module_logic,
    node_to_segmentation,
    node_to_volume,
    points_to_markups,
    release_scene,
    segmentation_to_node,
    set_slice_view_layers,
    show_volume,
    table_node_to_dataframe,
    unique_node_name,
    volume_to_node,
)

pytestmark = pytest.mark.scene

COS30, SIN30 = np.sqrt(3.0) / 2.0, 0.5
COS15, SIN15 = 0.9659258262890683, 0.25881904510252074

#: Two oblique grids, spacing (0.5, 0.75, 2.0) mm, origin LPS (-100, 50, 20).
#: "axial30": i, j rotated 30° about the S axis; "tilt15": j, k tilted 15° about the L axis (gantry tilt).
#: Each entry: LPS direction columns, the IJK→RAS matrix written out by hand (rows x, y of IJK→LPS negated),
#: and the RAS centre of voxel (i, j, k) = (2, 3, 1):
#:   axial30: LPS = (-100 + 2·0.5·cos30 − 3·0.75·sin30, 50 + 2·0.5·sin30 + 3·0.75·cos30, 20 + 1·2)
#:                = (-100.2589746, 52.4485572, 22)          → RAS (100.2589746, -52.4485572, 22)
#:   tilt15:  LPS = (-100 + 2·0.5, 50 + 3·0.75·cos15 − 1·2·sin15, 20 + 3·0.75·sin15 + 1·2·cos15)
#:                = (-99, 51.6556950, 22.5141945)           → RAS (99, -51.6556950, 22.5141945)
OBLIQUE_CASES = {
    "axial30": (
        [[COS30, -SIN30, 0.0], [SIN30, COS30, 0.0], [0.0, 0.0, 1.0]],
        [
            [-0.5 * COS30, 0.75 * SIN30, 0.0, 100.0],
            [-0.5 * SIN30, -0.75 * COS30, 0.0, -50.0],
            [0.0, 0.0, 2.0, 20.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
        (100.2589746, -52.4485572, 22.0),
    ),
    "tilt15": (
        [[1.0, 0.0, 0.0], [0.0, COS15, -SIN15], [0.0, SIN15, COS15]],
        [
            [-0.5, 0.0, 0.0, 100.0],
            [0.0, -0.75 * COS15, 2.0 * SIN15, -50.0],
            [0.0, 0.75 * SIN15, 2.0 * COS15, 20.0],
            [0.0, 0.0, 0.0, 1.0],
        ],
        (99.0, -51.6556950, 22.5141945),
    ),
}
SHAPE = (4, 5, 6)  # k, j, i
SPACING = (0.5, 0.75, 2.0)
ORIGIN_LPS = (-100.0, 50.0, 20.0)


@pytest.fixture
def scene(mrml_scene):
    return mrml_scene


def _geometry(case: str = "axial30") -> Geometry:
    return Geometry(SHAPE, SPACING, ORIGIN_LPS, OBLIQUE_CASES[case][0])


def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _ijk_to_ras(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return _matrix(matrix)


# -- scene set-up -------------------------------------------------------------------------------------------
def test_new_scene_has_module_logics_and_default_colours(scene):
    for module in (
        "Colors",
        "Volumes",
        "Segmentations",
        "Markups",
        "Tables",
        "Transforms",
        "SubjectHierarchy",
        "Sequences",
        "Models",
    ):
        assert module_logic(scene, module) is not None, module
    assert scene.CreateNodeByClass("vtkMRMLMarkupsJsonStorageNode") is not None  # registered by Markups logic
    for table in ("Grey", "Labels", "Rainbow"):
        assert scene.GetFirstNodeByName(table) is not None, table
    assert slicer.mrmlScene is not None


def test_ensure_scene_prepares_a_bare_scene_once():
    bare = slicer.vtkMRMLScene()
    assert ensure_scene(bare) is bare
    logic = module_logic(bare, "Markups")
    assert ensure_scene(bare) is bare and module_logic(bare, "Markups") is logic  # set up only once
    assert bare.AddNewNodeByClass("vtkMRMLMarkupsFiducialNode", "p") is not None
    release_scene(bare)
    with pytest.raises(TypeError):
        ensure_scene("not a scene")


# -- volumes ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(OBLIQUE_CASES))
def test_volume_round_trip_keeps_oblique_geometry_exactly(scene, case):
    _, expected_matrix, expected_ras = OBLIQUE_CASES[case]
    geometry = _geometry(case)
    array = np.arange(np.prod(SHAPE), dtype=np.int16).reshape(SHAPE) * 3 - 100
    volume = Volume(array, geometry, name="CT", modality="CT", units="HU", metadata={"phase": "arterial"})

    node = volume_to_node(scene, volume)

    assert node.GetClassName() == "vtkMRMLScalarVolumeNode"
    np.testing.assert_allclose(_ijk_to_ras(node), expected_matrix, atol=1e-12)
    matrix = vtk.vtkMatrix4x4()  # MRML's own matrix maps the hand-picked voxel
    node.GetIJKToRASMatrix(matrix)
    np.testing.assert_allclose(matrix.MultiplyPoint((2, 3, 1, 1))[:3], expected_ras, atol=1e-6)
    np.testing.assert_allclose(node.GetOrigin(), (100.0, -50.0, 20.0), atol=1e-12)  # RAS = LPS with x, y negated
    np.testing.assert_allclose(node.GetSpacing(), SPACING, atol=1e-12)
    image = node.GetImageData()
    assert image.GetDimensions() == (6, 5, 4)  # VTK counts i, j, k
    assert image.GetScalarComponentAsDouble(2, 3, 1, 0) == array[1, 3, 2]  # voxel (i, j, k) = array[k, j, i]
    assert node.GetAttribute("HCCAI.Modality") == "CT" and node.GetAttribute("HCCAI.Units") == "HU"

    back = node_to_volume(node)
    assert back.array.dtype == np.int16
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.geometry.direction_matrix, OBLIQUE_CASES[case][0], atol=1e-12)
    np.testing.assert_allclose(back.spacing, SPACING, atol=1e-12)
    np.testing.assert_allclose(back.origin, ORIGIN_LPS, atol=1e-12)
    assert (back.name, back.modality, back.units, back.metadata) == ("CT", "CT", "HU", {"phase": "arterial"})


def test_labelmap_versus_scalar_volume(scene):
    geometry = _geometry()
    labels = np.zeros(SHAPE, dtype=np.float32)
    labels[1:3, 2:4, 1:5] = 2.0
    label_node = volume_to_node(scene, Volume(labels, geometry, name="Labels"), labelmap=True)
    scalar_node = volume_to_node(scene, Volume(labels, geometry, name="Map"))

    assert label_node.GetClassName() == "vtkMRMLLabelMapVolumeNode"
    assert label_node.GetName() == "Labels"  # Slicer's hidden "Labels" colour table does not count as taken
    assert label_node.GetImageData().GetScalarType() in (vtk.VTK_UNSIGNED_CHAR, vtk.VTK_SHORT)
    assert label_node.GetDisplayNode().IsA("vtkMRMLLabelMapVolumeDisplayNode")
    assert scalar_node.GetClassName() == "vtkMRMLScalarVolumeNode"
    assert scalar_node.GetImageData().GetScalarType() == vtk.VTK_FLOAT
    np.testing.assert_array_equal(node_to_volume(label_node).array, labels.astype(np.uint8))
    np.testing.assert_allclose(_ijk_to_ras(label_node), _ijk_to_ras(scalar_node), atol=0)

    with pytest.raises(ValueError, match="non-integer"):
        volume_to_node(scene, Volume(labels + 0.5, geometry), labelmap=True)
    with pytest.raises(TypeError):
        volume_to_node(scene, Volume(labels, geometry), overwrite_node=label_node)  # scalar into labelmap


def test_overwrite_node_updates_in_place(scene):
    first = volume_to_node(scene, Volume(np.zeros(SHAPE, np.float32), _geometry(), name="Dose"))
    display_id = first.GetDisplayNodeID()
    new_geometry = Geometry((2, 3, 4), (1.0, 1.0, 1.0), (5.0, 6.0, 7.0))
    updated = volume_to_node(
        scene, Volume(np.full((2, 3, 4), 7.5, np.float32), new_geometry, name="Dose"), overwrite_node=first
    )
    assert updated is first and first.GetDisplayNodeID() == display_id
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1
    back = node_to_volume(first)
    assert back.shape == (2, 3, 4) and np.all(back.array == 7.5)
    np.testing.assert_allclose(first.GetOrigin(), (-5.0, -6.0, 7.0))


def test_64_bit_and_boolean_arrays(scene):
    geometry = Geometry(SHAPE)
    node = volume_to_node(scene, Volume(np.arange(120, dtype=np.int64).reshape(SHAPE), geometry))
    assert node.GetImageData().GetScalarType() == vtk.VTK_INT
    assert node_to_volume(node).array[3, 4, 5] == 119
    mask_node = volume_to_node(scene, Volume(np.ones(SHAPE, dtype=bool), geometry))
    assert mask_node.GetImageData().GetScalarType() == vtk.VTK_UNSIGNED_CHAR
    with pytest.raises(ValueError, match="32-bit"):
        volume_to_node(scene, Volume(np.full(SHAPE, 2**40, dtype=np.int64), geometry))


def test_parent_transforms_linear_applied_nonlinear_refused(scene):
    node = volume_to_node(scene, Volume(np.zeros(SHAPE, np.float32), Geometry(SHAPE, origin=(1.0, 2.0, 3.0))))
    shift = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(0, 3, 10.0)  # 10 mm towards patient Right (RAS +x) = LPS x − 10
    shift.SetMatrixTransformToParent(matrix)
    node.SetAndObserveTransformNodeID(shift.GetID())
    np.testing.assert_allclose(node_to_volume(node).origin, (1.0 - 10.0, 2.0, 3.0), atol=1e-12)

    warp = scene.AddNewNodeByClass("vtkMRMLTransformNode", "warp")
    spline = vtk.vtkThinPlateSplineTransform()
    source, target = vtk.vtkPoints(), vtk.vtkPoints()
    for point in ((0, 0, 0), (10, 0, 0), (0, 10, 0), (0, 0, 10)):
        source.InsertNextPoint(point)
        target.InsertNextPoint(point[0] + 1.0, point[1], point[2])
    spline.SetSourceLandmarks(source)
    spline.SetTargetLandmarks(target)
    spline.SetBasisToR()
    warp.SetAndObserveTransformToParent(spline)
    node.SetAndObserveTransformNodeID(warp.GetID())
    with pytest.raises(ValueError, match="non-linear"):
        node_to_volume(node)


def test_display_helpers(scene):
    ct = volume_to_node(scene, Volume(np.arange(120, dtype=np.int16).reshape(SHAPE), _geometry(), name="CT"))
    dose = volume_to_node(
        scene, Volume(np.linspace(0, 80, 120, dtype=np.float32).reshape(SHAPE), _geometry(), name="Dose", units="Gy")
    )
    display = show_volume(ct, window=400, level=40)
    assert (display.GetAutoWindowLevel(), display.GetWindow(), display.GetLevel()) == (0, 400.0, 40.0)

    display = show_volume(dose, color="Rainbow", threshold=5.0, opacity=0.5)
    assert display.GetColorNodeID() == scene.GetFirstNodeByName("Rainbow").GetID()
    assert display.GetApplyThreshold() == 1
    assert (display.GetLowerThreshold(), display.GetUpperThreshold()) == (5.0, 80.0)
    assert display.GetOpacity() == 0.5

    inferno = color_node(scene, "Inferno")  # a Slicer colour file; built from matplotlib headless
    assert inferno.GetNumberOfColors() == 256 and color_node(scene, "inferno") is inferno
    rgba = [0.0] * 4
    inferno.GetColor(0, rgba)
    # Slicer's Inferno.txt starts with RGB (0, 0, 4)/255: colour tables hold 8-bit colours
    np.testing.assert_allclose(rgba[:3], (0.0, 0.0, 4 / 255), atol=0.5 / 255)
    assert show_volume(dose, color="Inferno").GetColorNodeID() == inferno.GetID()

    with pytest.raises(ValueError):
        show_volume(ct, window=400)
    with pytest.raises(KeyError, match="No colour table"):
        show_volume(ct, color="NoSuchTable")

    assert set_slice_view_layers(scene, background=ct) == 0  # headless: no slice views
    composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
    assert set_slice_view_layers(scene, background=ct, foreground=dose, foreground_opacity=0.4) == 1
    assert (composite.GetBackgroundVolumeID(), composite.GetForegroundVolumeID()) == (ct.GetID(), dose.GetID())
    assert composite.GetForegroundOpacity() == pytest.approx(0.4)


# -- names --------------------------------------------------------------------------------------------------
def test_unique_names_never_overwrite_existing_nodes(scene):
    geometry = Geometry(SHAPE)
    first = volume_to_node(scene, Volume(np.ones(SHAPE, np.float32), geometry, name="Dose"))
    second = volume_to_node(scene, Volume(np.full(SHAPE, 2.0, np.float32), geometry, name="Dose"))
    table = dataframe_to_table_node(scene, pd.DataFrame({"a": [1]}), "Dose")
    assert (first.GetName(), second.GetName(), table.GetName()) == ("Dose", "Dose_1", "Dose_2")
    assert first.GetID() != second.GetID()
    assert np.all(node_to_volume(first).array == 1.0)  # the first node's data are untouched
    assert unique_node_name(scene, "Dose_1") == "Dose_3"  # continues the numbering instead of "Dose_1_1"
    assert unique_node_name(scene, "Liver") == "Liver"
    assert unique_node_name(scene, "  ") == "Node"


# -- segmentations ------------------------------------------------------------------------------------------
def _three_segments(geometry: Geometry) -> Segmentation:
    liver = np.zeros(SHAPE, bool)
    liver[0:4, 1:5, 1:6] = True
    tumour = np.zeros(SHAPE, bool)
    tumour[1:3, 2:4, 2:4] = True  # inside the liver: overlaps it
    lung = np.zeros(SHAPE, bool)
    lung[3, 0, 0:3] = True
    segmentation = Segmentation(geometry, name="Structures")
    segmentation.add("Liver", liver)
    segmentation.add("Tumor", tumour)
    segmentation.add("Lung", lung, color=(0.2, 0.4, 0.6))
    return segmentation


def _tag(segment) -> str:
    entry = vtk.reference("")
    assert segment.GetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), entry)
    return str(entry)


def test_segmentation_round_trip_names_colours_terminology_masks(scene):
    geometry = _geometry("tilt15")
    segmentation = _three_segments(geometry)

    node = segmentation_to_node(scene, segmentation)

    vtk_segmentation = node.GetSegmentation()
    assert vtk_segmentation.GetSourceRepresentationName() == "Binary labelmap"
    names = [vtk_segmentation.GetNthSegment(i).GetName() for i in range(vtk_segmentation.GetNumberOfSegments())]
    assert names == ["Liver", "Tumor", "Lung"]
    liver = vtk_segmentation.GetNthSegment(0)
    assert _tag(liver) == STRUCTURES["liver"].to_slicer()
    assert "SCT^10200004^Liver" in _tag(liver)
    assert "SCT^108369006^Neoplasm" in _tag(vtk_segmentation.GetNthSegment(1))
    np.testing.assert_allclose(vtk_segmentation.GetNthSegment(2).GetColor(), (0.2, 0.4, 0.6))
    labelmap = liver.GetRepresentation("Binary labelmap")
    image_to_world = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(image_to_world)
    np.testing.assert_allclose(_matrix(image_to_world), OBLIQUE_CASES["tilt15"][1], atol=1e-12)
    assert vtk_segmentation.GetNumberOfLayers() == 2  # the tumour overlaps the liver: own layer

    back = node_to_segmentation(node)

    assert back.names == ["Liver", "Tumor", "Lung"]
    assert back.geometry.same_grid(geometry, tolerance_mm=1e-9)
    for original in segmentation:
        segment = back.segments[original.name]
        np.testing.assert_array_equal(segment.mask, original.mask)
        np.testing.assert_allclose(segment.color, original.color, atol=1e-12)
        assert segment.terminology.category == original.terminology.category
        assert segment.terminology.type == original.terminology.type
        assert segment.terminology.region == original.terminology.region
    assert np.any(back.mask("Liver") & back.mask("Tumor"))


def test_segmentation_export_onto_another_reference_grid(scene):
    """A grid one voxel larger on each side (origin one voxel step back along i, j, k) pads every mask by 1."""
    geometry = _geometry("axial30")
    segmentation = _three_segments(geometry)
    reference_volume = volume_to_node(scene, Volume(np.zeros(SHAPE, np.int16), geometry, name="CT"))
    node = segmentation_to_node(scene, segmentation, reference_volume_node=reference_volume)
    assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is reference_volume

    step = geometry.direction_matrix @ np.array(SPACING)
    larger = Geometry((6, 7, 8), SPACING, tuple(np.array(ORIGIN_LPS) - step), geometry.direction)
    back = node_to_segmentation(node, reference_geometry=larger)
    assert back.geometry == larger
    for original in segmentation:
        expected = np.zeros((6, 7, 8), bool)
        expected[1:5, 1:6, 1:7] = original.mask
        np.testing.assert_array_equal(back.mask(original.name), expected)


def test_segmentation_made_by_slicer_import_reads_back_per_label(scene):
    """Slicer's own labelmap import puts labels 3 and 7 in one shared layer; each becomes its own mask."""
    geometry = _geometry("tilt15")
    labels = np.zeros(SHAPE, np.uint8)
    labels[0:2, 0:2, 0:2] = 3
    labels[3, 4, 5] = 7
    label_node = volume_to_node(scene, Volume(labels, geometry, name="Labels"), labelmap=True)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Imported")
    assert module_logic(scene, "Segmentations").ImportLabelmapToSegmentationNode(label_node, node)

    back = node_to_segmentation(node)

    assert len(back) == 2 and back.geometry.same_grid(geometry, tolerance_mm=1e-9)
    np.testing.assert_array_equal(back.segments[back.names[0]].mask, labels == 3)
    np.testing.assert_array_equal(back.segments[back.names[1]].mask, labels == 7)


def test_empty_segmentation_and_empty_segment(scene):
    segmentation = Segmentation(_geometry(), name="Empty")
    empty = node_to_segmentation(segmentation_to_node(scene, segmentation))
    assert len(empty) == 0 and empty.geometry.same_grid(segmentation.geometry, tolerance_mm=1e-9)
    segmentation.add("Liver", np.zeros(SHAPE, bool))
    back = node_to_segmentation(segmentation_to_node(scene, segmentation))
    assert back.names == ["Liver"] and not back.mask("Liver", allow_empty=True).any()


def test_segment_without_known_terminology_stays_without(scene):
    segmentation = Segmentation(Geometry(SHAPE), name="Custom")
    mask = np.zeros(SHAPE, bool)
    mask[1, 1, 1] = True
    segmentation.add("Probe track", mask, color=(1.0, 0.0, 1.0))
    assert segmentation.segments["Probe track"].terminology is None
    back = node_to_segmentation(segmentation_to_node(scene, segmentation))
    assert back.segments["Probe track"].terminology is None  # not Slicer's generic "Tissue" default


# -- tables -------------------------------------------------------------------------------------------------
def test_table_round_trip_keeps_column_types(scene):
    df = pd.DataFrame(
        {
            "Structure": ["Liver", "Tumor", "Lung"],
            "Volume": [1500.5, 12.25, np.nan],
            "Voxels": np.array([10, 20, 30], dtype=np.int64),
            "Counts": [2**40, 1, 2],
            "Treated": [True, False, True],
        }
    )
    df.attrs["units"] = {"Volume": "ml"}

    node = dataframe_to_table_node(scene, df, "Statistics", descriptions={"Voxels": "voxel count"})

    table = node.GetTable()
    kinds = {table.GetColumn(i).GetName(): table.GetColumn(i) for i in range(table.GetNumberOfColumns())}
    assert isinstance(kinds["Structure"], vtk.vtkStringArray)
    assert kinds["Volume"].GetDataType() == vtk.VTK_DOUBLE
    assert kinds["Voxels"].GetDataType() == vtk.VTK_INT
    assert kinds["Counts"].GetDataType() == vtk.VTK_LONG_LONG
    assert isinstance(kinds["Treated"], vtk.vtkBitArray)
    assert node.GetColumnUnitLabel("Volume") == "ml"
    assert node.GetNumberOfRows() == 3

    back = table_node_to_dataframe(node)
    assert list(back.columns) == list(df.columns)
    assert back["Structure"].tolist() == ["Liver", "Tumor", "Lung"]
    pd.testing.assert_frame_equal(
        back[["Volume", "Voxels", "Counts", "Treated"]], df[["Volume", "Voxels", "Counts", "Treated"]]
    )
    assert back.attrs == {"units": {"Volume": "ml"}, "descriptions": {"Voxels": "voxel count"}}

    empty = table_node_to_dataframe(dataframe_to_table_node(scene, df.iloc[:0], "Empty"))
    assert len(empty) == 0 and empty["Voxels"].dtype == np.int64


def test_table_rejects_duplicate_columns(scene):
    df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        dataframe_to_table_node(scene, df, "Bad")


# -- markups ------------------------------------------------------------------------------------------------
def test_points_lps_to_markups_and_back(scene):
    points = np.array([[12.5, -30.0, 101.0], [-4.0, 7.25, -2.0]])
    node = points_to_markups(scene, points, "Targets", labels=["T1", "T2"])

    assert node.GetClassName() == "vtkMRMLMarkupsFiducialNode"
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPosition(0, position)
    assert position == [-12.5, 30.0, 101.0]  # RAS: x, y negated
    node.GetNthControlPointPosition(1, position)
    assert position == [4.0, -7.25, -2.0]

    back, labels = markups_to_points(node)
    np.testing.assert_array_equal(back, points)
    assert labels == ["T1", "T2"]

    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        points_to_markups(scene, np.zeros((2, 2)), "Bad")
    with pytest.raises(ValueError, match="labels"):
        points_to_markups(scene, points, "Bad", labels=["only one"])


def test_line_markups_for_applicator(scene):
    tip, entry = np.array([10.0, 20.0, 30.0]), np.array([-40.0, 55.5, 70.0])
    node = line_to_markups(scene, tip, entry, "Applicator", labels=("Tip", "Entry"))

    assert node.GetClassName() == "vtkMRMLMarkupsLineNode"
    position = [0.0, 0.0, 0.0]
    node.GetNthControlPointPosition(1, position)
    assert position == [40.0, -55.5, 70.0]
    assert node.GetLineLengthWorld() == pytest.approx(np.linalg.norm(entry - tip))
    assert [node.GetNthControlPointLabel(i) for i in range(2)] == ["Tip", "Entry"]

    start, end = markups_line_to_points(node)
    np.testing.assert_array_equal(start, tip)
    np.testing.assert_array_equal(end, entry)

    shift = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    matrix = vtk.vtkMatrix4x4()
    matrix.SetElement(1, 3, 5.0)  # 5 mm Anterior (RAS +y) = LPS y − 5
    shift.SetMatrixTransformToParent(matrix)
    node.SetAndObserveTransformNodeID(shift.GetID())
    start, _ = markups_line_to_points(node)
    np.testing.assert_allclose(start, tip - [0.0, 5.0, 0.0])

    with pytest.raises(ValueError, match="line"):
        markups_line_to_points(points_to_markups(scene, [tip], "NotALine"))


# -- plots --------------------------------------------------------------------------------------------------
def test_dvh_plot_has_one_series_per_column(scene):
    dvh = pd.DataFrame({"Dose": [0.0, 50.0, 100.0], "Liver": [100.0, 40.0, 5.0], "Tumor": [100.0, 95.0, 60.0]})
    chart = dataframe_to_plot(
        scene,
        dvh,
        "Dose",
        ["Liver", "Tumor"],
        "DVH",
        x_label="Dose (Gy)",
        y_label="Volume (%)",
        colors={"Tumor": (1.0, 0.9, 0.0)},
    )

    assert chart.GetClassName() == "vtkMRMLPlotChartNode"
    assert (chart.GetXAxisTitle(), chart.GetYAxisTitle(), chart.GetTitle()) == ("Dose (Gy)", "Volume (%)", "DVH")
    assert chart.GetNumberOfPlotSeriesNodes() == 2
    series = [chart.GetNthPlotSeriesNode(i) for i in range(2)]
    assert [s.GetName() for s in series] == ["Liver", "Tumor"]
    assert [(s.GetXColumnName(), s.GetYColumnName()) for s in series] == [("Dose", "Liver"), ("Dose", "Tumor")]
    np.testing.assert_allclose(series[1].GetColor(), (1.0, 0.9, 0.0))
    table = series[0].GetTableNode()
    pd.testing.assert_frame_equal(table_node_to_dataframe(table), dvh)
    with pytest.raises(KeyError):
        dataframe_to_plot(scene, dvh, "Dose", ["Spleen"], "Bad")
