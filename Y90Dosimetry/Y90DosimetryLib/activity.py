"""Activity prescription for Y-90 radioembolization and the organ-level (compartment) doses it implies.

All models rest on complete local absorption of the beta energy in the compartment that traps the spheres:

    D[Gy] = K · A[GBq] / m[kg]        K = 49.67 Gy·kg/GBq by default (``y90_dose_constants`` preset)

Source: Dezarn WA et al., AAPM Report 144, Med Phys 2011;38:4824; Ho S et al., Eur J Nucl Med
1996;23:947 (partition model). Every planning function returns an :class:`ActivityPlan` that lists each
compartment's mass, activity and dose, the lung dose, the constants used and explicit warnings for every
configured limit that is exceeded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .constants import Y90_HALF_LIFE_H
from .errors import LungShuntError, Y90InputError, ZeroActivityError
from .presets import DoseConstant, DoseLimits, default_lung_mass_kg, dose_constant, dose_limits
from .results import SerializableResult, library_provenance

__all__ = [
    "Compartment",
    "CompartmentDose",
    "LungDose",
    "ActivityPlan",
    "VialOrder",
    "dubois_bsa",
    "mird_activity",
    "mird_dose",
    "lung_dose",
    "mird_plan",
    "bsa_plan",
    "compartment_plan",
    "partition_plan",
    "decay_factor",
    "activity_at_calibration",
    "order_vial",
    "MAX_HOURS_AFTER_CALIBRATION",
    "MAX_HOURS_BEFORE_CALIBRATION",
]


# --------------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------------
def _positive(value: float, what: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ZeroActivityError(f"{what} must be a positive finite number, got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ZeroActivityError(f"{what} must be a positive finite number, got {value}")
    return value


def _finite_result(value: float, what: str) -> float:
    """``value`` if finite; an input so extreme that the formula overflows is a user error, not a result."""
    if not math.isfinite(value):
        raise Y90InputError(f"{what} is not a finite number ({value}): the inputs are out of range")
    return value


def _fraction(value: float, what: str) -> float:
    """A number in [0, 1) (e.g. a residual fraction)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise Y90InputError(f"{what} must be a number in [0, 1), got {value!r}") from None
    if not 0 <= value < 1:
        raise Y90InputError(f"{what} must be in [0, 1), got {value}")
    return value


def _check_lsf(lung_shunt_fraction: float) -> float:
    try:
        lsf = float(lung_shunt_fraction)
    except (TypeError, ValueError):
        raise LungShuntError(f"Lung shunt fraction must be a number in [0, 1), got {lung_shunt_fraction!r}") from None
    if not math.isfinite(lsf) or lsf < 0 or lsf >= 1:
        raise LungShuntError(f"Lung shunt fraction must be in [0, 1), got {lung_shunt_fraction}")
    return lsf


# --------------------------------------------------------------------------------------------------------
# closed-form formulas
# --------------------------------------------------------------------------------------------------------
def dubois_bsa(height_cm: float, weight_kg: float) -> float:
    """Body surface area by the DuBois formula.

    Formula:
        BSA[m²] = 0.007184 · W[kg]^0.425 · H[cm]^0.725

    Source: DuBois D, DuBois EF, Arch Intern Med 1916;17:863; used by the SIR-Spheres IFU BSA method.
    """
    h = _positive(height_cm, "Height (cm)")
    w = _positive(weight_kg, "Weight (kg)")
    if not 50 <= h <= 250 or not 10 <= w <= 400:
        raise Y90InputError(f"Height {h} cm / weight {w} kg look wrong (expected cm and kg)")
    return 0.007184 * w**0.425 * h**0.725


