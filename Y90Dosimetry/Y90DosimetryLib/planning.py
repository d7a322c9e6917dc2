"""The Y-90 planning pipeline on a 99mTc-MAA SPECT (or a post-treatment Y-90 image) and its segmentation.

:func:`plan_treatment` chains: segmentation (and CT) onto the SPECT grid → lung shunt fraction (lung segment,
else a CT or count threshold, flagged) → masses (CT density or preset densities) → activity prescription
(MIRD, BSA, partition or multi-compartment) → compartment doses → activity map (A·(1 − LSF) spread over the
treated region in proportion to counts) → voxel dose (local deposition, and kernel convolution by default) →
dose statistics and DVHs per structure with BED/EUD → warnings against the limits → :class:`DosimetryResult`.

Consistency by construction: the compartment (partition) model and the local-deposition voxel dose use the
same counts, masses and activity, so the mass-weighted mean voxel dose of every compartment equals its model
dose (up to floating-point rounding); the kernel dose differs only by the beta energy crossing compartment
borders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
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
from .counts import checked_counts
from .dvh import dose_statistics_table, dvh_table
from .errors import MissingStructureError, Y90InputError
from .lung_shunt import LungShuntResult, lung_region_from_spect, spect_lung_shunt
from .presets import MicrosphereSpec, dose_constant, dose_limits, microsphere, tissue_density
from .results import SerializableResult, library_provenance, to_jsonable
from .tissue import density_volume_from_ct, mass_from_density
from .voxel_dose import activity_from_counts, kernel_convolution_dose, local_deposition_dose

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from HCCInterventionalAILib.imaging.segmentation import Segmentation
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.progress import Progress, ProgressCallback

__all__ = ["StructureRoles", "DosimetryResult", "plan_treatment", "METHODS"]

METHODS = ("partition", "multi-compartment", "mird", "bsa")

_TUMOUR = re.compile(r"^\s*(tumou?r|lesion|hcc|metastas[ie]s)\b", re.IGNORECASE)
_LUNG = re.compile(r"\blungs?\b", re.IGNORECASE)


@dataclass
class StructureRoles:
    """Which segments play which part. Detected from names, or given explicitly."""

    liver: str | None = None
    perfused: str | None = None
    tumours: list[str] = field(default_factory=list)
    lungs: list[str] = field(default_factory=list)

    @classmethod
    def detect(cls, segmentation: Segmentation) -> StructureRoles:
        """Liver: "liver"/"whole liver"; perfused: "perfused volume"/"perfused"/"perfused liver"/"treated volume";
        tumours: names starting with tumour/tumor/lesion/HCC; lungs: names containing "lung"."""
        liver = segmentation.find("liver", "whole liver", "liver whole")
        perfused = segmentation.find("perfused volume", "perfused", "perfused liver", "perfused territory",
                                     "treated volume")
        names = segmentation.names
        tumours = [n for n in names if _TUMOUR.match(n) and "normal" not in n.lower()]
        lungs = [n for n in names if _LUNG.search(n) and "shunt" not in n.lower()]
        return cls(liver.name if liver else None, perfused.name if perfused else None, tumours, lungs)


@dataclass
class DosimetryResult(SerializableResult):
    """Everything :func:`plan_treatment` computed, with the parameters and provenance to reproduce it.

    Attributes:
        activity_gbq: activity to implant at treatment time.
        prescription: the plan of the chosen method (its own compartments and details).
        evaluation: per-compartment (each tumour, normal treated liver) model doses at ``activity_gbq``.
        compartments: table comparing the model dose of each compartment with the mass-weighted mean voxel
            doses (local deposition and, when computed, kernel).
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

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in super().to_dict().items() if k != "structures"}
        data["structures"] = {name: {"voxels": int(np.count_nonzero(mask))} for name, mask in self.structures.items()}
        return data

    def to_json(self, **kwargs: Any) -> str:
        import json

        return json.dumps(to_jsonable(self.to_dict()), **kwargs)


