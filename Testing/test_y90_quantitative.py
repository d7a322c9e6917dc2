"""Quantitative post-treatment dosimetry: a Y-90 PET in Bq/ml is the implanted activity itself, decay-corrected to the
injection, with the recovered activity reported against the administered one."""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest
from test_y90_support import box_phantom
from typer.testing import CliRunner

from HCCInterventionalAILib.imaging.io import write_segmentation, write_volume
from Y90DosimetryLib import PlanRequest, Y90InputError, plan_treatment, quantitative_activity

K = 49.67  # Gy·kg/GBq, the default dose constant
HALF_LIFE_H = 64.1
VOXEL_ML = 0.064  # 4 mm voxels
INJECTION = datetime(2026, 3, 1, 9, 0)
SCAN = datetime(2026, 3, 2, 9, 0)  # 24 h later


def pet(liver_bq_ml: float = 1.0e5, units: str = "Bq/ml"):
    """The box phantom as a PET: liver 1e5 Bq/ml, tumour 4e5 Bq/ml, lungs 5e3 Bq/ml."""
    spect, seg = box_phantom(liver_counts=liver_bq_ml, tumour_counts=4 * liver_bq_ml, lung_counts=0.05 * liver_bq_ml)
    return spect.with_array(spect.array, name="Y-90 PET", modality="PT", units=units), seg


def test_activity_is_concentration_times_volume_decay_corrected():
    """Hand calculation: liver block 14·16·16 = 3,584 voxels (64 tumour voxels at 4×), lungs 2·10·7·16 = 2,240
    voxels; A = Σ c·V = (3,520·1e5 + 64·4e5 + 2,240·5e3)·0.064 ml = 2.4909e7 Bq at scan time; 24 h after the
    injection: × 2^(24/64.1) = 1.2963."""
    image, _ = pet()
    at_scan_bq = (3520 * 1e5 + 64 * 4e5 + 2240 * 5e3) * VOXEL_ML
    result = quantitative_activity(image, image_time=SCAN, injection_time=INJECTION)
    assert result.decay_correction == pytest.approx(2 ** (24 / HALF_LIFE_H), rel=1e-12)
    assert result.decay_correction == pytest.approx(1.2963, abs=1e-4)
    assert result.recovered_gbq == pytest.approx(at_scan_bq * 1e-9 * 2 ** (24 / HALF_LIFE_H), rel=1e-9)
    kilo = quantitative_activity(pet(100.0, "kBq/ml")[0], image_time=SCAN, injection_time=INJECTION)
    assert kilo.recovered_gbq == pytest.approx(result.recovered_gbq, rel=1e-12)


def test_recovered_versus_administered_activity_is_reported():
    image, _ = pet()
    recovered = quantitative_activity(image).recovered_gbq
    close = quantitative_activity(image, injected_gbq=recovered * 1.05)
    assert close.recovery == pytest.approx(1 / 1.05) and not any("administered" in w for w in close.warnings)
    far = quantitative_activity(image, injected_gbq=recovered * 1.5)
    assert any("-33% from" in w and "administered" in w for w in far.warnings)


@pytest.mark.parametrize("kwargs, match", [
    ({"units": "HU"}, "not an activity concentration"),
    ({"image_time": INJECTION, "injection_time": SCAN}, "before the injection"),
    ({"image_time": datetime(2026, 4, 1), "injection_time": INJECTION}, "over ten Y-90 half-lives"),
])
def test_bad_quantitative_inputs_are_clear_errors(kwargs, match):
    image, _ = pet(units=kwargs.pop("units", "Bq/ml"))
    with pytest.raises(Y90InputError, match=match):
        quantitative_activity(image, **kwargs)


def test_plan_doses_the_activity_the_image_holds():
    """Local deposition of a quantitative image: every voxel's dose is K·A_i/(ρ·V) with A_i its own activity
    (no renormalisation), so the normal liver (uniform 1e5 Bq/ml, ρ = 1.03 g/ml preset) gets
    K·(1e5·0.064·1.2963·1e-9 GBq)/(1.03·0.064 g) = 49.67·1.2963e-4/1.03e-3 = 6.252 Gy in every normal-liver voxel."""
    image, seg = pet()
    result = plan_treatment(image, seg, PlanRequest(activity_source="quantitative", dose_method="local",
                                                    microsphere="resin", injection_time=INJECTION, image_time=SCAN))
    expected = K * (1e5 * VOXEL_ML * 2 ** (24 / HALF_LIFE_H) * 1e-9) / (1.03 * VOXEL_ML / 1000.0)
    assert expected == pytest.approx(6.252, abs=0.001)
    normal = result.dose_local.array[result.structures["normal liver"]]
    assert normal.mean() == pytest.approx(expected, rel=1e-9) and normal.std() < 1e-9
    assert result.activity_gbq == pytest.approx(result.parameters["quantitative"]["recovered_gbq"], rel=1e-12)
    assert result.dose_local.array[seg.mask("Lungs")].min() > 0  # the lungs' own activity is dosed too


def test_quantitative_requests_refuse_contradictions():
    with pytest.raises(Y90InputError, match="not BSA"):
        PlanRequest(activity_source="quantitative", method="bsa", height_cm=170, weight_kg=70)
    with pytest.raises(Y90InputError, match="injected_gbq"):
        PlanRequest(activity_source="quantitative", activity_gbq=2.0)


def test_cli_quantitative_flags(tmp_path):
    from HCCInterventionalAILib.cli.main import app

    image, seg = pet()
    write_volume(image, tmp_path / "pet.nrrd")
    write_segmentation(seg, tmp_path / "seg.seg.nrrd")
    recovered = quantitative_activity(image).recovered_gbq
    result = CliRunner().invoke(app, ["y90", "--spect", str(tmp_path / "pet.nrrd"), "--segmentation",
                                      str(tmp_path / "seg.seg.nrrd"), "--quantitative", "--injected-gbq",
                                      f"{2 * recovered:.6f}", "--injection-time", "2026-03-01T09:00",
                                      "--dose-method", "local", "--quiet", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    plan = json.loads((tmp_path / "out" / "plan.json").read_text())
    quantitative = plan["parameters"]["quantitative"]
    assert quantitative["recovery"] == pytest.approx(0.5, rel=1e-4)
    assert math.isclose(plan["activity_gbq"], recovered, rel_tol=1e-4)
    assert any("-50% from" in w for w in plan["warnings"])
    assert any("not decay-corrected" in w for w in plan["warnings"])  # NRRD carries no acquisition time
