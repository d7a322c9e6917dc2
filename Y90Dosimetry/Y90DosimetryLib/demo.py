"""The Y-90 section of `hccai demo`: plan, voxel dose and DVH on the synthetic patient's MAA SPECT, the three
prescription methods side by side, predicted (MAA) vs delivered (simulated Y-90 PET) with a gamma index, and a
DICOM RT Dose file."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["y90_demo_step"]


def _plan_table(results: dict[str, Any]) -> Any:
    import pandas as pd

    rows = []
    for method, result in results.items():
        plan = result.prescription
        rows.append({"method": method, "activity_GBq": result.activity_gbq,
                     "lung_shunt_%": 100 * result.lung_shunt.lung_shunt_fraction,
                     "lung_dose_Gy": plan.lung.dose_gy if plan.lung else np.nan,
                     "warnings": len(result.warnings)})
    return pd.DataFrame(rows)


def y90_demo_step(context: Any) -> None:
    """Run Y-90 planning and dosimetry on the demo patient and add the results to the report and scene."""
    from HCCInterventionalAILib.demo import StepSkipped
    from HCCInterventionalAILib.imaging.resample import resample_to_geometry
    from HCCInterventionalAILib.report.figures import axial_montage, best_axial_slice
    from HCCInterventionalAILib.report.html import round_nested

    from . import plan_treatment
    from .dvh import dvh_figure
    from .rtdose import write_rtdose

    patient, section = context.patient, context.report.section("Y-90 radioembolization dosimetry")
    parts = context.progress.split(4)
    seg = patient.spect_truth_segmentation
    ct = patient.ct["portal venous"]
    common = dict(ct=ct, height_cm=patient.clinical["height_cm"], weight_kg=patient.clinical["weight_kg"])
    try:
        plan = plan_treatment(patient.spect, seg, method="partition", microsphere="glass", calibration=72.0,
                              residual_fraction=0.05, device=context.device, progress=parts[0], **common)
    except ImportError as error:
        raise StepSkipped(f"missing dependency: {error}") from error
    others = {
        "MIRD (glass, 120 Gy to the liver)": plan_treatment(patient.spect, seg, method="mird", microsphere="glass",
                                                           target_dose_gy=120.0, dose_method="none", **common),
        "BSA (resin)": plan_treatment(patient.spect, seg, method="bsa", microsphere="resin", dose_method="none",
                                      **common),
    }
    parts[1].update(1.0, "Plans done")
    true_lsf = patient.parameters["lung_shunt_fraction"]
    section.text(
        f"Lung shunt fraction from the MAA SPECT: {100 * plan.lung_shunt.lung_shunt_fraction:.1f}% "
        f"(simulated truth {100 * true_lsf:.1f}%). Partition model for glass microspheres, normal liver held at its "
        f"limit: {plan.activity_gbq:.2f} GBq. Dose constant K = {plan.prescription.dose_constant.value} Gy·kg/GBq "
        f"({plan.prescription.dose_constant.name})."
    )
    for warning in plan.warnings:
        section.warning(warning)
    section.table(_plan_table({"Partition (glass, normal liver at limit)": plan, **others}), "Activity by method")
    section.table(plan.compartments, "Partition model vs voxel dosimetry per compartment")
    keep = ["Liver", "normal liver", "Tumor 1", "Tumor 2"]
    stats = plan.dose_statistics[plan.dose_statistics.structure.isin(keep)]
    section.table(stats[["structure", "volume_ml", "mean_Gy", "D50_Gy", "D70_Gy", "D90_Gy", "V100_%", "V205_%",
                         "mean_BED_Gy", "EUD_Gy"]], "Voxel dose metrics (kernel convolution)")
    section.figure(dvh_figure(plan.dvh, keep, "Cumulative DVH", colors=seg), "Dose-volume histograms")
    k = best_axial_slice(seg.mask("Tumor 1"))
    outlines = seg.subset("Liver", "Tumor 1", "Tumor 2")
    ct_on_spect = resample_to_geometry(ct, patient.spect.geometry, default_value=-1000.0)
    section.figure(axial_montage([("MAA SPECT", patient.spect, _spect_window(patient.spect)),
                                  ("Dose (Gy) over CT", ct_on_spect, (40.0, 400.0))],
                                 k, outlines, overlay=plan.dose, overlay_label="Gy"),
                   "MAA SPECT and the kernel-convolution dose map over the CT, liver and tumour outlines")

    parts[2].update(0.0, "Predicted vs delivered")
    comparison, gammas = _predicted_vs_delivered(patient, plan.activity_gbq, common, context.device)
    section.table(comparison, "Predicted vs delivered (simulated Y-90 PET) mean dose per structure, same activity")
    for method, rate in gammas.items():
        section.text(f"Gamma index {method} vs delivered (5% / 5 mm global, inside the liver): pass rate {rate:.1f}%.")
    section.text("The delivered image is a SYNTHETIC Y-90 PET simulated with a different tumour-to-normal ratio, lung "
                 "shunt and resolution than the MAA (Y90DosimetryLib.maa_to_y90.synthetic). No MAA→Y-90 translation "
                 "weights ship with this extension; when a card with id 'maa-to-y90-unet' is registered (train one on "
                 "paired cases with `python -m Y90DosimetryLib.maa_to_y90.train`), its prediction is compared here too.")

    parts[3].update(0.0, "Writing RT Dose")
    rtdose_path = write_rtdose(plan.dose, context.output_dir / "y90-dose-rtdose.dcm")
    section.text(f"DICOM RT Dose written: {rtdose_path.name}.")
    context.results["y90"] = round_nested({
        "activity_gbq": plan.activity_gbq, "lsf": plan.lung_shunt.lung_shunt_fraction, "true_lsf": true_lsf,
        "lung_mass_kg": plan.lung_mass_kg, "lung_dose_gy": plan.lung_dose_gy,
        "vial_at_calibration_gbq": plan.vial.activity_at_calibration_gbq if plan.vial else None,
        "warnings": plan.warnings,
        "methods": _plan_table({"Partition (glass, normal liver at limit)": plan, **others}).to_dict(orient="records"),
        "compartments": plan.compartments.to_dict(orient="records"),
        "dose_metrics": stats.to_dict(orient="records"),
        "predicted_vs_delivered": comparison.to_dict(orient="records"),
        "gamma_criteria": {"dose_percent": 5.0, "dta_mm": 5.0, "normalisation": "global", "region": "Liver"},
        "gamma_pass_percent": gammas,
    })
    if context.scene is not None:
        _to_scene(context.scene, patient, plan)


def _predicted_vs_delivered(patient: Any, activity_gbq: float, common: dict[str, Any],
                            device: str) -> tuple[Any, dict[str, float]]:
    """Dose from the MAA, from the MAA→Y-90 model (when its card is registered) and from the delivered Y-90 image
    of a synthetic paired case with this patient's anatomy, all for the same activity."""
    import pandas as pd

    from HCCInterventionalAILib.models import UnknownModelError

    from . import compare_doses, gamma_index, plan_treatment
    from .maa_to_y90 import MODEL_ID, predict_y90_distribution, simulate_paired_case

    size = "small" if patient.spect.shape[1] <= 64 else "standard"
    case = simulate_paired_case(seed=int(patient.parameters.get("seed", 7)), size=size)
    structures = case.segmentation.subset("Liver", "Tumor 1", "Tumor 2")

    def dose_of(image: Any) -> Any:
        return plan_treatment(image, case.segmentation, method="partition", microsphere="glass",
                              activity_gbq=activity_gbq, device=device, **common).dose

    delivered = dose_of(case.y90)
    predictions = {"MAA (plain)": dose_of(case.maa)}
    try:
        model_image = predict_y90_distribution(MODEL_ID, case.maa, case.ct, device=device)
        predictions["MAA→Y-90 model (synthetic-trained)"] = dose_of(model_image)
    except UnknownModelError:
        pass
    tables, gammas = [], {}
    for method, dose in predictions.items():
        table = compare_doses(dose, delivered, structures)
        tables.append(table.assign(method=method)[["method", "structure", "predicted_mean_Gy", "delivered_mean_Gy",
                                                   "mean_difference_Gy", "D70_difference_Gy"]])
        gammas[method] = gamma_index(delivered, dose, dose_percent=5.0, dta_mm=5.0,
                                     mask=structures.mask("Liver")).pass_rate_percent
    return pd.concat(tables, ignore_index=True), gammas


def _spect_window(spect: Any) -> tuple[float, float]:
    top = float(spect.array.max())
    return top / 2, top


def _to_scene(scene: Any, patient: Any, plan: Any) -> None:
    from HCCInterventionalAILib.scene import segmentation_to_node

    from .to_scene import result_to_scene

    segmentation_to_node(scene, patient.spect_truth_segmentation, "Sample ground truth (SPECT grid)")
    result_to_scene(scene, plan, "Sample MAA SPECT (partition plan)", segmentation=patient.spect_truth_segmentation)
