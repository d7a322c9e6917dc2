"""The built-in SYNTHETIC sample patient that every capability's demo and end-to-end test runs on.

:func:`make_sample_patient` returns a three-phase liver CT, a 99mTc-MAA SPECT on its own coarser grid,
ground-truth masks on both grids, synthetic clinical data and the parameters used. Everything is
computer-generated from analytic shapes (:mod:`.anatomy`) and seeded, so the same seed gives identical
arrays on every machine. **It is not a real patient** and says so in every volume's metadata.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..imaging.segmentation import Segmentation
from ..imaging.volume import Geometry, Volume
from ..progress import Progress, ProgressCallback, as_progress
from .anatomy import FRAME_ORIGIN_LPS, Anatomy, Tissue, build_anatomy
from .ct import PHASES, SYNTHETIC_NOTE, TISSUE_HU, synthesize_ct
from .spect import maa_activity_concentration, simulate_spect

__all__ = ["SIZES", "SamplePatient", "ct_geometry", "make_sample_patient", "spect_geometry"]

#: Grid sizes: (CT shape k, j, i; CT spacing i, j, k in mm; SPECT shape; SPECT isotropic spacing in mm).
SIZES: dict[str, tuple[tuple[int, int, int], tuple[float, float, float], tuple[int, int, int], float]] = {
    "standard": ((100, 192, 192), (2.0, 2.0, 3.0), (100, 128, 128), 4.42),
    "small": ((48, 96, 96), (4.0, 4.0, 6.0), (50, 64, 64), 8.84),
}

#: Where each field of view is centred in the anatomical frame (mm): the CT on the liver, from the kidneys
#: to the lung bases; the SPECT higher, so that its 44 cm axial field holds the liver and both whole lungs.
_CT_CENTER = (0.0, 0.0, 0.0)
_SPECT_CENTER = (0.0, 0.0, 80.0)

#: Synthetic clinical data consistent with the anatomy: two nodules ≤ 3 cm, Child-Pugh A (5 points:
#: bilirubin < 2 mg/dL, albumin > 3.5 g/dL, INR < 1.7, no ascites, no encephalopathy), ECOG 0 → BCLC A.
_CLINICAL: dict[str, Any] = {
    "synthetic": True,
    "patient_id": "HCCAI-SYNTHETIC-0001",
    "age_years": 63,
    "sex": "M",
    "height_cm": 172.0,
    "weight_kg": 78.0,
    "etiology": "HBV",
    "cirrhosis": True,
    "afp_ng_ml": 420.0,
    "albumin_g_dl": 3.7,
    "bilirubin_mg_dl": 1.0,
    "inr": 1.1,
    "platelets_10e9_l": 142.0,
    "alt_u_l": 48.0,
    "ast_u_l": 55.0,
    "creatinine_mg_dl": 0.9,
    "ascites": "none",
    "encephalopathy": "none",
    "ecog": 0,
    "child_pugh": "A5",
    "bclc_stage": "A",
    "portal_vein_tumour_thrombus": False,
    "extrahepatic_spread": False,
}


@dataclass
class SamplePatient:
    """A SYNTHETIC patient (not a real person): images, ground truth and the parameters behind them.

    Attributes:
        ct: CT volumes by phase ("non-contrast", "arterial", "portal venous"), int16 HU, one grid.
        spect: 99mTc-MAA SPECT counts on its own grid.
        spect_truth: the true activity concentration (MBq/mL) on the SPECT grid, before blur and noise.
        truth: ground-truth segmentation on the CT grid (Liver is the whole organ, tumours and
            intrahepatic vessels included; normal liver = Liver minus tumours).
        spect_truth_segmentation: the same anatomy rasterised on the SPECT grid (whole lungs).
        tissues: tissue code (:class:`~.anatomy.Tissue`) per CT voxel, names in its metadata.
        clinical: synthetic clinical data (units in the key names).
        parameters: the ground truth used: ``seed``, ``lung_shunt_fraction``, ``tumour_to_normal``,
            ``liver_volume_ml`` (analytic), ``lung_volume_ml`` (whole lungs), ``lesions`` (name, ``center_lps``,
            ``semi_axes_mm``, ``rotation`` whose columns are the lesion's axes, ``volume_ml``, ``diameter_mm``),
            ``hu`` (CT number per phase and tissue), noise and resolution settings, ``generation_seconds``.
        anatomy: the analytic shapes, to rasterise the truth on any other grid.
    """

    ct: dict[str, Volume]
    spect: Volume
    spect_truth: Volume
    truth: Segmentation
    spect_truth_segmentation: Segmentation
    tissues: Volume
    clinical: dict[str, Any]
    parameters: dict[str, Any]
    anatomy: Anatomy = field(repr=False)

    def segmentation_on(self, geometry: Geometry, name: str = "Truth") -> Segmentation:
        """Ground truth rasterised on any grid in the patient frame (e.g. a resampled image's)."""
        return self.anatomy.segmentation(geometry, name=name)

    def truth_whole_field(self) -> Segmentation:
        """Ground truth on the CT grid extended cranially to the top of the SPECT field of view.

        The CT reaches only the lung bases, so ``truth`` holds about 40% of the lungs; this segmentation holds the
        whole lungs (as the SPECT-grid truth does) at CT resolution, and its first slices equal ``truth``. It is
        what the sample hands to planning everywhere (files, Slicer), so that every path measures the same lungs.
        """
        ct, spect = self.truth.geometry, self.spect.geometry
        corners = np.array([[i, j, k] for i in (0, spect.shape[2] - 1) for j in (0, spect.shape[1] - 1)
                            for k in (0, spect.shape[0] - 1)], dtype=float)
        top = float(ct.continuous_index(spect.physical_points(corners))[:, 2].max())
        slices = max(ct.shape[0], int(np.ceil(top)) + 1)
        geometry = Geometry((slices, *ct.shape[1:]), ct.spacing, ct.origin, ct.direction)
        return self.anatomy.segmentation(geometry, name="SYNTHETIC truth (CT grid, whole lungs)")


def ct_geometry(size: str = "standard") -> Geometry:
    """The CT grid of a size (axial, identity direction, centred on the liver)."""
    shape, spacing, _, _ = _size(size)
    return _centred_grid(shape, spacing, _CT_CENTER)


def spect_geometry(size: str = "standard") -> Geometry:
    """The SPECT grid of a size (isotropic voxels, its own origin, same patient frame as the CT)."""
    _, _, shape, spacing = _size(size)
    return _centred_grid(shape, (spacing,) * 3, _SPECT_CENTER)


def _former_spelling(value: float) -> float:
    warnings.warn("tumor_to_normal is deprecated; use tumour_to_normal", DeprecationWarning, stacklevel=3)
    return value


def make_sample_patient(
    seed: int = 7,
    *,
    size: str = "standard",
    progress: Progress | ProgressCallback | None = None,
    lung_shunt_fraction: float = 0.08,
    tumour_to_normal: float = 4.0,
    administered_activity_mbq: float = 150.0,
    spect_total_counts: float = 2.0e6,
    spect_fwhm_mm: float = 14.0,
    ct_noise_sd_hu: float = 12.0,
    lesion_jitter_mm: float = 3.0,
    tumor_to_normal: float | None = None,
) -> SamplePatient:
    """Generate the SYNTHETIC sample patient.

    Args:
        seed: the same seed gives identical arrays; other seeds change the noise and move each lesion by up
            to ``lesion_jitter_mm`` per axis.
        size: "standard" (CT 192×192×100 of 2×2×3 mm, SPECT 128×128×100 of 4.42 mm; a few seconds) or
            "small" (CT 96×96×48 of 4×4×6 mm, SPECT 64×64×50 of 8.84 mm; for fast tests).
        progress: progress reporter or callback; cancellation raises
            :class:`~HCCInterventionalAILib.progress.Cancelled`.
        lung_shunt_fraction: true A_lung / (A_lung + A_liver) of the MAA distribution.
        tumour_to_normal: true tumour-to-normal-liver MAA concentration ratio.
        administered_activity_mbq: MAA activity in liver and lungs (≈ 150 MBq, i.e. 4 mCi, is usual).
        spect_total_counts: expected total counts of the SPECT image.
        spect_fwhm_mm: SPECT resolution (FWHM, mm).
        ct_noise_sd_hu: CT noise standard deviation (HU).
        lesion_jitter_mm: largest seed-dependent shift of each lesion centre per axis (0 for fixed).
        tumor_to_normal: former spelling of ``tumour_to_normal`` (deprecated; a DeprecationWarning).

    Returns:
        The :class:`SamplePatient`.
    """
    if tumor_to_normal is not None:
        tumour_to_normal = _former_spelling(tumor_to_normal)
    started = time.perf_counter()
    report = as_progress(progress)
    ct_grid, spect_grid = ct_geometry(size), spect_geometry(size)
    anatomy_rng, *phase_rngs, spect_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5))

    report.update(0.0, "Building the synthetic anatomy")
    anatomy = build_anatomy(anatomy_rng, lesion_jitter_mm=lesion_jitter_mm)
    labels = anatomy.label_map(ct_grid)
    tissue_codes = anatomy.tissue_of_label[labels]
    report.update(0.15, "Ground-truth masks on the CT grid")
    truth = anatomy.segmentation(ct_grid, labels, name="SYNTHETIC truth (CT grid)")

    ct: dict[str, Volume] = {}
    for index, (phase, rng) in enumerate(zip(PHASES, phase_rngs, strict=True)):
        report.update(0.25 + 0.15 * index, f"CT {phase} phase")
        ct[phase] = synthesize_ct(tissue_codes, ct_grid, phase, rng, noise_sd_hu=ct_noise_sd_hu)
        ct[phase].metadata["seed"] = seed

    report.update(0.7, "99mTc-MAA SPECT")
    spect_segmentation = anatomy.segmentation(spect_grid, name="SYNTHETIC truth (SPECT grid)")
    activity = maa_activity_concentration(
        spect_segmentation, lung_shunt_fraction=lung_shunt_fraction, tumour_to_normal=tumour_to_normal,
        administered_activity_mbq=administered_activity_mbq,
    )
    spect_metadata = {
        "synthetic": True, "note": SYNTHETIC_NOTE, "seed": seed, "radiopharmaceutical": "99mTc-MAA",
        "administered_activity_mbq": float(administered_activity_mbq),
        "lung_shunt_fraction": float(lung_shunt_fraction), "tumour_to_normal": float(tumour_to_normal),
    }
    spect_truth = Volume(activity, spect_grid, name="SYNTHETIC 99mTc-MAA true activity", modality="NM",
                         units="MBq/ml", metadata=spect_metadata)
    spect = simulate_spect(spect_truth, spect_rng, fwhm_mm=spect_fwhm_mm, total_counts=spect_total_counts)
    tissues = Volume(tissue_codes, ct_grid, name="SYNTHETIC tissue map", units="label",
                     metadata={"synthetic": True, "labels": {int(t): t.name.lower() for t in Tissue}})

    parameters = {
        "synthetic": True,
        "seed": seed,
        "size": size,
        "lung_shunt_fraction": float(lung_shunt_fraction),
        "tumour_to_normal": float(tumour_to_normal),
        "administered_activity_mbq": float(administered_activity_mbq),
        "spect_total_counts": float(spect_total_counts),
        "spect_fwhm_mm": float(spect_fwhm_mm),
        "ct_noise_sd_hu": float(ct_noise_sd_hu),
        "ct_psf_fwhm_mm": list(ct_grid.spacing),
        "lesion_jitter_mm": float(lesion_jitter_mm),
        "frame_origin_lps": list(FRAME_ORIGIN_LPS),
        "liver_volume_ml": anatomy.liver.volume_ml,
        # Whole lungs (the CT shows only their bases): voxel count on the SPECT grid, whose field holds them.
        "lung_volume_ml": spect_segmentation.volume_ml("Lung"),
        "lesions": [
            {
                "name": lesion.name,
                "center_lps": list(lesion.center_lps),
                "semi_axes_mm": list(lesion.semi_axes_mm),
                "rotation": [list(row) for row in (lesion.shape.rotation or np.eye(3).tolist())],
                "volume_ml": lesion.volume_ml,
                "diameter_mm": lesion.equivalent_diameter_mm,
            }
            for lesion in anatomy.lesions
        ],
        "hu": {phase: {t.name.lower(): TISSUE_HU[t][i] for t in Tissue} for i, phase in enumerate(PHASES)},
    }
    parameters["generation_seconds"] = time.perf_counter() - started
    report.update(1.0, "Synthetic sample patient ready")
    return SamplePatient(
        ct=ct, spect=spect, spect_truth=spect_truth, truth=truth, spect_truth_segmentation=spect_segmentation,
        tissues=tissues, clinical=dict(_CLINICAL), parameters=parameters, anatomy=anatomy,
    )


def _size(size: str) -> tuple[tuple[int, int, int], tuple[float, float, float], tuple[int, int, int], float]:
    if size not in SIZES:
        raise ValueError(f"Unknown sample-patient size '{size}'; expected one of {', '.join(SIZES)}")
    return SIZES[size]


def _centred_grid(shape: tuple[int, int, int], spacing: tuple[float, float, float], center: tuple) -> Geometry:
    """Axial grid of ``shape`` (k, j, i) whose middle lies at the anatomical-frame point ``center``."""
    extent = (np.array(shape[::-1]) - 1) * np.asarray(spacing) / 2.0
    middle = np.asarray(center, dtype=float) + np.asarray(FRAME_ORIGIN_LPS)
    middle[:2] = 0.0  # in-plane: the scanner's isocentre is the middle of the field of view
    return Geometry(shape, spacing, tuple(np.round(middle - extent, 3)))
