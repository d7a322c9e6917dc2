"""The Y-90 planning pipeline: a :class:`.request.PlanRequest` applied to a :class:`.case.PlanningCase`.

:func:`plan_treatment` runs the stages in order:
    :meth:`PlanningCase.prepare` (counts checked, segmentation and CT on the SPECT grid, roles, alignment check)
    → :func:`measure_lung_shunt` (lung segment, extended when cut by its field of view, else a CT or count
    threshold region, flagged) → :func:`prescribe` (masses from CT densities or presets; MIRD, BSA, partition or
    multi-compartment activity; the compartments evaluated at that activity) → :func:`voxel_dose` (activity map,
    local deposition and kernel convolution) → :func:`dose_tables` (compartments model vs voxel, dose statistics,
    DVHs) → vial order → :class:`DosimetryResult`.

Consistency by construction: the compartment (partition) model and the local-deposition voxel dose use the
same counts, masses and activity, so the mass-weighted mean voxel dose of every compartment equals its model
dose (up to floating-point rounding); the kernel dose differs only by the beta energy crossing compartment
borders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .activity import (
    ActivityPlan,
    Compartment,
    VialOrder,
    bsa_plan,
    compartment_plan,
    mird_plan,
    order_vial,
    partition_plan,
)
from .case import PlanningCase, StructureRoles
from .dvh import dose_statistics_table, dvh_table
from .errors import MissingStructureError, Y90InputError
from .lung_shunt import LungShuntResult, extend_cut_lungs, lung_region_from_spect, spect_lung_shunt
from .presets import MicrosphereSpec, dose_constant, dose_limits, microsphere
from .quantitative import QuantitativeActivity, quantitative_activity
from .request import METHODS, PlanRequest
from .results import SerializableResult, library_provenance, to_jsonable
from .voxel_dose import activity_from_counts, kernel_convolution_dose, local_deposition_dose

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.progress import Progress, ProgressCallback

__all__ = ["StructureRoles", "DosimetryResult", "LungMeasurement", "plan_treatment", "METHODS",
           "measure_lung_shunt", "prescribe", "voxel_dose", "dose_tables"]


@dataclass
class DosimetryResult(SerializableResult):
    """Everything :func:`plan_treatment` computed, with the request and provenance to reproduce it.

    Attributes:
        activity_gbq: activity to implant at treatment time (quantitative source: the activity the image holds).
        prescription: the plan of the chosen method (its own compartments and details).
        evaluation: per-compartment (each tumour, normal treated liver) model doses at ``activity_gbq``.
        compartments: table comparing the model dose of each compartment with the mass-weighted mean voxel
            doses (local deposition and, when computed, kernel), plus the lungs (model dose).
        dose_statistics: voxel dose metrics per structure (mean, D2/D50/D70/D90/D98, V100/V205, BED, EUD).
        dvh: cumulative DVHs, long format (structure, dose_Gy, volume_%).
        dose: primary dose map (kernel convolution unless ``dose_method="local"``); ``dose_local``: LDM map.
        structures: the masks used on the SPECT grid (compartments, lung region), not serialised.
    """

    method: str
    microsphere: MicrosphereSpec
    activity_gbq: float
    lung_shunt: LungShuntResult
    prescription: ActivityPlan
    evaluation: ActivityPlan
    compartments: pd.DataFrame
    dose_statistics: pd.DataFrame
    dvh: pd.DataFrame
    dose: Volume | None
    dose_local: Volume | None
    vial: VialOrder | None
    warnings: list[str]
    parameters: dict[str, Any]
    structures: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    provenance: dict[str, Any] = field(default_factory=library_provenance)

    @property
    def lung_mass_kg(self) -> float | None:
        return self.evaluation.lung.lung_mass_kg if self.evaluation.lung is not None else None

    @property
    def lung_dose_gy(self) -> float | None:
        return self.evaluation.lung.dose_gy if self.evaluation.lung is not None else None

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in super().to_dict().items() if k != "structures"}
        data["structures"] = {name: {"voxels": int(np.count_nonzero(mask))} for name, mask in self.structures.items()}
        return data

    def to_json(self, **kwargs: Any) -> str:
        import json

        return json.dumps(to_jsonable(self.to_dict()), **kwargs)


@dataclass
class LungMeasurement:
    """The lung shunt, the lung region it was measured in, and the lung mass (None without a CT)."""

    shunt: LungShuntResult
    region: np.ndarray
    source: str | None
    mass_kg: float | None


# ------------------------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------------------------
def measure_lung_shunt(case: PlanningCase, request: PlanRequest) -> LungMeasurement:
    """The lung shunt fraction: given, or counts in the lung segment (extended beyond its field of view when cut),
    else in a CT-threshold or SPECT-count lung region (flagged as approximate)."""
    lungs, source = case.lung_segment.copy(), "segmentation"
    if request.lung_shunt_fraction is not None:
        value = float(request.lung_shunt_fraction)
        shunt = LungShuntResult(value, float("nan"), float("nan"), "given by the user", [],
                                {"lung_shunt_fraction": value})
        return LungMeasurement(shunt, lungs, None, case.lung_mass(lungs))
    if not lungs.any():
        region = lung_region_from_spect(case.spect, case.liver_all, ct=case.ct, counts=case.counts)
        lungs, source = region.mask, region.method
        case.warnings.add(*region.warnings)
    elif case.cut_lungs and not case.segmentation_covers.all():
        region = extend_cut_lungs(case.spect, lungs, case.segmentation_covers, names=tuple(case.cut_lungs),
                                  counts=case.counts)
        lungs, source = region.mask, region.method
        case.warnings.add(*region.warnings)
    shunt = spect_lung_shunt(case.spect, case.liver_all, lungs, lung_region_method=source, counts=case.counts)
    case.warnings.add(*shunt.warnings)
    return LungMeasurement(shunt, lungs, source, case.lung_mass(lungs))


def _compartments(case: PlanningCase) -> list[Compartment]:
    counts = case.counts
    compartments = [Compartment(name, case.mass(mask, "tumour"), float(counts[mask].sum()), "tumour")
                    for name, mask in case.tumours.items()]
    compartments.append(Compartment(case.normal_name, case.mass(case.normal, "liver"),
                                    float(counts[case.normal].sum()), "normal"))
    if sum(c.uptake for c in compartments) <= 0:
        raise MissingStructureError("The treated region holds no SPECT counts")
    return compartments


def prescribe(case: PlanningCase, request: PlanRequest, lungs: LungMeasurement,
              quantitative: QuantitativeActivity | None = None) -> tuple[ActivityPlan, ActivityPlan]:
    """The activity by the requested method, and every compartment's model dose at that activity.

    Returns:
        (prescription, evaluation): the method's own plan, and the per-compartment plan at its activity.
    """
    method, lsf = request.method, lungs.shunt.lung_shunt_fraction
    limits = dose_limits(request.limits or microsphere(request.microsphere).dose_limits)
    common = dict(lung_mass_kg=lungs.mass_kg, dose_constant_gy_kg_per_gbq=dose_constant(request.dose_constant),
                  limits=limits, previous_lung_dose_gy=request.previous_lung_dose_gy)
    compartments = _compartments(case)
    if method in ("partition", "multi-compartment") and not case.tumours:
        raise MissingStructureError(f"The {method} method needs at least one tumour segment inside the treated region")
    given = quantitative.recovered_gbq if quantitative is not None else request.activity_gbq
    target_dose = request.target_dose_gy
    normal = compartments[-1]
    if method == "partition":
        tumours = [c for c in compartments if c.kind == "tumour"]
        tumour_mass, tumour_counts = sum(c.mass_kg for c in tumours), sum(c.uptake for c in tumours)
        if normal.uptake <= 0:
            raise MissingStructureError("The normal liver holds no counts: T/N is undefined")
        tn = (tumour_counts / tumour_mass) / (normal.uptake / normal.mass_kg)
        if given is not None:
            goal = {"activity_gbq": given}
        elif request.target == "tumour":
            goal = {"tumour_dose_gy": target_dose if target_dose is not None else limits.tumour_min_gy}
        else:
            goal = {"normal_dose_gy": target_dose if target_dose is not None else limits.normal_liver_max_gy}
        if all(v is None for v in goal.values()):
            raise Y90InputError("No activity or target dose given and the limit preset has no default target")
        prescription = partition_plan(tumour_mass, normal.mass_kg, tn, lsf, **goal, **common)
    elif method == "multi-compartment":
        if given is not None:
            prescription = compartment_plan(compartments, lsf, activity_gbq=given, **common)
        else:
            goal_name = case.normal_name if request.target == "normal" else request.target
            dose = target_dose if target_dose is not None else (
                limits.normal_liver_max_gy if goal_name == case.normal_name else limits.tumour_min_gy)
            if dose is None:
                raise Y90InputError("No target dose given and the limit preset has no default for this target")
            prescription = compartment_plan(compartments, lsf, target_dose_gy=dose, target_compartment=goal_name,
                                            **common)
    elif method == "mird":
        treated = Compartment(case.treated_name, case.mass(case.treated, "liver"), 1.0)
        if given is not None:
            prescription = compartment_plan([treated], lsf, activity_gbq=given, method="mird", **common)
        else:
            prescription = mird_plan(target_dose, treated.mass_kg, lsf, target_name=case.treated_name, **common)
    else:  # bsa
        liver_volume = float(case.liver_all.sum()) * case.voxel_ml
        prescription = bsa_plan(request.height_cm, request.weight_kg, float(case.all_tumours.sum()) * case.voxel_ml,
                                liver_volume, lsf,
                                perfused_fraction=min(float(case.treated.sum()) * case.voxel_ml / liver_volume, 1.0),
                                liver_mass_kg=case.mass(case.treated, "liver"), **common)
        if request.activity_gbq is not None:
            case.warnings.add("activity_gbq ignored: the BSA method prescribes the activity")
    activity = float(prescription.activity_gbq)
    # compartment-level limit warnings come from the per-compartment evaluation (not the method's own split)
    case.warnings.add(*(w for w in prescription.warnings if "compartment '" not in w))
    if activity <= 0:
        case.warnings.add("No activity prescribed: no dose computed")
        return prescription, prescription
    evaluation = compartment_plan(compartments, lsf, activity_gbq=activity, **common)
    case.warnings.add(*evaluation.warnings)
    return prescription, evaluation


def _backend(device: str) -> tuple[str, str | None]:
    if device == "auto":
        return "auto", None
    if device == "cpu":
        return "numpy", None
    return "torch", device


def voxel_dose(case: PlanningCase, request: PlanRequest, activity_gbq: float, lsf: float,
               quantitative: QuantitativeActivity | None = None,
               progress: Progress | None = None) -> tuple[Volume | None, Volume | None]:
    """The activity map and its dose: (primary dose, local-deposition dose); (None, None) without dose.

    The activity map is the quantitative image itself, or the counts scaled to A·(1 − LSF) over the treated
    region ("treated") or to A over the whole field ("whole-field").
    """
    if activity_gbq <= 0 or request.dose_method == "none":
        return None, None
    if quantitative is not None:
        activity_map = quantitative.activity
    elif request.activity_source == "treated":
        activity_map = activity_from_counts(case.spect, activity_gbq * (1 - lsf), region=case.treated,
                                            checked=case.counts)
        outside = 1.0 - float(case.counts[case.treated].sum()) / float(case.counts.sum())
        if outside > 0.05:
            case.warnings.add(f"{outside:.0%} of the SPECT counts lie outside the treated region '{case.treated_name}' "
                              "(lungs, spill-out, extrahepatic uptake); the voxel dose maps only the treated region's "
                              "activity, A·(1 − LSF)")
    else:
        activity_map = activity_from_counts(case.spect, activity_gbq, checked=case.counts)
    constant = dose_constant(request.dose_constant)
    dose_local = local_deposition_dose(activity_map, density=case.density, dose_constant_gy_kg_per_gbq=constant)
    if request.dose_method == "local":
        return dose_local, dose_local
    backend, device = _backend(request.device)
    dose = kernel_convolution_dose(activity_map, density=case.density, dose_constant_gy_kg_per_gbq=constant,
                                   backend=backend, device=device, kernel_method=request.kernel_method,
                                   progress=progress)
    case.warnings.add(*dose.metadata.get("warnings", []))
    return dose, dose_local


def dose_tables(case: PlanningCase, evaluation: ActivityPlan, lungs: LungMeasurement, dose: Volume | None,
                dose_local: Volume | None, *, quantitative: bool = False,
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Compartments (model vs voxel mean dose), dose statistics and DVHs per structure, and the masks used."""
    import pandas as pd

    masks = {**case.tumours, case.normal_name: case.normal}
    rho = case.density.array if case.density is not None else None
    rows = []
    for comp in evaluation.compartments if evaluation.activity_gbq > 0 else []:
        mask = masks[comp.name]
        weights = rho[mask] if rho is not None else None
        row = {"compartment": comp.name, "kind": comp.kind, "volume_ml": float(mask.sum()) * case.voxel_ml,
               "mass_kg": comp.mass_kg, "activity_fraction": comp.activity_fraction,
               "activity_GBq": comp.activity_gbq, "model_mean_dose_Gy": comp.mean_dose_gy}
        if dose_local is not None:
            row["ldm_mean_dose_Gy"] = float(np.average(dose_local.array[mask], weights=weights))
        if dose is not None and dose is not dose_local:
            row["kernel_mean_dose_Gy"] = float(np.average(dose.array[mask], weights=weights))
        rows.append(row)
    if evaluation.lung is not None:
        rows.append({"compartment": "lungs", "kind": "lung", "volume_ml": float(lungs.region.sum()) * case.voxel_ml,
                     "mass_kg": evaluation.lung.lung_mass_kg, "activity_fraction": lungs.shunt.lung_shunt_fraction,
                     "activity_GBq": evaluation.lung.activity_gbq, "model_mean_dose_Gy": evaluation.lung.dose_gy})
    compartment_table = pd.DataFrame(rows)

    structures = {segment.name: np.asarray(segment.mask, dtype=bool) for segment in case.segmentation
                  if segment.name not in case.roles.lungs}
    structures.update(masks)
    stats_table = pd.DataFrame()
    dvh = pd.DataFrame(columns=["structure", "dose_Gy", "volume_%"])
    if dose is not None:
        tissues = {name: case.roles.tissue_of(name) for name in structures}
        tissues[case.normal_name] = "normal_liver"
        stats_table, dvh_warnings = dose_statistics_table(dose, structures, tissues=tissues)
        case.warnings.add(*dvh_warnings)
        dvh = dvh_table(dose, {n: m for n, m in structures.items() if m.any()})
        if lungs.region.any() and not quantitative:
            case.warnings.add("Lung dose comes from the compartment model (K·A·LSF/m_lung); the voxel dose map holds "
                              "only the treated liver's activity, so lungs have no voxel DVH")
    structures["lung region"] = lungs.region
    return compartment_table, stats_table, dvh, structures


