"""End to end: the `hccai` command on the synthetic sample patient, and its scene bundle reloaded with real MRML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from optional_deps import require_mrml, require_torch
from reference_data import TARANIS
from typer.testing import CliRunner

from HCCInterventionalAILib.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "hccai-demo"
    result = runner.invoke(app, ["demo", "--size", "small", "--quiet", "--output", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


def test_help_documents_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "sample", "models", "y90", "version"):
        assert command in result.output
    for command in ("demo", "sample", "y90", "models"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


def test_demo_writes_report_scene_and_results(demo_dir: Path):
    report = (demo_dir / "report.html").read_text(encoding="utf-8")
    assert report.count("<img") >= 3, "the report must have pictures"
    assert "SYNTHETIC" in report
    results = json.loads((demo_dir / "results.json").read_text())
    assert all(status.startswith("ok") for status in results["steps"].values()), results["steps"]
    assert (demo_dir / "scene.mrb").stat().st_size > 10_000


def test_results_json_holds_the_numbers_the_report_shows(demo_dir: Path):
    """Every Y-90 number of the report (compartment doses, lung dose, DVH metrics, gamma criteria and pass rate) is
    in results.json, rounded as the report prints it (4 significant figures): each value from the JSON, formatted
    with the report's own number format, must appear as a table cell of the report."""
    import html

    from HCCInterventionalAILib.report.html import format_number

    report = html.unescape((demo_dir / "report.html").read_text(encoding="utf-8"))
    y90 = json.loads((demo_dir / "results.json").read_text())["y90"]
    cells = [row["model_mean_dose_Gy"] for row in y90["compartments"]]
    cells += [row[key] for row in y90["dose_metrics"] for key in ("mean_Gy", "D70_Gy", "V100_%")]
    cells += [y90["methods"][0]["lung_dose_Gy"], y90["methods"][0]["activity_GBq"]]
    for value in cells:
        assert f">{format_number(value, zero_below=1e-6)}<" in report, value
    assert y90["lung_dose_gy"] == pytest.approx(y90["methods"][0]["lung_dose_Gy"], rel=1e-3)
    assert y90["gamma_criteria"] == {"dose_percent": 5.0, "dta_mm": 5.0, "normalisation": "global", "region": "Liver"}
    for rate in y90["gamma_pass_percent"].values():
        assert f"pass rate {rate:.1f}%" in report
    sample = json.loads((demo_dir / "results.json").read_text())["sample_patient"]
    assert sample["parameters"]["lung_shunt_fraction"] == 0.08 and len(sample["structures"]) >= 14


@pytest.mark.scene
def test_demo_scene_bundle_reloads_intact(demo_dir: Path):
    require_mrml()
    from HCCInterventionalAILib.scene import load_bundle, node_to_segmentation, node_to_volume

    scene = load_bundle(demo_dir / "scene.mrb")
    volumes = {n.GetName(): n for n in _nodes(scene, "vtkMRMLScalarVolumeNode")}
    assert {"Sample CT non-contrast", "Sample CT arterial", "Sample CT portal venous", "Sample MAA SPECT"} <= set(volumes)
    ct = node_to_volume(volumes["Sample CT arterial"])
    assert ct.array.min() < -500 and ct.array.max() > 200, "HU values must survive the bundle"
    segmentations = {n.GetName(): n for n in _nodes(scene, "vtkMRMLSegmentationNode")}
    truth = node_to_segmentation(segmentations["Sample ground truth"], ct.geometry)
    assert {"Liver", "Tumor 1", "Tumor 2", "Lung"} <= set(truth.names)
    assert truth.volume_ml("Liver") > 500
    assert any(n.GetName() == "Sample structure volumes" for n in _nodes(scene, "vtkMRMLTableNode"))