def _on_grid(segmentation: Segmentation, spect: Volume, warnings: list[str]) -> Segmentation:
    if segmentation.geometry.same_grid(spect.geometry):
        return segmentation
    from HCCInterventionalAILib.imaging.resample import resample_segmentation

    warnings.append(f"Segmentation resampled from {segmentation.geometry.shape} voxels of "
                    f"{tuple(round(s, 3) for s in segmentation.geometry.spacing)} mm onto the SPECT grid "
                    f"{spect.geometry.shape} ({tuple(round(s, 3) for s in spect.geometry.spacing)} mm)")
    return resample_segmentation(segmentation, spect.geometry)


def _touches_grid_edge(mask: np.ndarray) -> bool:
    """True when a mask reaches a face of its grid, i.e. the structure may continue outside the field of view."""
    faces = (mask[0], mask[-1], mask[:, 0], mask[:, -1], mask[:, :, 0], mask[:, :, -1])
    return any(face.any() for face in faces)


def _mask(segmentation: Segmentation, name: str) -> np.ndarray:
    return np.asarray(segmentation.mask(name, allow_empty=True), dtype=bool)


def _tissue_for(name: str, roles: StructureRoles) -> str | None:
    lowered = name.lower()
    if name in roles.tumours or _TUMOUR.match(name):
        return "hcc_tumour"
    if name in roles.lungs or _LUNG.search(name):
        return "lung"
    if "liver" in lowered or "perfused" in lowered or "normal" in lowered:
        return "normal_liver"
    return None


