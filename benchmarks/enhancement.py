"""Image-enhancement speed: DSA frames per second and CT denoising time.

Cases (medians over ``--repeats`` runs after one warm-up, SYNTHETIC runs with known motion):

* DSA at 512² and 1024² (``--sizes``): plain subtraction; rigid motion compensation on a rigidly moving run and
  deformable compensation on a deforming run, with each registration backend (``--backends``: "torch" batched
  Adam, for deformable started from the Gauss–Newton rigid fit; "gauss-newton" per frame in threads). Baseline,
  measured in the same run: a plain SimpleITK rigid registration (``Euler2DTransform``, mean squares, regular-step
  gradient descent) of the mask to each frame at full resolution, then the resampling. Every row also prints the
  accuracy: the background residual (RMS of DSA − true iodine outside vessels and tumour, 12/192 of the side
  excluded at the edges) divided by that of the perfectly registered reference (the mask moved by the true motion).
* Denoising of a 512×512×200 CT (``--ct-shape``): Noise2Self training (``--iterations``) and J-invariant
  inference, CPU (and CUDA when available).

``--threads`` sets torch's, ITK's and the Gauss–Newton pool's threads alike (default 1: on a shared, loaded
machine more threads than free cores make OpenBLAS/torch spin; state the load, ``uptime``, with the numbers).

Measured 2026-11-30 on the 2-core Xeon VM with no other job (load 1.2-1.5), ``--no-ct --threads 2``, 10 frames:
512²: SimpleITK rigid baseline 4.10 frames/s; rigid 37.96 (Gauss-Newton, 9.3×, residual 1.01× the reference) and
67.72 (torch, 16.5×, 1.03×); deformable 12.32 (Gauss-Newton, 3.0×, 1.58×) and 22.84 (torch, 5.6×, 2.40×); plain
subtraction 8.73× the reference residual. 1024² (``--repeats 2``): baseline 0.60; rigid 16.10 / 22.90; deformable
8.05 / 12.38 frames/s. On the same VM shared with 4 other jobs (load 4-6, one thread) the 512² deformable torch
row fell to 8.19 frames/s. No GPU row has been measured.

Usage: python benchmarks/enhancement.py [--sizes 512 1024] [--frames 10] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import median_time


def _sitk_rigid_per_frame(frames: np.ndarray, mask_index: int = 0) -> None:
    import SimpleITK as sitk

    logs = np.log(np.maximum(frames, 0.5)).astype(np.float32)
    moving = sitk.GetImageFromArray(logs[mask_index])
    for frame in logs:
        fixed = sitk.GetImageFromArray(frame)
        method = sitk.ImageRegistrationMethod()
        method.SetMetricAsMeanSquares()
        method.SetOptimizerAsRegularStepGradientDescent(1.0, 1e-3, 100)
        method.SetOptimizerScalesFromPhysicalShift()
        method.SetInitialTransform(sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler2DTransform()),
                                   inPlace=False)
        method.SetInterpolator(sitk.sitkLinear)
        transform = method.Execute(fixed, moving)
        sitk.Resample(moving, fixed, transform, sitk.sitkLinear, 0.0)


def _residual_ratio(run, dsa: np.ndarray) -> float:
    """Background residual of ``dsa`` divided by that of the perfectly registered reference."""
    from HCCInterventionalAILib.enhancement.registration import warp_frames

    size = run.frames.shape[1]
    margin = max(2, 12 * size // 192)
    keep = ~run.vessel_mask & ~run.tumour_mask
    core = np.zeros_like(keep)
    core[margin:-margin, margin:-margin] = True

    def residual(image: np.ndarray) -> float:
        return float(np.sqrt(np.mean(((image - run.iodine)[1:][:, keep & core]) ** 2)))

    logs = np.log(np.maximum(run.frames, 0.5))
    return residual(dsa) / residual(warp_frames(logs[0], run.displacement) - logs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch, ITK and Gauss-Newton threads (0: defaults)")
    parser.add_argument("--backends", nargs="+", default=["gauss-newton", "torch"])
    parser.add_argument("--ct-shape", type=int, nargs=3, default=[200, 512, 512], metavar=("K", "J", "I"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--devices", nargs="+", default=None, help="torch devices (default: cpu, and cuda when available)")
    parser.add_argument("--no-dsa", action="store_true", help="skip the DSA cases")
    parser.add_argument("--no-ct", action="store_true", help="skip the denoising cases")
    parser.add_argument("--quick", action="store_true", help="sizes 256, 4 frames, CT 20×256×256, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.frames, args.repeats, args.ct_shape, args.iterations = [256], 4, 1, [20, 256, 256], 50

    import SimpleITK as sitk
    import torch

    from HCCInterventionalAILib.enhancement import registration_gn, simulate_angio_run, subtract_run
    from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings, denoise_volume, train_noise2self
    from HCCInterventionalAILib.imaging.volume import Volume

    if args.threads:
        torch.set_num_threads(args.threads)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
        gn_threads = args.threads
        original = registration_gn.register_mask_gn
        registration_gn.register_mask_gn = lambda *a, **k: original(*a, **{**k, "threads": gn_threads})
        rigid_original = registration_gn.rigid_params
        registration_gn.rigid_params = lambda *a, **k: rigid_original(*a, **{**k, "threads": gn_threads})
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = []
    for size in [] if args.no_dsa else args.sizes:
        runs = {kind: simulate_angio_run(n_frames=args.frames, shape=(size, size), motion=kind, seed=0)
                for kind in ("rigid", "deformable")}
        sample = runs["rigid"].frames[: min(args.frames, 4)]  # the baseline's time per frame, on up to 4 frames
        start = time.perf_counter()
        _sitk_rigid_per_frame(sample)
        per_frame = (time.perf_counter() - start) / len(sample)
        base_fps = 1.0 / per_frame
        rows.append(("DSA SimpleITK rigid per frame (baseline)", f"{size}²", "cpu", per_frame, base_fps, 1.0, None))
        for device in devices:
            cases = [("none", "torch")] + [(motion, backend) for motion in ("rigid", "deformable")
                                          for backend in args.backends if not (backend == "gauss-newton" and device != "cpu")]
            for motion, backend in cases:
                run = runs["deformable" if motion == "deformable" else "rigid"]
                result = {}

                def once(run=run, motion=motion, backend=backend, device=device, result=result) -> None:
                    result["dsa"] = subtract_run(run.frames, 0, motion, backend=backend, device=device)

                seconds = median_time(once, args.repeats, warm_up=True)
                fps = args.frames / seconds
                name = "DSA plain subtraction" if motion == "none" else f"DSA {motion} ({backend})"
                rows.append((name, f"{size}²", device, seconds / args.frames, fps, fps / base_fps,
                             _residual_ratio(run, result["dsa"])))
    k, j, i = args.ct_shape
    if args.no_ct:
        devices = []
    rng = np.random.default_rng(0)
    phantom = np.full((k, j, i), -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[0:j, 0:i]
    body = ((yy - j / 2) / (0.4 * j)) ** 2 + ((xx - i / 2) / (0.45 * i)) ** 2 <= 1
    phantom[:, body] = 60.0
    phantom += rng.normal(0, 30, phantom.shape).astype(np.float32)
    ct = Volume.from_array(phantom, spacing=(0.7, 0.7, 1.0), modality="CT", units="HU")
    for device in devices:
        settings = Noise2SelfSettings(iterations=args.iterations, device=device)
        start = time.perf_counter()
        state = train_noise2self(ct, settings)
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        denoise_volume(ct, state, device=device)
        infer_seconds = time.perf_counter() - start
        rows.append((f"Noise2Self training ({args.iterations} steps)", f"{i}×{j}×{k}", device, train_seconds, None, None,
                     None))
        rows.append(("Noise2Self J-invariant inference", f"{i}×{j}×{k}", device, infer_seconds, None, None, None))
    print(f"{'case':45s} {'size':>14s} {'device':>6s} {'median s':>10s} {'frames/s':>9s} {'vs baseline':>11s} "
          f"{'residual/ref':>12s}")
    for case, size, device, seconds, fps, ratio, accuracy in rows:
        fps_text = f"{fps:9.2f}" if fps is not None else f"{'':>9s}"
        ratio_text = f"{ratio:10.1f}×" if ratio is not None else f"{'':>11s}"
        accuracy_text = f"{accuracy:11.2f}×" if accuracy is not None else f"{'':>12s}"
        print(f"{case:45s} {size:>14s} {device:>6s} {seconds:10.3f} {fps_text} {ratio_text} {accuracy_text}")
    print(f"threads: torch {torch.get_num_threads()}, ITK {sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()}; "
          f"load average at start {load:.2f} on {os.cpu_count()} CPUs; median s is per frame for DSA rows, per volume "
          "for denoising; residual/ref = background residual ÷ perfectly registered reference")


if __name__ == "__main__":
    main()