def mird_activity(
    target_dose_gy: float,
    target_mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
) -> float:
    """Activity (GBq) that gives a target compartment a mean dose under complete local absorption.

    Formula (MIRD single compartment):
        A = D · m / (K · (1 − LSF))

    With LSF = 0 this is the glass-microsphere IFU formula A = D·M/K; with LSF > 0 the activity is raised so
    that the part reaching the liver, A·(1 − LSF), still gives D. Source: TheraSphere IFU; Dezarn 2011.
    """
    k = dose_constant(dose_constant_gy_kg_per_gbq).value
    dose = _positive(target_dose_gy, "Target dose (Gy)")
    mass = _positive(target_mass_kg, "Target mass (kg)")
    lsf = _check_lsf(lung_shunt_fraction)
    return _finite_result(dose * mass / (k * (1.0 - lsf)), "The activity")


def mird_dose(
    activity_gbq: float,
    target_mass_kg: float,
    lung_shunt_fraction: float = 0.0,
    residual_fraction: float = 0.0,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
) -> float:
    """Mean dose (Gy) to the target mass from an activity.

    Formula:
        D = K · A · (1 − LSF) · (1 − R) / m        (R: fraction left in the vial and lines)

    Source: TheraSphere IFU; Dezarn 2011.
    """
    k = dose_constant(dose_constant_gy_kg_per_gbq).value
    a = _positive(activity_gbq, "Activity (GBq)")
    m = _positive(target_mass_kg, "Target mass (kg)")
    lsf = _check_lsf(lung_shunt_fraction)
    residual = _fraction(residual_fraction, "Residual fraction")
    return _finite_result(k * a * (1 - lsf) * (1 - residual) / m, "The dose")


@dataclass
class LungDose(SerializableResult):
    """Lung dose D = K · A · LSF / m_lung and where the lung mass came from."""

    dose_gy: float
    activity_gbq: float
    lung_mass_kg: float
    lung_mass_source: str
    warnings: list[str] = field(default_factory=list)


def lung_dose(
    activity_gbq: float,
    lung_shunt_fraction: float,
    lung_mass_kg: float | None = None,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
    lung_mass_source: str = "given",
) -> LungDose:
    """Mean lung dose.

    Formula:
        D_lung = K · A · LSF / m_lung

    ``lung_mass_kg`` should come from CT (lung volume × density from HU, see :mod:`.tissue`); when it is
    ``None`` the preset's fixed 1 kg (TheraSphere IFU convention) is used and a warning says so.
    Source: Ho S et al., Eur J Nucl Med 1997;24:293.
    """
    k = dose_constant(dose_constant_gy_kg_per_gbq).value
    a = float(activity_gbq)
    if not math.isfinite(a) or a < 0:
        raise ZeroActivityError(f"Activity must be a non-negative finite number, got {activity_gbq}")
    lsf = _check_lsf(lung_shunt_fraction)
    warnings: list[str] = []
    if lung_mass_kg is None:
        lung_mass_kg = default_lung_mass_kg()
        lung_mass_source = "default (y90_tissue_densities preset)"
        warnings.append(
            f"Lung mass not measured: the fixed default of {lung_mass_kg:g} kg was used for the lung dose; "
            "provide a CT to compute it from the lung volume and density"
        )
    mass = _positive(lung_mass_kg, "Lung mass (kg)")
    return LungDose(_finite_result(k * a * lsf / mass, "The lung dose"), a * lsf, mass, lung_mass_source, warnings)


# --------------------------------------------------------------------------------------------------------
# compartment models
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compartment:
    """A liver compartment that traps spheres in proportion to ``uptake``.

    Args:
        name: e.g. "Tumor 1", "normal liver".
        mass_kg: compartment mass.
        uptake: relative share of the liver activity (e.g. MAA counts in the compartment, or T/N·m for the
            classic partition model); only ratios matter.
        kind: "tumour", "normal" or "other"; decides which dose limits apply.
    """

    name: str
    mass_kg: float
    uptake: float
    kind: str = "other"

    def __post_init__(self) -> None:
        _positive(self.mass_kg, f"Mass of compartment '{self.name}'")
        if not isinstance(self.uptake, (int, float)) or not math.isfinite(self.uptake) or self.uptake < 0:
            raise Y90InputError(f"Uptake of compartment '{self.name}' must be ≥ 0, got {self.uptake}")
        if self.kind not in ("tumour", "normal", "other"):
            raise Y90InputError(f"Compartment kind must be tumour/normal/other, got {self.kind!r}")