def plan_treatment(
    spect: Volume,
    segmentation: Segmentation,
    *,
    ct: Volume | None = None,
    method: str = "partition",
    microsphere_type: str | MicrosphereSpec = "resin",
    activity_gbq: float | None = None,
    target_dose_gy: float | None = None,
    target: str = "normal",
    lung_shunt_fraction: float | None = None,
    height_cm: float | None = None,
    weight_kg: float | None = None,
    roles: StructureRoles | Mapping[str, Any] | None = None,
    dose_method: str = "kernel",
    activity_normalisation: str = "treated",
    dose_constant_name: str | float | None = None,
    limits: str | None = None,
    previous_lung_dose_gy: float = 0.0,
    residual_fraction: float = 0.0,
    calibration: datetime | float | None = None,
    treatment: datetime | None = None,
    backend: str = "auto",
    kernel_method: str = "auto",
    progress: Progress | ProgressCallback | None = None,
) -> DosimetryResult:
    """Plan a Y-90 treatment (or dose a post-treatment image) from a SPECT and its segmentation.

    Args:
        spect: 99mTc-MAA SPECT counts (or Y-90 PET/bremsstrahlung SPECT for post-treatment dosimetry).
        segmentation: liver (required), tumour(s), optional perfused volume and lungs; any grid (it is
            resampled onto the SPECT grid).
        ct: optional CT (any grid): tissue densities and masses, lung mass, and the lung region when no lung
            segment exists.
        method: "partition" (tumour vs normal liver, T/N from counts), "multi-compartment" (each tumour its
            own compartment), "mird" (single compartment: the treated region) or "bsa" (resin; needs height and
            weight).
        microsphere_type: "resin" or "glass" preset; sets the default dose limits.
        activity_gbq: evaluate this activity instead of solving for a target (all methods).
        target_dose_gy, target: solve the activity so that compartment ``target`` gets ``target_dose_gy``:
            "normal" (normal treated liver), "tumour" (all tumours together, partition), a tumour's name
            (multi-compartment), or the treated region (mird; ``target`` ignored). With neither activity nor
            target, partition/multi-compartment solve for the preset's normal-liver limit (the maximum tolerated
            activity) and MIRD raises.
        lung_shunt_fraction: use this LSF instead of measuring it.
        roles: override detected structure roles, e.g. {"liver": "Liver", "tumours": ["T1"], "lungs": []}.
        dose_method: "kernel" (FFT convolution, default), "local" (LDM only) or "none".
        activity_normalisation: "treated" (default: A·(1 − LSF) spread over the treated region in proportion
            to its counts, the partition model's assumption) or "whole-field" (A spread over every count of the
            image, lungs and extrahepatic uptake included; the compartment and voxel doses then differ by the
            counts outside the treated region).
        dose_constant_name: K preset or value (default "conventional" = 49.67 Gy·kg/GBq).
        limits: dose-limit preset (default: the microsphere's).
        previous_lung_dose_gy: for the cumulative lung limit.
        residual_fraction, calibration, treatment: vial ordering (``calibration`` as datetime with
            ``treatment``, or hours from calibration to treatment); omitted → no vial order.
        backend, kernel_method: see :func:`.voxel_dose.kernel_convolution_dose`.
        progress: progress reporter/callback (cancellable).

    Raises:
        MissingStructureError: no liver segment, or no tumour for the partition/multi-compartment methods.
        Y90InputError (and subclasses): bad counts, LSF ≥ 1, zero activity, unknown method, ...
    """
    from HCCInterventionalAILib.progress import as_progress

    report = as_progress(progress)
    if method not in METHODS:
        raise Y90InputError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if dose_method not in ("kernel", "local", "none"):
        raise Y90InputError(f"dose_method must be kernel, local or none, got {dose_method!r}")
    if activity_normalisation not in ("treated", "whole-field"):
        raise Y90InputError(f"activity_normalisation must be treated or whole-field, got {activity_normalisation!r}")
    spheres = microsphere(microsphere_type)
    limit_preset = dose_limits(limits or spheres.dose_limits)
    constant = dose_constant(dose_constant_name)
    warnings: list[str] = []

    # ---- inputs on the SPECT grid ---------------------------------------------------------------------
    report.update(0.0, "Checking inputs")
    counts, count_warnings = checked_counts(spect)
    warnings.extend(count_warnings)
    seg = _on_grid(segmentation, spect, warnings)
    report.update(0.1, "Segmentation on the SPECT grid")
    density = None
    ct_covers = np.ones(spect.shape, dtype=bool)
    if ct is not None:
        if not ct.geometry.same_grid(spect.geometry):
            from HCCInterventionalAILib.imaging.resample import resample_to_geometry

            ct_covers = resample_to_geometry(ct.with_array(np.ones(ct.shape, np.uint8)), spect.geometry,
                                             "nearest", default_value=0).array > 0
            ct = resample_to_geometry(ct, spect.geometry, "linear", default_value=-1000.0)
        density = density_volume_from_ct(ct)

    if roles is None:
        struct = StructureRoles.detect(seg)
    elif isinstance(roles, StructureRoles):
        struct = roles
    else:
        struct = StructureRoles(**dict(roles))
    if struct.liver is None:
        raise MissingStructureError(f"No liver segment found among {seg.names}; name it 'liver' or pass roles")
    liver = _mask(seg, struct.liver)
    if not liver.any():
        raise MissingStructureError(f"The liver segment '{struct.liver}' is empty on the SPECT grid")
    treated = _mask(seg, struct.perfused) if struct.perfused else liver
    treated_name = struct.perfused or struct.liver
    if not treated.any():
        raise MissingStructureError(f"The perfused segment '{struct.perfused}' is empty on the SPECT grid")
    liver_all = liver | treated

    tumour_masks: dict[str, np.ndarray] = {}
    for name in struct.tumours:
        mask = _mask(seg, name)
        inside = mask & treated
        if not mask.any():
            warnings.append(f"Tumour '{name}' is empty on the SPECT grid and was ignored")
        elif not inside.any():
            warnings.append(f"Tumour '{name}' lies outside the treated region '{treated_name}' and gets no activity")
        else:
            if inside.sum() < mask.sum():
                warnings.append(f"{int(mask.sum() - inside.sum())} voxels of tumour '{name}' lie outside the treated "
                                f"region '{treated_name}'; only the part inside is a compartment")
            tumour_masks[name if inside.sum() == mask.sum() else f"{name} (treated part)"] = inside
    all_tumours = np.zeros_like(treated)
    for mask in tumour_masks.values():
        all_tumours |= mask
    normal = treated & ~all_tumours
    normal_name = "normal perfused liver" if struct.perfused else "normal liver"
    if method in ("partition", "multi-compartment") and not tumour_masks:
        raise MissingStructureError(f"The {method} method needs at least one tumour segment inside the treated region")
    if not normal.any():
        raise MissingStructureError("The treated region holds no normal liver (tumours fill it)")

    # ---- lung shunt -------------------------------------------------------------------------------------
    report.update(0.15, "Lung shunt fraction")
    lung_mask = np.zeros_like(liver)
    for name in struct.lungs:
        lung_mask |= _mask(seg, name)
    lung_source = "segmentation"
    if lung_shunt_fraction is not None:
        lsf_value = float(lung_shunt_fraction)
        shunt = LungShuntResult(lsf_value, float("nan"), float("nan"), "given by the user", [],
                                {"lung_shunt_fraction": lsf_value})
        if not 0 <= lsf_value < 1:
            from .errors import LungShuntError

            raise LungShuntError(f"Lung shunt fraction must be in [0, 1), got {lung_shunt_fraction}")
    else:
        cut_lungs = [name for name in struct.lungs
                     if (segment := segmentation.find(name)) is not None and _touches_grid_edge(segment.mask)]
        if not lung_mask.any():
            region = lung_region_from_spect(spect, liver_all, ct=ct)
            lung_mask, lung_source = region.mask, region.method
            warnings.extend(region.warnings)
        elif cut_lungs:  # the CT (if any) is what cut the lungs off: estimate the rest from the SPECT alone
            region = lung_region_from_spect(spect, liver_all)
            lung_mask = lung_mask | region.mask
            lung_source = f"segmentation extended by {region.method}"
            warnings.append(f"Lung segment(s) {', '.join(cut_lungs)} reach the edge of the segmentation's field of "
                            "view (lungs cut off, e.g. an abdominal CT): the lung region was extended with the "
                            "SPECT-based estimate above the liver dome so that the lung shunt is not underestimated "
                            "(approximate; segment the whole lungs for a reliable value)")
        shunt = spect_lung_shunt(spect, liver_all, lung_mask, lung_region_method=lung_source)
        warnings.extend(w for w in shunt.warnings if w not in warnings)
    lsf = shunt.lung_shunt_fraction

    # ---- masses -----------------------------------------------------------------------------------------
    voxel_ml = spect.geometry.voxel_volume_ml

    def mass(mask: np.ndarray, tissue: str) -> float:
        """CT-derived mass where the CT covers the region; the part outside its field of view gets the mean
        density of the covered part (or the tissue preset when nothing is covered), with a warning."""
        preset = float(mask.sum()) * voxel_ml * tissue_density(tissue) / 1000.0
        if density is None:
            return preset
        covered = mask & ct_covers
        if not covered.any():
            warnings.append(f"The CT does not cover the {tissue} region; its mass uses the {tissue} density preset")
            return preset
        measured = mass_from_density(density.array, covered, voxel_ml)
        if covered.sum() < mask.sum():
            share = covered.sum() / mask.sum()
            warnings.append(f"The CT covers only {100 * share:.0f}% of the {tissue} region; its mass is extrapolated "
                            "from the covered part's mean density")
            measured /= share
        return measured

    lung_mass = None
    if density is not None and lung_mask.any():
        lung_mass = mass(lung_mask, "lung")

    compartments = [Compartment(name, mass(mask, "tumour"), float(counts[mask].sum()), "tumour")
                    for name, mask in tumour_masks.items()]
    compartments.append(Compartment(normal_name, mass(normal, "liver"), float(counts[normal].sum()), "normal"))
    masks = {**tumour_masks, normal_name: normal}
    if sum(c.uptake for c in compartments) <= 0:
        raise MissingStructureError("The treated region holds no SPECT counts")

    # ---- prescription -----------------------------------------------------------------------------------
    report.update(0.25, f"Activity ({method})")
    common = dict(lung_mass_kg=lung_mass, dose_constant_gy_kg_per_gbq=constant, limits=limit_preset,
                  previous_lung_dose_gy=previous_lung_dose_gy)
    tumour_mass = sum(c.mass_kg for c in compartments if c.kind == "tumour")
    tumour_counts = sum(c.uptake for c in compartments if c.kind == "tumour")
    normal_c = compartments[-1]
    if method == "partition":
        if normal_c.uptake <= 0:
            raise MissingStructureError("The normal liver holds no counts: T/N is undefined")
        tn = (tumour_counts / tumour_mass) / (normal_c.uptake / normal_c.mass_kg)
        kwargs: dict[str, Any] = {}
        if activity_gbq is not None:
            kwargs["activity_gbq"] = activity_gbq
        elif target == "tumour":
            kwargs["tumour_dose_gy"] = target_dose_gy if target_dose_gy is not None else limit_preset.tumour_min_gy
        else:
            default = limit_preset.normal_liver_max_gy
            kwargs["normal_dose_gy"] = target_dose_gy if target_dose_gy is not None else default
        if all(v is None for v in kwargs.values()):
            raise Y90InputError("No activity or target dose given and the limit preset has no default target")
        prescription = partition_plan(tumour_mass, normal_c.mass_kg, tn, lsf, **kwargs, **common)
    elif method == "multi-compartment":
        if activity_gbq is not None:
            prescription = compartment_plan(compartments, lsf, activity_gbq=activity_gbq, **common)
        else:
            goal = normal_name if target == "normal" else target
            dose = target_dose_gy if target_dose_gy is not None else (
                limit_preset.normal_liver_max_gy if goal == normal_name else limit_preset.tumour_min_gy)
            if dose is None:
                raise Y90InputError("No target dose given and the limit preset has no default for this target")
            prescription = compartment_plan(compartments, lsf, target_dose_gy=dose, target_compartment=goal, **common)
    elif method == "mird":
        treated_mass = mass(treated, "liver")
        if activity_gbq is not None:
            prescription = compartment_plan([Compartment(treated_name, treated_mass, 1.0)], lsf,
                                            activity_gbq=activity_gbq, method="mird", **common)
        else:
            if target_dose_gy is None:
                raise Y90InputError("The MIRD method needs target_dose_gy (e.g. 80-150 Gy to the treated liver) "
                                    "or activity_gbq")
            prescription = mird_plan(target_dose_gy, treated_mass, lsf, target_name=treated_name, **common)
    else:  # bsa
        if height_cm is None or weight_kg is None:
            raise Y90InputError("The BSA method needs height_cm and weight_kg")
        liver_volume = float(liver_all.sum()) * voxel_ml
        prescription = bsa_plan(height_cm, weight_kg, float(all_tumours.sum()) * voxel_ml, liver_volume, lsf,
                                perfused_fraction=min(float(treated.sum()) * voxel_ml / liver_volume, 1.0),
                                liver_mass_kg=mass(treated, "liver"), **common)
        if activity_gbq is not None:
            warnings.append("activity_gbq ignored: the BSA method prescribes the activity")
    activity = float(prescription.activity_gbq)
    # compartment-level limit warnings come from the per-compartment evaluation below (not the method's own split)
    warnings.extend(w for w in prescription.warnings if w not in warnings and "compartment '" not in w)
    if activity <= 0:
        warnings.append("No activity prescribed: no dose computed")

    # ---- compartment doses at the prescribed activity -------------------------------------------------
    evaluation = compartment_plan(compartments, lsf, activity_gbq=activity, **common) if activity > 0 else prescription
    warnings.extend(w for w in evaluation.warnings if w not in warnings)

    # ---- voxel dose -------------------------------------------------------------------------------------
    dose = dose_local = None
    if activity > 0 and dose_method != "none":
        report.update(0.3, "Activity map")
        if activity_normalisation == "treated":
            activity_map = activity_from_counts(spect, activity * (1 - lsf), region=treated)
        else:
            activity_map = activity_from_counts(spect, activity)
        outside = 1.0 - float(counts[treated].sum()) / float(counts.sum())
        if activity_normalisation == "treated" and outside > 0.05:
            warnings.append(f"{outside:.0%} of the SPECT counts lie outside the treated region '{treated_name}' "
                            "(lungs, spill-out, extrahepatic uptake); the voxel dose maps only the treated region's "
                            "activity, A·(1 − LSF)")
        dose_local = local_deposition_dose(activity_map, density=density, dose_constant_gy_kg_per_gbq=constant)
        if dose_method == "kernel":
            dose = kernel_convolution_dose(activity_map, density=density, dose_constant_gy_kg_per_gbq=constant,
                                           backend=backend, kernel_method=kernel_method,
                                           progress=report.sub(0.35, 0.8))
            warnings.extend(w for w in dose.metadata.get("warnings", []) if w not in warnings)
        else:
            dose = dose_local
    report.update(0.85, "Dose statistics")

    # ---- tables -----------------------------------------------------------------------------------------
    import pandas as pd

    rows = []
    rho = density.array if density is not None else None
    for comp in evaluation.compartments if activity > 0 else []:
        mask = masks[comp.name]
        weights = rho[mask] if rho is not None else None
        row = {"compartment": comp.name, "kind": comp.kind, "volume_ml": float(mask.sum()) * voxel_ml,
               "mass_kg": comp.mass_kg, "activity_fraction": comp.activity_fraction,
               "activity_GBq": comp.activity_gbq, "model_mean_dose_Gy": comp.mean_dose_gy}
        if dose_local is not None:
            row["ldm_mean_dose_Gy"] = float(np.average(dose_local.array[mask], weights=weights))
        if dose is not None and dose is not dose_local:
            row["kernel_mean_dose_Gy"] = float(np.average(dose.array[mask], weights=weights))
        rows.append(row)
    if evaluation.lung is not None:
        rows.append({"compartment": "lungs", "kind": "lung", "volume_ml": float(lung_mask.sum()) * voxel_ml,
                     "mass_kg": evaluation.lung.lung_mass_kg, "activity_fraction": lsf,
                     "activity_GBq": evaluation.lung.activity_gbq, "model_mean_dose_Gy": evaluation.lung.dose_gy})
    compartment_table = pd.DataFrame(rows)

    structures: dict[str, np.ndarray] = {}
    for segment in seg:
        if segment.name in struct.lungs:
            continue
        structures[segment.name] = np.asarray(segment.mask, dtype=bool)
    structures.update(masks)
    stats_table = pd.DataFrame()
    dvh = pd.DataFrame(columns=["structure", "dose_Gy", "volume_%"])
    if dose is not None:
        tissues = {name: _tissue_for(name, struct) for name in structures}
        tissues[normal_name] = "normal_liver"
        stats_table, dvh_warnings = dose_statistics_table(dose, structures, tissues=tissues)
        warnings.extend(dvh_warnings)
        dvh = dvh_table(dose, {n: m for n, m in structures.items() if m.any()})
        if struct.lungs or lung_mask.any():
            warnings.append("Lung dose comes from the compartment model (K·A·LSF/m_lung); the voxel dose map holds "
                            "only the treated liver's activity, so lungs have no voxel DVH")
    structures["lung region"] = lung_mask
    report.update(0.95, "Vial")

    vial = None
    if calibration is not None and activity > 0:
        vial = order_vial(activity, calibration, treatment, residual_fraction=residual_fraction,
                          available_vials_gbq=spheres.vial_activities_gbq or None)
        warnings.extend(vial.warnings)

    parameters = {
        "method": method, "microsphere": spheres.name, "dose_constant": constant.to_dict(),
        "limits": limit_preset.name, "activity_gbq_requested": activity_gbq, "target_dose_gy": target_dose_gy,
        "target": target, "lung_shunt_fraction_given": lung_shunt_fraction, "dose_method": dose_method,
        "activity_normalisation": activity_normalisation,
        "backend": backend, "kernel_method": kernel_method, "roles": to_jsonable(struct),
        "treated_region": treated_name, "lung_region": lung_source if lung_shunt_fraction is None else None,
        "ct": ct.name if ct is not None else None, "density": "CT" if density is not None else "presets",
        "previous_lung_dose_gy": previous_lung_dose_gy, "residual_fraction": residual_fraction,
        "spect": {"name": spect.name, "shape": list(spect.shape), "spacing_mm": list(spect.spacing)},
    }
    report.update(1.0, "Done")
    return DosimetryResult(method, spheres, activity, shunt, prescription, evaluation, compartment_table, stats_table,
                           dvh, dose, dose_local, vial, warnings, parameters, structures)
