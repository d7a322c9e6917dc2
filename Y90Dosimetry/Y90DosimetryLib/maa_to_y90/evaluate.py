"""Evaluation as in Plachouris et al. (seed 001): mean absorbed dose per structure from the predicted Y-90 image vs the
delivered (post-treatment) one, compared with plain MAA-based prediction.

All three activity images are normalised so that the liver holds the same administered activity, and converted to
dose by local deposition (D = K·A/m), so the differences reflect only *where* the activity is predicted to go.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume
from HCCInterventionalAILib.progress import Progress, ProgressCallback, as_progress

from .data import PairedCase

__all__ = ["compartment_masks", "structure_mean_doses", "evaluate_translation"]


def compartment_masks(segmentation: Segmentation) -> dict[str, np.ndarray]:
    """Liver, tumour (union of segments named 'tumor…'/'tumour…'/'lesion…') and normal liver (liver − tumour)."""
    liver = segmentation.mask("Liver")
    tumour = np.zeros_like(liver)
    for segment in segmentation:
        if segment.name.lower().startswith(("tumor", "tumour", "lesion", "hcc")):
            tumour |= segment.mask
    if not tumour.any():
        raise ValueError("No tumour segment (named 'Tumor…', 'Tumour…', 'Lesion…' or 'HCC…') in the segmentation")
    return {"Liver": liver, "Tumour": tumour & liver, "Normal liver": liver & ~tumour}


def structure_mean_doses(activity: Volume, masks: dict[str, np.ndarray], administered_activity_gbq: float, *,
                         density: float | Volume | None = None) -> dict[str, float]:
    """Mean local-deposition dose (Gy) per structure after scaling the liver's activity to the administered one.

    Formula: D̄_s = K·A_s/(ρ·V_s) with A_s the activity in structure s once the liver holds A in total.
    """
    from ..voxel_dose import activity_from_counts, local_deposition_dose

    scaled = activity_from_counts(activity, administered_activity_gbq, region=masks["Liver"])
    dose = local_deposition_dose(scaled, density=density).array
    return {name: float(dose[mask].mean()) for name, mask in masks.items()}


def evaluate_translation(
    cases: Sequence[PairedCase],
    predict: Callable[[PairedCase], Volume],
    *,
    administered_activity_gbq: float = 2.0,
    progress: Progress | ProgressCallback | None = None,
) -> tuple[Any, Any]:
    """Mean-dose differences (prediction − delivered) per structure, for the model and for MAA-based prediction.

    Args:
        cases: held-out paired cases with Y-90 images and segmentations.
        predict: maps a prepared case to its predicted Y-90 distribution (e.g. a closure over
            :func:`.predict.predict_y90_distribution`).
        administered_activity_gbq: activity placed in the liver for every method.

    Returns:
        (per-case DataFrame, summary DataFrame with mean ± SD of the differences per method and structure).
    """
    import pandas as pd

    progress = as_progress(progress)
    rows = []
    for case in progress.iterate(cases, message="evaluating cases"):
        case = case.prepared()
        if case.y90 is None or case.segmentation is None:
            raise ValueError(f"Case {case.case_id} needs its Y-90 image and a segmentation for evaluation")
        masks = compartment_masks(case.segmentation)
        delivered = structure_mean_doses(case.y90, masks, administered_activity_gbq)
        predictions = {"MAA (plain)": case.maa, "MAA→Y-90 model": predict(case)}
        for method, image in predictions.items():
            for structure, dose in structure_mean_doses(image, masks, administered_activity_gbq).items():
                rows.append({"case": case.case_id, "method": method, "structure": structure,
                             "predicted_gy": dose, "delivered_gy": delivered[structure],
                             "difference_gy": dose - delivered[structure]})
    per_case = pd.DataFrame(rows)
    summary = (per_case.groupby(["method", "structure"])["difference_gy"]
               .agg(mean_difference_gy="mean", sd_difference_gy="std",
                    mean_absolute_difference_gy=lambda d: float(np.abs(d).mean()), cases="count")
               .reset_index())
    return per_case, summary
