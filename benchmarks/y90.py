"""Benchmark: Y-90 kernel-convolution dosimetry versus local deposition on the same grid (CPU, and CUDA when present).

Usage:
    python benchmarks/y90.py [--quick] [--repeats N]

Cases, for a 128×128×160 grid of 4.42×4.42×2.5 mm (a clinical SPECT, like the Taranis sample) and a 256×256×256
grid of 2.4 mm (a fine PET/SPECT grid):
- local deposition (LDM), the baseline: D = K·A/(ρV), element-wise;
- kernel convolution with scipy's FFT on the CPU (float64);
- kernel convolution with torch.fft on the CPU (float64) when torch is installed;
- kernel convolution with torch.fft on CUDA (float32) when a GPU is present;
- one ``scipy.signal.fftconvolve(activity, kernel, mode="same")`` of the same grid and kernel (float64, as the
  activity is stored; one thread), the second baseline: whole kernel dosimetry (``kernel_convolution_dose`` end to
  end: input checks, float32 real FFTs of fast sizes on all cores, dose scaling, energy-escape check) is reported
  as a ratio to it.
The activity is an ellipsoidal "liver" with a hot "tumour" and multiplicative noise. The dose kernel is built
once before timing (its build time is printed separately; it is cached per voxel size). Times are medians of
``--repeats`` runs after one warm-up; peak memory is the traced Python/numpy heap (tracemalloc) on the CPU and
``torch.cuda.max_memory_allocated`` on CUDA (torch's own CPU allocations are not traced, so
the torch-CPU peak is a lower bound). The ratio is the case's median time over the LDM median on the same
grid in the same run (or over the fftconvolve median for the "vs fftconvolve" rows).

``--quick`` runs only the 128×128×160 grid with 2 repeats.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from scipy.signal import fftconvolve

from HCCInterventionalAILib.imaging.volume import Volume
from Y90DosimetryLib import dose_kernel, kernel_convolution_dose, local_deposition_dose

GRIDS = {
    "128x128x160": ((160, 128, 128), (4.42, 4.42, 2.5)),
    "256x256x256": ((256, 256, 256), (2.4, 2.4, 2.4)),
}


def _activity(shape: tuple[int, int, int], spacing: tuple[float, float, float]) -> Volume:
    rng = np.random.default_rng(0)
    k, j, i = (np.linspace(-1, 1, n)[:, None, None] if a == 0 else
               np.linspace(-1, 1, n)[None, :, None] if a == 1 else np.linspace(-1, 1, n)[None, None, :]
               for a, n in enumerate(shape))
    liver = (k / 0.5) ** 2 + (j / 0.6) ** 2 + (i / 0.7) ** 2 <= 1.0
    tumour = ((k - 0.1) / 0.15) ** 2 + (j / 0.15) ** 2 + ((i - 0.2) / 0.15) ** 2 <= 1.0
    counts = np.where(liver, 1.0, 0.0) + np.where(tumour, 3.0, 0.0)
    counts *= rng.gamma(20.0, 1 / 20.0, size=shape)
    counts *= 2.0 / counts.sum()  # 2 GBq
    return Volume.from_array(counts, spacing=spacing, name="activity", units="GBq")


def _time(run: Callable[[], object], repeats: int, cuda: bool = False, warm_up: bool = True) -> tuple[float, float]:
    """(median seconds, peak MiB) of ``run`` after one warm-up."""
    if warm_up:
        run()
    times, peak = [], 0.0
    for _ in range(repeats):
        gc.collect()
        if cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            tracemalloc.start()
        start = time.perf_counter()
        run()
        if cuda:
            import torch

            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        if cuda:
            import torch

            peak = max(peak, torch.cuda.max_memory_allocated() / 2**20)
        else:
            peak = max(peak, tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
    return statistics.median(times), peak


def _time_pair(first: Callable[[], object], second: Callable[[], object],
               repeats: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(median s, peak MiB) of two callables timed alternately, so machine load affects both alike."""
    results: list[list[tuple[float, float]]] = [[], []]
    first()
    second()
    for _ in range(repeats):
        for index, run in enumerate((first, second)):
            results[index].append(_time(run, 1, warm_up=False))
    return tuple((statistics.median(t for t, _ in r), max(p for _, p in r)) for r in results)  # type: ignore


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only the 128×128×160 grid, 2 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per case (default 5, quick 2)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    grids = {k: v for k, v in GRIDS.items() if not args.quick or k == "128x128x160"}

    has_torch = importlib.util.find_spec("torch") is not None
    has_cuda = False
    if has_torch:
        import torch

        has_cuda = torch.cuda.is_available()
    rows: list[dict[str, object]] = []
    for size, (shape, spacing) in grids.items():
        activity = _activity(shape, spacing)
        start = time.perf_counter()
        kernel = dose_kernel(spacing)
        build = time.perf_counter() - start
        print(f"{size}: {spacing} mm voxels, kernel {kernel.method} {kernel.array.shape} built in {build:.2f} s")
        cases: list[tuple[str, str, Callable[[], object], bool]] = [
            ("local deposition", "cpu", lambda a=activity: local_deposition_dose(a), False),
            ("kernel FFT (scipy)", "cpu",
             lambda a=activity, k=kernel: kernel_convolution_dose(a, kernel=k, backend="numpy"), False),
        ]
        if has_torch:
            cases.append(("kernel FFT (torch)", "cpu", lambda a=activity, k=kernel: kernel_convolution_dose(
                a, kernel=k, backend="torch", device="cpu"), False))
        if has_cuda:
            cases.append(("kernel FFT (torch)", "cuda", lambda a=activity, k=kernel: kernel_convolution_dose(
                a, kernel=k, backend="torch", device="cuda"), True))
        baseline = None
        for name, device, run, cuda in cases:
            median, peak = _time(run, repeats, cuda)
            baseline = baseline or median
            rows.append({"case": name, "size": size, "device": device, "median_s": median, "peak_mib": peak,
                         "ratio": median / baseline, "baseline": "LDM"})
        # whole kernel dosimetry vs one fftconvolve of the same grid and kernel, timed interleaved
        array = np.asarray(activity.array)
        pair = _time_pair(lambda a=array, k=kernel: fftconvolve(a, k.array, mode="same"),
                          lambda a=activity, k=kernel: kernel_convolution_dose(a, kernel=k, backend="numpy"), repeats)
        (conv_median, conv_peak), (dose_median, dose_peak) = pair
        rows.append({"case": "scipy fftconvolve", "size": size, "device": "cpu", "median_s": conv_median,
                     "peak_mib": conv_peak, "ratio": 1.0, "baseline": "fftconvolve"})
        rows.append({"case": "kernel dosimetry", "size": size, "device": "cpu", "median_s": dose_median,
                     "peak_mib": dose_peak, "ratio": dose_median / conv_median, "baseline": "fftconvolve"})
    header = (f"{'case':<22}{'size':<14}{'device':<8}{'median time':>13}{'peak memory':>14}{'ratio':>9}"
              f"  {'vs':<12}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:<22}{r['size']:<14}{r['device']:<8}{r['median_s']:>11.3f} s{r['peak_mib']:>10.0f} MiB"
              f"{r['ratio']:>8.2f}x  {r['baseline']:<12}")
    return rows


if __name__ == "__main__":
    main()
