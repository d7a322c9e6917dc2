"""End to end: the `hccai` command on the synthetic sample patient, and its scene bundle reloaded with real MRML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from HCCInterventionalAILib.cli.main import app
from typer.testing import CliRunner

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


@pytest.mark.scene
def test_demo_scene_bundle_reloads_intact(demo_dir: Path):
    pytest.importorskip("slicer", reason="slicer-core (the MRML library) is not installed")
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


TARANIS = Path(__file__).resolve().parents[2] / "shared" / "data" / "y90" / "taranis-sample"


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
