"""The three Slicer modules' Logic (and a smoke test of their Widgets) on a REAL MRML scene, headless.

The module files (``HCCInterventionalAI.py``, ``Y90Dosimetry.py``, ``AblationSimulator.py``) are loaded with
the stand-ins of ``slicer_stubs`` for the Qt-bound parts of Slicer that slicer-core lacks (base classes,
``slicer.i18n``, the parameter node wrapper, fake widgets); MRML nodes, scene and module logics are
slicer-core's own. Results are checked against expectations computed HERE, from the nodes' own arrays and
tables or written out by hand (grids, distances, the partition / MIRD / BSA formulas), not against what
the libraries compute. The small sample patient keeps the whole file to a few tens of seconds.
"""

from __future__ import annotations

import enum
import hashlib
import math
from datetime import datetime

import numpy as np
import pytest
from optional_deps import require_mrml, require_torch

slicer, vtk = require_mrml()

import slicer_stubs  # noqa: E402
from vtk.util.numpy_support import vtk_to_numpy  # noqa: E402

pytestmark = pytest.mark.scene

#: Dose constant of the "conventional" preset (Gy·kg/GBq): 1 GBq of Y-90 decaying fully in 1 kg.
K = 49.67
#: Y-90 half-life (h): 64.05 h (DDEP/NNDC) to 64.1 h (2.67 d) in the literature; checks allow both.
Y90_HALF_LIFE_H = 64.05

#: Segments of the synthetic ground truth, in order.
SEGMENTS = ["Body", "Liver", "Tumor 1", "Tumor 2", "Portal vein", "Hepatic vein", "Hepatic artery",
            "Inferior vena cava", "Aorta", "Lung", "Heart", "Spleen", "Kidney", "Bone"]
TUMOURS = ["Tumor 1", "Tumor 2"]
PHASES = ["non-contrast", "arterial", "portal venous"]

#: Grids of the SMALL sample patient, worked out by hand from its documented layout: axial grids, centred
#: in-plane on the isocentre (x = y = 0) and axially on the anatomical frame's S = -360 mm (CT) or
#: -360 + 80 mm (SPECT). Origin LPS = centre - (n - 1)·spacing/2; IJK→RAS negates the first two rows.
#:   CT: 96 × 96 × 48 voxels of 4 × 4 × 6 mm → origin LPS (-190, -190, -360 - 47·3 = -501)
#:   SPECT: 64 × 64 × 50 voxels of 8.84 mm → origin LPS (-278.46, -278.46, -280 - 49·4.42 = -496.58)
CT_DIMENSIONS = (96, 96, 48)
CT_IJK_TO_RAS = np.array([[-4.0, 0, 0, 190.0], [0, -4.0, 0, 190.0], [0, 0, 6.0, -501.0], [0, 0, 0, 1]])
SPECT_DIMENSIONS = (64, 64, 50)
SPECT_IJK_TO_RAS = np.array([[-8.84, 0, 0, 278.46], [0, -8.84, 0, 278.46], [0, 0, 8.84, -496.58], [0, 0, 0, 1]])


# -- fixtures (headless, hcc, y90, ablation, sample, gui: Testing/conftest.py) --------------------------------
@pytest.fixture
def no_model_cards(tmp_path, monkeypatch):
    """An empty model registry (no built-in cards such as liver-classical, no user cards, no $HCCAI_MODEL_CARDS)."""
    from HCCInterventionalAILib.models import registry

    monkeypatch.setattr(registry, "builtin_cards_directory", lambda: tmp_path / "builtin")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HCCAI_MODEL_CARDS", str(tmp_path / "cards"))
    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def tiny_model(no_model_cards):
    """A registered tiny random-weight UNet card ("tiny-unet", labels liver and tumor); needs torch + MONAI."""
    require_torch()
    from test_models_support import card_dict, file_entry, save_state_dict, tiny_unet, write_card

    weights = save_state_dict(tiny_unet(seed=0), no_model_cards / "tiny.pt")
    card = card_dict([file_entry(weights)])
    card["input"]["patch_size"] = [48, 96, 96]  # one window covers the small sample CT: quick inference
    write_card(no_model_cards / "cards", card)
    return "tiny-unet"


# -- helpers: read nodes directly (VTK arrays), independently of the scene bridge ----------------------------
def _matrix(vtk_matrix) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _ijk_to_ras(volume_node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return _matrix(matrix)


def _array(volume_node) -> np.ndarray:
    """Voxels as a (k, j, i) array, straight from the node's vtkImageData."""
    image = volume_node.GetImageData()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(image.GetDimensions()[::-1])


def _labelmap(segmentation_node, name: str):
    segmentation = segmentation_node.GetSegmentation()
    segment = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName(name))
    return segment, segment.GetRepresentation(slicer.vtkSegmentationConverter.GetBinaryLabelmapRepresentationName())


def _own_masks(segmentation_node, names) -> dict[str, np.ndarray]:
    """Each segment's voxels on one grid spanning every segment's labelmap extent (IJK from 0)."""
    layers = {}
    for name in names:
        segment, labelmap = _labelmap(segmentation_node, name)
        i0, i1, j0, j1, k0, k1 = labelmap.GetExtent()
        layer = vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
        layers[name] = ((k0, j0, i0), layer == segment.GetLabelValue())
    shape = tuple(max(start[a] + mask.shape[a] for start, mask in layers.values()) for a in range(3))
    masks = {}
    for name, ((k0, j0, i0), layer) in layers.items():
        masks[name] = np.zeros(shape, dtype=bool)
        masks[name][k0:k0 + layer.shape[0], j0:j0 + layer.shape[1], i0:i0 + layer.shape[2]] = layer
    return masks


