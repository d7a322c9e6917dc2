"""SYNTHETIC paired cases for training and testing the MAA → Y-90 translation (no patient data).

Each case is the built-in synthetic patient with a randomised MAA tumour-to-normal ratio (T/N) and lung shunt,
and a simulated post-treatment Y-90 PET whose microsphere distribution differs from the MAA one as reported
clinically: tumour uptake relative to normal liver is on average lower for Y-90 than MAA predicted, with wide scatter
(Haste et al., J Vasc Interv Radiol 2017;28:722–30), and the Y-90 lung shunt is below the MAA estimate. The PET is
sharper (FWHM 9 mm vs 14 mm SPECT) and noisier (low positron yield, 32 ppm). A model trained on these cases has
learnt the simulation, not patients: its model card must say so.
"""

from __future__ import annotations

import numpy as np

from .data import PairedCase

__all__ = ["SYNTHETIC_Y90_NOTE", "simulate_paired_case"]

SYNTHETIC_Y90_NOTE = (
    "SYNTHETIC paired MAA SPECT / Y-90 PET cases from the built-in phantom generator: Y-90 T/N = MAA T/N × "
    "lognormal(median 0.8, σ 0.25), Y-90 lung shunt = MAA shunt × U(0.5, 1), PET FWHM 9 mm, 5e5 counts."
)


def simulate_paired_case(seed: int, size: str = "small") -> PairedCase:
    """One synthetic case: MAA SPECT, CT on the SPECT grid, simulated Y-90 PET and ground-truth masks.

    Args:
        seed: case seed (anatomy jitter, MAA and Y-90 uptake ratios, noise).
        size: "small" or "standard" phantom.
    """
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.sample import make_sample_patient
    from HCCInterventionalAILib.sample.spect import maa_activity_concentration, simulate_spect

    rng = np.random.default_rng([seed, 9090])
    maa_t_to_n = float(rng.uniform(2.0, 6.0))
    maa_lsf = float(rng.uniform(0.03, 0.15))
    patient = make_sample_patient(seed=seed, size=size, tumour_to_normal=maa_t_to_n, lung_shunt_fraction=maa_lsf)
    grid = patient.spect.geometry
    masks = patient.spect_truth_segmentation
    y90_t_to_n = maa_t_to_n * float(rng.lognormal(np.log(0.8), 0.25))
    y90_lsf = maa_lsf * float(rng.uniform(0.5, 1.0))
    activity = maa_activity_concentration(masks, lung_shunt_fraction=y90_lsf, tumour_to_normal=y90_t_to_n)
    y90 = simulate_spect(Volume(activity, grid), rng, fwhm_mm=9.0, total_counts=5e5, name="SYNTHETIC Y-90 PET")
    y90.modality = "PT"
    y90.metadata.update({"synthetic": True, "t_to_n": y90_t_to_n, "lung_shunt_fraction": y90_lsf})
    ct = resample_to_geometry(patient.ct["portal venous"], grid, interpolation="linear", default_value=-1000.0)
    return PairedCase(f"synthetic-{seed}", patient.spect, y90, ct, masks)