@dataclass
class CompartmentDose(SerializableResult):
    name: str
    kind: str
    mass_kg: float
    activity_fraction: float
    activity_gbq: float
    mean_dose_gy: float


@dataclass
class ActivityPlan(SerializableResult):
    """A prescribed activity and the doses it implies.

    ``activity_gbq`` is the activity to implant at treatment time (before any vial residual).
    """

    method: str
    activity_gbq: float
    lung_shunt_fraction: float
    compartments: list[CompartmentDose]
    lung: LungDose | None
    dose_constant: DoseConstant
    limits: DoseLimits | None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=library_provenance)

    def compartment(self, name: str) -> CompartmentDose:
        for c in self.compartments:
            if c.name == name:
                return c
        raise KeyError(f"No compartment '{name}' in this plan ({', '.join(c.name for c in self.compartments)})")


def _above(value: float, limit: float) -> bool:
    """value > limit beyond floating-point rounding (a plan solved for exactly the limit does not warn)."""
    return value > limit * (1 + 1e-9) + 1e-12


def _limit_warnings(
    plan: ActivityPlan, limits: DoseLimits | None, previous_lung_dose_gy: float
) -> list[str]:
    if limits is None:
        return []
    out: list[str] = []
    if plan.lung is not None:
        d = plan.lung.dose_gy
        if limits.lung_dose_single_gy is not None and _above(d, limits.lung_dose_single_gy):
            out.append(f"Lung dose {d:.1f} Gy exceeds the single-treatment limit of {limits.lung_dose_single_gy:g} Gy "
                       f"({limits.name})")
        total = d + previous_lung_dose_gy
        if limits.lung_dose_cumulative_gy is not None and _above(total, limits.lung_dose_cumulative_gy):
            out.append(f"Cumulative lung dose {total:.1f} Gy (this treatment {d:.1f} + previous "
                       f"{previous_lung_dose_gy:.1f}) exceeds {limits.lung_dose_cumulative_gy:g} Gy ({limits.name})")
    for c in plan.compartments:
        normal_max = limits.normal_liver_max_gy
        if c.kind == "normal" and normal_max is not None and _above(c.mean_dose_gy, normal_max):
            out.append(f"Normal-liver compartment '{c.name}' receives {c.mean_dose_gy:.1f} Gy, above the limit of "
                       f"{limits.normal_liver_max_gy:g} Gy ({limits.name})")
        if c.kind == "tumour" and limits.tumour_min_gy is not None and _above(limits.tumour_min_gy, c.mean_dose_gy):
            out.append(f"Tumour compartment '{c.name}' receives {c.mean_dose_gy:.1f} Gy, below the target of "
                       f"{limits.tumour_min_gy:g} Gy ({limits.name})")
    limit = limits.lung_shunt_contraindicated_above
    if limit is not None and plan.lung_shunt_fraction > limit:
        out.append(f"Lung shunt fraction {plan.lung_shunt_fraction:.1%} exceeds {limit:.0%}: treatment is "
                   f"contraindicated by {limits.name}")
    return out