def _segment_mask(segmentation_node, name: str, reference_node) -> np.ndarray:
    """A segment's voxels (its label value in its labelmap layer) pasted into the reference volume's grid."""
    segment, labelmap = _labelmap(segmentation_node, name)
    to_world = vtk.vtkMatrix4x4()
    labelmap.GetImageToWorldMatrix(to_world)
    np.testing.assert_allclose(_matrix(to_world), _ijk_to_ras(reference_node), atol=1e-9)
    i0, i1, j0, j1, k0, k1 = labelmap.GetExtent()
    layer = vtk_to_numpy(labelmap.GetPointData().GetScalars()).reshape(k1 - k0 + 1, j1 - j0 + 1, i1 - i0 + 1)
    mask = np.zeros(reference_node.GetImageData().GetDimensions()[::-1], dtype=bool)
    n_k, n_j, n_i = mask.shape  # a segmentation that extends past the reference grid is cut to it
    mask[k0:k1 + 1, j0:j1 + 1, i0:i1 + 1] = (layer == segment.GetLabelValue())[:n_k - k0, :n_j - j0, :n_i - i0]
    return mask


def _column(table_node, name: str) -> list:
    column = table_node.GetTable().GetColumnByName(name)
    assert column is not None, f"table '{table_node.GetName()}' has no column '{name}'"
    return [column.GetValue(row) for row in range(column.GetNumberOfTuples())]


def _rows(table_node, key: str) -> dict[str, dict]:
    table = table_node.GetTable()
    names = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    columns = {name: _column(table_node, name) for name in names}
    return {row_key: {name: columns[name][row] for name in names} for row, row_key in enumerate(columns[key])}


def _fingerprint(node) -> tuple:
    """What must not change in an input node: name, geometry, voxels (or every labelmap layer), attributes."""
    attributes = tuple((name, node.GetAttribute(name)) for name in node.GetAttributeNames() or ())
    if node.IsA("vtkMRMLSegmentationNode"):
        segmentation = node.GetSegmentation()
        layers = []
        for index in range(segmentation.GetNumberOfSegments()):
            segment = segmentation.GetNthSegment(index)
            _, labelmap = _labelmap(node, segment.GetName())
            voxels = vtk_to_numpy(labelmap.GetPointData().GetScalars())
            layers.append((segmentation.GetNthSegmentID(index), segment.GetName(), tuple(segment.GetColor()),
                           segment.GetLabelValue(), labelmap.GetExtent(), hashlib.sha1(voxels.tobytes()).hexdigest()))
        return node.GetName(), attributes, tuple(layers)
    return (node.GetName(), attributes, tuple(_ijk_to_ras(node).ravel()), node.GetImageData().GetMTime(),
            hashlib.sha1(_array(node).tobytes()).hexdigest())


def _visible_names(scene) -> list[str]:
    nodes = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    return [node.GetName() for node in nodes if not node.GetHideFromEditors()]


# -- HCCInterventionalAI ---------------------------------------------------------------------------------------
def test_sample_patient_nodes_names_geometry_and_folder(hcc, headless, small_patient):
    logic = hcc.HCCInterventionalAILogic()
    nodes = logic.loadSamplePatient(seed=7, size="small")  # show=True: headless it must skip the layout

    assert sorted(nodes["ct"]) == sorted(PHASES)
    assert nodes["ctDisplayed"] is nodes["ct"]["portal venous"]
    expected = {f"Synthetic CT {phase}": nodes["ct"][phase] for phase in PHASES}
    expected.update({"Synthetic MAA SPECT": nodes["spect"], "Synthetic ground truth": nodes["segmentation"]})
    for name, node in expected.items():
        assert node.GetName() == name
        assert node.GetScene() is headless.scene
        assert node.GetAttribute(hcc.SYNTHETIC_ATTRIBUTE) == "1"

    for phase in PHASES:
        ct = nodes["ct"][phase]
        assert ct.GetImageData().GetDimensions() == CT_DIMENSIONS
        np.testing.assert_allclose(_ijk_to_ras(ct), CT_IJK_TO_RAS, atol=1e-9)
        assert ct.GetImageData().GetScalarTypeAsString() == "short"  # int16 Hounsfield units
    spect = nodes["spect"]
    assert spect.GetImageData().GetDimensions() == SPECT_DIMENSIONS
    np.testing.assert_allclose(_ijk_to_ras(spect), SPECT_IJK_TO_RAS, atol=1e-9)
    assert float(_array(spect).min()) >= 0.0 and float(_array(spect).sum()) > 0.0  # counts

    # voxels copied bit for bit from the generator (same seed → same arrays)
    patient = small_patient
    for phase in PHASES:
        assert np.array_equal(_array(nodes["ct"][phase]), patient.ct[phase].array)
    assert np.array_equal(_array(spect), patient.spect.array)

    segmentation = nodes["segmentation"].GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == SEGMENTS
    reference = segmentation.GetConversionParameter(
        slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName())
    matrix_and_extent = [float(v) for v in reference.strip(";").split(";")]
    np.testing.assert_allclose(np.reshape(matrix_and_extent[:16], (4, 4)), CT_IJK_TO_RAS, atol=1e-9)
    assert matrix_and_extent[16:] == [0, 95, 0, 95, 0, 47]
    for name in SEGMENTS:  # each mask equals the generator's ground truth on the CT grid
        mask = _segment_mask(nodes["segmentation"], name, nodes["ctDisplayed"])
        assert np.array_equal(mask, patient.truth.mask(name, allow_empty=True)), name

    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(headless.scene)
    for node in expected.values():
        parent = sh.GetItemParent(sh.GetItemByDataNode(node))
        assert sh.GetItemName(parent) == "Synthetic sample patient (seed 7)"

    again = logic.loadSamplePatient(seed=7, size="small", show=False)  # a second patient: new, unique names
    assert again["spect"].GetName() == "Synthetic MAA SPECT_1"
    assert again["segmentation"].GetName() == "Synthetic ground truth_1"
    visible = _visible_names(headless.scene)
    data_names = [n for n in visible if n.startswith("Synthetic ")]
    assert len(data_names) == len(set(data_names)) == 10


