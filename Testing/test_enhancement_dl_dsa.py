"""Mask-free deep-learning DSA: honest card, SHA-256-verified weights through the model-loading library, and
agreement with the generator's iodine truth on held-out SYNTHETIC runs (seeds the training and the card's
evaluation never used) at 256² and at frame sizes outside version 1.0.0's 192–320 px, better than a naive
mask-free baseline; the working-grid resampling checked against Poisson statistics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from HCCInterventionalAILib.cli.main import app  # noqa: E402
from HCCInterventionalAILib.enhancement import save_run, simulate_angio_run  # noqa: E402
from HCCInterventionalAILib.enhancement.dl_dsa import (  # noqa: E402
    DLDSARequest,
    card_path,
    from_working_grid,
    median_baseline,
    run_dsa_dl,
    subtract_run_dl,
    to_working_grid,
    vessel_dice,
    working_shape,
)
from HCCInterventionalAILib.enhancement.errors import (  # noqa: E402
    DisplayImageError,
    EnhancementInputError,
    TooFewFramesError,
)
from HCCInterventionalAILib.models import ChecksumMismatchError, load_card  # noqa: E402

runner = CliRunner()


@pytest.fixture(scope="module")
def held_out_run():
    """Default generator settings (as the card's evaluation), seed 70001: training used seeds 1000000-1000079
    (randomised), the card's evaluation 50000-50009 and 60000-60009."""
    return simulate_angio_run(n_frames=12, shape=(256, 256), motion="deformable", seed=70_001)


def _reported(card, metric_start: str, dataset_start: str = "10 held-out synthetic runs (simulate_angio_run",
              metric_end: str = ", mean") -> float:
    for entry in card.reported_accuracy:
        if (entry["metric"].startswith(metric_start) and entry["metric"].endswith(metric_end)
                and entry["dataset"].startswith(dataset_start)):
            return float(entry["value"])
    raise AssertionError(f"the card reports no '{metric_start}'")


def _scores(predicted: np.ndarray, run) -> tuple[float, float]:
    """Vessel Dice (iodine > 0.05) and PSNR (range = the run's peak true iodine) over the contrast frames."""
    p, t = predicted[run.arrival_frame:], run.iodine[run.arrival_frame:]
    rmse = float(np.sqrt(np.mean((p.astype(np.float64) - t) ** 2)))
    return vessel_dice(p, t), 20.0 * np.log10(float(t.max()) / rmse)


def test_card_says_exactly_what_the_model_is():
    card = load_card(card_path())
    data = card.training.data
    assert card.research_only and card.training.trained_by_project
    assert "SYNTHETIC" in data and "Trained only on synthetic runs" in data and "not clinically validated" in data
    assert "not clinically validated" in card.validation_status
    assert card.format == "state_dict" and card.network.name == "UNet" and card.input.modality == "XA"
    weights = card_path().parent / card.files[0].filename
    assert weights.stat().st_size < 2_000_000  # small enough to ship in the repository
    # Version 1.1.0: trained on 128-1024 px frames through the working grid, accuracy reported per frame size.
    assert card.version == "1.1.0" and "128-1024 px" in data and "working grid" in card.limitations
    for side in (128, 160, 256, 512, 1024):
        assert 0.0 < _reported(card, "vessel Dice", "4 held-out", f"{side}x{side} frames") <= 1.0


def test_network_matches_truth_on_a_held_out_run_and_beats_the_naive_baseline(held_out_run, tmp_path):
    """Thresholds are the card's held-out means minus a margin (Dice − 0.05, PSNR − 1.5 dB: one run varies more than
    a mean of ten). The naive baseline, ``median_t log I_t − log I_t`` (temporal-median background, needs the whole
    run), is beaten by ≥ 0.15 Dice and ≥ 3 dB, and so is the all-zero image (no iodine anywhere; a sparse target
    gives it a deceptively high PSNR) by ≥ 1 dB. Version 1.1.0 must not be worse at 256² than version 1.0.0's card
    (Dice 0.7409, PSNR 27.41 dB on the same ten held-out runs) by more than 0.02 Dice / 0.5 dB, and on this run (1.0.0
    scored Dice 0.767, PSNR 27.83 dB here) by more than 0.03 Dice / 0.5 dB."""
    card = load_card(card_path())
    predicted = subtract_run_dl(held_out_run.frames, device="cpu", cache_dir=tmp_path)
    assert predicted.shape == held_out_run.frames.shape and predicted.dtype == np.float32
    dice, psnr = _scores(predicted, held_out_run)
    base_dice, base_psnr = _scores(median_baseline(held_out_run.frames), held_out_run)
    assert _reported(card, "vessel Dice") >= 0.7409 - 0.02 and _reported(card, "PSNR") >= 27.41 - 0.5
    assert dice >= 0.767 - 0.03 and psnr >= 27.83 - 0.5, (dice, psnr)
    assert dice >= _reported(card, "vessel Dice") - 0.05, (dice, _reported(card, "vessel Dice"))
    assert psnr >= _reported(card, "PSNR") - 1.5, (psnr, _reported(card, "PSNR"))
    assert dice >= base_dice + 0.15 and psnr >= base_psnr + 3.0, (dice, base_dice, psnr, base_psnr)
    assert psnr >= _scores(np.zeros_like(predicted), held_out_run)[1] + 1.0
    # Contrast-free frames: the network reports (almost) no iodine where there is none.
    assert float(np.mean(predicted[: held_out_run.arrival_frame - 1] > 0.05)) < 0.01


@pytest.mark.parametrize(("side", "seed"), [(160, 70_160), (512, 70_512)])
def test_frame_sizes_outside_the_old_training_range(side, seed, tmp_path):
    """Frames of 160² and 512² (default generator settings, held-out seeds 70160 / 70512; the generator scales the
    vessels, ribs and tumour with the frame, so calibres in pixels differ by 0.6× and 2× from 256²) against the
    generator's iodine truth: vessel Dice ≥ 0.60 and PSNR ≥ the all-zero image's + 2 dB, and within 0.08 Dice of
    the card's mean for that size. Version 1.0.0 (trained on 192–320 px frames, run at the frame's own size) scored
    Dice 0.202 / PSNR 19.20 dB (all-zero 23.26 dB) at 160² and Dice 0.239 / PSNR 22.06 dB (all-zero 23.15 dB) at
    512² on exactly these runs, so it fails both checks."""
    card = load_card(card_path())
    run = simulate_angio_run(n_frames=12, shape=(side, side), motion="deformable", seed=seed)
    predicted = subtract_run_dl(run.frames, device="cpu", cache_dir=tmp_path)
    assert predicted.shape == run.frames.shape
    dice, psnr = _scores(predicted, run)
    zero_psnr = _scores(np.zeros_like(predicted), run)[1]
    assert dice >= 0.60 and psnr >= zero_psnr + 2.0, (dice, psnr, zero_psnr)
    assert dice >= _reported(card, "vessel Dice", "4 held-out", f"{side}x{side} frames") - 0.08, dice


def test_working_grid_resampling():
    """Shape: the shorter side becomes 256 px, the aspect ratio is kept (rounded). Shrinking 512² → 256² averages
    2 × 2 detector pixels (binning): Poisson counts of mean 1000 keep their mean and their variance drops to
    1000 / 4 = 250 (tolerances 0.5 counts and 5 %, about 8 standard errors of the mean and of the sample variance over
    65 536 pixels); enlarging is
    bilinear, so a linear ramp stays a linear ramp away from the borders; a 256² frame is returned unchanged."""
    assert working_shape(1024, 768) == (341, 256) and working_shape(60, 75) == (256, 320)
    rng = np.random.default_rng(5)
    counts = rng.poisson(1000.0, size=(1, 512, 512)).astype(np.float32)
    binned = to_working_grid(counts)
    assert binned.shape == (1, 256, 256)
    assert abs(float(binned.mean()) - 1000.0) < 0.5 and abs(float(binned.var()) / 250.0 - 1.0) < 0.05
    np.testing.assert_allclose(binned[0, 10, 20], counts[0, 20:22, 40:42].mean(), rtol=1e-6)
    ramp = np.tile(np.arange(128, dtype=np.float32), (1, 128, 1)) * 2.0 + 100.0
    grown = to_working_grid(ramp)[0, 4:-4, 4:-4]  # bilinear, half-pixel centres: value at x' is 2 (x'/2 − 1/4) + 100
    x = np.arange(4, 252, dtype=np.float32)
    np.testing.assert_allclose(grown, np.broadcast_to(2.0 * (x / 2.0 - 0.25) + 100.0, grown.shape), atol=1e-3)
    same = np.full((2, 256, 300), 7.0, np.float32)
    assert np.shares_memory(to_working_grid(same), same)
    back = from_working_grid(torch.from_numpy(binned[:, None]), (512, 512))
    assert tuple(back.shape) == (1, 1, 512, 512)


def test_weights_are_checksum_verified(held_out_run, tmp_path):
    """A changed weight file (one byte) is refused by the model-loading library before it is loaded."""
    card_file = card_path()
    folder = tmp_path / "cards"
    folder.mkdir()
    shutil.copy(card_file, folder / card_file.name)
    card = load_card(card_file)
    weights = bytearray((card_file.parent / card.files[0].filename).read_bytes())
    weights[-1] ^= 0xFF
    (folder / card.files[0].filename).write_bytes(bytes(weights))
    with pytest.raises(ChecksumMismatchError):
        subtract_run_dl(held_out_run.frames[:2], load_card(folder / card_file.name), device="cpu",
                        cache_dir=tmp_path / "cache")


def test_bad_input_is_refused(tmp_path):
    frames = np.full((3, 32, 32), 1000.0, np.float32)
    with pytest.raises(TooFewFramesError):
        subtract_run_dl(frames[:1], device="cpu", cache_dir=tmp_path)
    with pytest.raises(DisplayImageError):
        subtract_run_dl(frames.astype(np.uint8), device="cpu", cache_dir=tmp_path)
    with pytest.raises(EnhancementInputError, match="not a mask-free DSA model"):
        subtract_run_dl(frames, model="ablation-zone-surrogate", device="cpu", cache_dir=tmp_path)
    with pytest.raises(EnhancementInputError, match="frame_rate"):
        DLDSARequest(frame_rate=0.0)


def test_run_dsa_dl_and_cli(tmp_path: Path):
    """Odd frame sizes (padded internally) come back at their own size; the CLI writes the same outputs as the
    classical command, and a bad --method or an unknown --model is one line on stderr with exit code 2."""
    run = simulate_angio_run(n_frames=4, shape=(60, 75), motion="none", seed=3, arrival_s=0.5)
    result = run_dsa_dl(run.frames, DLDSARequest(device="cpu"), cache_dir=tmp_path / "cache")
    assert result.dsa.shape == (4, 60, 75) and result.model["model_id"] == "dsa-maskfree-synthetic"
    assert "not clinically validated" in result.notes[0] and "outside the 128–1024 pixel frames" in result.notes[1]
    source = save_run(run.frames, tmp_path / "run.nrrd", frame_interval_s=0.5)
    out = tmp_path / "dl"
    result = runner.invoke(app, ["enhance", "dsa", str(source), "-o", str(out), "--method", "dl", "--device", "cpu",
                                 "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "results.json").read_text())["model"]["model_id"] == "dsa-maskfree-synthetic"
    for args, text in ((["--method", "magic"], "--method"), (["--method", "dl", "--model", "no-such-model"],
                                                               "no-such-model")):
        result = runner.invoke(app, ["enhance", "dsa", str(source), "-o", str(tmp_path / "bad"), *args, "--quiet"])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1 and text in lines[0], result.output
        assert not (tmp_path / "bad").exists()


@pytest.mark.gpu
def test_gpu_matches_cpu(held_out_run, tmp_path):
    """On CUDA (full precision, as the card asks) the iodine images equal the CPU ones within 1e-3 log units."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    cpu = subtract_run_dl(held_out_run.frames[8:], device="cpu", cache_dir=tmp_path)
    gpu = subtract_run_dl(held_out_run.frames[8:], device="cuda", cache_dir=tmp_path)
    np.testing.assert_allclose(gpu, cpu, atol=1e-3)