def compartment_plan(
    compartments: list[Compartment],
    lung_shunt_fraction: float,
    *,
    activity_gbq: float | None = None,
    target_dose_gy: float | None = None,
    target_compartment: str | None = None,
    lung_mass_kg: float | None = None,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
    limits: str | DoseLimits | None = None,
    previous_lung_dose_gy: float = 0.0,
    method: str = "multi-compartment",
) -> ActivityPlan:
    """Multi-compartment partition model: doses of every compartment for an activity, or the activity that
    gives one compartment a target dose.

    Formula (generalised partition model, Ho 1996; one term per compartment c):
        A_c = A · (1 − LSF) · U_c / Σ_j U_j,   D_c = K · A_c / m_c,   D_lung = K · A · LSF / m_lung
        solving D_c = D*  →  A = D* · m_c · Σ_j U_j / (K · (1 − LSF) · U_c)

    The plan's ``details`` also give the largest activity allowed by each configured limit
    (normal-liver maximum: A = D_max·m_c·ΣU/(K(1−LSF)U_c); lung: A = D_lung,max·m_lung/(K·LSF)).

    Args:
        compartments: liver compartments; uptakes need not be normalised.
        lung_shunt_fraction: LSF in [0, 1).
        activity_gbq: activity to evaluate; or give ``target_dose_gy`` and ``target_compartment``.
        lung_mass_kg: from CT; None uses the preset default with a warning.
        limits: dose-limit preset checked for warnings; None skips the checks.
        previous_lung_dose_gy: lung dose of earlier treatments, for the cumulative limit.
    """
    if not compartments:
        raise Y90InputError("At least one compartment is needed")
    names = [c.name for c in compartments]
    if len(set(names)) != len(names):
        raise Y90InputError(f"Compartment names must be unique, got {names}")
    constant = dose_constant(dose_constant_gy_kg_per_gbq)
    k = constant.value
    lsf = _check_lsf(lung_shunt_fraction)
    total_uptake = _finite_result(math.fsum(c.uptake for c in compartments), "The total uptake")
    if not total_uptake > 0:
        raise ZeroActivityError("The compartments have no uptake (all counts are zero)")
    limit_preset = dose_limits(limits) if limits is not None else None

    if (activity_gbq is None) == (target_dose_gy is None):
        raise Y90InputError("Give either activity_gbq or target_dose_gy (with target_compartment), not both/neither")
    if activity_gbq is None:
        target = next((c for c in compartments if c.name == target_compartment), None)
        if target is None:
            raise Y90InputError(f"Target compartment {target_compartment!r} is not one of {names}")
        if target.uptake <= 0:
            raise ZeroActivityError(f"Target compartment '{target.name}' has no uptake: no activity can dose it")
        dose = _positive(target_dose_gy, "Target dose (Gy)")
        activity_gbq = _finite_result(dose * target.mass_kg * (total_uptake / target.uptake) / (k * (1 - lsf)),
                                      "The activity")
    activity = _positive(activity_gbq, "Activity (GBq)")

    doses = []
    for c in compartments:
        fraction = (1 - lsf) * (c.uptake / total_uptake)
        doses.append(CompartmentDose(c.name, c.kind, c.mass_kg, fraction, activity * fraction,
                                     _finite_result(k * activity * fraction / c.mass_kg,
                                                    f"The dose of compartment '{c.name}'")))
    lung = lung_dose(activity, lsf, lung_mass_kg, constant)

    details: dict[str, Any] = {"total_uptake": total_uptake}
    if target_dose_gy is not None:
        details.update(target_dose_gy=float(target_dose_gy), target_compartment=target_compartment)
    if limit_preset is not None:
        max_activity: dict[str, float] = {}
        if limit_preset.normal_liver_max_gy is not None:
            for c in compartments:
                if c.kind == "normal" and c.uptake > 0:
                    max_activity[f"normal liver '{c.name}' ≤ {limit_preset.normal_liver_max_gy:g} Gy"] = (
                        limit_preset.normal_liver_max_gy * c.mass_kg * total_uptake / (k * (1 - lsf) * c.uptake))
        if lsf > 0 and limit_preset.lung_dose_single_gy is not None:
            max_activity[f"lung ≤ {limit_preset.lung_dose_single_gy:g} Gy"] = (
                limit_preset.lung_dose_single_gy * lung.lung_mass_kg / (k * lsf))
        if lsf > 0 and limit_preset.lung_dose_cumulative_gy is not None:
            remaining = max(limit_preset.lung_dose_cumulative_gy - previous_lung_dose_gy, 0.0)
            max_activity[f"cumulative lung ≤ {limit_preset.lung_dose_cumulative_gy:g} Gy"] = (
                remaining * lung.lung_mass_kg / (k * lsf))
        details["max_activity_gbq_by_limit"] = {k_: v for k_, v in max_activity.items() if math.isfinite(v)}

    plan = ActivityPlan(method, activity, lsf, doses, lung, constant, limit_preset, details, list(lung.warnings))
    plan.warnings.extend(_limit_warnings(plan, limit_preset, previous_lung_dose_gy))
    return plan


