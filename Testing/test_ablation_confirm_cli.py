"""``hccai ablation confirm`` on files: a post CT moved by a known rigid transform, the zone segmented on it, the
tumour on the pre CT; the margin table against the known geometry; bad input → one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from test_ablation_confirmation import H, _pre_ct, _sphere, _true_rigid, _zone_in_post
from typer.testing import CliRunner

from HCCInterventionalAILib.cli.main import app
from HCCInterventionalAILib.imaging import Segmentation
from HCCInterventionalAILib.imaging.io import from_sitk, to_sitk, write_segmentation, write_volume

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """pre.nrrd, post.nrrd (pre moved by the known rigid transform), tumour.seg.nrrd (sphere r = 7 mm on pre),
    zone.seg.nrrd (sphere r = 13 mm about the same point, on post): true minimal margin 13 − 7 = 6 mm."""
    folder = tmp_path_factory.mktemp("confirm")
    pre = _pre_ct()
    truth = _true_rigid()
    post = from_sitk(sitk.Resample(to_sitk(pre), to_sitk(pre), truth, sitk.sitkLinear, -1000.0), modality="CT")
    write_volume(pre, folder / "pre.nrrd")
    write_volume(post, folder / "post.nrrd")
    tumour = Segmentation(pre.geometry, name="pre")
    tumour.add("Tumour 1", _sphere(pre, 7.0).astype(np.uint8), (0.9, 0.8, 0.2))
    write_segmentation(tumour, folder / "tumour.seg.nrrd")
    zone = Segmentation(post.geometry, name="post")
    zone.add("Ablation zone", _zone_in_post(pre, 13.0, truth).astype(np.uint8), (0.85, 0.1, 0.1))
    write_segmentation(zone, folder / "zone.seg.nrrd")
    return folder


def _args(folder: Path, out: Path) -> list[str]:
    return ["ablation", "confirm", "--pre-ct", str(folder / "pre.nrrd"), "--post-ct", str(folder / "post.nrrd"),
            "--tumour-segmentation", str(folder / "tumour.seg.nrrd"), "--zone-segmentation",
            str(folder / "zone.seg.nrrd"), "-o", str(out), "-q"]


def test_confirm_writes_the_margin_table_of_the_known_geometry(files):
    """Rigid registration only (the deformable stage is tested in the library): minimal margin 6 mm within one
    voxel (1.5 mm), the whole tumour covered (100 %), files written together."""
    out = files / "out"
    result = runner.invoke(app, [*_args(files, out), "--rigid-only"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"zone-on-pre.nrrd", "insufficient-margin.nrrd", "margins.csv",
                                               "confirmation.json", "report.html"}
    table = pd.read_csv(out / "margins.csv").set_index("Metric")["Value"]
    assert table["Minimal ablative margin (mm)"] == pytest.approx(6.0, abs=H)
    assert table["Tumour covered (%)"] == pytest.approx(100.0)
    data = json.loads((out / "confirmation.json").read_text())
    assert data["tumour_segments"] == ["Tumour 1"] and data["zone_segments"] == ["Ablation zone"]
    assert data["deformable"] is False
    assert data["margins"]["minimal_margin_mm"] == pytest.approx(table["Minimal ablative margin (mm)"])
    assert "Minimal ablative margin: " in result.output


@pytest.mark.parametrize("extra,message", [
    (["--zone", "Nope"], "not found"),
    (["--target-margin", "-1"], "target margin"),
])
def test_confirm_bad_input_is_one_line_and_writes_nothing(files, extra, message):
    out = files / "bad"
    result = runner.invoke(app, [*_args(files, out), "--rigid-only", *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_confirm_missing_file_and_prediction_without_ct(files):
    out = files / "missing"
    args = _args(files, out)
    args[args.index("--post-ct") + 1] = str(files / "absent.nrrd")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output and not out.exists()
    result = runner.invoke(app, ["ablation", "-q", "-o", str(out)])
    assert result.exit_code == 2 and "--ct" in result.output and not out.exists()