def test_structure_volumes_table_equals_voxel_counts(hcc, sample, headless):
    """Volume = voxel count × voxel volume, both read here from the segmentation's own labelmaps."""
    segmentation_node = sample["segmentation"]
    before = _fingerprint(segmentation_node)
    table, stats = hcc.HCCInterventionalAILogic().computeStructureVolumes(segmentation_node)

    assert table.GetName() == "Synthetic ground truth volumes"
    assert table.GetScene() is headless.scene
    voxel_ml = 4.0 * 4.0 * 6.0 / 1000.0  # CT voxel, mm³ → ml
    masks = _own_masks(segmentation_node, SEGMENTS)
    rows = _rows(table, "Segment")
    assert list(rows) == [*SEGMENTS, "All tumours"]
    for name in SEGMENTS:
        count = int(masks[name].sum())
        assert count > 0, name
        assert rows[name]["Voxels"] == count, name
        assert rows[name]["Volume (ml)"] == pytest.approx(count * voxel_ml, rel=1e-12), name

    liver_ml = masks["Liver"].sum() * voxel_ml
    tumour_union = masks["Tumor 1"] | masks["Tumor 2"]
    assert rows["All tumours"]["Voxels"] == int(tumour_union.sum())
    assert rows["All tumours"]["Volume (ml)"] == pytest.approx(tumour_union.sum() * voxel_ml, rel=1e-12)
    for name in TUMOURS:
        assert rows[name]["Percent of liver (%)"] == pytest.approx(100 * masks[name].sum() * voxel_ml / liver_ml)
    burden = 100.0 * tumour_union.sum() / masks["Liver"].sum()
    assert rows["All tumours"]["Percent of liver (%)"] == pytest.approx(burden, rel=1e-9)
    assert stats.tumour_burden_percent == pytest.approx(burden, rel=1e-9)
    assert math.isnan(rows["Liver"]["Percent of liver (%)"])
    assert 1000.0 < liver_ml < 2000.0  # an adult liver (1.2–1.8 L)

    assert _fingerprint(segmentation_node) == before
    second, _ = hcc.HCCInterventionalAILogic().computeStructureVolumes(segmentation_node, show=False)
    assert second is not table and second.GetName() == "Synthetic ground truth volumes_1"
    with pytest.raises(ValueError, match="Select a segmentation"):
        hcc.HCCInterventionalAILogic().computeStructureVolumes(None)


def test_model_registry_and_segment_with_tiny_model(hcc, headless, tiny_model):
    """A registered card is listed and described; segmenting adds a NEW node on the input's grid."""
    from HCCInterventionalAILib.imaging import Geometry, Volume
    from HCCInterventionalAILib.progress import Cancelled, CancelToken
    from HCCInterventionalAILib.scene import volume_to_node

    logic = hcc.HCCInterventionalAILogic()
    cards = logic.segmentationModels()
    assert [card.id for card in cards] == [tiny_model]
    html = logic.describeModel(tiny_model)
    for text in ("Tiny UNet (test)", "Intended use: Unit tests of the model-loading library", "Research use only"):
        assert text in html

    # a 20 × 24 × 28-voxel "CT" with a bright block
    array = np.full((20, 24, 28), -50, dtype=np.int16)
    array[5:15, 6:18, 8:20] = 120
    volume = Volume(array, Geometry(array.shape, (1.5, 1.5, 2.5), (-20.0, 10.0, 30.0)), name="Tiny CT")
    input_node = volume_to_node(headless.scene, volume)
    before = _fingerprint(input_node)
    seen = []
    node = logic.segment(input_node, tiny_model, device="cpu", progressCallback=lambda f, m: seen.append(f))
    assert node.GetName() == f"Tiny CT {tiny_model} segmentation"
    assert node.GetAttribute("HCCInterventionalAI.ModelCard") == "tiny-unet@1.0.0"
    assert _fingerprint(input_node) == before
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names and set(names) <= {"liver", "tumor"}
    masks = [_segment_mask(node, name, input_node) for name in names]  # asserts: on the input's grid
    assert not np.any(np.sum(masks, axis=0) > 1)  # argmax labels: no voxel in two segments
    if "liver" in names:  # (random weights: maybe absent) the card's SNOMED CT code travels with the segment
        entry = vtk.reference("")
        liver = segmentation.GetSegment(segmentation.GetSegmentIdBySegmentName("liver"))
        assert liver.GetTag(slicer.vtkSegment.GetTerminologyEntryTagName(), entry) and "10200004" in str(entry)

    count = headless.scene.GetNumberOfNodes()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        logic.segment(input_node, tiny_model, device="cpu", cancelToken=token)
    assert headless.scene.GetNumberOfNodes() == count
    with pytest.raises(ValueError, match="needs 1 input volumes"):
        logic.segment([input_node, input_node], tiny_model)
    with pytest.raises(ValueError, match="Select an input volume"):
        logic.segment(None, tiny_model)


def test_hcc_self_test(hcc, headless, no_model_cards):
    test = hcc.HCCInterventionalAITest()
    test.runTest()  # loads the sample and measures it, then clears the scene and reads the (empty) registry
    assert slicer.mrmlScene is headless.scene


# -- Y90Dosimetry ----------------------------------------------------------------------------------------------
def _counts_in(spect_node, mask) -> float:
    return float(_array(spect_node)[mask].sum())