def test_demo_command_refuses_an_unknown_size(tmp_path: Path):
    result = runner.invoke(app, ["demo", "--size", "huge", "--output", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert "--size" in result.output


def test_console_script_runs():
    completed = subprocess.run([sys.executable, "-m", "HCCInterventionalAILib.cli.main", "version"],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0 and "hccai" in completed.stdout


def _nodes(scene, class_name: str) -> list:
    return [scene.GetNthNodeByClass(i, class_name) for i in range(scene.GetNumberOfNodesByClass(class_name))]



@pytest.mark.skipif(not TARANIS.is_dir(), reason="real sample data ../shared/data/y90/taranis-sample is absent")
def test_y90_command_on_the_real_taranis_case(tmp_path: Path):
    """The real 99mTc-MAA case has no lung segment: the plan must say so, and the written RT Dose must hold the
    same dose as the NRRD dose map (DoseGridScaling · pixel data = dose within 0.1% of the maximum)."""
    from HCCInterventionalAILib.imaging.io import read_volume
    from Y90DosimetryLib import read_rtdose

    out = tmp_path / "plan"
    result = runner.invoke(app, ["y90", "--spect", str(TARANIS / "patient_2_SPECT.nrrd"), "--segmentation",
                                 str(TARANIS / "patient_2_Segmentation.seg.nrrd"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "No lung segment" in result.output
    plan = json.loads((out / "plan.json").read_text())
    assert 0 < plan["lung_shunt"]["lung_shunt_fraction"] < 0.3
    dose = read_volume(out / "dose.nrrd")
    rtdose = read_rtdose(out / "dose-rtdose.dcm")
    assert abs(rtdose.array.max() - dose.array.max()) <= 1e-3 * dose.array.max()
    assert "<img" in (out / "report.html").read_text()


def test_y90_command_reports_bad_input_clearly(tmp_path: Path):
    missing = tmp_path / "nope.nrrd"
    result = runner.invoke(app, ["y90", "--spect", str(missing), "--segmentation", str(missing), "-o",
                                 str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "Error:" in result.output and "nope.nrrd" in result.output


def test_segment_and_models_commands_with_a_local_card(tmp_path: Path, monkeypatch):
    """A pointwise TorchScript 'network' (class 1 where the windowed input > 0.5) registered through
    $HCCAI_MODEL_CARDS: `hccai models list/info` show it and `hccai segment` labels exactly the voxels above
    50 HU (the analytic answer for the card's window [0, 100] HU)."""
    torch, _ = require_torch()
    import numpy as np
    from test_models_support import LABELS, card_dict, file_entry, write_card

    from HCCInterventionalAILib.imaging.io import read_segmentation, write_volume
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.models import clear_model_cache

    class Threshold(torch.nn.Module):
        def forward(self, x):
            return torch.cat([0.5 - x, x - 0.5], dim=1) * 10.0

    model = tmp_path / "threshold.ts"
    torch.jit.script(Threshold()).save(str(model))
    card = card_dict([file_entry(model)], id="threshold-test", format="torchscript", network=None,
                     input={"modality": "CT", "intensity": {"window": [0, 100], "normalisation": "range"},
                            "patch_size": [16, 16, 16]},
                     output={"activation": "softmax", "labels": LABELS[:2]})
    write_card(tmp_path / "cards", card)
    monkeypatch.setenv("HCCAI_MODEL_CARDS", str(tmp_path / "cards"))
    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path / "cache"))
    clear_model_cache()

    listing = runner.invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and "threshold-test" in listing.output
    info = runner.invoke(app, ["models", "info", "threshold-test"])
    assert info.exit_code == 0 and "not for clinical use" in info.output

    rng = np.random.default_rng(0)
    image = rng.uniform(-50, 150, size=(20, 24, 22)).astype(np.float32)
    write_volume(Volume.from_array(image, spacing=(1.0, 1.0, 2.0), modality="CT", units="HU"), tmp_path / "ct.nrrd")
    out = tmp_path / "seg.seg.nrrd"
    result = runner.invoke(app, ["segment", "threshold-test", str(tmp_path / "ct.nrrd"), "-o", str(out), "--quiet",
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    segmentation = read_segmentation(out)
    np.testing.assert_array_equal(segmentation.mask(segmentation.names[0]), image > 50.0)
    again = runner.invoke(app, ["segment", "threshold-test", str(tmp_path / "ct.nrrd"), "-o", str(out), "--quiet"])
    assert again.exit_code == 2 and "exists" in again.output
    unknown = runner.invoke(app, ["segment", "no-such-model", str(tmp_path / "ct.nrrd"), "-o", str(tmp_path / "x.seg.nrrd")])
    assert unknown.exit_code == 2 and "Error" in unknown.output
    clear_model_cache()


def test_sample_command_writes_files_that_read_back_identically(tmp_path: Path, small_patient):
    """The written CT reads back with the generator's exact integer HU at the same voxels, and the truth
    segmentation keeps its segment names; writing into a non-empty folder is refused. (DICOM output: next test.)"""
    import numpy as np

    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume

    out = tmp_path / "case"
    result = runner.invoke(app, ["sample", "--size", "small", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    ct = read_volume(out / "ct-arterial.nrrd")
    expected = small_patient.ct["arterial"]
    assert ct.geometry == expected.geometry
    np.testing.assert_array_equal(ct.array, expected.array)
    assert {"Liver", "Tumor 1", "Lung"} <= set(read_segmentation(out / "truth.seg.nrrd").names)
    again = runner.invoke(app, ["sample", "--size", "small", "-o", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def test_sample_dicom_is_marked_synthetic_and_round_trips_nm_and_seg(tmp_path: Path, small_patient):
    """DICOM NM (one multi-frame file) reads back with the project's reader to the generator's exact SPECT counts
    on the same grid (integral counts stored exactly; geometry to 1e-4 mm); DICOM SEG reads back to the exact
    ground-truth masks at the same physical voxels; every object says it is synthetic, and all share one study
    and frame of reference."""
    import numpy as np
    import pydicom

    pytest.importorskip("highdicom", reason="DICOM SEG needs highdicom (extra 'dicom')")
    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.sample.export import NM_IMAGE_STORAGE, write_sample_patient

    out = tmp_path / "case"
    write_sample_patient(small_patient, out, "dicom")
    spect = read_volume(out / "maa-spect")
    truth = small_patient.spect
    assert spect.modality == "NM" and spect.shape == truth.shape
    np.testing.assert_allclose(spect.geometry.origin, truth.geometry.origin, atol=1e-4)
    np.testing.assert_allclose(spect.geometry.spacing, truth.geometry.spacing, atol=1e-4)
    np.testing.assert_allclose(spect.geometry.direction_matrix, truth.geometry.direction_matrix, atol=1e-6)
    np.testing.assert_array_equal(spect.array, truth.array)

    segmentation = read_segmentation(out / "truth-seg.dcm")
    assert segmentation.names == small_patient.truth.names
    for name in small_patient.truth.names:
        mask = Volume(segmentation.mask(name).astype(np.uint8), segmentation.geometry)
        on_grid = resample_to_geometry(mask, small_patient.truth.geometry, interpolation="nearest")
        np.testing.assert_array_equal(on_grid.array.astype(bool), small_patient.truth.mask(name), err_msg=name)

    files = [out / "maa-spect" / "NM00001.dcm", out / "truth-seg.dcm", *sorted((out / "ct-arterial").iterdir())[:1]]
    headers = [pydicom.dcmread(str(f)) for f in files]
    nm = headers[0]
    assert nm.SOPClassUID == NM_IMAGE_STORAGE and int(nm.NumberOfFrames) == truth.shape[0]
    assert list(nm.SliceVector) == list(range(1, truth.shape[0] + 1)) and len(nm.DetectorInformationSequence) == 1
    for header in headers:
        assert str(header.PatientName) == "SYNTHETIC^HCCAI" and header.PatientIdentityRemoved == "YES"
        assert "SYNTHETIC" in header.PatientComments
    assert len({h.StudyInstanceUID for h in headers}) == 1 and len({h.FrameOfReferenceUID for h in headers}) == 1


def test_nm_export_of_a_left_handed_grid_with_fractional_values(tmp_path: Path):
    """A left-handed grid (k along -z) with non-integer values: the NM file is written with k reversed, so the
    same values must come back at the same physical voxels (nearest-neighbour resampling onto the original grid),
    within half the rescale slope (range / 65535 / 2)."""
    import numpy as np

    from HCCInterventionalAILib.imaging.io import read_volume
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry
    from HCCInterventionalAILib.imaging.volume import Geometry, Volume
    from HCCInterventionalAILib.sample.export import write_nm_image

    rng = np.random.default_rng(3)
    values = rng.uniform(0.0, 1000.0, size=(6, 7, 8)).astype(np.float32)
    geometry = Geometry((6, 7, 8), spacing=(2.0, 3.0, 4.0), origin=(10.0, -20.0, 30.0),
                        direction=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)))
    (tmp_path / "nm").mkdir()
    write_nm_image(Volume(values, geometry, modality="NM", units="counts"), tmp_path / "nm" / "NM00001.dcm")
    read = read_volume(tmp_path / "nm")
    assert read.geometry.direction_matrix[2, 2] == pytest.approx(1.0), "stored right-handed"
    on_grid = resample_to_geometry(read, geometry, interpolation="nearest")
    tolerance = (values.max() - values.min()) / 65535 / 2 * 1.01
    np.testing.assert_allclose(on_grid.array, values, atol=tolerance, rtol=0)
