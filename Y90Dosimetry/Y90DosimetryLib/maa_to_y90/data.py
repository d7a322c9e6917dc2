"""Paired training cases (MAA SPECT/CT → post-treatment Y-90 PET) and their normalisation.

Both activity images are scaled to *mean 1 over their uptake region* (see :func:`normalised_activity`), so the network
learns where the microspheres go, not the scanner's count scale; the administered activity restores absolute
values afterwards. The CT channel is a relative electron density (HU + 1000) / 1000, clipped to [0, 3]; without CT it
is 1 (water), which the model card declares.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume

__all__ = ["PairedCase", "normalised_activity", "density_channel", "network_input", "read_manifest"]


@dataclass
class PairedCase:
    """One patient: MAA SPECT (+ CT) before treatment and the Y-90 PET after it, on the MAA grid once prepared."""

    case_id: str
    maa: Volume
    y90: Volume | None = None
    ct: Volume | None = None
    segmentation: Segmentation | None = None

    def prepared(self) -> PairedCase:
        """CT, Y-90 and segmentation resampled onto the MAA SPECT grid (the network's grid)."""
        from HCCInterventionalAILib.imaging.resample import resample_segmentation, resample_to_geometry

        grid = self.maa.geometry
        def onto(volume: Volume | None) -> Volume | None:
            if volume is None or volume.geometry.same_grid(grid):
                return volume
            return resample_to_geometry(volume, grid, interpolation="linear")

        seg = self.segmentation
        if seg is not None and not seg.geometry.same_grid(grid):
            seg = resample_segmentation(seg, grid)
        return PairedCase(self.case_id, self.maa, onto(self.y90), onto(self.ct), seg)


def normalised_activity(volume: Volume) -> np.ndarray:
    """Activity image → float32 array scaled so that its uptake region has mean 1.

    The uptake region is every voxel above 10% of the 99.9th percentile, so the scale does not depend on how much
    empty field of view surrounds the patient. Negative reconstruction values are clipped to 0.

    Raises:
        ValueError: NaN/infinite values or no positive activity at all.
    """
    volume.require_finite()
    array = np.clip(volume.array.astype(np.float32), 0, None)
    if not array.max() > 0:
        raise ValueError(f"'{volume.name}' has no positive activity; is it the right image?")
    uptake = array[array >= 0.1 * np.percentile(array[array > 0], 99.9)]
    return array / float(uptake.mean())


def density_channel(ct: Volume | None, shape: tuple[int, int, int]) -> np.ndarray:
    """Relative density from CT HU, (HU + 1000) / 1000 in [0, 3]; water (1.0) when no CT is given."""
    if ct is None:
        return np.ones(shape, dtype=np.float32)
    ct.require_finite()
    return np.clip((ct.array.astype(np.float32) + 1000.0) / 1000.0, 0.0, 3.0)


def network_input(case: PairedCase) -> np.ndarray:
    """(2, k, j, i) input of a prepared case: normalised MAA activity and CT density."""
    maa = normalised_activity(case.maa)
    return np.stack([maa, density_channel(case.ct, maa.shape)])


def read_manifest(path: str | Path) -> list[PairedCase]:
    """Cases from a CSV with columns ``case_id, maa, y90[, ct, segmentation]`` (paths relative to the CSV)."""
    from HCCInterventionalAILib.imaging.io import read_segmentation, read_volume

    path = Path(path)
    cases = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            missing = {"case_id", "maa", "y90"} - {k for k, v in row.items() if v}
            if missing:
                raise ValueError(f"{path}: row {row} lacks {', '.join(sorted(missing))}")

            def load(key: str, row: dict = row, reader=read_volume):
                value = row.get(key)
                return reader(path.parent / value) if value else None

            cases.append(PairedCase(row["case_id"], load("maa"), load("y90"), load("ct"),
                                    load("segmentation", reader=read_segmentation)))
    if not cases:
        raise ValueError(f"{path} lists no cases")
    return cases