def test_partition_plan_on_sample(y90, sample, headless, tmp_path):
    """Partition model to 205 Gy in the tumours (glass), kernel dose, CT densities, vial order, RT Dose.

    Expectations (Ho et al. 1996; AAPM TG-144), with masses and uptakes read from the plan table and the
    SPECT node:  T/N = (C_T/m_T)/(C_N/m_N),  A = D_T·(T/N·m_T + m_N) / (K·T/N·(1 − LSF)),
    D_lung = K·A·LSF/m_lung,  LSF = C_lung/(C_lung + C_liver),  vial = A·2^(Δt/T½).
    """
    spect, ct, segmentation_node = sample["spect"], sample["ctDisplayed"], sample["segmentation"]
    inputs = {node.GetID(): _fingerprint(node) for node in (spect, ct, segmentation_node)}
    names_before = set(_visible_names(headless.scene))
    progress = []
    outputs = y90.Y90DosimetryLogic().plan(
        spect, segmentation_node, method="partition", microsphere="glass", ctVolumeNode=ct, target="tumour",
        target_dose_gy=205, treatment=datetime(2026, 3, 2, 10), calibration=datetime(2026, 3, 1, 12),
        rtDoseFolder=str(tmp_path / "rtdose"), progressCallback=lambda f, m: progress.append((f, m)))
    result = outputs["result"]

    # inputs untouched; every output is a NEW node with a name of its own
    assert {node.GetID(): _fingerprint(node) for node in (spect, ct, segmentation_node)} == inputs
    new_nodes = {key: outputs[key] for key in ("dose", "planTable", "statisticsTable", "warningsTable", "dvhChart")}
    assert all(node is not None for node in new_nodes.values())
    new_names = [node.GetName() for node in new_nodes.values()]
    assert len(set(new_names)) == len(new_names) and not set(new_names) & names_before
    assert all(name.startswith("Synthetic MAA SPECT Y-90 ") for name in new_names)
    assert outputs["dose"].GetName() == "Synthetic MAA SPECT Y-90 dose (predicted)"
    kinds = {key: node.GetAttribute(y90.RESULT_ATTRIBUTE) for key, node in new_nodes.items()}
    assert kinds == {"dose": "dose", "planTable": "plan", "statisticsTable": "statistics",
                     "warningsTable": "warnings", "dvhChart": "dvh"}
    visible = _visible_names(headless.scene)
    assert len(visible) == len(set(visible))

    # the dose lies on the SPECT grid
    dose = outputs["dose"]
    assert dose.GetImageData().GetDimensions() == spect.GetImageData().GetDimensions() == SPECT_DIMENSIONS
    np.testing.assert_allclose(_ijk_to_ras(dose), _ijk_to_ras(spect), atol=1e-9)
    assert np.all(np.isfinite(_array(dose))) and float(_array(dose).min()) >= 0.0

    # partition model, from the table's masses and the SPECT counts in the compartments
    rows = _rows(outputs["planTable"], "compartment")
    assert [rows[name]["kind"] for name in rows] == ["tumour", "tumour", "normal", "lung"]
    assert list(rows) == [*TUMOURS, "normal liver", "lungs"]
    masks = result.structures  # the compartments on the SPECT grid
    m_t = sum(rows[name]["mass_kg"] for name in TUMOURS)
    m_n, m_lung = rows["normal liver"]["mass_kg"], rows["lungs"]["mass_kg"]
    c_t = sum(_counts_in(spect, masks[name]) for name in TUMOURS)
    c_n = _counts_in(spect, masks["normal liver"])
    tn = (c_t / m_t) / (c_n / m_n)
    assert 1.0 < tn < 20.0  # a hypervascular HCC takes up more than the normal liver
    lung = masks["lung region"] & ~masks["Liver"]
    c_lung, c_liver = _counts_in(spect, lung), _counts_in(spect, masks["Liver"])
    lsf = c_lung / (c_lung + c_liver)
    assert 0.0 < lsf < 1.0
    assert rows["lungs"]["activity_fraction"] == pytest.approx(lsf, rel=1e-9)
    assert float(outputs["planTable"].GetAttribute("Y90Dosimetry.LungShuntFraction")) == pytest.approx(lsf, rel=1e-3)

    activity = 205.0 * (tn * m_t + m_n) / (K * tn * (1.0 - lsf))
    assert result.activity_gbq == pytest.approx(activity, rel=1e-9)
    assert float(outputs["planTable"].GetAttribute("Y90Dosimetry.ActivityGBq")) == pytest.approx(activity, rel=1e-3)
    assert sum(row["activity_GBq"] for row in rows.values()) == pytest.approx(activity, rel=1e-9)
    assert K * sum(rows[name]["activity_GBq"] for name in TUMOURS) / m_t == pytest.approx(205.0, rel=1e-9)
    assert rows["normal liver"]["model_mean_dose_Gy"] == pytest.approx(205.0 / tn, rel=1e-9)
    assert rows["lungs"]["activity_GBq"] == pytest.approx(activity * lsf, rel=1e-9)
    assert rows["lungs"]["model_mean_dose_Gy"] == pytest.approx(K * activity * lsf / m_lung, rel=1e-9)
    for name, row in rows.items():
        assert row["model_mean_dose_Gy"] == pytest.approx(K * row["activity_GBq"] / row["mass_kg"], rel=1e-9), name
        voxels = masks["lung region" if name == "lungs" else name].sum()
        assert row["volume_ml"] == pytest.approx(voxels * 8.84 ** 3 / 1000.0, rel=1e-9), name
        density = row["mass_kg"] * 1000.0 / row["volume_ml"]  # g/ml, from the CT
        assert (0.1 < density < 0.5) if name == "lungs" else (1.0 < density < 1.1), (name, density)

    # vial ordered 22 h before treatment: decay back to the calibration time
    hours = (datetime(2026, 3, 2, 10) - datetime(2026, 3, 1, 12)).total_seconds() / 3600.0
    assert result.vial.activity_at_calibration_gbq == pytest.approx(activity * 2 ** (hours / Y90_HALF_LIFE_H),
                                                                    rel=2e-3)

    # DVH chart: one series per non-empty structure, in the segment's colour
    chart = outputs["dvhChart"]
    series = [chart.GetNthPlotSeriesNode(i) for i in range(chart.GetNumberOfPlotSeriesNodes())]
    assert {s.GetName() for s in series} <= {*SEGMENTS, "normal liver"} and {*TUMOURS, "normal liver"} <= {
        s.GetName() for s in series}
    vtk_segmentation = segmentation_node.GetSegmentation()
    for s in series:
        segment = vtk_segmentation.GetSegment(vtk_segmentation.GetSegmentIdBySegmentName(s.GetName()))
        if segment is not None:
            np.testing.assert_allclose(s.GetColor(), segment.GetColor(), atol=1e-6)

    # RT Dose file, read back with pydicom
    pydicom = pytest.importorskip("pydicom")
    rtdose = pydicom.dcmread(outputs["rtDosePath"])
    assert (rtdose.Modality, rtdose.DoseSummationType, rtdose.DoseUnits) == ("RTDOSE", "PLAN", "GY")
    assert (rtdose.Columns, rtdose.Rows, int(rtdose.NumberOfFrames)) == SPECT_DIMENSIONS

    fractions = [f for f, _ in progress]
    assert fractions == sorted(fractions) and progress[-1] == (1.0, "Done")
    html = y90.Y90DosimetryLogic().summaryHtml(outputs)
    assert f"{activity:.2f} GBq" in html and f"{result.vial.activity_at_calibration_gbq:.2f} GBq" in html

    # a second plan on the same inputs: new nodes again, never the first plan's
    again = y90.Y90DosimetryLogic().plan(spect, segmentation_node, method="partition", ctVolumeNode=ct,
                                         dose_method="none", show=False)
    assert again["dose"] is None and again["dvhChart"] is None
    assert again["planTable"].GetName() == "Synthetic MAA SPECT Y-90 plan_1"


