"""``hccai demo`` step: the classical (non-learning) segmenter on the sample patient against its ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..demo import DemoContext
from ..imaging.segmentation import Segmentation

__all__ = ["segmentation_step"]

CT_WINDOW = (60.0, 400.0)
_GREEN, _RED, _YELLOW, _MAGENTA = (0.1, 0.85, 0.2), (0.95, 0.2, 0.15), (1.0, 0.93, 0.0), (0.9, 0.2, 0.9)


def _truth_masks(truth: Segmentation) -> tuple[np.ndarray, np.ndarray]:
    from ..segmentation_stats import is_liver, is_tumour

    liver = np.zeros(truth.geometry.shape, bool)
    tumour = np.zeros(truth.geometry.shape, bool)
    for segment in truth:
        if is_liver(segment):
            liver |= segment.mask
        elif is_tumour(segment):
            tumour |= segment.mask
    return liver | tumour, tumour


def comparison_segmentation(result_liver: np.ndarray, result_tumour: np.ndarray, truth_liver: np.ndarray,
                            truth_tumour: np.ndarray, geometry: Any) -> Segmentation:
    """Four outlines for the overlay: truth liver/tumour (green/yellow), classical liver/tumour (red/magenta)."""
    overlay = Segmentation(geometry, name="Classical vs truth")
    overlay.add("Truth liver", truth_liver, _GREEN)
    overlay.add("Classical liver", result_liver, _RED)
    overlay.add("Truth tumour", truth_tumour, _YELLOW)
    overlay.add("Classical tumour", result_tumour, _MAGENTA)
    return overlay


def segmentation_step(context: DemoContext) -> None:
    """Segment the sample patient's liver and tumours with the ``liver-classical`` card; Dice against the truth."""
    from ..models import segment_volume
    from ..report.figures import axial_montage, best_axial_slice
    from .metrics import overlap_metrics
    from .structures import structure_table

    patient = context.patient
    section = context.report.section("Liver and tumour segmentation without weights (liver-classical)")
    phases = [patient.ct["portal venous"], patient.ct["arterial"]]
    output = segment_volume("liver-classical", phases, context.progress.sub(0.0, 0.8))
    labels = output.labels.array
    liver, tumour = labels > 0, labels == 2
    truth_liver, truth_tumour = _truth_masks(patient.truth)
    spacing = output.labels.spacing
    liver_metrics = overlap_metrics(liver, truth_liver, spacing)
    tumour_metrics = overlap_metrics(tumour, truth_tumour, spacing)
    card = output.card
    section.text(
        f"{card.name}. {card.validation_status}. Portal venous + arterial phases of the SYNTHETIC sample patient; "
        "the outlines compare it with the generator's ground truth (green/yellow truth, red/magenta classical). "
        "The synthetic patient is not held-out data for this method (its parameters were set while looking at it).")
    metrics = {"liver": liver_metrics.to_dict(), "tumour": tumour_metrics.to_dict()}
    section.key_values({"Liver Dice": liver_metrics.dice, "Liver HD95 (mm)": liver_metrics.hd95_mm,
                        "Liver ASSD (mm)": liver_metrics.assd_mm, "Tumour Dice": tumour_metrics.dice,
                        "Tumour HD95 (mm)": tumour_metrics.hd95_mm, "Seconds": output.timings.get("segment", 0.0)})
    overlay = comparison_segmentation(liver, tumour, truth_liver, truth_tumour, patient.truth.geometry)
    k = best_axial_slice(truth_tumour)
    section.figure(axial_montage([("Portal venous", patient.ct["portal venous"], CT_WINDOW),
                                  ("Arterial", patient.ct["arterial"], CT_WINDOW)], k, overlay),
                   "Classical segmentation (red liver, magenta tumour) vs ground truth (green liver, yellow tumour)")
    segmentation = output.to_segmentation("Classical segmentation")
    table = structure_table(segmentation)
    section.table(table.to_dataframe(), "Structures of the classical segmentation")
    lits = _lits_if_cached() if patient.parameters.get("size") != "small" else None
    if lits is not None:
        metrics["lits117"] = lits
        section.text(f"On real CT (LiTS training case 117, cached): liver Dice {lits['liver_dice']:.3f}, tumour Dice "
                     f"{lits['tumour_dice']:.3f} (not held out).")
    context.results["segmentation"] = {"model": card.key, "metrics": metrics, "structures": table.to_dict(),
                                       "timings_s": output.timings}
    if context.scene is not None:
        from ..scene import dataframe_to_table_node, segmentation_to_node

        segmentation_to_node(context.scene, segmentation, "Classical segmentation")
        dataframe_to_table_node(context.scene, table.to_dataframe(), "Classical segmentation structures")


def _lits_if_cached() -> dict[str, float] | None:
    """Dice on LiTS-117 when the case is already in the cache (the demo never downloads)."""
    from .classical import segment_liver_tumour
    from .lits import LitsUnavailableError, fetch_lits117
    from .metrics import overlap_metrics

    try:
        case = fetch_lits117(download=False)
    except LitsUnavailableError:
        return None
    result = segment_liver_tumour(case.ct)
    return {"liver_dice": overlap_metrics(result.liver, case.liver, case.ct.spacing).dice,
            "tumour_dice": overlap_metrics(result.tumour, case.tumour, case.ct.spacing).dice}
