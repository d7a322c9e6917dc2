"""Image-enhancement speed: DSA frames per second and CT denoising time.

Cases (medians over ``--repeats`` runs after one warm-up, synthetic data):

* DSA at 512² and 1024² (``--sizes``): plain subtraction, rigid and deformable motion compensation (torch
  backend, batched over frames) vs the baseline measured in the same run: a plain SimpleITK rigid registration
  (``Euler2DTransform``, mean squares, regular-step gradient descent) of the mask to each frame, full resolution.
* Denoising of a 512×512×200 CT (``--ct-shape``): Noise2Self training (``--iterations``) and J-invariant
  inference, CPU (and CUDA when available).

Usage: python benchmarks/enhancement.py [--sizes 512 1024] [--frames 10] [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_time(function, repeats: int) -> float:
    function()  # warm-up (imports, allocations, kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--ct-shape", type=int, nargs=3, default=[200, 512, 512], metavar=("K", "J", "I"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--devices", nargs="+", default=None, help="torch devices (default: cpu, and cuda when available)")
    parser.add_argument("--no-dsa", action="store_true", help="skip the DSA cases")
    parser.add_argument("--no-ct", action="store_true", help="skip the denoising cases")
    parser.add_argument("--quick", action="store_true", help="sizes 256, 4 frames, CT 20×256×256, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.frames, args.repeats, args.ct_shape, args.iterations = [256], 4, 1, [20, 256, 256], 50

    import torch

    from HCCInterventionalAILib.enhancement import simulate_angio_run, subtract_run
    from HCCInterventionalAILib.enhancement.denoise import Noise2SelfSettings, denoise_volume, train_noise2self
    from HCCInterventionalAILib.imaging.volume import Volume

    if args.threads:
        import SimpleITK as sitk

        torch.set_num_threads(args.threads)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(args.threads)
    devices = args.devices or ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for size in [] if args.no_dsa else args.sizes:
        run = simulate_angio_run(n_frames=args.frames, shape=(size, size), motion="deformable", seed=0)
        sample = run.frames[: min(args.frames, 4)]  # the baseline's time per frame, on up to 4 frames, no warm-up
        start = time.perf_counter()
        _sitk_rigid_per_frame(sample)
        per_frame = (time.perf_counter() - start) / len(sample)
        base_fps = 1.0 / per_frame
        rows.append(("DSA SimpleITK rigid per frame (baseline)", f"{size}²", "cpu", per_frame, base_fps, 1.0))
        for device in devices:
            for motion in ("none", "rigid", "deformable"):
                seconds = _median_time(lambda run=run, motion=motion, device=device: subtract_run(
                    run.frames, 0, motion, device=device), args.repeats)
                fps = args.frames / seconds
                rows.append((f"DSA {motion}", f"{size}²", device, seconds / args.frames, fps, fps / base_fps))
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
        rows.append((f"Noise2Self training ({args.iterations} steps)", f"{i}×{j}×{k}", device, train_seconds, None, None))
        rows.append(("Noise2Self J-invariant inference", f"{i}×{j}×{k}", device, infer_seconds, None, None))
    print(f"{'case':45s} {'size':>14s} {'device':>6s} {'median s':>10s} {'frames/s':>9s} {'vs baseline':>11s}")
    for case, size, device, seconds, fps, ratio in rows:
        fps_text = f"{fps:9.2f}" if fps is not None else f"{'':>9s}"
        ratio_text = f"{ratio:10.1f}×" if ratio is not None else f"{'':>11s}"
        print(f"{case:45s} {size:>14s} {device:>6s} {seconds:10.3f} {fps_text} {ratio_text}")
    print(f"torch threads: {torch.get_num_threads()}; median s is per frame for DSA rows, per volume for denoising")


if __name__ == "__main__":
    main()