@pytest.mark.parametrize("method", ["mird", "bsa", "multi-compartment"])
def test_other_methods_follow_their_formulas(y90, sample, method):
    """MIRD: K·A·(1−LSF)/m_liver = D.  BSA (SIR-Spheres): A = BSA − 0.2 + V_T/V_liver, BSA = 0.007184·W^0.425·H^0.725
    (no reduction for LSF < 10 %).  Multi-compartment to 70 Gy in the normal liver: each tumour gets
    70·(C_i/m_i)/(C_N/m_N) Gy.  All with local deposition (resin)."""
    spect, ct, segmentation_node = sample["spect"], sample["ctDisplayed"], sample["segmentation"]
    kwargs = {"mird": {"target_dose_gy": 120.0}, "bsa": {"height_cm": 170.0, "weight_kg": 70.0},
              "multi-compartment": {"target": "normal", "target_dose_gy": 70.0}}[method]
    outputs = y90.Y90DosimetryLogic().plan(spect, segmentation_node, method=method, microsphere="resin",
                                           ctVolumeNode=ct, dose_method="local", show=False, **kwargs)
    result, rows = outputs["result"], _rows(outputs["planTable"], "compartment")
    activity, lsf = result.activity_gbq, rows["lungs"]["activity_fraction"]
    assert 0.0 <= lsf < 0.1
    liver_rows = [rows[name] for name in (*TUMOURS, "normal liver")]
    assert sum(row["activity_GBq"] for row in liver_rows) == pytest.approx(activity * (1 - lsf), rel=1e-9)
    assert rows["lungs"]["model_mean_dose_Gy"] == pytest.approx(K * activity * lsf / rows["lungs"]["mass_kg"], rel=1e-9)
    if method == "mird":
        liver_mass = sum(row["mass_kg"] for row in liver_rows)  # tumours + normal = the whole (treated) liver
        assert K * activity * (1 - lsf) / liver_mass == pytest.approx(120.0, rel=1e-6)
    elif method == "bsa":
        bsa = 0.007184 * 70.0 ** 0.425 * 170.0 ** 0.725
        v_t = sum(rows[name]["volume_ml"] for name in TUMOURS)
        v_liver = sum(row["volume_ml"] for row in liver_rows)
        assert activity == pytest.approx(bsa - 0.2 + v_t / v_liver, rel=1e-9)
    else:
        masks = result.structures
        normal = rows["normal liver"]
        assert normal["model_mean_dose_Gy"] == pytest.approx(70.0, rel=1e-9)
        n_concentration = _counts_in(spect, masks["normal liver"]) / normal["mass_kg"]
        for name in TUMOURS:
            tn = _counts_in(spect, masks[name]) / rows[name]["mass_kg"] / n_concentration
            assert rows[name]["model_mean_dose_Gy"] == pytest.approx(70.0 * tn, rel=1e-9), name
    dose = _array(outputs["dose"]).astype(float)
    assert not dose[~result.structures["Liver"]].any()  # local deposition: dose only where the liver's activity is


