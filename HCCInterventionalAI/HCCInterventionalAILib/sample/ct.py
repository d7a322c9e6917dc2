"""Multi-phase contrast-enhanced CT of the SYNTHETIC sample patient: CT numbers, blur and noise.

Each tissue has one CT number (HU) per phase. Unenhanced values are typical adult values (fat ≈ −100,
muscle ≈ 50, blood ≈ 40, liver ≈ 55, spleen ≈ 45, kidney ≈ 30 HU: Lamba et al., "CT Hounsfield numbers of
soft tissues on unenhanced abdominal CT scans", AJR 2014;203:1013–1020; lung parenchyma ≈ −850 HU and
cancellous vertebral bone a few hundred HU: Bushberg et al., *The Essential Physics of Medical Imaging*,
3rd ed., 2012). Enhanced values follow the usual bolus timing of a biphasic liver protocol (Bae,
"Intravenous contrast medium administration and scan timing at CT", Radiology 2010;256:32–61): the aorta
peaks near 300 HU in the late arterial phase, when the liver has barely enhanced, and the liver gains
≈ 50 HU by the portal venous phase, with portal and hepatic veins opacified.

HCC is modelled with the LI-RADS major features (American College of Radiology, CT/MRI LI-RADS v2018;
Chernyak et al., Radiology 2018;289:816–830): non-rim arterial-phase hyperenhancement (tumour 120 HU vs
liver 70 HU), "washout" — lower enhancement than liver in the portal venous phase (80 vs 110 HU) — and an
enhancing capsule (a 1.5 mm rim brighter than liver in the portal venous phase).

The image is the tissue map's CT numbers blurred by a Gaussian point-spread function (a voxel-sized
FWHM: the scanner PSF plus the partial-volume averaging of a detector element and of the slice profile)
plus white Gaussian noise (≈ 12 HU SD, typical of routine abdominal CT at 2–3 mm slices), stored as int16.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ..imaging.volume import Geometry, Volume
from .anatomy import Tissue

__all__ = ["PHASES", "TISSUE_HU", "SYNTHETIC_NOTE", "hu_table", "synthesize_ct"]

#: Contrast phases, in acquisition order.
PHASES: tuple[str, ...] = ("non-contrast", "arterial", "portal venous")

SYNTHETIC_NOTE = "SYNTHETIC image of a computer-generated phantom, not a real patient; for demos and tests only."

#: CT number (HU) of each tissue in the (non-contrast, arterial, portal venous) phases; sources in the
#: module docstring.
TISSUE_HU: dict[Tissue, tuple[float, float, float]] = {
    Tissue.AIR: (-1000.0, -1000.0, -1000.0),
    Tissue.FAT: (-100.0, -100.0, -100.0),
    Tissue.MUSCLE: (50.0, 55.0, 60.0),
    Tissue.LUNG: (-850.0, -850.0, -850.0),
    Tissue.HEART: (40.0, 250.0, 150.0),  # blood pool: left heart bright in the arterial phase
    Tissue.SPLEEN: (45.0, 110.0, 120.0),
    Tissue.KIDNEY: (30.0, 180.0, 170.0),  # corticomedullary → nephrographic
    Tissue.LIVER: (55.0, 70.0, 110.0),
    Tissue.PORTAL_VEIN: (40.0, 120.0, 180.0),
    Tissue.HEPATIC_VEIN: (40.0, 50.0, 150.0),  # not yet opacified in the arterial phase
    Tissue.IVC: (40.0, 80.0, 140.0),  # mixing of opacified renal and unopacified infrarenal return
    Tissue.AORTA: (40.0, 300.0, 150.0),
    Tissue.HEPATIC_ARTERY: (40.0, 300.0, 150.0),
    Tissue.TUMOUR_CAPSULE: (45.0, 60.0, 125.0),  # LI-RADS enhancing capsule
    Tissue.TUMOUR: (40.0, 120.0, 80.0),  # APHE, then washout
    Tissue.BONE: (500.0, 500.0, 500.0),
    Tissue.DISC: (80.0, 80.0, 85.0),
}

#: CT numbers representable by a 12-bit scanner with the usual −1024 offset.
_HU_RANGE = (-1024, 3071)


def hu_table(phase: str) -> np.ndarray:
    """CT number of each :class:`Tissue` code (index) in ``phase``, as float32."""
    if phase not in PHASES:
        raise ValueError(f"Unknown CT phase '{phase}'; expected one of {', '.join(PHASES)}")
    column = PHASES.index(phase)
    table = np.zeros(max(Tissue) + 1, dtype=np.float32)
    for tissue, values in TISSUE_HU.items():
        table[tissue] = values[column]
    return table


def synthesize_ct(
    tissues: np.ndarray,
    geometry: Geometry,
    phase: str,
    rng: np.random.Generator,
    *,
    noise_sd_hu: float = 12.0,
    psf_fwhm_mm: Sequence[float] | None = None,
    name: str | None = None,
) -> Volume:
    """One CT phase from a tissue map.

    Args:
        tissues: :class:`Tissue` code per voxel, (k, j, i), on ``geometry``.
        geometry: the CT grid.
        phase: one of :data:`PHASES`.
        rng: source of the noise.
        noise_sd_hu: standard deviation of the additive white Gaussian noise (HU).
        psf_fwhm_mm: full width at half maximum of the Gaussian blur along (i, j, k) in mm; by default one
            voxel spacing along each axis. FWHM = 2·√(2 ln 2)·σ.
        name: volume name.

    Returns:
        int16 HU volume, modality "CT", with the phase and the synthetic-data note in its metadata.
    """
    if noise_sd_hu < 0:
        raise ValueError(f"Noise SD must be ≥ 0 HU, got {noise_sd_hu}")
    fwhm = np.asarray(geometry.spacing if psf_fwhm_mm is None else psf_fwhm_mm, dtype=float)
    sigma_voxels = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / np.asarray(geometry.spacing)
    image = hu_table(phase)[tissues]
    image = ndimage.gaussian_filter(image, sigma=sigma_voxels[::-1], mode="nearest", truncate=3.0)
    if noise_sd_hu > 0:
        image += rng.standard_normal(image.shape, dtype=np.float32) * np.float32(noise_sd_hu)
    array = np.clip(np.rint(image), *_HU_RANGE).astype(np.int16)
    metadata = {
        "phase": phase, "synthetic": True, "note": SYNTHETIC_NOTE,
        "noise_sd_hu": float(noise_sd_hu), "psf_fwhm_mm": [float(v) for v in fwhm],
    }
    return Volume(array, geometry, name=name or f"SYNTHETIC CT {phase}", modality="CT", units="HU", metadata=metadata)
