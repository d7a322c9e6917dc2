"""Scene bundles (.mrb) on real MRML: everything the bridge writes survives save → load into a new scene."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from optional_deps import require_mrml

slicer, vtk = require_mrml()

from HCCInterventionalAILib.imaging import Geometry, Segmentation, Volume  # noqa: E402
from HCCInterventionalAILib.scene import (  # noqa: E402
    dataframe_to_plot,
    dataframe_to_table_node,
    line_to_markups,
    load_bundle,
    markups_line_to_points,
    markups_to_points,
    new_scene,
    node_to_segmentation,
    node_to_volume,
    points_to_markups,
    release_scene,
    save_bundle,
    segmentation_to_node,
    show_volume,
    table_node_to_dataframe,
    volume_to_node,
)

pytestmark = pytest.mark.scene

#: Oblique grid: i, j rotated 30° about S; spacing (0.8, 0.8, 2.5) mm; origin LPS (-120, 80, -40).
C, S = np.sqrt(3.0) / 2.0, 0.5
GEOMETRY = Geometry((5, 6, 7), (0.8, 0.8, 2.5), (-120.0, 80.0, -40.0), [[C, -S, 0.0], [S, C, 0.0], [0.0, 0.0, 1.0]])
#: RAS of voxel (i, j, k) = (1, 2, 3), by hand: LPS = (-120 + 0.8·C − 1.6·S, 80 + 0.8·S + 1.6·C, -40 + 7.5)
#: = (-120.1071797, 81.7856406, -32.5) → RAS (120.1071797, -81.7856406, -32.5)
VOXEL_123_RAS = (120.1071797, -81.7856406, -32.5)


def _nodes(scene, class_name: str) -> dict[str, object]:
    nodes = (scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name)))
    return {node.GetName(): node for node in nodes if not node.GetHideFromEditors()}


@pytest.fixture
def content():
    """What goes into the scene: plain library objects, kept to compare with what comes back."""
    rng = np.random.default_rng(7)
    ct = Volume(
        rng.integers(-1000, 1500, GEOMETRY.shape).astype(np.int16),
        GEOMETRY,
        name="CT arterial",
        modality="CT",
        units="HU",
        metadata={"phase": "arterial"},
    )
    dose = ct.with_array(
        rng.random(GEOMETRY.shape).astype(np.float32) * 120, name="Dose", modality="RTDOSE", units="Gy"
    )
    liver = np.zeros(GEOMETRY.shape, bool)
    liver[1:5, 1:5, 1:6] = True
    tumour = np.zeros(GEOMETRY.shape, bool)
    tumour[2:4, 2:4, 2:4] = True
    lung = np.zeros(GEOMETRY.shape, bool)
    lung[0, 0, :] = True
    segmentation = Segmentation(GEOMETRY, name="Structures")
    segmentation.add("Liver", liver)
    segmentation.add("Tumor", tumour)
    segmentation.add("Lung", lung, color=(0.25, 0.5, 0.75))
    stats = pd.DataFrame(
        {
            "Structure": ["Liver", "Tumor", "Lung"],
            "Mean dose": [30.5, 150.25, 8.0],
            "Voxels": [80, 8, 7],
            "Above limit": [False, True, False],
        }
    )
    stats.attrs["units"] = {"Mean dose": "Gy"}
    targets = np.array([[-118.0, 82.5, -35.0], [-121.5, 79.0, -30.0]])
    applicator = (np.array([-119.0, 81.0, -33.0]), np.array([-150.0, 60.0, -20.0]))
    dvh = pd.DataFrame({"Dose": [0.0, 60.0, 120.0], "Liver": [100.0, 30.0, 0.0], "Tumor": [100.0, 90.0, 20.0]})
    return {
        "ct": ct,
        "dose": dose,
        "segmentation": segmentation,
        "stats": stats,
        "targets": targets,
        "applicator": applicator,
        "dvh": dvh,
    }


@pytest.fixture
def saved(content, tmp_path):
    """A scene built through the bridge and saved; yields (scene, bundle path)."""
    scene = new_scene()
    ct = volume_to_node(scene, content["ct"])
    show_volume(ct, window=350, level=50)
    dose = volume_to_node(scene, content["dose"])
    show_volume(dose, color="Inferno", threshold=10.0, opacity=0.5)
    labels = content["segmentation"].to_labelmap()
    volume_to_node(scene, labels, "Label map", labelmap=True)
    segmentation_to_node(scene, content["segmentation"], reference_volume_node=ct)
    dataframe_to_table_node(scene, content["stats"], "Dose statistics")
    points_to_markups(scene, content["targets"], "Targets", labels=["T1", "T2"])
    line_to_markups(scene, *content["applicator"], "Applicator", labels=("Tip", "Entry"))
    dataframe_to_plot(
        scene, content["dvh"], "Dose", ["Liver", "Tumor"], "DVH", x_label="Dose (Gy)", y_label="Volume (%)"
    )
    path = save_bundle(scene, tmp_path / "out" / "case.mrb")
    yield scene, path
    release_scene(scene)


def _bundle_temporaries() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("hccai-mrb-*")}


def test_bundle_holds_every_node_in_slicer_formats(saved):
    _, path = saved
    assert path.is_file() and path.is_absolute() and path.suffix == ".mrb"
    names = zipfile.ZipFile(path).namelist()
    assert "case/case.mrml" in names
    for expected in (
        "case/Data/CT arterial.nrrd",
        "case/Data/Dose.nrrd",
        "case/Data/Label map.nrrd",
        "case/Data/Structures.seg.nrrd",
        "case/Data/Dose statistics.tsv",
        "case/Data/Targets.mrk.json",
        "case/Data/Applicator.mrk.json",
    ):
        assert expected in names, expected
    with zipfile.ZipFile(path) as archive:
        header = archive.read("case/Data/Dose.nrrd")[:600].decode("latin-1")
        markups = json.loads(archive.read("case/Data/Targets.mrk.json"))
    assert "encoding: gzip" in header  # compressed
    assert "space: left-posterior-superior" in header
    entry = markups["markups"][0]
    assert entry["coordinateSystem"] == "LPS"  # Slicer 5 writes markups files in LPS
    np.testing.assert_allclose(entry["controlPoints"][0]["position"], [-118.0, 82.5, -35.0])
    assert not list(path.parent.glob(".*partial"))


def test_saving_leaves_the_scene_as_it_was(saved):
    scene, _ = saved
    for name, node in _nodes(scene, "vtkMRMLStorableNode").items():
        storage = node.GetStorageNode()
        assert storage is None or not storage.GetFileName(), name  # paths into the temporary folder were reverted
    assert set(_nodes(scene, "vtkMRMLScalarVolumeNode")) == {"CT arterial", "Dose", "Label map"}


def test_load_bundle_restores_everything_in_a_new_scene(saved, content):
    original_scene, path = saved
    before = _bundle_temporaries()
    scene = load_bundle(path)
    try:
        assert scene is not original_scene
        assert _bundle_temporaries() <= before  # the unpacked copy is gone

        volumes = _nodes(scene, "vtkMRMLScalarVolumeNode")
        assert set(volumes) == {"CT arterial", "Dose", "Label map"}
        assert volumes["Label map"].IsA("vtkMRMLLabelMapVolumeNode")
        for key in ("ct", "dose"):
            original = content[key]
            back = node_to_volume(volumes[original.name])
            assert back.array.dtype == original.array.dtype
            np.testing.assert_array_equal(back.array, original.array)
            assert back.geometry.same_grid(GEOMETRY, tolerance_mm=1e-6)
            np.testing.assert_allclose(back.geometry.direction_matrix, GEOMETRY.direction_matrix, atol=1e-9)
            assert (back.modality, back.units) == (original.modality, original.units)
        assert node_to_volume(volumes["CT arterial"]).metadata == {"phase": "arterial"}
        ijk_to_ras = vtk.vtkMatrix4x4()
        volumes["CT arterial"].GetIJKToRASMatrix(ijk_to_ras)
        np.testing.assert_allclose(ijk_to_ras.MultiplyPoint((1, 2, 3, 1))[:3], VOXEL_123_RAS, atol=1e-5)
        np.testing.assert_array_equal(
            node_to_volume(volumes["Label map"]).array, content["segmentation"].to_labelmap().array
        )

        ct_display = volumes["CT arterial"].GetDisplayNode()
        assert (ct_display.GetWindow(), ct_display.GetLevel()) == (350.0, 50.0)
        dose_display = volumes["Dose"].GetDisplayNode()
        assert dose_display.GetColorNode().GetName() == "Inferno"
        assert dose_display.GetApplyThreshold() == 1 and dose_display.GetLowerThreshold() == 10.0

        segmentation_node = _nodes(scene, "vtkMRMLSegmentationNode")["Structures"]
        segmentation = node_to_segmentation(segmentation_node)
        assert segmentation.names == ["Liver", "Tumor", "Lung"]
        assert segmentation.geometry.same_grid(GEOMETRY, tolerance_mm=1e-6)
        for original in content["segmentation"]:
            segment = segmentation.segments[original.name]
            np.testing.assert_array_equal(segment.mask, original.mask)
            np.testing.assert_allclose(segment.color, original.color, atol=1e-6)  # .seg.nrrd keeps 6 digits
            assert (segment.terminology.category, segment.terminology.type, segment.terminology.region) == (
                original.terminology.category,
                original.terminology.type,
                original.terminology.region,
            )
        assert (
            segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())
            is volumes["CT arterial"]
        )

        tables = _nodes(scene, "vtkMRMLTableNode")
        stats = table_node_to_dataframe(tables["Dose statistics"])
        assert stats["Structure"].tolist() == ["Liver", "Tumor", "Lung"]
        columns = ["Mean dose", "Voxels", "Above limit"]
        pd.testing.assert_frame_equal(stats[columns], content["stats"][columns])
        assert stats.attrs["units"] == {"Mean dose": "Gy"}

        markups = _nodes(scene, "vtkMRMLMarkupsNode")
        points, labels = markups_to_points(markups["Targets"])
        np.testing.assert_allclose(points, content["targets"], atol=1e-9)
        assert labels == ["T1", "T2"]
        start, end = markups_line_to_points(markups["Applicator"])
        np.testing.assert_allclose(start, content["applicator"][0], atol=1e-9)
        np.testing.assert_allclose(end, content["applicator"][1], atol=1e-9)

        chart = _nodes(scene, "vtkMRMLPlotChartNode")["DVH"]
        assert chart.GetNumberOfPlotSeriesNodes() == 2 and chart.GetXAxisTitle() == "Dose (Gy)"
        series = chart.GetNthPlotSeriesNode(1)
        assert (series.GetName(), series.GetYColumnName()) == ("Tumor", "Tumor")
        pd.testing.assert_frame_equal(table_node_to_dataframe(series.GetTableNode()), content["dvh"])
    finally:
        release_scene(scene)


def test_loaded_scene_saves_and_loads_again(saved, tmp_path):
    _, path = saved
    first = load_bundle(path)
    again = save_bundle(first, tmp_path / "again.mrb")
    second = load_bundle(again)
    try:
        dose = node_to_volume(_nodes(second, "vtkMRMLScalarVolumeNode")["Dose"])
        np.testing.assert_array_equal(
            dose.array, node_to_volume(_nodes(first, "vtkMRMLScalarVolumeNode")["Dose"]).array
        )
        assert node_to_segmentation(_nodes(second, "vtkMRMLSegmentationNode")["Structures"]).names == [
            "Liver",
            "Tumor",
            "Lung",
        ]
    finally:
        release_scene(first)
        release_scene(second)


def test_load_into_an_existing_scene_keeps_its_nodes(saved, mrml_scene):
    _, path = saved
    scene = mrml_scene
    mine = points_to_markups(scene, [[1.0, 2.0, 3.0]], "Mine")
    assert load_bundle(path, scene) is scene
    assert scene.GetNodeByID(mine.GetID()) is mine
    assert {"Mine", "Targets", "Applicator"} <= set(_nodes(scene, "vtkMRMLMarkupsNode"))


def test_bad_paths_are_refused_clearly(tmp_path, mrml_scene):
    with pytest.raises(ValueError, match=r"\.mrb"):
        save_bundle(mrml_scene, tmp_path / "scene.zip")
    with pytest.raises(FileNotFoundError):
        load_bundle(tmp_path / "missing.mrb")
    not_zip = tmp_path / "fake.mrb"
    not_zip.write_text("not a bundle")
    with pytest.raises(ValueError, match="zip"):
        load_bundle(not_zip)