def test_local_dose_conserves_the_prescribed_activity(y90, sample):
    """Prescribed 2 GBq, no CT (uniform liver density): D_i = K·A_i/(ρ·V) with A_i ∝ counts_i in the liver,
    so D/counts is constant in the liver, 0 outside, and Σ D·ρ·V = K·A·(1 − LSF)."""
    spect, segmentation_node = sample["spect"], sample["segmentation"]
    outputs = y90.Y90DosimetryLogic().plan(spect, segmentation_node, method="partition", microsphere="resin",
                                           activity_gbq=2.0, dose_method="local", show=False)
    result, rows = outputs["result"], _rows(outputs["planTable"], "compartment")
    assert result.activity_gbq == pytest.approx(2.0, rel=1e-12)
    lsf = rows["lungs"]["activity_fraction"]
    liver = result.structures["Liver"]
    dose, counts = _array(outputs["dose"]).astype(float), _array(spect).astype(float)
    assert not dose[~liver].any()
    hot = liver & (counts > 0)
    ratio = dose[hot] / counts[hot]
    np.testing.assert_allclose(ratio, ratio.mean(), rtol=1e-5)
    normal = rows["normal liver"]
    density = normal["mass_kg"] * 1000.0 / normal["volume_ml"]  # the liver preset, g/ml
    voxel_ml = 8.84 ** 3 / 1000.0
    assert float(dose.sum()) * density * voxel_ml / 1000.0 == pytest.approx(K * 2.0 * (1 - lsf), rel=1e-5)
    assert normal["ldm_mean_dose_Gy"] == pytest.approx(dose[result.structures["normal liver"]].mean(), rel=1e-5)


def test_plan_refuses_bad_inputs_and_cancels_cleanly(y90, sample, headless):
    from HCCInterventionalAILib.progress import Cancelled, CancelToken
    from HCCInterventionalAILib.scene import node_to_segmentation

    logic, spect, segmentation_node = y90.Y90DosimetryLogic(), sample["spect"], sample["segmentation"]
    count = headless.scene.GetNumberOfNodes()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        logic.plan(spect, segmentation_node, cancelToken=token)
    with pytest.raises(ValueError, match="Nope not in the segmentation"):
        logic.plan(spect, segmentation_node, segments={"liver": "Nope"})
    with pytest.raises(ValueError, match="together with the treatment time"):
        logic.plan(spect, segmentation_node, calibration=datetime(2026, 3, 1, 12))
    with pytest.raises(ValueError, match="choose one of"):
        logic.plan(spect, segmentation_node, method="PARTITIONING")
    with pytest.raises(ValueError, match="Unknown plan option"):
        logic.plan(spect, segmentation_node, prescribedActivityGBq=2.0)  # the old vocabulary is gone
    with pytest.raises(ValueError, match="Select the activity image"):
        logic.plan(None, segmentation_node)
    assert headless.scene.GetNumberOfNodes() == count  # nothing added by any refused or cancelled plan

    # segments given by ID replace the detected roles
    from Y90DosimetryLib import StructureRoles

    given = logic.segmentRoles(segmentation_node, {"liver": "Liver", "tumours": "Tumor 2", "lungs": ""})
    roles = StructureRoles.resolve(node_to_segmentation(segmentation_node), given)
    assert (roles.liver, roles.tumours, roles.lungs) == ("Liver", ["Tumor 2"], ["Lung"])


def test_y90_self_test(y90, headless):
    y90.Y90DosimetryTest().runTest()
    assert headless.scene.GetFirstNodeByName("Synthetic MAA SPECT Y-90 plan") is not None


# -- AblationSimulator -----------------------------------------------------------------------------------------
def _hand_geometry(tip, entry):
    """Length = Euclidean distance; angle to the axial plane = atan(|ΔS| / √(ΔR² + ΔA²))."""
    delta = [e - t for t, e in zip(tip, entry, strict=True)]
    return math.dist(tip, entry), math.degrees(math.atan2(abs(delta[2]), math.hypot(delta[0], delta[1])))


def test_applicators_and_table(ablation, headless):
    logic = ablation.AblationSimulatorLogic()
    cases = {"MWA 1": ((12.5, -30.0, 7.0), (-20.0, 15.0, 60.0)),  # Δ = (-32.5, 45, 53): length √5890.25
             "MWA 2": ((0.0, 0.0, 0.0), (0.0, 60.0, 0.0))}       # in the axial plane: 60 mm, 0°
    lines = {name: logic.addApplicator(tipRAS=tip, entryRAS=entry, name=name) for name, (tip, entry) in cases.items()}
    unplaced = logic.addApplicator(name="MWA 1")  # same name: made unique; no points: not in the table
    assert unplaced.GetName() == "MWA 1_1" and unplaced.GetNumberOfControlPoints() == 0
    assert logic.applicatorNodes() == [*lines.values(), unplaced]

    for name, line in lines.items():
        tip, entry = cases[name]
        assert line.GetName() == name and line.GetAttribute(ablation.APPLICATOR_ATTRIBUTE) == "1"
        assert [line.GetNthControlPointLabel(i) for i in range(2)] == ["tip", "entry"]
        np.testing.assert_allclose(line.GetNthControlPointPositionWorld(0), tip, atol=1e-9)
        np.testing.assert_allclose(line.GetNthControlPointPositionWorld(1), entry, atol=1e-9)
        applicator = logic.applicatorFromNode(line)
        np.testing.assert_allclose(applicator.tip_lps, (-tip[0], -tip[1], tip[2]), atol=1e-9)
        length, angle = _hand_geometry(tip, entry)
        assert applicator.length_mm == pytest.approx(length, rel=1e-12)
        assert applicator.insertion_angle_deg == pytest.approx(angle, abs=1e-9)
    assert _hand_geometry(*cases["MWA 1"])[0] == pytest.approx(math.sqrt(5890.25))

    table = logic.applicatorsTable()
    assert table.GetName() == "Applicators" and table.GetAttribute(ablation.TABLE_ATTRIBUTE) == "1"
    rows = _rows(table, "Applicator")
    assert list(rows) == ["MWA 1", "MWA 2"]
    for name, (tip, entry) in cases.items():
        length, angle = _hand_geometry(tip, entry)
        row = rows[name]
        assert row["Length (mm)"] == pytest.approx(length, rel=1e-9)
        assert row["Angle to axial plane (deg)"] == pytest.approx(angle, abs=1e-7)
        got = [row[f"{p} {axis} (mm)"] for p in ("Tip", "Entry") for axis in "RAS"]
        np.testing.assert_allclose(got, [*tip, *entry], atol=1e-9)

    # moving the entry straight above the tip, then refreshing: same table, 90°
    lines["MWA 2"].SetNthControlPointPosition(1, 0.0, 0.0, 35.0)
    assert logic.applicatorsTable(tableNode=table, show=False) is table
    assert _rows(table, "Applicator")["MWA 2"]["Angle to axial plane (deg)"] == pytest.approx(90.0)
    assert _rows(table, "Applicator")["MWA 2"]["Length (mm)"] == pytest.approx(35.0)
    # a table that is not this module's output is never overwritten
    other = headless.scene.AddNewNodeByClass("vtkMRMLTableNode", "Someone else's table")
    result = logic.applicatorsTable(tableNode=other, show=False)
    assert result is not other and other.GetNumberOfRows() == 0 and result.GetName() == "Applicators_1"

    with pytest.raises(ValueError, match="both the tip and the entry"):
        logic.addApplicator(tipRAS=(1, 2, 3))
    with pytest.raises(ValueError, match="no direction"):
        logic.addApplicator(tipRAS=(1, 1, 1), entryRAS=(1, 1, 1))
    with pytest.raises(RuntimeError, match="needs the Slicer application"):
        logic.startPlacement(unplaced)  # headless: no slicer.app


