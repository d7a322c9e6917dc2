"""Benchmark of the radiomics library: our per-case overhead over pyradiomics, and cohort throughput on Dask.

1. Per case: :func:`extract_features` (validation, mask handling, conversion) vs calling pyradiomics'
   ``RadiomicsFeatureExtractor.execute`` directly on the same SimpleITK image and mask (the baseline), preset
   ``ibsi-ct``, on a 64³ CT-like image with an ellipsoidal lesion; target overhead ≤ 10 %.
2. Cohort: N cases from NRRD files, serial (``scheduler="serial"``, the baseline) vs a local Dask cluster of 2
   worker processes (cluster start-up included), preset ``ct-portal-venous``; target ≥ 1.8× on 2 free cores.

Usage: ``python benchmarks/radiomics.py [--cases N] [--repeats N]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This file is named radiomics.py: drop its own folder from the path so that `import radiomics` finds pyradiomics.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT / "HCCInterventionalAI"))

from HCCInterventionalAILib.imaging.io import to_sitk, write_volume  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.radiomics import extract_features, load_params  # noqa: E402
from HCCInterventionalAILib.radiomics.cohort import run_cohort  # noqa: E402

#: The cohort uses the portal venous preset (LoG + wavelet images): a realistic per-case cost of a few seconds.
COHORT_PRESET = "ct-portal-venous"


def _case(seed: int, n: int = 64) -> tuple[Volume, Volume]:
    rng = np.random.default_rng(seed)
    geometry = Geometry((n, n, n), (1.0, 1.0, 1.0))
    z, y, x = np.mgrid[:n, :n, :n] - (n - 1) / 2
    axes = rng.uniform(8, 16, 3)
    lesion = (x / axes[0]) ** 2 + (y / axes[1]) ** 2 + (z / axes[2]) ** 2 <= 1
    image = rng.normal(100, 15, geometry.shape)
    image[lesion] = rng.normal(50, 12, int(lesion.sum()))
    return (Volume(image.round().astype(np.int16), geometry, modality="CT"),
            Volume(lesion.astype(np.uint8), geometry))


def _median(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from radiomics import featureextractor

    image, mask = _case(0)
    params, _ = load_params("ibsi-ct")
    extractor = featureextractor.RadiomicsFeatureExtractor(params)
    sitk_image, sitk_mask = to_sitk(image.with_array(image.array.astype(np.float32))), to_sitk(mask)
    direct = _median(lambda: extractor.execute(sitk_image, sitk_mask, label=1), args.repeats)
    ours = _median(lambda: extract_features(image, mask, "ibsi-ct"), args.repeats)
    print(f"{'case':34s} {'size':>10s} {'device':>6s} {'median s':>9s} {'baseline s':>10s} {'ratio':>6s}")
    print(f"{'extract_features, ibsi-ct':34s} {'64x64x64':>10s} {'cpu':>6s} {ours:9.2f} {direct:10.2f} "
          f"{ours / direct:6.2f}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        rows = ["case,phase,image,mask,label"]
        for seed in range(args.cases):
            image, mask = _case(seed)
            write_volume(image, folder / f"c{seed}.nrrd")
            write_volume(mask, folder / f"m{seed}.nrrd")
            rows.append(f"c{seed},pv,c{seed}.nrrd,m{seed}.nrrd,1")
        (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
        start = time.perf_counter()
        run_cohort(folder / "manifest.csv", folder / "serial", COHORT_PRESET, scheduler="serial")
        serial = time.perf_counter() - start
        start = time.perf_counter()
        run_cohort(folder / "manifest.csv", folder / "dask", COHORT_PRESET, n_workers=2)
        parallel = time.perf_counter() - start
    size = f"{args.cases}x64^3"
    print(f"{'cohort, 2 Dask workers':34s} {size:>10s} {'cpu':>6s} {parallel:9.2f} {serial:10.2f} "
          f"{serial / parallel:6.2f}x")


if __name__ == "__main__":
    main()
