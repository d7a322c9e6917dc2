"""Benchmark of the model-loading library: sliding-window network time vs the whole segmentation pipeline.

A MONAI UNet (untrained: spatial_dims=3, channels (16, 32, 64, 128), strides (2, 2, 2), 2 residual units,
3 classes) segments a synthetic 256×256×160 CT through a model card, with a 96³ window and 25 % overlap.
For each device the table gives, with the median of several runs:

- ``network``: :func:`sliding_window_predict` on the already preprocessed input tensor (the baseline);
- ``monai reference``: MONAI's own ``sliding_window_inference`` with the same settings (our wrapper's cost);
- ``pipeline``: :func:`segment_volume` end to end: window/normalise, network, argmax, largest connected
  component, with and without keeping the probabilities;
- the same for a card whose spacing differs from the image, so the input is resampled (linear) and the
  labels resampled back (nearest); its baseline is the network on the resampled grid.

The ratio column is each row's time over its baseline; the overhead of pre/post-processing is
``pipeline / network - 1`` (target ≤ 25 %). Peak memory is the growth of the process's resident memory
(CPU) or the peak of allocated GPU memory (CUDA) during a run.

Usage: ``python benchmarks/models.py [--quick] [--device cpu|cuda|all] [--repeats N]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HCCInterventionalAI"))  # runnable from a plain checkout too

from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.models import (  # noqa: E402
    load_card,
    load_model,
    segment_volume,
    sliding_window_predict,
)
from HCCInterventionalAILib.models.inference import choose_sw_batch_size, count_windows  # noqa: E402
from HCCInterventionalAILib.models.preprocessing import prepare_input  # noqa: E402

NETWORK_ARGS = {"spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [16, 32, 64, 128],
                "strides": [2, 2, 2], "num_res_units": 2}
ROI = (96, 96, 96)
OVERLAP = 0.25


@dataclass
class Row:
    case: str
    size: str
    device: str
    times: list[float]
    peak_bytes: int
    baseline: str
    stages: dict[str, float] | None = None
    is_baseline: bool = False
    stage_runs: list[dict[str, float]] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


class PeakMemory:
    """Peak memory during a block: allocated CUDA memory, or resident memory sampled every 5 ms on the CPU."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.peak = 0

    @staticmethod
    def _rss() -> int:
        try:
            with open("/proc/self/statm") as stream:
                import os

                return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):  # not Linux
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self) -> PeakMemory:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        self._start = self._rss()
        self._highest = self._start
        self._running = True

        def sample() -> None:
            while self._running:
                self._highest = max(self._highest, self._rss())
                time.sleep(0.005)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self._start
            return
        self._running = False
        self._thread.join()
        self.peak = max(self._highest, self._rss()) - self._start


def synthetic_ct(shape_kji: tuple[int, int, int], spacing: tuple[float, float, float], seed: int = 0) -> Volume:
    """Air, an elliptical body (fat/muscle), a liver with two brighter tumours, and CT noise (HU)."""
    rng = np.random.default_rng(seed)
    k, j, i = (np.linspace(-1, 1, n, dtype=np.float32) for n in shape_kji)
    kk, jj, ii = np.meshgrid(k, j, i, indexing="ij", sparse=True)
    image = np.full(shape_kji, -1000.0, dtype=np.float32)
    image[np.broadcast_to((ii / 0.9) ** 2 + (jj / 0.7) ** 2 <= 1.0, shape_kji)] = 40.0
    liver = ((ii + 0.3) / 0.45) ** 2 + ((jj - 0.1) / 0.4) ** 2 + (kk / 0.6) ** 2 <= 1.0
    image[liver] = 60.0
    for centre in ((-0.4, 0.1, 0.1), (-0.15, 0.25, -0.2)):
        image[(ii - centre[0]) ** 2 + (jj - centre[1]) ** 2 + (kk - centre[2]) ** 2 <= 0.08**2] = 100.0
    image += rng.normal(0.0, 12.0, size=shape_kji).astype(np.float32)
    return Volume(image, Geometry(shape_kji, spacing), name="synthetic CT", modality="CT", units="HU")