def partition_plan(
    tumour_mass_kg: float,
    normal_mass_kg: float,
    tumour_to_normal_ratio: float,
    lung_shunt_fraction: float,
    *,
    activity_gbq: float | None = None,
    tumour_dose_gy: float | None = None,
    normal_dose_gy: float | None = None,
    lung_mass_kg: float | None = None,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
    limits: str | DoseLimits | None = "resin_sirtex",
    previous_lung_dose_gy: float = 0.0,
) -> ActivityPlan:
    """Classic three-compartment partition model (tumour / normal liver / lung).

    Formula (Ho S et al., Eur J Nucl Med 1996;23:947):
        U_T = (T/N)·m_T, U_N = m_N
        D_N = K·A·(1 − LSF) / ((T/N)·m_T + m_N),  D_T = (T/N)·D_N,  D_L = K·A·LSF/m_L
        → A = D_N·((T/N)·m_T + m_N) / (K·(1 − LSF))   or   A = D_T·((T/N)·m_T + m_N) / ((T/N)·K·(1 − LSF))

    Give exactly one of ``activity_gbq``, ``tumour_dose_gy`` or ``normal_dose_gy``; all three doses are reported.
    T/N is the ratio of MAA count concentrations (counts per gram) in tumour and normal liver.
    """
    tn = _positive(tumour_to_normal_ratio, "Tumour-to-normal ratio")
    tumour_uptake = _finite_result(tn * _positive(tumour_mass_kg, "Tumour mass (kg)"), "(T/N) × tumour mass")
    given = [v is not None for v in (activity_gbq, tumour_dose_gy, normal_dose_gy)]
    if sum(given) != 1:
        raise Y90InputError("Give exactly one of activity_gbq, tumour_dose_gy or normal_dose_gy")
    compartments = [
        Compartment("tumour", tumour_mass_kg, tumour_uptake, "tumour"),
        Compartment("normal liver", normal_mass_kg, float(normal_mass_kg), "normal"),
    ]
    target = ("tumour", tumour_dose_gy) if tumour_dose_gy is not None else ("normal liver", normal_dose_gy)
    plan = compartment_plan(
        compartments, lung_shunt_fraction, activity_gbq=activity_gbq,
        target_dose_gy=None if activity_gbq is not None else target[1],
        target_compartment=None if activity_gbq is not None else target[0],
        lung_mass_kg=lung_mass_kg, dose_constant_gy_kg_per_gbq=dose_constant_gy_kg_per_gbq, limits=limits,
        previous_lung_dose_gy=previous_lung_dose_gy, method="partition")
    plan.details["tumour_to_normal_ratio"] = tn
    return plan


def mird_plan(
    target_dose_gy: float,
    target_mass_kg: float,
    lung_shunt_fraction: float,
    *,
    lung_mass_kg: float | None = None,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
    limits: str | DoseLimits | None = "glass_therasphere",
    previous_lung_dose_gy: float = 0.0,
    target_name: str = "perfused liver",
) -> ActivityPlan:
    """MIRD single-compartment plan (glass microspheres): A = D·m/(K·(1 − LSF)), plus the lung dose.

    The target compartment (whole or perfused liver) is of kind "other": the normal-liver and tumour limits
    of the preset are not checked because the model does not separate tumour from normal liver.
    """
    plan = compartment_plan(
        [Compartment(target_name, target_mass_kg, 1.0, "other")], lung_shunt_fraction,
        target_dose_gy=target_dose_gy, target_compartment=target_name, lung_mass_kg=lung_mass_kg,
        dose_constant_gy_kg_per_gbq=dose_constant_gy_kg_per_gbq, limits=limits,
        previous_lung_dose_gy=previous_lung_dose_gy, method="mird")
    return plan


