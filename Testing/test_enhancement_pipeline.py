"""Enhancement requests/pipelines, scene export, `hccai enhance` and the demo step, on SYNTHETIC data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)
from typer.testing import CliRunner

from HCCInterventionalAILib.cli.main import app
from HCCInterventionalAILib.enhancement import EnhancementInputError, save_run, simulate_angio_run
from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings
from HCCInterventionalAILib.enhancement.pipeline import DenoiseRequest, DSARequest, run_denoise, run_dsa
from HCCInterventionalAILib.imaging.io import read_volume, write_volume
from HCCInterventionalAILib.imaging.volume import Volume

runner = CliRunner()


@pytest.fixture(scope="module")
def run():
    return simulate_angio_run(n_frames=8, shape=(96, 96), motion="rigid", seed=21, arrival_s=1.0)


@pytest.fixture(scope="module")
def small_ct():
    """A 6-slice slab of the noise-free sample CT with 40 HU white noise added (seeded)."""
    from HCCInterventionalAILib.sample import make_sample_patient

    patient = make_sample_patient(seed=7, size="small", ct_noise_sd_hu=0.0)
    ct = patient.ct["portal venous"]
    k = int(np.argmax(patient.truth.mask("Liver").sum(axis=(1, 2))))
    noisy = ct.array[k - 3:k + 3].astype(np.float32) + np.random.default_rng(0).normal(0, 40, (6, *ct.shape[1:]))
    return Volume(noisy.astype(np.float32), ct.geometry.with_shape((6, *ct.shape[1:])), name="noisy", modality="CT",
                  units="HU")


def test_run_dsa_picks_the_mask_and_measures_a_curve(run):
    """Automatic mask: not before the last contrast-free frame and holding ≤ 15 % of the peak iodine (the detection
    limit on this small 96² run); the ROI curve peaks where the true iodine in the ROI peaks (±1 frame); to_dict is JSON-serialisable."""
    peak = int(np.argmax(run.iodine.max(axis=(1, 2))))
    r0, c0 = (int(v) - 1 for v in np.unravel_index(np.argmax(run.iodine[peak]), run.iodine[peak].shape))
    request = DSARequest(mask_index=None, motion="rigid", frame_rate=3.0, roi=(int(r0), int(r0) + 3, int(c0), int(c0) + 3))
    result = run_dsa(run.frames, request, times_s=run.times_s)
    assert result.mask_automatic and result.mask_index >= run.last_contrast_free_frame
    assert run.iodine[result.mask_index].max() <= 0.15 * run.iodine.max()
    truth_curve = run.iodine[:, r0:r0 + 3, c0:c0 + 3].mean(axis=(1, 2))
    assert abs(int(np.argmax(result.curve.mean)) - int(np.argmax(truth_curve))) <= 1
    data = json.loads(json.dumps(result.to_dict()))
    assert data["frames"] == 8 and data["motion"] == "rigid" and data["frames_per_second"] > 0
    with pytest.raises(EnhancementInputError):
        DSARequest(motion="elastic")


def test_run_denoise_reports_noise_and_checks(small_ct):
    """White noise of 40 HU: the Immerkær estimate of the input is 40 HU within 25 % (the phantom's edges add to it),
    and the denoised output is at least 30 % less noisy; the difference map is output − input."""
    request = DenoiseRequest(settings=Noise2SelfSettings(iterations=150, width=8, depth=3, patch_size=48, batch_size=4))
    result = run_denoise(small_ct, request)
    assert result.noise_sd_before_hu == pytest.approx(40.0, rel=0.25)
    assert result.noise_sd_after_hu < 0.7 * result.noise_sd_before_hu
    np.testing.assert_allclose(result.difference.array, result.denoised.array - small_ct.array, atol=1e-3)
    json.dumps(result.to_dict())


def test_structure_guard_is_on_by_default_and_can_be_switched_off(small_ct):
    """Default: the output is input + w · (network − input) with 0 ≤ w ≤ 1, so it lies between the input and the
    network's output voxel by voxel (both runs train the same network: same seed, CPU), and the guard reports the
    fraction it reverted (< 0.5 on white noise). Switched off: the network's own output, no fraction reported."""
    settings = Noise2SelfSettings(iterations=40, width=8, depth=3, patch_size=48, batch_size=4, device="cpu")
    raw = run_denoise(small_ct, DenoiseRequest(settings=settings, keep_structure=False))
    guarded = run_denoise(small_ct, DenoiseRequest(settings=settings))
    assert raw.reverted_fraction is None and 0.0 <= guarded.reverted_fraction < 0.5
    low = np.minimum(small_ct.array, raw.denoised.array) - 1e-3
    high = np.maximum(small_ct.array, raw.denoised.array) + 1e-3
    assert np.all((guarded.denoised.array >= low) & (guarded.denoised.array <= high))
    assert json.loads(json.dumps(guarded.to_dict()))["reverted_fraction"] == guarded.reverted_fraction


@pytest.mark.scene
def test_results_to_scene(run, small_ct, mrml_scene):
    from HCCInterventionalAILib.enhancement.scene_bridge import result_to_scene

    dsa = run_dsa(run.frames, DSARequest(mask_index=0, motion="none"), times_s=run.times_s)
    nodes = result_to_scene(mrml_scene, dsa, name="Run")
    assert nodes["sequence"].GetNumberOfDataNodes() == 8
    assert nodes["browser"].GetMasterSequenceNode() is nodes["sequence"]
    request = DenoiseRequest(settings=Noise2SelfSettings(iterations=2, width=4, depth=2))
    denoised = run_denoise(small_ct, request)
    nodes = result_to_scene(mrml_scene, denoised, name="CT")
    assert nodes["denoised"].GetName() == "CT denoised (noise2self)" and nodes["difference"].GetImageData() is not None
    again = result_to_scene(mrml_scene, denoised, name="CT")  # never overwrites: a new, unique node
    assert again["denoised"].GetID() != nodes["denoised"].GetID()


def test_cli_enhance_dsa_and_denoise(tmp_path: Path, run, small_ct):
    source = save_run(run.frames, tmp_path / "run.nrrd", frame_interval_s=1 / 3)
    out = tmp_path / "dsa"
    result = runner.invoke(app, ["enhance", "dsa", str(source), "-o", str(out), "--motion", "rigid", "--quiet"])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert data["mask_automatic"] and data["frames"] == 8
    dsa = read_volume(out / "dsa.nrrd")
    assert dsa.shape == (8, 96, 96)
    ct_path = write_volume(small_ct, tmp_path / "ct.nrrd")
    out2 = tmp_path / "den"
    result = runner.invoke(app, ["enhance", "denoise", str(ct_path), "-o", str(out2), "--iterations", "5", "--quiet"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out2.iterdir()} == {"denoised.nrrd", "difference.nrrd", "results.json"}


def test_cli_user_errors_are_one_line(tmp_path: Path):
    import SimpleITK as sitk

    stack = tmp_path / "png"
    stack.mkdir()
    for index in range(3):
        sitk.WriteImage(sitk.GetImageFromArray(np.full((8, 8), index, dtype=np.uint8)), str(stack / f"{index}.png"))
    out = tmp_path / "out"
    result = runner.invoke(app, ["enhance", "dsa", str(stack), "-o", str(out), "--quiet"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "8-bit" in lines[0], result.output
    assert not out.exists()
    pet = write_volume(Volume.from_array(np.full((3, 8, 8), 2.0, np.float32), modality="PT", units="BQML"),
                       tmp_path / "pet.nrrd")
    result = runner.invoke(app, ["enhance", "denoise", str(pet), "-o", str(out), "--quiet"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "not a CT" in lines[0], result.output
    assert not out.exists()
    ct = write_volume(Volume.from_array(np.full((2, 8, 8), -1000.0, np.float32), modality="CT", units="HU"),
                      tmp_path / "ct.nrrd")
    result = runner.invoke(app, ["enhance", "denoise", str(ct), "--method", "liver-classical", "-o", str(out), "--quiet"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "not a CT denoiser" in lines[0], result.output
    assert not out.exists()