def write_model(folder: Path, spacing: list[float] | None, tag: str) -> Any:
    """Save the untrained UNet as a state dict and write its card; returns the loaded card."""
    import monai
    import torch

    torch.manual_seed(0)
    weights = folder / "unet.pt"
    if not weights.exists():
        torch.save(monai.networks.nets.UNet(**NETWORK_ARGS).state_dict(), weights)
    inputs: dict[str, Any] = {"modality": "CT", "intensity": {"window": [-175, 250], "normalisation": "range"},
                              "patch_size": list(ROI)}
    if spacing:
        inputs["spacing"] = spacing
    card = {
        "id": f"benchmark-unet-{tag}", "version": "0", "name": "Untrained UNet (benchmark)", "task": "segmentation",
        "format": "state_dict",
        "files": [{"url": weights.as_uri(), "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
                   "filename": "unet.pt"}],
        "network": {"name": "UNet", "args": NETWORK_ARGS}, "input": inputs,
        "output": {"labels": [{"value": 0, "name": "background"}, {"value": 1, "name": "liver"},
                              {"value": 2, "name": "tumor"}], "largest_component": [1, 2]},
        "inference": {"overlap": OVERLAP, "blend_mode": "gaussian"},
        "licence": {"name": "Apache-2.0"},
        "training": {"trained_by_project": True, "data": "none", "method": "untrained (random weights)"},
        "intended_use": "benchmark only", "research_only": True, "validation_status": "not a model",
    }
    path = folder / f"{tag}.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return load_card(path)


def measure_once(run: Callable[[], Any], device: Any) -> tuple[float, int, Any]:
    """Wall time and peak memory of one call; returns (seconds, peak bytes, what ``run`` returned)."""
    import torch

    with PeakMemory(device) as memory:
        start = time.perf_counter()
        result = run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return seconds, memory.peak, result