def bsa_plan(
    height_cm: float,
    weight_kg: float,
    tumour_volume_ml: float,
    liver_volume_ml: float,
    lung_shunt_fraction: float,
    *,
    perfused_fraction: float = 1.0,
    lung_mass_kg: float | None = None,
    liver_mass_kg: float | None = None,
    dose_constant_gy_kg_per_gbq: float | str | DoseConstant | None = None,
    limits: str | DoseLimits | None = "resin_sirtex",
    previous_lung_dose_gy: float = 0.0,
) -> ActivityPlan:
    """Body-surface-area method for resin microspheres (SIR-Spheres IFU).

    Formula:
        A_BSA[GBq] = (BSA − 0.2 + V_tumour/V_liver) · f_perfused · (1 − r(LSF))
        BSA = 0.007184·W^0.425·H^0.725 (DuBois)

    where V_liver is the whole liver including tumour, f_perfused the treated (e.g. lobar) share of the liver
    volume and r(LSF) the IFU's reduction (0 below 10%, 20% for 10–15%, 40% for 15–20%); above 20% treatment
    is contraindicated: the activity is then 0 GBq, ``details["contraindicated"]`` is True and a warning says
    why. When ``liver_mass_kg`` is given the plan also reports the mean dose to the treated liver (MIRD).
    Source: SIR-Spheres Y-90 resin microspheres IFU (Sirtex Medical); Kennedy A et al., Int J Radiat Oncol
    Biol Phys 2007;68:13.
    """
    limit_preset = dose_limits(limits if limits is not None else "resin_sirtex")
    bsa = dubois_bsa(height_cm, weight_kg)
    v_t = float(tumour_volume_ml)
    v_l = _positive(liver_volume_ml, "Liver volume (ml)")
    if not math.isfinite(v_t) or v_t < 0 or v_t > v_l:
        raise Y90InputError(f"Tumour volume must be in [0, liver volume = {v_l} ml], got {tumour_volume_ml}")
    if not isinstance(perfused_fraction, (int, float)) or not 0 < perfused_fraction <= 1:
        raise Y90InputError(f"Perfused fraction must be in (0, 1], got {perfused_fraction}")
    lsf = _check_lsf(lung_shunt_fraction)
    involvement = v_t / v_l
    unreduced = (bsa - 0.2 + involvement) * perfused_fraction
    if unreduced <= 0:
        raise ZeroActivityError(f"BSA formula gives a non-positive activity ({unreduced:.3f} GBq) for BSA {bsa:.2f} m²")
    reduction, contraindicated = limit_preset.reduction_for(lsf)
    activity = unreduced * (1 - reduction)
    constant = dose_constant(dose_constant_gy_kg_per_gbq)
    details = {"bsa_m2": bsa, "tumour_involvement": involvement, "perfused_fraction": perfused_fraction,
               "activity_before_reduction_gbq": unreduced, "lung_shunt_reduction": reduction,
               "contraindicated": contraindicated}
    compartments: list[CompartmentDose] = []
    if liver_mass_kg is not None and activity > 0:
        m = _positive(liver_mass_kg, "Liver mass (kg)")
        compartments.append(CompartmentDose("treated liver", "other", m, 1 - lsf, activity * (1 - lsf),
                                            constant.value * activity * (1 - lsf) / m))
    lung = lung_dose(activity, lsf, lung_mass_kg, constant)
    plan = ActivityPlan("bsa", activity, lsf, compartments, lung, constant, limit_preset, details, list(lung.warnings))
    if contraindicated:
        plan.warnings.insert(0, f"BSA method: LSF {lsf:.1%} > {limit_preset.lung_shunt_contraindicated_above:.0%} — "
                                "treatment contraindicated, activity set to 0 GBq")
    elif reduction > 0:
        plan.warnings.append(f"BSA activity reduced by {reduction:.0%} for LSF {lsf:.1%} ({limit_preset.name})")
    plan.warnings.extend(w for w in _limit_warnings(plan, limit_preset, previous_lung_dose_gy)
                         if not (contraindicated and "contraindicated" in w))
    return plan


