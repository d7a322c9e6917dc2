"""Training, evaluation and model card of the mask-free DSA network (offline tool, reproducible from its seed).

``python -m HCCInterventionalAILib.enhancement.train_dl_dsa OUT_DIR [--runs N] [--iterations N] [--seed S]
[--init WEIGHTS] [--learning-rate LR]`` generates ``N`` randomised SYNTHETIC runs (:func:`~.dl_dsa.randomised_run`,
seeds ``seed·10⁶ + i``, native frame sizes 128–1024 px), resamples each to a working grid whose shorter side is
drawn from 224–288 px (:func:`~.dl_dsa.to_working_grid`; inference always uses 256 px, the jitter makes the network
tolerate vessel calibres ±12 % off the generator's), trains the U-Net (from scratch, or from ``WEIGHTS``) on random
96² crops of the working-grid frames (most centred on opacified vessels) (Adam, cosine learning rate,
vessel-weighted squared error, random 90° rotations; one CPU thread), evaluates it on held-out runs that training
never saw (default generator settings at 256², seeds 50000+; the same at 128²–1024², seeds 51000+; randomised
runs, seeds 60000+) against the generator's iodine truth and against the naive baseline
:func:`~.dl_dsa.median_baseline`, and writes ``dsa-maskfree-synthetic.pt`` + ``.json`` into ``OUT_DIR`` (copy both
into ``Resources/ModelCards`` to ship them).

``--evaluate-only WEIGHTS [--native]`` only evaluates existing weights (``--native``: at the frame's own size, as
version 1.0.0 ran, instead of on the working grid) and writes ``evaluation.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..models.checksum import sha256_file
from ..models.training import fit, training_parser, weights_files, write_trained_card
from .dl_dsa import (
    CARD_FILE,
    MODEL_ID,
    TRAINED_FRAME_SIZES,
    VESSEL_THRESHOLD,
    WEIGHTS_FILE,
    WORKING_SIZE,
    from_working_grid,
    median_baseline,
    network_input,
    randomised_run,
    to_working_grid,
    vessel_dice,
)

__all__ = ["NETWORK_ARGS", "TrainSettings", "evaluate_runs", "main", "predict", "train", "write_card"]

NETWORK_ARGS = {"spatial_dims": 2, "in_channels": 2, "out_channels": 1, "channels": [16, 32, 64, 128],
                "strides": [2, 2, 2], "num_res_units": 1, "norm": "batch"}
#: Held-out evaluation seeds (never used in training): default generator settings, then randomised runs.
EVAL_DEFAULT_SEEDS = tuple(range(50_000, 50_010))
EVAL_RANDOM_SEEDS = tuple(range(60_000, 60_010))
#: Held-out evaluation per frame size: default generator settings at these square sizes, seeds 51000+.
EVAL_SIZES = (128, 160, 256, 512, 1024)
EVAL_SIZE_SEEDS = tuple(range(51_000, 51_004))
#: Range of the working-grid shorter side drawn per training run (inference uses WORKING_SIZE).
WORKING_JITTER = (224, 288)
VERSION = "1.1.0"


class TrainSettings(argparse.Namespace):
    runs: int = 80
    frames: int = 10
    iterations: int = 2000
    batch_size: int = 12
    crop: int = 96
    learning_rate: float = 2e-3
    seed: int = 1
    init: Path | None = None
    evaluate_only: Path | None = None
    native: bool = False


def build_dataset(settings: TrainSettings, log: Any = print) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(network input (n, 2, s, s) float16, iodine (n, s, s) float16, indices of the frames with iodine above the
    vessel threshold) of each randomised training run, on its working grid (shorter side drawn from
    :data:`WORKING_JITTER`)."""
    data = []
    for i in range(settings.runs):
        seed = settings.seed * 1_000_000 + i
        frames, iodine, _ = randomised_run(seed, n_frames=settings.frames)
        size = int(np.random.default_rng([seed, 1]).integers(WORKING_JITTER[0], WORKING_JITTER[1] + 1))
        frames, iodine = to_working_grid(frames, size), to_working_grid(iodine, size)
        opacified = np.flatnonzero(iodine.max(axis=(1, 2)) > VESSEL_THRESHOLD)
        data.append((network_input(frames).astype(np.float16), iodine.astype(np.float16), opacified))
        if (i + 1) % 20 == 0:
            log(f"generated {i + 1}/{settings.runs} runs")
    return data


