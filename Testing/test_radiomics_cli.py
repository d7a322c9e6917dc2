"""``hccai radiomics`` and ``hccai radiomics-cohort`` on files: outputs, values and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("radiomics")

from HCCInterventionalAILib.cli.main import app  # noqa: E402
from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume  # noqa: E402
from HCCInterventionalAILib.imaging.segmentation import Segmentation  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402

runner = CliRunner()
PARAMS = "setting:\n  binWidth: 25\n  label: 1\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder: [Mean]\n"


@pytest.fixture()
def files(tmp_path):
    """32³ CT-like image, 1 mm: liver cube 100 HU, a 40 HU cube lesion of 6³ = 216 voxels inside it."""
    geometry = Geometry((32, 32, 32), (1.0, 1.0, 1.0))
    image = np.full(geometry.shape, -1000, np.int16)
    image[2:30, 2:30, 2:30] = 100
    lesion = np.zeros(geometry.shape, bool)
    lesion[13:19, 13:19, 13:19] = True
    image[lesion] = 40
    write_volume(Volume(image, geometry, modality="CT"), tmp_path / "ct.nrrd")
    write_volume(Volume(lesion.astype(np.uint8) * 2, geometry), tmp_path / "mask.nrrd")
    seg = Segmentation(geometry)
    seg.add("Liver", image > -1000)
    seg.add("Tumour", lesion)
    write_segmentation(seg, tmp_path / "seg.seg.nrrd")
    (tmp_path / "params.yaml").write_text(PARAMS, encoding="utf-8")
    return tmp_path


def test_radiomics_command_writes_the_features(files):
    out = files / "out"
    result = runner.invoke(app, ["radiomics", "--image", str(files / "ct.nrrd"), "--mask", str(files / "mask.nrrd"),
                                 "--label", "2", "--params", str(files / "params.yaml"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "features.csv")
    assert frame.loc[0, "original_firstorder_Mean"] == pytest.approx(40.0) and frame.loc[0, "voxels"] == 216
    assert (out / "features.json").is_file()
    again = runner.invoke(app, ["radiomics", "--image", str(files / "ct.nrrd"), "--mask", str(files / "mask.nrrd"),
                                "--label", "2", "-o", str(out), "--quiet"])
    assert again.exit_code == 2 and "overwrite" in again.output


def test_per_lesion_rings(files):
    """Ring 0-5 mm and 5-10 mm around the lesion lie in the 100 HU liver."""
    out = files / "lesions"
    result = runner.invoke(app, ["radiomics", "--image", str(files / "ct.nrrd"), "--mask", str(files / "seg.seg.nrrd"),
                                 "--per-lesion", "--params", str(files / "params.yaml"), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "features.csv").set_index("region")
    assert frame.loc["tumour", "original_firstorder_Mean"] == pytest.approx(40.0)
    assert frame.loc["ring 0-5 mm", "original_firstorder_Mean"] == pytest.approx(100.0)
    assert frame.loc["ring 5-10 mm", "original_firstorder_Mean"] == pytest.approx(100.0)


def test_user_errors_end_in_one_line(files):
    result = runner.invoke(app, ["radiomics", "--image", str(files / "ct.nrrd"), "--mask", str(files / "mask.nrrd"),
                                 "--label", "7", "-o", str(files / "bad"), "--quiet"])
    assert result.exit_code == 2 and "label 7" in result.output and "Traceback" not in result.output
    assert not (files / "bad").exists()


def test_cohort_command_serial(files):
    (files / "manifest.csv").write_text("case,phase,image,mask,label\nA,pv,ct.nrrd,mask.nrrd,2\n", encoding="utf-8")
    out = files / "cohort"
    args = ["radiomics-cohort", str(files / "manifest.csv"), "-o", str(out), "--params", str(files / "params.yaml"),
            "--scheduler", "serial", "--quiet"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0 and "1 computed, 0 reused" in first.output, first.output
    second = runner.invoke(app, args)
    assert "0 computed, 1 reused" in second.output
    assert pd.read_csv(out / "features.csv").loc[0, "original_firstorder_Mean"] == pytest.approx(40.0)
