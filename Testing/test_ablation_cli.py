"""``hccai ablation`` on files: outputs, the same numbers as the library, clear one-line errors, no partial output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from AblationSimulatorLib.cli import parse_applicator
from AblationSimulatorLib.demo import demo_applicator
from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation
from HCCInterventionalAILib.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def case_files(small_patient, tmp_path: Path):
    from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume

    ct = small_patient.ct["portal venous"]
    write_volume(ct, tmp_path / "ct.nrrd")
    write_segmentation(small_patient.truth, tmp_path / "truth.seg.nrrd")
    tumour = small_patient.truth.mask("Tumor 1")
    applicator = demo_applicator(ct, tumour, 13.5)
    text = ",".join(f"{v:.3f}" for v in (*applicator.tip_ras, *applicator.entry_ras))
    return tmp_path, ct, applicator, text


def test_cli_writes_outputs_with_the_library_numbers(case_files, small_patient):
    folder, ct, applicator, text = case_files
    out = folder / "out"
    result = runner.invoke(app, ["ablation", "--ct", str(folder / "ct.nrrd"), "--segmentation",
                                 str(folder / "truth.seg.nrrd"), "--applicator", text, "--power", "100", "--time",
                                 "600", "--tumour", "Tumor 1", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"zone-vendor.nrrd", "margins.csv", "summary.csv", "ablation.json",
                                               "report.html"}
    data = json.loads((out / "ablation.json").read_text())
    library = plan_ablation([parse_applicator(text, 1)], AblationRequest(power_w=100.0, time_s=600.0,
                            tumour_segments=("Tumor 1",)), ct=ct, segmentation=small_patient.truth)
    assert data["margins"]["vendor"]["minimal_margin_mm"] == pytest.approx(
        library.margins["vendor"].minimal_margin_mm, abs=1e-6)
    assert data["zone_volume_ml"]["vendor"] == pytest.approx(library.zone_volume_ml("vendor"))
    np.testing.assert_allclose(data["applicators"][0]["tip_lps"], applicator.tip_lps, atol=1e-3)
    assert "Minimal ablative margin (vendor)" in result.output


def test_cli_physics_model_writes_temperature(case_files):
    folder, _, _, text = case_files
    out = folder / "phys"
    result = runner.invoke(app, ["ablation", "--ct", str(folder / "ct.nrrd"), "--applicator", text, "--model",
                                 "physics", "--ablation-device", "amica-probe", "--power", "20", "--time", "180",
                                 "--grid-spacing", "2", "--device", "cpu", "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert (out / "zone-physics.nrrd").is_file() and (out / "peak-temperature.nrrd").is_file()


@pytest.mark.parametrize("args,message", [
    (["--applicator", "1,2,3"], "six numbers"),
    (["--applicator", "0,0,900,0,0,1000"], "outside the image volume"),
    (["--power", "0"], "power"),
    (["--ablation-device", "acme"], "Unknown ablation device"),
    (["--power", "500"], "outside its chart"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(case_files, args, message):
    folder, _, _, text = case_files
    out = folder / "bad"
    base = ["ablation", "--ct", str(folder / "ct.nrrd"), "-o", str(out), "-q"]
    if "--applicator" not in args:
        base += ["--applicator", text]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_cli_lists_devices():
    result = runner.invoke(app, ["ablation-devices"])
    assert result.exit_code == 0
    assert "covidien-mwa" in result.output and "amica-probe" in result.output