def test_ablation_self_test(ablation, headless):
    ablation.AblationSimulatorTest().runTest()
    assert headless.scene.GetFirstNodeByName("Applicators") is not None


# -- widgets (fake Qt widgets from the .ui files, real scene and logic) ------------------------------------------
def test_hcc_widget_smoke(hcc, gui, headless, no_model_cards, monkeypatch):
    widget, ui = slicer_stubs.make_widget(hcc)
    assert not ui.segmentButton.enabled  # no volume yet
    assert "No segmentation model card is registered" in ui.modelInfoLabel.text
    parameters = widget._parameterNode
    assert parameters.sampleSize is hcc.SampleSize.STANDARD and parameters.sampleSeed == 7  # class defaults

    parameters.sampleSize = hcc.SampleSize.SMALL
    assert widget.logic.getParameterNode().sampleSize is hcc.SampleSize.SMALL  # stored on the scene's node
    ui.loadSampleButton.emit("clicked(bool)", True)
    assert ui.sampleStatusLabel.text.startswith("Loaded 3 CT phases")
    assert parameters.inputVolume.GetName() == "Synthetic CT portal venous"
    assert parameters.statsSegmentation.GetName() == "Synthetic ground truth"
    assert ui.segmentButton.enabled and ui.computeVolumesButton.enabled

    ui.computeVolumesButton.emit("clicked(bool)", True)
    assert ui.volumesResultLabel.text.startswith("Table 'Synthetic ground truth volumes': 14 segments; liver tumour")

    with pytest.raises(RuntimeError, match="PyTorch extension"):  # no PyTorchUtils outside Slicer
        ui.segmentButton.emit("clicked(bool)", True)
    monkeypatch.setattr(hcc, "ensurePyTorch", lambda: None)
    with pytest.raises(ValueError, match="No segmentation model is selected"):
        ui.segmentButton.emit("clicked(bool)", True)
    assert [message for message, _ in gui.errorDisplays] == ["AI segmentation failed."] * 2
    assert ui.segmentButton.text == "Segment" and widget._cancelToken is None

    widget.exit()
    widget.enter()
    widget.onSceneStartClose(None, None)
    assert widget._parameterNode is None
    widget.onSceneEndClose(None, None)
    assert widget._parameterNode is not None
    widget.cleanup()


@pytest.mark.slow
def test_hcc_widget_segments_and_cancels(hcc, gui, headless, tiny_model, monkeypatch):
    widget, ui = slicer_stubs.make_widget(hcc)
    monkeypatch.setattr(hcc, "ensurePyTorch", lambda: None)
    assert ui.modelComboBox.items == [("Tiny UNet (test) (tiny-unet@1.0.0)", None)]
    assert widget._parameterNode.modelId == tiny_model
    widget._parameterNode.sampleSize = hcc.SampleSize.SMALL
    widget._parameterNode.device = hcc.ComputeDevice.CPU
    widget._parameterNode.runInWorker = False  # in Slicer's process (the worker: test_models_worker.py)
    ui.loadSampleButton.emit("clicked(bool)", True)
    ui.segmentButton.emit("clicked(bool)", True)
    name = "Synthetic CT portal venous tiny-unet segmentation"
    assert ui.segmentationStatusLabel.text == f"Created segmentation '{name}'."
    assert widget._parameterNode.statsSegmentation.GetName() == name

    _click_cancel_while_running(monkeypatch, hcc, widget, ui.segmentButton, after_fraction=0.3)
    count = headless.scene.GetNumberOfNodes()
    ui.segmentButton.emit("clicked(bool)", True)
    assert ui.segmentationStatusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count and ui.segmentButton.text == "Segment"
    widget.cleanup()