def train(data: list[tuple[np.ndarray, np.ndarray, np.ndarray]], settings: TrainSettings, log: Any = print) -> tuple[Any, list[float]]:
    """Train the U-Net on random crops (vessel-weighted squared error on 10 × iodine; an L1 loss collapses to the
    median, zero, for a target this sparse)."""
    import torch
    from monai.networks.nets import UNet

    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    net = UNet(**NETWORK_ARGS)
    if settings.init is not None:
        net.load_state_dict(torch.load(settings.init, map_location="cpu", weights_only=True))
    c = settings.crop

    def batch_loss(net: Any) -> Any:
        xs, ys = [], []
        for _ in range(settings.batch_size):
            x_run, y_run, opacified = data[int(rng.integers(len(data)))]
            # 80 % contrast frames, 20 % any frame; 60 % of crops centred on an opacified pixel.
            frames = opacified if (len(opacified) and rng.random() < 0.8) else np.arange(len(x_run))
            t = int(frames[int(rng.integers(len(frames)))])
            rows, cols = x_run.shape[2:]
            vessel = np.argwhere(y_run[t] > 0.02) if rng.random() < 0.6 else np.zeros((0, 2))
            if len(vessel):
                r, q = vessel[int(rng.integers(len(vessel)))] + rng.integers(-c // 3, c // 3 + 1, size=2)
                r0, c0 = int(np.clip(r - c // 2, 0, rows - c)), int(np.clip(q - c // 2, 0, cols - c))
            else:
                r0, c0 = int(rng.integers(0, rows - c + 1)), int(rng.integers(0, cols - c + 1))
            x = x_run[t, :, r0:r0 + c, c0:c0 + c]
            y = y_run[t, r0:r0 + c, c0:c0 + c][None]
            k = int(rng.integers(4))
            xs.append(np.rot90(x, k, axes=(1, 2)))
            ys.append(np.rot90(y, k, axes=(1, 2)))
        x = torch.from_numpy(np.stack(xs).astype(np.float32))
        y = torch.from_numpy(np.stack(ys).astype(np.float32))
        x[:, :1] += torch.empty(len(x), 1, 1, 1).uniform_(-0.3, 0.3)  # robustness to the median offset
        weight = 1.0 + 4.0 * (y > 0.02).float()
        return (weight * (10.0 * (net(x) - y)) ** 2).mean()

    history = fit(net, settings.iterations, settings.learning_rate, batch_loss, log)
    return net, history


def _metrics(predicted: np.ndarray, truth: np.ndarray, first: int) -> tuple[float, float]:
    """(vessel Dice, PSNR dB) over the contrast frames ``first:`` with data range = the run's peak true iodine."""
    p, t = predicted[first:], truth[first:]
    rmse = float(np.sqrt(np.mean((p.astype(np.float64) - t) ** 2)))
    return vessel_dice(p, t), float(20.0 * np.log10(float(t.max()) / rmse))


def predict(net: Any, frames: np.ndarray, working_size: int | None = WORKING_SIZE) -> np.ndarray:
    """Iodine images of ``frames`` (n, rows, cols) by a torch network on the CPU, through the working grid as
    :func:`~.dl_dsa.subtract_run_dl` runs it (``working_size=None``: at the frames' own size, as version 1.0.0)."""
    import torch
    import torch.nn.functional as F

    rows, cols = frames.shape[1:]
    x = torch.from_numpy(network_input(frames if working_size is None else to_working_grid(frames, working_size)))
    r, c = x.shape[2:]
    x = F.pad(x, (0, (-c) % 8, 0, (-r) % 8), mode="reflect")
    with torch.no_grad():
        out = [from_working_grid(net(x[i:i + 4])[:, :1, :r, :c], (rows, cols))[:, 0].numpy()
               for i in range(0, len(x), 4)]
    return np.concatenate(out)


def evaluate_runs(net: Any, seeds_default=EVAL_DEFAULT_SEEDS, seeds_random=EVAL_RANDOM_SEEDS,
                  sizes=EVAL_SIZES, seeds_size=EVAL_SIZE_SEEDS, working_size: int | None = WORKING_SIZE,
                  log: Any = print) -> dict[str, Any]:
    """Dice/PSNR of the network and of the median baseline on held-out synthetic runs: ``default`` (generator
    defaults at 256²), ``randomised`` (:func:`~.dl_dsa.randomised_run`) and ``size_<s>`` (defaults at s²)."""
    from .angio import simulate_angio_run

    out: dict[str, Any] = {}
    sets = [("default", seeds_default), ("randomised", seeds_random)] + [(f"size_{s}", seeds_size) for s in sizes]
    for name, seeds in sets:
        scores: dict[str, list[float]] = {"dice": [], "psnr": [], "baseline_dice": [], "baseline_psnr": [],
                                          "zero_psnr": []}
        for seed in seeds:
            if name != "randomised":
                side = 256 if name == "default" else int(name.split("_")[1])
                run = simulate_angio_run(n_frames=12, shape=(side, side), motion="deformable", seed=seed)
                frames, iodine, first = run.frames, run.iodine, run.arrival_frame
            else:
                frames, iodine, _ = randomised_run(seed, n_frames=20)  # 20 frames: the bolus peaks in every run
                first = int(np.argmax(iodine.max(axis=(1, 2)) > 0))
            dice, psnr = _metrics(predict(net, frames, working_size), iodine, first)
            b_dice, b_psnr = _metrics(median_baseline(frames), iodine, first)
            _, zero_psnr = _metrics(np.zeros_like(iodine), iodine, first)
            for key, value in zip(scores, (dice, psnr, b_dice, b_psnr, zero_psnr), strict=True):
                scores[key].append(value)
        out[name] = {key: {"mean": float(np.mean(v)), "min": float(np.min(v)), "values": v}
                     for key, v in scores.items()}
        log(f"evaluation {name}: Dice {out[name]['dice']['mean']:.3f}, PSNR {out[name]['psnr']['mean']:.2f} dB")
    return out


def write_card(folder: Path, weights: Path, settings: TrainSettings, evaluation: dict[str, Any],
               seconds: dict[str, float], init: dict[str, Any] | None = None) -> Path:
    """Write the model card beside the weights (checksum, network, input, training and the held-out evaluation).

    ``init``: ``{"version", "sha256", "method"}`` of the weights training started from (None: from scratch)."""
    d, r = evaluation["default"], evaluation["randomised"]
    low, high = TRAINED_FRAME_SIZES
    source = "HCCInterventionalAILib.enhancement.train_dl_dsa evaluation (this project)"
    held = f"{len(EVAL_DEFAULT_SEEDS)} held-out synthetic runs (simulate_angio_run defaults: 12 frames 256^2, " \
           f"deformable motion, I0 2e5; seeds {EVAL_DEFAULT_SEEDS[0]}-{EVAL_DEFAULT_SEEDS[-1]}), contrast frames"
    held_r = f"{len(EVAL_RANDOM_SEEDS)} held-out randomised synthetic runs of 20 frames ({low}-{high} px; seeds " \
             f"{EVAL_RANDOM_SEEDS[0]}-{EVAL_RANDOM_SEEDS[-1]}), contrast frames"
    dice_note = f"vessel Dice (iodine > {VESSEL_THRESHOLD} log units)"
    psnr_note = "PSNR vs true iodine (dB, range = peak true iodine of the run)"
    start = "from scratch" if init is None else (
        f"starting from the weights of version {init['version']} (sha256 {init['sha256']}; those weights, their "
        f"card and the version of this tool that trained them are in the repository's history: "
        f"{init['method'].rstrip('.')})")
    per_size = []
    for side in EVAL_SIZES:
        e = evaluation[f"size_{side}"]
        held_s = f"{len(EVAL_SIZE_SEEDS)} held-out synthetic runs (simulate_angio_run defaults: 12 frames " \
                 f"{side}^2, deformable motion, I0 2e5; seeds {EVAL_SIZE_SEEDS[0]}-{EVAL_SIZE_SEEDS[-1]}), " \
                 "contrast frames"
        per_size += [
            {"metric": f"{dice_note}, mean, {side}x{side} frames", "value": round(e["dice"]["mean"], 4),
             "dataset": held_s, "structure": "opacified vessels and blush", "source": source},
            {"metric": f"{psnr_note}, mean, {side}x{side} frames", "value": round(e["psnr"]["mean"], 2),
             "dataset": held_s, "source": source},
            {"metric": f"all-zero image {psnr_note}, mean, {side}x{side} frames",
             "value": round(e["zero_psnr"]["mean"], 2), "dataset": held_s, "source": source},
        ]
    grid = f"each frame's counts resampled to a working grid with a shorter side of {WORKING_SIZE} px (area " \
           "averaging when shrinking, bilinear when enlarging), the output resampled back to the frame"
    card = {
        "id": MODEL_ID,
        "version": VERSION,
        "name": "Mask-free DSA network (trained only on synthetic angiographic runs)",
        "description": "2-D U-Net predicting the iodine line integral (log-space DSA, iodine positive) of one "
                       f"angiographic frame without a mask frame; it runs on a {WORKING_SIZE}-px working grid "
                       "(dl_dsa.to_working_grid) so frames of 128-1024 px give comparable results.",
        "task": "image-to-image",
        "format": "state_dict",
        "files": weights_files(weights),
        "network": {"name": "UNet", "args": NETWORK_ARGS},
        "input": {
            "modality": "XA",
            "channels": [{"name": "x = -log(max(I, 0.5)) + median(log(max(I, 0.5))) of one frame (detector counts I) "
                                  f"on the working grid ({grid})"},
                         {"name": "4 (x - Gaussian(sigma 6 px) * x) on the working grid"}],
            "axis_order": "kji",
            "intensity": {"normalisation": "none"},
        },
        "inference": {"mixed_precision": False},
        "licence": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        "training": {
            "trained_by_project": True,
            "data": f"{settings.runs} SYNTHETIC angiographic runs of {settings.frames} frames generated by "
                    "HCCInterventionalAILib.enhancement.angio.simulate_angio_run with randomised parameters "
                    f"(dl_dsa.randomised_run: square frames of {low}-{high} px, log-uniform, each resampled to a "
                    f"working grid of {WORKING_JITTER[0]}-{WORKING_JITTER[1]} px; branching hepatic-artery trees "
                    "with gamma-variate bolus dynamics and a tumour blush over a computer-generated abdominal "
                    "background, Poisson counts at I0 3e4-1e6, respiratory and bowel motion, random flips; seeds "
                    f"{settings.seed * 1_000_000}-{settings.seed * 1_000_000 + settings.runs - 1}). "
                    "Trained only on synthetic runs: no patient angiogram was used, not clinically validated.",
            "method": f"python -m HCCInterventionalAILib.enhancement.train_dl_dsa (seed {settings.seed}), {start}: "
                      f"{settings.iterations} Adam steps (lr {settings.learning_rate:g}, cosine), batch "
                      f"{settings.batch_size} random {settings.crop}^2 crops of working-grid frames (80 % contrast "
                      "frames, 60 % centred on opacified pixels), random 90-degree rotations and +-0.3 input "
                      "offsets, squared error on 10 x iodine weighted 5x on pixels with iodine > 0.02, one CPU "
                      "thread; wall-clock on a shared 2-core machine "
                      f"({seconds['data']:.0f} s data generation, {seconds['training']:.0f} s training).",
        },
        "intended_use": "Research: a mask-free iodine preview when no usable mask frame exists (e.g. motion from "
                        "the start of the run); the classical motion-compensated DSA remains the reference.",
        "limitations": "Trained only on synthetic runs of one phantom family (abdominal background of "
                       "simulate_angio_run, straight-segment arterial trees, one spherical blush); not clinically "
                       "validated and not evaluated on real angiograms, catheters, stents, embolic agents, "
                       f"collimation or other anatomy. Every frame is resampled to a {WORKING_SIZE}-px working grid, "
                       "which assumes that the field of view (the anatomy a frame shows), not the pixel size, is "
                       "the generator's: vessel calibres more than about 12 % off the generator's at the working "
                       f"grid, frames far outside {low}-{high} px, and vessels thinner than about 1 working-grid "
                       "pixel (e.g. 4 px in a 1024-px frame) are outside what it was trained on; the output has the "
                       "working grid's resolution. Anatomy that looks like a vessel can be reported as iodine.",
        "reported_accuracy": [
            {"metric": f"{dice_note}, mean", "value": round(d["dice"]["mean"], 4), "dataset": held,
             "structure": "opacified vessels and blush", "source": source},
            {"metric": f"{psnr_note}, mean", "value": round(d["psnr"]["mean"], 2), "dataset": held, "source": source},
            {"metric": f"naive baseline (temporal-median background) {dice_note}, mean",
             "value": round(d["baseline_dice"]["mean"], 4), "dataset": held, "source": source},
            {"metric": f"naive baseline (temporal-median background) {psnr_note}, mean",
             "value": round(d["baseline_psnr"]["mean"], 2), "dataset": held, "source": source},
            {"metric": f"all-zero image (no iodine anywhere) {psnr_note}, mean: the floor a useful output must beat",
             "value": round(d["zero_psnr"]["mean"], 2), "dataset": held, "source": source},
            {"metric": f"{dice_note}, mean", "value": round(r["dice"]["mean"], 4), "dataset": held_r,
             "structure": "opacified vessels and blush", "source": source},
            {"metric": f"{psnr_note}, mean", "value": round(r["psnr"]["mean"], 2), "dataset": held_r, "source": source},
            {"metric": f"all-zero image {psnr_note}, mean", "value": round(r["zero_psnr"]["mean"], 2),
             "dataset": held_r, "source": source},
            *per_size,
        ],
        "research_only": True,
        "validation_status": "Trained only on synthetic runs, not clinically validated; research demo, "
                             "not for clinical use",
    }
    return write_trained_card(folder / CARD_FILE, card)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - offline tool
    """Generate, train, evaluate, write weights + card (see the module docstring)."""
    import torch

    parser = training_parser(__doc__, iterations=TrainSettings.iterations, seed=TrainSettings.seed)
    parser.add_argument("--runs", type=int, default=TrainSettings.runs)
    parser.add_argument("--learning-rate", type=float, default=TrainSettings.learning_rate)
    parser.add_argument("--init", type=Path, default=None, help="weights (state dict) to start from")
    parser.add_argument("--init-card", type=Path, default=None, help="the card of --init (version, method)")
    parser.add_argument("--evaluate-only", type=Path, default=None, help="only evaluate these weights")
    parser.add_argument("--native", action="store_true", help="with --evaluate-only: at the frames' own size")
    settings = parser.parse_args(argv, namespace=TrainSettings())
    settings.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # one thread is several times faster than two on a shared 2-core machine
    if settings.evaluate_only is not None:
        from monai.networks.nets import UNet

        net = UNet(**NETWORK_ARGS)
        net.load_state_dict(torch.load(settings.evaluate_only, map_location="cpu", weights_only=True))
        net.eval()
        evaluation = evaluate_runs(net, working_size=None if settings.native else WORKING_SIZE)
        (settings.out / "evaluation.json").write_text(json.dumps({"weights": str(settings.evaluate_only),
                                                                  "native": settings.native,
                                                                  "evaluation": evaluation}, indent=1))
        return
    init = None
    if settings.init is not None:
        previous = json.loads(settings.init_card.read_text()) if settings.init_card else {}
        init = {"version": previous.get("version", "unknown"), "sha256": sha256_file(settings.init),
                "method": previous.get("training", {}).get("method", "unknown training")}
    started = time.perf_counter()
    data = build_dataset(settings)
    generated = time.perf_counter()
    net, history = train(data, settings)
    trained = time.perf_counter()
    weights = settings.out / WEIGHTS_FILE
    torch.save(net.state_dict(), weights)
    evaluation = evaluate_runs(net)
    seconds = {"data": generated - started, "training": trained - generated,
               "evaluation": time.perf_counter() - trained}
    report = {"settings": {k: v for k, v in vars(settings).items() if k != "out"}, "seconds": seconds,
              "evaluation": evaluation, "loss_history": history[::10]}
    (settings.out / "evaluation.json").write_text(json.dumps(report, indent=1, default=str))
    write_card(settings.out, weights, settings, evaluation, seconds, init)
    print(json.dumps({"seconds": seconds, **{k: {m: v["mean"] for m, v in e.items()} for k, e in evaluation.items()}},
                     indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
