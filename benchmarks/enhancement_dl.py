"""Speed of the shipped enhancement networks: mask-free DSA frames per second and supervised CT denoising time.

Cases (medians over ``--repeats`` runs after one warm-up; synthetic data; weights loaded once, as in use):

* mask-free DSA (:func:`HCCInterventionalAILib.enhancement.dl_dsa.subtract_run_dl`) of a ``--frames``-frame run
  at each ``--sizes`` vs the baseline measured in the same run: classical motion-compensated DSA
  (:func:`~HCCInterventionalAILib.enhancement.dsa.subtract_run`, deformable, torch backend, mask frame 0);
* supervised denoising (:func:`HCCInterventionalAILib.enhancement.card_denoise.denoise_with_card`, card
  ``ct-denoise-simulated-lowdose``, tiled) of a ``--ct-shape`` CT vs the baseline measured in the same run: Noise2Self
  training (``--iterations``, default 1000 as the library) + J-invariant inference.

Measured 2026-11-30 on the 2-core VM (2 torch threads, ``--repeats 1``; no GPU row has been measured):

* ``--sizes 512 1024`` (load 0.0): mask-free DL DSA 70.5 frames/s at 10×512² and 68.2 frames/s at 10×1024² (it runs
  on a 256-px working grid), vs classical deformable DSA 24.3 and 13.2 frames/s in the same run (2.90×, 5.18×);
* ``--ct-shape 200 512 512`` (load 1.8 at the start), per 512×512×200 volume: Noise2Self (1000 training steps +
  J-invariant inference, 16 masked passes) 155.5 s, the supervised card 15.6 s (tiled 256² windows, 25 % overlap; 9.9×).

Both on the CPU (``--threads`` torch threads) and CUDA when available. Usage:
``python benchmarks/enhancement_dl.py [--sizes 512 1024] [--frames 10] [--ct-shape 200 512 512] [--methods ...] [--quick]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _common import median_time


def _row(case: str, size: str, device: str, seconds: float, baseline: float, unit: str) -> None:
    print(f"| {case} | {size} | {device} | {seconds:.3f} s ({unit}) | {baseline / seconds:.2f}x |")


DENOISER_CARD = "ct-denoise-simulated-lowdose"


def main() -> None:
    import torch

    from HCCInterventionalAILib.enhancement.angio import simulate_angio_run
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings, denoise_volume
    from HCCInterventionalAILib.enhancement.dl_dsa import subtract_run_dl
    from HCCInterventionalAILib.enhancement.dsa import subtract_run
    from HCCInterventionalAILib.imaging.volume import Volume

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ct-shape", type=int, nargs=3, default=[200, 512, 512], metavar=("K", "J", "I"))
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=["noise2self", "supervised"],
                        choices=["noise2self", "supervised", "none"],
                        help="denoising cases ('none': DSA only); the first is timed first")
    parser.add_argument("--quick", action="store_true", help="256² DSA, 4×256×256 CT, 1 repeat, 50 iterations")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.ct_shape, args.repeats, args.iterations = [256], [4, 256, 256], 1, 50
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"load average {os.getloadavg()[0]:.1f}, torch threads {args.threads}")
    print("| case | size | device | median time | speed-up vs baseline (same run) |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        run = simulate_angio_run(n_frames=args.frames, shape=(size, size), motion="deformable", seed=5)
        for device in devices:
            base = median_time(lambda: subtract_run(run.frames, 0, "deformable", device=device),  # noqa: B023
                               args.repeats, warm_up=True)
            dl = median_time(lambda: subtract_run_dl(run.frames, device=device), args.repeats,  # noqa: B023
                             warm_up=True)
            _row("classical deformable DSA (baseline)", f"{args.frames}×{size}²", device, base, base,
                 f"{args.frames / base:.1f} frames/s")
            _row("mask-free DL DSA", f"{args.frames}×{size}²", device, dl, base, f"{args.frames / dl:.1f} frames/s")
    if "none" in args.methods:
        return
    rng = np.random.default_rng(0)
    k, j, i = args.ct_shape
    yy, xx = np.mgrid[0:j, 0:i]
    body = ((yy - j / 2) / (0.4 * j)) ** 2 + ((xx - i / 2) / (0.45 * i)) ** 2 < 1
    array = np.where(body, 50.0, -1000.0)[None] + rng.normal(0, 40, (k, j, i))
    ct = Volume.from_array(array.astype(np.float32), spacing=(0.8, 0.8, 2.0), modality="CT", units="HU")
    del array
    slab = Volume.from_array(ct.array[: min(k, 4)].copy(), spacing=(0.8, 0.8, 2.0), modality="CT",
                             units="HU")  # warm-up on a 4-slice slab: imports, allocator, kernels
    for device in devices:
        settings = Noise2SelfSettings(iterations=args.iterations, device=device)
        cases = {
            "noise2self": ("Noise2Self (training + J-invariant inference, baseline)",
                           lambda volume: denoise_volume(volume, settings=settings, device=device)),  # noqa: B023
            "supervised": (f"supervised denoiser {DENOISER_CARD} (tiled)",
                           lambda volume: denoise_with_card(volume, DENOISER_CARD, device=device)),  # noqa: B023
        }
        times = {}
        for method in args.methods:
            label, function = cases[method]
            function(slab)
            times[method] = median_time(lambda: function(ct), args.repeats)  # noqa: B023
            base = times.get("noise2self", times[method])
            _row(label, f"{k}×{j}×{i}", device, times[method], base, "per volume")

if __name__ == "__main__":
    main()