def benchmark_device(device_name: str, shape: tuple[int, int, int], repeats: int, folder: Path) -> list[Row]:
    """Time every case of one device; runs are interleaved (case A, B, C, A, B, C, ...) so that load from
    other processes affects all cases alike."""
    import monai
    import torch

    rows: list[Row] = []
    size = "×".join(str(s) for s in shape[::-1])
    cases = [("native spacing", (1.0, 1.0, 1.0), None), ("resampled", (0.8, 0.8, 1.25), [1.0, 1.0, 1.0])]
    for label, spacing, card_spacing in cases:
        card = write_model(folder, card_spacing, "resampled" if card_spacing else "native")
        model = load_model(card, device=device_name, cache_dir=folder / "cache")
        device = model.device
        volume = synthetic_ct(shape, spacing)
        segment_volume(card, synthetic_ct((96, 96, 96), spacing), model=model)  # warm-up: allocator, threads, cuDNN
        prepared = prepare_input([volume], card.input, device)
        grid = "×".join(str(s) for s in prepared.tensor.shape[2:][::-1])
        baseline = f"network {label}"
        sw_batch = choose_sw_batch_size(model, ROI, 1, device,
                                        n_windows=count_windows(prepared.tensor.shape[2:], ROI, OVERLAP))

        def network(prepared=prepared, model=model, sw_batch=sw_batch) -> Any:
            return sliding_window_predict(model, prepared.tensor, ROI, overlap=OVERLAP, mode="gaussian",
                                          sw_batch_size=sw_batch)

        def reference(prepared=prepared, model=model, sw_batch=sw_batch) -> Any:
            with torch.no_grad():
                return monai.inferers.sliding_window_inference(prepared.tensor, ROI, sw_batch, model,
                                                               overlap=OVERLAP, mode="gaussian")

        def pipeline(probabilities: bool, card=card, volume=volume, model=model, sw_batch=sw_batch) -> Callable[[], Any]:
            return lambda: segment_volume(card, volume, model=model, probabilities=probabilities, sw_batch_size=sw_batch)

        runs: list[tuple[Row, Callable[[], Any]]] = [
            (Row(f"network ({label}, grid {grid})", size, str(device), [], 0, baseline, is_baseline=True), network)]
        if card_spacing is None:
            runs.append((Row("monai reference sliding window", size, str(device), [], 0, baseline), reference))
        for probabilities in (True, False):
            name = f"pipeline ({label}{', +probabilities' if probabilities else ', labels only'})"
            runs.append((Row(name, size, str(device), [], 0, baseline, stages={}), pipeline(probabilities)))
        for _ in range(repeats):
            for row, run in runs:
                seconds, peak, result = measure_once(run, device)
                row.times.append(seconds)
                row.peak_bytes = max(row.peak_bytes, peak)
                if row.stages is not None:
                    row.stage_runs.append(result.timings)
                del result
        for row, _ in runs:
            if row.stages is not None:  # the stage timings of the median run
                row.stages = row.stage_runs[row.times.index(statistics.median_low(row.times))]
            rows.append(row)
        del model, volume, prepared
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def print_table(rows: list[Row]) -> None:
    baselines = {(r.device, r.baseline): r.median for r in rows if r.is_baseline}
    header = f"{'case':<48} {'size':<12} {'device':<8} {'median s':>9} {'min s':>7} {'peak MiB':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for row in rows:
        base = baselines[(row.device, row.baseline)]
        ratio = row.median / base
        print(f"{row.case:<48} {row.size:<12} {row.device:<8} {row.median:9.2f} {min(row.times):7.2f} "
              f"{row.peak_bytes / 2**20:9.0f} "
              f"{ratio:6.2f}")
    print()
    print("Overhead of pre/post-processing as a share of network time (target <= 25 %), three ways: from the")
    print("median times, from the fastest runs, and from the stage timings within each pipeline run (the pipeline's")
    print("own network stage as the baseline: insensitive to load from other processes, hence the verdict).")
    for row in rows:
        if row.stages:
            network = next(r for r in rows if r.is_baseline and (r.device, r.baseline) == (row.device, row.baseline))
            by_median = row.median / network.median - 1.0
            by_min = min(row.times) / min(network.times) - 1.0
            within = statistics.median(
                (stages["preprocess"] + stages["postprocess"]) / stages["inference"] for stages in row.stage_runs)
            stages = ", ".join(f"{k} {v:.2f} s" for k, v in row.stages.items() if k != "load")
            verdict = "meets the target" if within <= 0.25 else "ABOVE the target"
            print(f"  {row.device:<5} {row.case:<44} medians {100 * by_median:6.1f} %, fastest {100 * by_min:5.1f} %, "
                  f"within runs {100 * within:5.1f} %: {verdict} ({stages})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 128×128×80 volume instead of 256×256×160")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="cpu, cuda, or all available (default)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 3, quick 2)")
    args = parser.parse_args(argv)
    import monai
    import torch

    shape = (80, 128, 128) if args.quick else (160, 256, 256)
    repeats = args.repeats or (2 if args.quick else 3)
    devices = ["cpu"] if args.device == "cpu" else ["cuda"] if args.device == "cuda" else ["cpu", "cuda"]
    if "cuda" in devices and not torch.cuda.is_available():
        if args.device == "cuda":
            parser.error("CUDA is not available here")
        devices.remove("cuda")
    print(f"torch {torch.__version__}, monai {monai.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))
    print(f"UNet {NETWORK_ARGS['channels']}, roi {ROI}, overlap {OVERLAP}, gaussian blending, {repeats} runs per case\n")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="hccai-bench-") as temporary:
        for device in devices:
            rows += benchmark_device(device, shape, repeats, Path(temporary))
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