# --------------------------------------------------------------------------------------------------------
# decay and vial ordering
# --------------------------------------------------------------------------------------------------------
#: Longest interval (hours) between vial calibration and treatment that order_vial accepts after calibration:
#: 30 days, about 11 half-lives (the vial then holds 0.04% of its calibrated activity).
MAX_HOURS_AFTER_CALIBRATION = 30 * 24.0
#: Longest time (hours) a treatment may precede the vial's calibration: 24 h (the vial then holds 1.30 × its
#: nominal activity). Earlier use is almost always a date/time-zone error; it is refused.
MAX_HOURS_BEFORE_CALIBRATION = 24.0
#: |t| / T½ above which 2^(−t/T½) leaves the range of a float (2^±1000 ≈ 10^±301).
_MAX_HALF_LIVES = 1000.0


def _half_life(half_life_h: float) -> float:
    try:
        value = float(half_life_h)
    except (TypeError, ValueError):
        raise Y90InputError(f"Half-life must be a positive number of hours, got {half_life_h!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise Y90InputError(f"Half-life must be a positive finite number of hours, got {half_life_h}")
    return value


def decay_factor(elapsed_hours: float, half_life_h: float = Y90_HALF_LIFE_H) -> float:
    """Fraction of activity left after ``elapsed_hours``: 2^(−t/T½) (negative t gives a factor > 1).

    Raises:
        Y90InputError: a non-finite time, a non-positive half-life, or |t| > 1000 half-lives (the factor would
            leave the range of a float).
    """
    try:
        t = float(elapsed_hours)
    except (TypeError, ValueError):
        raise Y90InputError(f"Elapsed time must be a number of hours, got {elapsed_hours!r}") from None
    if not math.isfinite(t):
        raise Y90InputError(f"Elapsed time must be finite, got {elapsed_hours}")
    half_life = _half_life(half_life_h)
    if abs(t) / half_life > _MAX_HALF_LIVES:
        raise Y90InputError(f"Elapsed time {t:g} h is more than {_MAX_HALF_LIVES:g} half-lives: check the units")
    return 2.0 ** (-t / half_life)


def _hours_between(start: datetime | float, end: datetime | None) -> float:
    if isinstance(start, datetime):
        if not isinstance(end, datetime):
            raise Y90InputError("Give both calibration and treatment times as datetimes, or a number of hours")
        if (start.utcoffset() is None) != (end.utcoffset() is None):
            raise Y90InputError("Calibration and treatment times must both carry a time zone or both not "
                                f"(got {start.isoformat()} and {end.isoformat()})")
        try:
            return (end - start).total_seconds() / 3600.0
        except OverflowError:
            raise Y90InputError(f"Cannot take the interval from {start.isoformat()} to {end.isoformat()}") from None
    if end is not None:
        raise Y90InputError("Give the interval as a number of hours with no treatment time, or two datetimes")
    try:
        hours = float(start)
    except (TypeError, ValueError):
        raise Y90InputError(f"Calibration must be a datetime or a number of hours, got {start!r}") from None
    if not math.isfinite(hours):
        raise Y90InputError(f"Hours from calibration to treatment must be finite, got {start}")
    return hours


def activity_at_calibration(activity_at_treatment_gbq: float, hours_calibration_to_treatment: float,
                            half_life_h: float = Y90_HALF_LIFE_H) -> float:
    """Activity the vial must hold at its calibration time to hold ``activity_at_treatment`` at treatment.

    Formula:
        A_cal = A_tx · 2^(Δt/T½),  Δt = t_treatment − t_calibration (hours; negative if treating before it)

    Raises:
        ZeroActivityError: a non-positive activity. Y90InputError: see :func:`decay_factor`, or a result that
            overflows.
    """
    activity = _positive(activity_at_treatment_gbq, "Activity (GBq)")
    return _finite_result(activity / decay_factor(hours_calibration_to_treatment, half_life_h),
                          "The activity at calibration")


@dataclass
class VialOrder(SerializableResult):
    """What to order so that the patient receives ``activity_needed_gbq`` at treatment time."""

    activity_needed_gbq: float
    residual_fraction: float
    hours_calibration_to_treatment: float
    activity_in_vial_at_treatment_gbq: float
    activity_at_calibration_gbq: float
    vial_gbq: float | None
    delivered_activity_gbq: float | None
    hours_after_calibration_for_exact_activity: float | None
    warnings: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=library_provenance)