# ------------------------------------------------------------------------------------------------------------
# the pipeline
# ------------------------------------------------------------------------------------------------------------
def plan_treatment(
    spect: Volume,
    segmentation: Segmentation,
    request: PlanRequest | None = None,
    *,
    ct: Volume | None = None,
    progress: Progress | ProgressCallback | None = None,
    **options: Any,
) -> DosimetryResult:
    """Plan a Y-90 treatment (or dose a post-treatment image) from a SPECT and its segmentation.

    Args:
        spect: 99mTc-MAA SPECT counts (or Y-90 PET/bremsstrahlung SPECT for post-treatment dosimetry).
        segmentation: liver (required), tumour(s), optional perfused volume and lungs; any grid (it is
            resampled onto the SPECT grid).
        request: what to compute (:class:`.request.PlanRequest`; default: partition model, glass, normal liver at
            the preset limit, kernel dose).
        ct: optional CT (any grid): tissue densities and masses, lung mass, and the lung region when no lung
            segment exists.
        progress: progress reporter/callback (cancellable).
        options: :class:`.request.PlanRequest` fields that replace those of ``request``.

    Raises:
        MissingStructureError: no liver segment, or no tumour for the partition/multi-compartment methods.
        MisregistrationError: the segmentation does not lie on the images (``allow_misregistration`` overrides).
        Y90InputError (and subclasses): bad counts, LSF ≥ 1, zero activity, unknown method, ...
        DeviceUnavailableError: the requested device is unknown or not available.
    """
    from HCCInterventionalAILib.device import check_device
    from HCCInterventionalAILib.progress import as_progress

    request = (request or PlanRequest()).replace(**options) if options else (request or PlanRequest())
    check_device(request.device)
    spheres = microsphere(request.microsphere)
    report = as_progress(progress)

    report.update(0.0, "Checking inputs")
    case = PlanningCase.prepare(spect, segmentation, ct, request.roles,
                                allow_misregistration=request.allow_misregistration)
    quantitative = None
    if request.activity_source == "quantitative":
        quantitative = quantitative_activity(spect, image_time=request.image_time,
                                             injection_time=request.injection_time,
                                             injected_gbq=request.injected_gbq, tolerance=request.recovery_tolerance,
                                             checked=case.counts)
        case.warnings.add(*quantitative.warnings)
    report.update(0.15, "Lung shunt fraction")
    lungs = measure_lung_shunt(case, request)
    report.update(0.25, f"Activity ({request.method})")
    prescription, evaluation = prescribe(case, request, lungs, quantitative)
    activity = float(prescription.activity_gbq)
    report.update(0.3, "Voxel dose")
    dose, dose_local = voxel_dose(case, request, activity, lungs.shunt.lung_shunt_fraction, quantitative,
                                  report.sub(0.35, 0.8))
    report.update(0.85, "Dose statistics")
    compartments, statistics, dvh, structures = dose_tables(case, evaluation, lungs, dose, dose_local,
                                                         quantitative=quantitative is not None)
    report.update(0.95, "Vial")
    vial = None
    if request.calibration is not None and activity > 0:
        vial = order_vial(activity, request.calibration, request.treatment,
                          residual_fraction=request.residual_fraction,
                          available_vials_gbq=spheres.vial_activities_gbq or None)
        case.warnings.add(*vial.warnings)
    parameters = {
        **request.to_dict(), "microsphere": spheres.name, "dose_constant": dose_constant(request.dose_constant).to_dict(),
        "limits": dose_limits(request.limits or spheres.dose_limits).name, "roles": to_jsonable(case.roles),
        "treated_region": case.treated_name, "lung_region": lungs.source, "ct": ct.name if ct is not None else None,
        "density": "CT" if case.density is not None else "presets", "alignment": case.alignment.to_dict(),
        "quantitative": quantitative.to_dict() if quantitative is not None else None,
        "spect": {"name": spect.name, "shape": list(spect.shape), "spacing_mm": list(spect.spacing)},
    }
    report.update(1.0, "Done")
    return DosimetryResult(request.method, spheres, activity, lungs.shunt, prescription, evaluation, compartments,
                           statistics, dvh, dose, dose_local, vial, list(case.warnings), parameters, structures)
