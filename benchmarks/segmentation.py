"""Benchmark of the classical (non-learning) liver/tumour segmenter.

Cases: the SYNTHETIC sample patient's portal venous CT resampled to a clinical 512×512×100 grid (0.75 mm
in-plane, 3 mm slices; target ≤ 20 s on 2 cores), the same with the arterial phase (multi-phase tumours), the
non-contrast phase alone (low-contrast liver growing), and LiTS-117 (128³, when it can be fetched). The last
column is the whole-liver Dice against the ground truth on the native grids (not on the resampled 512×512×100). The baseline, measured in the same run on the same image, is one
SimpleITK smoothing + Otsu threshold + largest connected component (the cheapest "segmenter" one could write),
so the ratio says how many such passes the classical pipeline costs.

Usage: ``python benchmarks/segmentation.py [--repeats N] [--quick]`` (``--quick``: skip the 512×512×100 case).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _common import median_time

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "HCCInterventionalAI"))

from HCCInterventionalAILib.imaging.resample import resample_to_geometry  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.sample import make_sample_patient  # noqa: E402
from HCCInterventionalAILib.segmentation import overlap_metrics, segment_liver_tumour  # noqa: E402


def _baseline(volume: Volume):
    import SimpleITK as sitk

    from HCCInterventionalAILib.imaging.io import to_sitk

    image = sitk.SmoothingRecursiveGaussian(to_sitk(volume.with_array(volume.array.astype(np.float32))), 1.5)
    mask = sitk.OtsuThreshold(image, 0, 1)
    return sitk.RelabelComponent(sitk.ConnectedComponent(mask), sortByObjectSize=True) == 1


def _clinical_grid(volume: Volume) -> Volume:
    source = volume.geometry
    extent = (np.asarray(source.shape[::-1]) - 1) * np.asarray(source.spacing)
    spacing = (extent[0] / 511, extent[1] / 511, extent[2] / 99)
    target = Geometry((100, 512, 512), tuple(float(s) for s in spacing), source.origin, source.direction)
    resampled = resample_to_geometry(volume, target, interpolation="linear")
    return resampled.with_array(resampled.array.astype(np.int16))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    patient = make_sample_patient(size="standard")
    truth = patient.truth.mask("Liver")
    cases: list[tuple[str, object, Volume, np.ndarray | None]] = [
        ("sample PV", patient.ct["portal venous"], patient.ct["portal venous"], truth),
        ("sample PV + arterial", {p: patient.ct[p] for p in ("portal venous", "arterial")}, patient.ct["portal venous"],
         truth),
        ("sample non-contrast", {"non-contrast": patient.ct["non-contrast"]}, patient.ct["non-contrast"], truth),
    ]
    if not args.quick:
        pv, art = _clinical_grid(patient.ct["portal venous"]), _clinical_grid(patient.ct["arterial"])
        pv.metadata["phase"], art.metadata["phase"] = "portal venous", "arterial"
        nc = _clinical_grid(patient.ct["non-contrast"])
        nc.metadata["phase"] = "non-contrast"
        cases.append(("sample PV 512x512x100", pv, pv, None))
        cases.append(("sample PV + arterial 512x512x100", [pv, art], pv, None))
        cases.append(("sample non-contrast 512x512x100", nc, nc, None))
    try:
        from HCCInterventionalAILib.segmentation.lits import fetch_lits117

        lits = fetch_lits117()
        cases.append(("LiTS-117", lits.ct, lits.ct, lits.liver))
    except Exception as error:  # noqa: BLE001 - offline: skip the case
        print(f"LiTS-117 skipped: {error}")
    print(f"{'case':36s} {'size':>14s} {'device':>6s} {'median s':>9s} {'baseline s':>10s} {'ratio':>6s} "
          f"{'liver Dice':>10s}")
    for name, images, reference, liver in cases:
        results = []
        seconds = median_time(lambda images=images, results=results: results.append(segment_liver_tumour(images)),
                               args.repeats)
        baseline = median_time(lambda reference=reference: _baseline(reference), args.repeats)
        size = "x".join(str(n) for n in reference.shape[::-1])
        dice = "-" if liver is None else f"{overlap_metrics(results[0].liver, liver, reference.spacing).dice:.3f}"
        print(f"{name:36s} {size:>14s} {'cpu':>6s} {seconds:9.2f} {baseline:10.2f} {seconds / baseline:6.1f} {dice:>10s}")


if __name__ == "__main__":
    main()
