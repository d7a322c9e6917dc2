"""99mTc-MAA SPECT of the SYNTHETIC sample patient, for Y-90 radioembolisation planning.

Macroaggregated albumin (10–90 µm) injected into the hepatic artery lodges in the first capillary bed it
reaches: liver parenchyma, preferentially tumour (hypervascular HCC), and the lungs through intrahepatic
arteriovenous shunts. The model keeps exactly that (Kennedy et al., "Recommendations for radioembolization
of hepatic malignancies using yttrium-90 microsphere brachytherapy", Int J Radiat Oncol Biol Phys
2007;68:13–23; Ho et al., "Partition model for estimating radiation doses from yttrium-90 microspheres",
Eur J Nucl Med 1996;23:947–952):

* uniform concentration ``c_N`` in normal liver (liver minus tumours), ``c_T = (T/N)·c_N`` in tumours;
* uniform concentration ``c_L`` in both lungs, set so that the lung shunt fraction
  LSF = A_lung / (A_lung + A_liver) is exactly the requested value;
* nothing elsewhere (no free pertechnetate).

With administered activity A₀ (all of it in liver and lungs), A_liver = (1 − LSF)·A₀ and A_lung = LSF·A₀:

    c_N = (1 − LSF)·A₀ / (V_N + (T/N)·V_T),      c_L = LSF·A₀ / V_lung.

The image is that map blurred by a Gaussian of the system resolution (FWHM ≈ 14 mm for 99mTc with a
low-energy collimator and resolution recovery: Dewaraja et al., MIRD Pamphlet No. 23, J Nucl Med
2012;53:1310–1325), scaled to the requested total counts and drawn from a Poisson distribution voxel by
voxel. It is an idealised reconstruction (attenuation and scatter corrected, no reconstruction-noise
correlation), which is what makes the lung shunt and T/N checkable.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Volume
from .ct import SYNTHETIC_NOTE

__all__ = ["maa_activity_concentration", "simulate_spect"]


def maa_activity_concentration(
    segmentation: Segmentation,
    *,
    lung_shunt_fraction: float = 0.08,
    tumour_to_normal: float = 4.0,
    administered_activity_mbq: float = 150.0,
    tumor_to_normal: float | None = None,
) -> np.ndarray:
    """True 99mTc-MAA activity concentration (MBq/mL) on the segmentation's grid.

    Args:
        segmentation: masks on the SPECT grid with "Liver" (whole organ), "Lung" and "Tumor …" segments.
        lung_shunt_fraction: A_lung / (A_lung + A_liver), in [0, 1).
        tumour_to_normal: tumour-to-normal-liver concentration ratio (> 0).
        administered_activity_mbq: activity in liver and lungs together (typical 37–185 MBq).
        tumor_to_normal: former spelling of ``tumour_to_normal`` (deprecated; a DeprecationWarning).

    Returns:
        float32 array (k, j, i) in MBq/mL.

    Raises:
        ValueError: on out-of-range parameters or when the liver (or, with a shunt, the lung) is empty.
    """
    if tumor_to_normal is not None:
        warnings.warn("tumor_to_normal is deprecated; use tumour_to_normal", DeprecationWarning, stacklevel=2)
        tumour_to_normal = tumor_to_normal
    if not 0.0 <= lung_shunt_fraction < 1.0:
        raise ValueError(f"Lung shunt fraction must lie in [0, 1), got {lung_shunt_fraction}")
    if tumour_to_normal <= 0 or administered_activity_mbq <= 0:
        raise ValueError("Tumour-to-normal ratio and administered activity must be positive")
    voxel_ml = segmentation.geometry.voxel_volume_ml
    liver = segmentation.mask("Liver")
    tumour = np.zeros_like(liver)
    for segment in segmentation:
        if segment.name.lower().startswith("tumor"):
            tumour |= segment.mask & liver
    normal = liver & ~tumour
    v_normal = np.count_nonzero(normal) * voxel_ml
    v_tumour = np.count_nonzero(tumour) * voxel_ml
    c_normal = (1.0 - lung_shunt_fraction) * administered_activity_mbq / (v_normal + tumour_to_normal * v_tumour)
    activity = np.zeros(segmentation.geometry.shape, dtype=np.float32)
    activity[normal] = c_normal
    activity[tumour] = c_normal * tumour_to_normal
    if lung_shunt_fraction > 0:
        lung = segmentation.mask("Lung") & ~liver
        activity[lung] = lung_shunt_fraction * administered_activity_mbq / (np.count_nonzero(lung) * voxel_ml)
    return activity


def simulate_spect(
    activity: Volume,
    rng: np.random.Generator,
    *,
    fwhm_mm: float = 14.0,
    total_counts: float = 2.0e6,
    name: str = "SYNTHETIC 99mTc-MAA SPECT",
) -> Volume:
    """Counts image: the activity blurred to the system resolution, scaled, with Poisson noise.

    Args:
        activity: true activity concentration on the SPECT grid.
        rng: source of the Poisson noise.
        fwhm_mm: isotropic resolution, FWHM = 2·√(2 ln 2)·σ (mm); 0 for none.
        total_counts: expected sum of all voxels (the Poisson draw fluctuates by about √N).
        name: volume name.

    Returns:
        float32 counts volume (integer values), modality "NM", units "counts".
    """
    if fwhm_mm < 0 or total_counts <= 0:
        raise ValueError("SPECT resolution must be ≥ 0 mm and total counts positive")
    expected = np.asarray(activity.array, dtype=np.float64)
    if fwhm_mm > 0:
        sigma = fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0))) / np.asarray(activity.spacing)
        expected = ndimage.gaussian_filter(expected, sigma=sigma[::-1], mode="constant", cval=0.0, truncate=4.0)
    expected *= total_counts / expected.sum()
    counts = rng.poisson(expected).astype(np.float32)
    metadata = dict(activity.metadata)
    metadata.update({
        "synthetic": True, "note": SYNTHETIC_NOTE, "radiopharmaceutical": "99mTc-MAA",
        "fwhm_mm": float(fwhm_mm), "expected_total_counts": float(total_counts),
        "reconstruction": "idealised: attenuation and scatter corrected, Gaussian resolution, Poisson noise per voxel",
    })
    return Volume(counts, activity.geometry, name=name, modality="NM", units="counts", metadata=metadata)
