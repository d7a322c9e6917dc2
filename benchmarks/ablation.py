"""Benchmark: ablation-zone prediction, bioheat physics versus the vendor ellipsoid (CPU, and CUDA when present).

Usage:
    python benchmarks/ablation.py [--quick] [--repeats N] [--threads N]

Case (the issue's target): a 10-minute microwave ablation (Covidien 75 W, 600 s, calibrated source) on a 1 mm grid
over a 100 mm cube (101³ ≈ 1.03 M voxels), homogeneous perfused liver, Pennes explicit FTCS solver with Arrhenius
and CEM43 accumulated every step (≈ 550 steps of 1.09 s). Rows:

- vendor chart ellipsoid on the same grid (the baseline of the ratio column);
- bioheat on the CPU (float32, torch, all cores unless --threads);
- bioheat on the CPU with a 6 mm vessel beside the applicator (heat-sink path);
- bioheat on CUDA (float32) — the row says "skipped: no CUDA" when torch sees no GPU;
- the physics-trained network (``AblationSimulatorLib.surrogate``) on its 48³ patch of 1.5 mm, and the solver on
  that same patch for the same setting (the network's speed-up is both against that row and against the 1 mm
  solver rows).

Times are medians of ``--repeats`` runs after one warm-up (the warm-up is skipped for the long CPU rows when
``--repeats 1``). Targets (issue 8): ≤ 60 s on CPU, ≤ 5 s on a datacenter GPU. ``--quick`` simulates 60 s instead
of 600 s (one tenth of the steps).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from AblationSimulatorLib.applicator import Applicator
from AblationSimulatorLib.bioheat import TISSUE_PRESETS
from AblationSimulatorLib.devices import get_device
from AblationSimulatorLib.source import applicator_power_density
from AblationSimulatorLib.zones import ellipsoid_mask
from HCCInterventionalAILib.imaging import Geometry


def _time(run: Callable[[], object], repeats: int, warm_up: bool) -> float:
    if warm_up:
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 s of heating instead of 600 s")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()

    import torch

    from AblationSimulatorLib.bioheat import simulate_bioheat

    if args.threads:
        torch.set_num_threads(args.threads)
    duration = 60.0 if args.quick else 600.0
    geometry = Geometry((101, 101, 101), (1.0, 1.0, 1.0), (-50.0, -50.0, -50.0))
    device = get_device("covidien-mwa")
    row = device.row(75.0, 600.0)
    applicator = Applicator((0.0, 0.0, -row.ellipsoid.centre_offset_mm), (0.0, 0.0, 120.0))
    power = applicator_power_density(geometry, [(applicator, row.source)])
    kk, jj, ii = np.indices(geometry.shape)
    p = geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)).reshape(*geometry.shape, 3)
    vessel = ((p[..., 0] - 12.0) ** 2 + p[..., 1] ** 2) <= 9.0
    tissue = TISSUE_PRESETS["liver"]
    size = "x".join(str(s) for s in geometry.shape)

    rows: list[tuple[str, str, str, float | None, str]] = []
    baseline = _time(lambda: ellipsoid_mask(geometry, applicator, row.ellipsoid), max(args.repeats, 3), True)
    rows.append(("vendor ellipsoid", size, "cpu", baseline, ""))
    # live update in the module: validation + interpolated chart ellipsoid on a clinical CT grid (target < 0.2 s)
    from AblationSimulatorLib.pipeline import AblationRequest, prepare, vendor_stage

    ct_grid = Geometry((300, 512, 512), (0.78, 0.78, 1.0), (-200.0, -200.0, -150.0))
    live_request = AblationRequest("covidien-mwa", 60.0, 500.0)
    rows.append(("live vendor update (interpolated)", "512x512x300", "cpu",
                 _time(lambda: vendor_stage(prepare([applicator], live_request, geometry=ct_grid)), 5, True),
                 "target < 0.2 s (MRML transfer of the zone's bounding box not included)"))
    steps = {}

    def physics(device_name: str, vessels=None):
        result = simulate_bioheat(power, duration, tissue=tissue, spacing_mm=geometry.spacing, vessels=vessels,
                                  device=device_name, power_envelope=row.source.envelope)
        steps[device_name] = (result.n_steps, result.time_step_s)
        return result

    warm = args.repeats > 1
    rows.append((f"bioheat {duration:.0f} s", size, f"cpu ({torch.get_num_threads()} threads)",
                 _time(lambda: physics("cpu"), args.repeats, warm), ""))
    rows.append((f"bioheat {duration:.0f} s + 6 mm vessel", size, "cpu",
                 _time(lambda: physics("cpu", vessel), args.repeats, warm), ""))
    if torch.cuda.is_available():
        def on_gpu():
            physics("cuda")
            torch.cuda.synchronize()

        rows.append((f"bioheat {duration:.0f} s", size, torch.cuda.get_device_name(0),
                     _time(on_gpu, args.repeats, True), ""))
    else:
        rows.append((f"bioheat {duration:.0f} s", size, "cuda", None, "skipped: no CUDA device visible to torch"))

    # physics-trained network (48³ patch of 1.5 mm, the same 75 W / 600 s setting) through the model-loading library
    try:
        from AblationSimulatorLib.surrogate import (
            predict_patch,
            simulate_case,
            synthetic_case,
        )

        case = synthetic_case(300_000)
        case.device, case.power_w, case.time_s = "covidien-mwa", 75.0, 600.0
        inputs, _, solver_seconds = simulate_case(case)
        rows.append(("bioheat on the network's patch", "48x48x48", "cpu", solver_seconds, "1.5 mm, same setting"))
        rows.append(("network surrogate", "48x48x48", "cpu", _time(lambda: predict_patch(inputs, device="cpu"),
                                                                   max(args.repeats, 3), True), ""))
        if torch.cuda.is_available():
            rows.append(("network surrogate", "48x48x48", "cuda",
                         _time(lambda: predict_patch(inputs, device="cuda"), max(args.repeats, 3), True), ""))
    except (ImportError, ValueError) as error:  # no MONAI, or no weights
        rows.append(("network surrogate", "48x48x48", "cpu", None, f"skipped: {error}"))

    n, dt = steps["cpu"]
    print(f"Covidien 75 W source (P_abs {row.source.absorbed_power_w:.2f} W, tau {row.source.power_decay_time_s} s), "
          f"{n} steps of {dt:.3f} s, "
          f"{np.prod(geometry.shape) / 1e6:.2f} M voxels")
    print(f"{'case':34} {'grid':12} {'device':28} {'median s':>9} {'ratio':>9}  note")
    for case, grid, dev, seconds, note in rows:
        if seconds is None:
            print(f"{case:34} {grid:12} {dev:28} {'-':>9} {'-':>9}  {note}")
        else:
            print(f"{case:34} {grid:12} {dev:28} {seconds:9.3f} {seconds / baseline:9.1f}  {note}")


if __name__ == "__main__":
    main()