def order_vial(
    activity_needed_gbq: float,
    calibration: datetime | float,
    treatment: datetime | None = None,
    *,
    residual_fraction: float = 0.0,
    available_vials_gbq: tuple[float, ...] | list[float] | None = None,
    half_life_h: float = Y90_HALF_LIFE_H,
) -> VialOrder:
    """Vial activity to order at calibration for an activity to be implanted at treatment time.

    Formula:
        A_vial,tx = A_needed / (1 − R)          (R: residual fraction left in vial/tubing)
        A_cal     = A_vial,tx · 2^(Δt/T½)

    Args:
        activity_needed_gbq: activity the patient must receive.
        calibration: calibration datetime, or directly Δt = treatment − calibration in hours.
        treatment: treatment datetime (when ``calibration`` is a datetime).
        residual_fraction: expected residual R in [0, 1); measure it, the default 0 assumes none.
        available_vials_gbq: nominal calibrated vial sizes (e.g. the glass preset's 3–20 GBq); when given the
            smallest sufficient vial is chosen and the activity it delivers, and the treatment time that would
            give exactly the needed activity, are reported.
        half_life_h: physical half-life (default Y-90, 64.1 h).

    Returns:
        The order, with a warning when treatment precedes calibration or no vial is large enough.

    Raises:
        ZeroActivityError: a non-positive needed activity.
        Y90InputError: a residual outside [0, 1); naive and time-zone-aware datetimes mixed; an interval more than
            ``MAX_HOURS_BEFORE_CALIBRATION`` before or ``MAX_HOURS_AFTER_CALIBRATION`` after calibration; a
            non-positive or non-finite vial size or half-life.
    """
    needed = _positive(activity_needed_gbq, "Needed activity (GBq)")
    residual = _fraction(residual_fraction, "Residual fraction")
    half_life = _half_life(half_life_h)
    dt = _hours_between(calibration, treatment)
    if dt < -MAX_HOURS_BEFORE_CALIBRATION:
        raise Y90InputError(f"Treatment is {-dt:.1f} h before the vial's calibration (at most "
                            f"{MAX_HOURS_BEFORE_CALIBRATION:g} h allowed): check the dates and time zones")
    if dt > MAX_HOURS_AFTER_CALIBRATION:
        raise Y90InputError(f"Treatment is {dt / 24:.1f} days after the vial's calibration (at most "
                            f"{MAX_HOURS_AFTER_CALIBRATION / 24:g} days): the vial would be almost empty")
    in_vial = _finite_result(needed / (1 - residual), "The activity needed in the vial")
    at_cal = activity_at_calibration(in_vial, dt, half_life)
    vial = delivered = exact_time = None
    warnings: list[str] = []
    if dt < 0:
        warnings.append(f"Treatment is {-dt:.1f} h before the vial's calibration: the vial holds "
                        f"{decay_factor(dt, half_life):.2f} × its calibrated activity")
    if available_vials_gbq is not None and len(available_vials_gbq) > 0:
        sizes = []
        for v in available_vials_gbq:
            try:
                size = float(v)
            except (TypeError, ValueError):
                raise Y90InputError(f"Vial sizes must be positive numbers (GBq), got {v!r}") from None
            if not (math.isfinite(size) and size > 0):
                raise Y90InputError(f"Vial sizes must be positive finite numbers (GBq), got {v}")
            sizes.append(size)
        sizes.sort()
        fitting = [v for v in sizes if v >= at_cal]
        if fitting:
            vial = fitting[0]
        else:
            vial = sizes[-1]
            warnings.append(f"No single vial holds the {at_cal:.2f} GBq needed at calibration; the largest "
                            f"({vial:g} GBq) delivers less than needed")
        delivered = vial * decay_factor(dt, half_life) * (1 - residual)
        exact_time = half_life * math.log2(vial * (1 - residual) / needed)
    return VialOrder(needed, residual, dt, in_vial, at_cal, vial, delivered, exact_time, warnings)
