"""Helpers shared by the Y90Dosimetry tests (no tests here): reference-data paths and small phantoms.

Reference data are read in place from ``../shared/data/y90`` (override with ``HCCAI_SHARED_DATA``); tests that
need them skip cleanly when they are absent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from reference_data import SVALUES as SVALUE_DIR
from reference_data import TARANIS as TARANIS_DIR

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume

#: Published constants the tests compare against: K = 49.67 Gy·kg/GBq (Dezarn WA et al., AAPM Report 144, Med Phys
#: 2011;38:4824); Y-90 half-life 64.1 h = 2.67 d (DDEP/NNDC 64.05 h, rounded as in the microsphere IFUs).
K_CONVENTIONAL = 49.67  # J/GBq = Gy·kg/GBq
HALF_LIFE_H = 64.1  # 2.67 d
MEAN_LIFE_S = HALF_LIFE_H / math.log(2.0) * 3600.0

needs_svalues = pytest.mark.skipif(not SVALUE_DIR.is_dir(), reason=f"voxel S-value tables not found in {SVALUE_DIR}")
needs_taranis = pytest.mark.skipif(not TARANIS_DIR.is_dir(), reason=f"Taranis sample not found in {TARANIS_DIR}")


def svalue_files() -> list[Path]:
    """All Lanconelli tables (soft and bone), sorted; empty when the data are absent."""
    return sorted(SVALUE_DIR.glob("90Y*mm*.txt")) if SVALUE_DIR.is_dir() else []


def box_phantom(shape=(30, 24, 24), spacing=(4.0, 4.0, 4.0), *, liver_counts=100.0, tumour_counts=400.0,
                lung_counts=5.0, flip_k: bool = False) -> tuple[Volume, Segmentation]:
    """A counts image with a liver block (k 14–27), a tumour cube inside it and two lung blocks above (k 0–9).

    Index k grows towards the feet (inferior) like Slicer's axial SPECTs unless ``flip_k`` (then k grows
    towards the head and the anatomy is mirrored along k so it stays in the same patient position).
    """
    counts = np.zeros(shape)
    liver = np.zeros(shape, bool)
    liver[14:28, 4:20, 4:20] = True
    tumour = np.zeros(shape, bool)
    tumour[18:22, 8:12, 8:12] = True
    lungs = np.zeros(shape, bool)
    lungs[0:10, 4:11, 4:20] = True
    lungs[0:10, 13:20, 4:20] = True
    counts[liver] = liver_counts
    counts[tumour] = tumour_counts
    counts[lungs] = lung_counts
    direction = np.diag([1.0, 1.0, -1.0])  # k axis points inferior (−S)
    origin = (0.0, 0.0, 500.0)
    if flip_k:
        counts, liver, tumour, lungs = (a[::-1].copy() for a in (counts, liver, tumour, lungs))
        direction = np.eye(3)
        origin = (0.0, 0.0, 500.0 - spacing[2] * (shape[0] - 1))
    volume = Volume.from_array(counts, spacing=spacing, origin=origin, direction=direction, name="phantom SPECT",
                               modality="NM", units="counts")
    seg = Segmentation(volume.geometry, name="phantom")
    seg.add("Liver", liver | tumour)
    seg.add("Tumor 1", tumour)
    seg.add("Lungs", lungs)
    return volume, seg
