"""Supervised CT denoiser trained on simulated low-dose CT, run as a denoiser model card (``denoise_with_card``:
the card's input_normalisation with clipping and residual output, tiled 2-D inference): honest card, SHA-256-verified
weights through the model-loading library, image-quality gains on data it never saw (the held-out real dcmqi slice 03 and the
SYNTHETIC sample patient, each with fresh simulated low-dose noise), compared with Noise2Self, no hallucination
flag, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reference_data import DCMQI
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from HCCInterventionalAILib.cli.main import app  # noqa: E402
from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card  # noqa: E402
from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings  # noqa: E402
from HCCInterventionalAILib.enhancement.errors import EnhancementInputError, NotCTError  # noqa: E402
from HCCInterventionalAILib.enhancement.lowdose import simulate_low_dose  # noqa: E402
from HCCInterventionalAILib.enhancement.pipeline import DenoiseRequest, run_denoise  # noqa: E402
from HCCInterventionalAILib.enhancement.quality import cnr, hallucination_check, psnr  # noqa: E402
from HCCInterventionalAILib.imaging.io import write_volume  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Volume  # noqa: E402
from HCCInterventionalAILib.models import load_card  # noqa: E402
from HCCInterventionalAILib.models.card import builtin_cards_directory  # noqa: E402

runner = CliRunner()
MODEL_ID = "ct-denoise-simulated-lowdose"


def card_path() -> Path:
    return builtin_cards_directory() / f"{MODEL_ID}.json"


def _denoise(ct, **kwargs):
    return denoise_with_card(ct, MODEL_ID, **kwargs)


@pytest.fixture(scope="module")
def patient_slab(sample_patient):
    """Six arterial-phase slices through the middle of the liver of the SYNTHETIC sample patient (2 mm pixels),
    their simulated low-dose version (4·10⁴ photons per ray, seed 5) and liver/tumour ROIs from the truth."""
    from scipy.ndimage import binary_dilation, binary_erosion

    ct = sample_patient.ct["arterial"]
    liver = sample_patient.truth.mask("Liver")
    tumour = sample_patient.truth.mask("Tumor 1")
    k = int(np.argmax(tumour.sum(axis=(1, 2))))
    k0, k1 = k - 3, k + 3
    clean = Volume(ct.array[k0:k1].copy(), ct.geometry.with_shape((k1 - k0, *ct.shape[1:])), name="slab",
                   modality="CT", units="HU")
    low = simulate_low_dose(clean, 4.0e4, seed=5)
    lesion = binary_erosion(tumour[k0:k1], iterations=1)
    background = binary_erosion(liver[k0:k1], iterations=2) & ~binary_dilation(tumour[k0:k1], iterations=2)
    return clean, low, liver[k0:k1], lesion, background


def test_card_states_data_source_licence_dose_and_gain():
    card = load_card(card_path())
    data = card.training.data
    assert card.research_only and card.training.trained_by_project and card.format == "state_dict"
    assert "dcmqi" in data and "BSD-3-Clause" in data and "SYNTHETIC (simulated) low-dose noise" in data
    assert "photons per ray" in data and "not clinically validated" in data
    assert "not clinically validated" in card.validation_status
    gains = [entry for entry in card.reported_accuracy if entry["metric"].startswith("PSNR")]
    assert gains and all(e["value"] > 0 and "held-out real slice" in e["dataset"] for e in gains)
    assert (card_path().parent / card.files[0].filename).stat().st_size < 2_000_000


def test_card_normalisation_matches_the_training_formula():
    """The card's input_normalisation is the formula the network was trained with (train_ct_denoiser docstring):
    x = (clip(HU, −1024, 3071) − 40) / 200, residual output, HU = 200 (x + f(x)) + 40. Hand values: −2000 HU is
    clipped to −1024 → −5.32; 40 HU → 0; 3500 HU → 3071 → 15.155; output 0.5 → 140 HU. 2-D, tiled in 256² windows."""
    card = load_card(card_path())
    norm = card.input_normalisation
    assert norm.residual and card.input.spatial_dims == 2 and card.input.patch_size == (256, 256)
    np.testing.assert_allclose(norm.forward(np.array([-2000.0, 40.0, 3500.0])), [-5.32, 0.0, 15.155], atol=1e-9)
    assert norm.inverse(0.5) == pytest.approx(140.0)


def test_sample_patient_psnr_cnr_rise_and_beat_noise2self(patient_slab, tmp_path):
    """Synthetic sample patient (never used in training; other pixel size, other anatomy): at 4·10⁴ photons per
    ray the liver PSNR (range 400 HU vs the standard-dose slab) rises by ≥ 8 dB (measured 14.9 → 25.4 dB) and the
    tumour/liver CNR by ≥ 2× (0.66 → 1.95); PSNR ≥ 3 dB above and CNR above Noise2Self trained on the same slab for
    300 steps (measured 21.9 dB, CNR 1.55), and the hallucination check raises no flag on this
    lesion-bearing but otherwise clean anatomy."""
    from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings, denoise_volume

    clean, low, liver, lesion, background = patient_slab
    denoised = _denoise(low, device="cpu", cache_dir=tmp_path)
    assert denoised is not low and denoised.shape == low.shape and denoised.geometry == low.geometry
    p_low = psnr(low.array, clean.array, 400.0, liver)
    p_dl = psnr(denoised.array, clean.array, 400.0, liver)
    c_low, c_dl = cnr(low.array, lesion, background), cnr(denoised.array, lesion, background)
    n2s, _ = denoise_volume(low, settings=Noise2SelfSettings(iterations=300, seed=0, device="cpu"), device="cpu")
    p_n2s, c_n2s = psnr(n2s.array, clean.array, 400.0, liver), cnr(n2s.array, lesion, background)
    assert p_dl >= p_low + 8.0 and c_dl >= 2.0 * c_low, (p_low, p_dl, c_low, c_dl)
    assert p_dl >= p_n2s + 3.0 and c_dl >= c_n2s, (p_dl, p_n2s, c_dl, c_n2s)
    region = (low.array > -200) & (low.array < 400)
    report = hallucination_check(low.array, denoised.array, region=region, min_voxels=20)
    assert not report.flagged, report.regions


@pytest.mark.skipif(not (DCMQI / "ct-3slice" / "03.dcm").exists(), reason="shared dcmqi CT data not available")
def test_held_out_real_slice(tmp_path):
    """Real slice 03 of the dcmqi data (held out of training), 2×2 block-averaged to 1.62 mm (a quicker noise
    simulation), 5·10⁴ photons per ray, seed 11: PSNR inside the body (range 400 HU) rises by ≥ 5 dB (measured
    15.1 → 20.9 dB) and the CNR of subcutaneous/visceral fat (−150…−50 HU on the clean slice) against the liver
    (dcmqi segmentation, eroded) by ≥ 2.5× (1.77 → 6.70); no hallucination flag."""
    from scipy.ndimage import binary_erosion
    from skimage.transform import downscale_local_mean

    from HCCInterventionalAILib.imaging.io import read_volume

    ct = read_volume(DCMQI / "ct-3slice")
    seg = read_volume(DCMQI / "liver_seg.nrrd")
    k = int(np.argmin(np.abs([ct.geometry.origin[2] + i * ct.spacing[2] - (-128.69) for i in range(3)])))  # 03.dcm
    hu = downscale_local_mean(np.maximum(ct.array[k], -1024.0), (2, 2)).astype(np.float32)
    liver = binary_erosion(downscale_local_mean(seg.array[k] > 0, (2, 2)) > 0.99, iterations=3)
    fat = binary_erosion((hu > -150) & (hu < -50), iterations=1)
    px = 2 * ct.spacing[0]
    clean = Volume.from_array(hu[None], spacing=(px, px, 1.0), modality="CT", units="HU")
    low = simulate_low_dose(clean, 5.0e4, seed=11)
    denoised = _denoise(low, device="cpu", cache_dir=tmp_path)
    body = hu > -500
    p_low, p_dl = psnr(low.array[0], hu, 400.0, body), psnr(denoised.array[0], hu, 400.0, body)
    c_low, c_dl = cnr(low.array[0], fat, liver), cnr(denoised.array[0], fat, liver)
    assert p_dl >= p_low + 5.0 and c_dl >= 2.5 * c_low, (p_low, p_dl, c_low, c_dl)
    region = (low.array > -200) & (low.array < 400)
    assert not hallucination_check(low.array, denoised.array, region=region, min_voxels=20).flagged


def test_pipeline_bad_input_and_cli(patient_slab, tmp_path: Path):
    clean, low, _, lesion, background = patient_slab
    request = DenoiseRequest(method=MODEL_ID, settings=Noise2SelfSettings(device="cpu"))
    result = run_denoise(low, request, lesion_roi=lesion, background_roi=background, cache_dir=tmp_path / "cache")
    assert result.noise_sd_after_hu < 0.5 * result.noise_sd_before_hu
    assert result.cnr_after > result.cnr_before and result.provenance["model_id"] == MODEL_ID
    np.testing.assert_allclose(result.difference.array, result.denoised.array - low.array, atol=1e-3)
    pet = Volume.from_array(np.full((2, 16, 16), 3.0, np.float32), modality="PT", units="BQML")
    with pytest.raises(NotCTError):
        _denoise(pet, device="cpu")
    with pytest.raises(EnhancementInputError, match="not a CT denoiser"):
        denoise_with_card(low, "ablation-zone-surrogate", device="cpu", cache_dir=tmp_path / "cache")
    path = write_volume(low, tmp_path / "low.nrrd")
    out = tmp_path / "den"
    result = runner.invoke(app, ["enhance", "denoise", str(path), "-o", str(out), "--method", MODEL_ID,
                                 "--device", "cpu", "--quiet"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"denoised.nrrd", "difference.nrrd", "results.json"}
    numbers = json.loads((out / "results.json").read_text())
    assert numbers["model"] == MODEL_ID and numbers["provenance"]["model_id"] == MODEL_ID
    result = runner.invoke(app, ["enhance", "denoise", str(path), "-o", str(tmp_path / "bad"), "--method",
                                 "no-such-model", "--quiet"])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "no-such-model" in lines[0], result.output
    assert not (tmp_path / "bad").exists()


@pytest.mark.gpu
def test_gpu_matches_cpu(patient_slab, tmp_path):
    """On CUDA (full precision, as the card asks) the tiled output equals the CPU output within 0.5 HU."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    _, low, _, _, _ = patient_slab
    cpu = _denoise(low, device="cpu", cache_dir=tmp_path)
    gpu = _denoise(low, device="cuda", cache_dir=tmp_path)
    np.testing.assert_allclose(gpu.array, cpu.array, atol=0.5)