def test_ablation_widget_smoke(ablation, gui, headless):
    widget, ui = slicer_stubs.make_widget(ablation)
    assert ui.applicatorInfoLabel.text == "No applicator selected."
    ui.addApplicatorButton.emit("clicked(bool)", True)
    line = widget._parameterNode.currentApplicator
    assert line.GetName() == "Applicator" and ui.applicatorInfoLabel.text.startswith("0 of 2 points placed")
    interaction = gui.applicationLogic().GetInteractionNode()
    assert interaction.GetCurrentInteractionMode() == interaction.Place
    assert gui.applicationLogic().GetSelectionNode().GetActivePlaceNodeID() == line.GetID()

    line.AddControlPoint([10, -20, 5])  # the user's two clicks
    line.AddControlPoint([40, -20, 45])
    line.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointPositionDefinedEvent)
    assert [line.GetNthControlPointLabel(i) for i in range(2)] == ["tip", "entry"]
    assert "Length <b>50.0 mm</b>, <b>53.1°</b>" in ui.applicatorInfoLabel.text  # 3-4-5 triangle: atan(4/3)

    ui.updateTableButton.emit("clicked(bool)", True)
    table = widget._parameterNode.applicatorTable
    assert table.GetName() == "Applicators" and table.GetNumberOfRows() == 1
    assert ui.statusLabel.text == "1 applicator(s) in table 'Applicators'."
    line.SetNthControlPointPosition(1, 10, -20, 55)  # dragged straight above the tip
    line.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert _rows(table, "Applicator")["Applicator"]["Angle to axial plane (deg)"] == pytest.approx(90.0)
    assert "<b>90.0°</b>" in ui.applicatorInfoLabel.text
    widget.exit()
    widget.cleanup()


def test_y90_widget_smoke(y90, gui, headless, sample, monkeypatch):
    widget, ui = slicer_stubs.make_widget(y90)
    parameters = widget._parameterNode
    assert parameters.activityVolume is sample["spect"] and parameters.segmentation is sample["segmentation"]
    combo_names = [text for text, _ in ui.liverSegmentComboBox.items]
    assert combo_names[0].startswith("(detect") and combo_names[1:] == SEGMENTS
    ui.tumourSegmentComboBox.currentIndex = ui.tumourSegmentComboBox.findData("Tumor 1")
    assert parameters.tumourSegmentId == "Tumor 1"
    parameters.method = y90.DosimetryMethod.BSA
    assert ui.heightSpinBox.enabled and not ui.targetDoseSpinBox.enabled
    parameters.method = y90.DosimetryMethod.PARTITION
    parameters.voxelDosimetry = y90.VoxelDosimetry.LOCAL
    parameters.runInWorker = False  # in Slicer's process here; the worker path: Testing/test_y90_worker.py

    ui.applyButton.emit("clicked(bool)", True)
    assert ui.statusLabel.text == "Done: new dose volume, tables and DVH chart in the scene."
    assert ui.applyButton.text == "Plan and compute dose" and not ui.progressBar.visible
    assert ui.resultsLabel.text.startswith("<b>Activity at treatment:")
    assert "Tumor 2" not in ui.resultsLabel.text.split("Warnings")[0]  # only the chosen tumour is a compartment

    _click_cancel_while_running(monkeypatch, y90, widget, ui.applyButton, after_fraction=0.2)
    count = headless.scene.GetNumberOfNodes()
    ui.applyButton.emit("clicked(bool)", True)
    assert ui.statusLabel.text == "Cancelled; nothing was added to the scene."
    assert headless.scene.GetNumberOfNodes() == count and ui.applyButton.text == "Plan and compute dose"

    segmentation = parameters.segmentation.GetSegmentation()
    segmentation.GetSegment("Liver").SetName("Liver renamed")  # the pickers follow the segmentation
    assert ui.liverSegmentComboBox.items[2][0] == "Liver renamed"
    widget.exit()
    widget.onSceneStartClose(None, None)
    widget.cleanup()


@pytest.mark.parametrize("module_name", ["HCCInterventionalAI", "Y90Dosimetry"])
def test_parameter_node_enums_label_every_member(headless, module_name):
    """Slicer's parameter node wrapper fills an enum's combo box with ``EnumClass.label(member)``: every member
    needs its own, non-empty text."""
    module = headless.load(module_name)
    enums = [value for value in vars(module).values()
             if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == module_name]
    assert len(enums) >= 2
    for enum_class in enums:
        labels = [enum_class.label(member) for member in enum_class]
        assert all(isinstance(text, str) and text for text in labels), enum_class
        assert len(set(labels)) == len(labels), f"{enum_class.__name__} labels are not distinct: {labels}"


def test_stand_ins_leave_slicer_and_sys_modules_as_they_were(tmp_path):
    """Installing and undoing the stand-ins (widgets included) restores ``slicer``, ``slicer.util`` and
    ``sys.modules`` exactly: same attributes, same objects (slicer-core's MRML classes never replaced)."""
    import sys

    def snapshot():
        return (dict(vars(slicer)), dict(vars(slicer.util)), set(sys.modules))

    before = snapshot()
    patch = pytest.MonkeyPatch()
    try:
        env = slicer_stubs.install(patch)
        slicer_stubs.install_gui(env)
        env.load("AblationSimulator")
        assert slicer.mrmlScene is env.scene and slicer.vtkMRMLScene is before[0]["vtkMRMLScene"]
        assert "slicer.ScriptedLoadableModule" in sys.modules and hasattr(slicer, "app")
        env.close()
    finally:
        patch.undo()
    after = snapshot()
    for old, new in zip(before[:2], after[:2], strict=True):
        assert old.keys() == new.keys()
        assert all(new[key] is old[key] for key in old)
    assert {"AblationSimulator", "slicer.i18n", "slicer.ScriptedLoadableModule"}.isdisjoint(after[2] - before[2])


def _click_cancel_while_running(monkeypatch, module, widget, button, after_fraction: float) -> None:
    """Make the user press ``button`` (which reads "Cancel" while work runs) once progress passes a fraction."""
    original = module.progress_to_widgets

    def clicking_cancel(bar, label):
        callback = original(bar, label)

        def inner(fraction, message):
            callback(fraction, message)
            if fraction > after_fraction and widget._cancelToken is not None and not widget._cancelToken.cancelled:
                assert button.text == "Cancel"
                button.emit("clicked(bool)", True)
        return inner

    monkeypatch.setattr(module, "progress_to_widgets", clicking_cancel)
