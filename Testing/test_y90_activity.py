"""Y-90 activity prescription against hand calculations from the published formulas and constants.

Constants: K = 49.67 J/GBq (AAPM Report 144), T½ = 64.1 h (2.67 d), mean beta energy 0.9267 MeV.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from test_y90_support import HALF_LIFE_H, K_CONVENTIONAL

from Y90DosimetryLib import (
    Compartment,
    LungShuntError,
    Y90InputError,
    ZeroActivityError,
    activity_at_calibration,
    bsa_plan,
    compartment_plan,
    decay_factor,
    dubois_bsa,
    first_principles_dose_constant,
    lung_dose,
    mird_activity,
    mird_dose,
    mird_plan,
    order_vial,
    partition_plan,
)
from Y90DosimetryLib.presets import dose_constant


def test_first_principles_dose_constant():
    """K = 1e9 Bq · 0.9267 MeV · 1.602176634e-13 J/MeV · (64.1 h / ln 2) · 3600 s/h
    = 1.48474e-4 J/s · 332 915 s = 49.43 J/GBq (mean beta energy 0.9267 MeV: ICRP Publication 107, 2008)."""
    assert first_principles_dose_constant() == pytest.approx(49.43, abs=0.005)
    # The 49.38 preset is the same calculation with T½ = 64.04 h.
    assert first_principles_dose_constant(half_life_h=64.04) == pytest.approx(dose_constant(
        "first_principles_64_04h").value, abs=0.005)


@pytest.mark.parametrize("name, value", [(None, 49.67), ("conventional", 49.67), ("therasphere_ifu", 50.0),
                                         ("first_principles_64_04h", 49.38)])
def test_dose_constant_presets(name, value):
    k = dose_constant(name)
    assert k.value == value
    assert k.source.strip()


@pytest.mark.parametrize("dose, mass, lsf, k, expected", [
    (120.0, 1.5, 0.0, None, 120 * 1.5 / 49.67),          # 3.6239 GBq: A = D·m/K
    (120.0, 1.5, 0.1, None, 120 * 1.5 / (49.67 * 0.9)),  # 4.0266 GBq: A = D·m/(K(1 − LSF))
    (120.0, 1.5, 0.0, "therasphere_ifu", 3.6),            # IFU: A = D·M/50
    (80.0, 0.6, 0.05, 49.38, 80 * 0.6 / (49.38 * 0.95)),
])
def test_mird_activity(dose, mass, lsf, k, expected):
    assert mird_activity(dose, mass, lsf, k) == pytest.approx(expected, rel=1e-12)


def test_mird_dose_with_shunt_and_residual():
    """D = K·A·(1 − LSF)(1 − R)/m = 49.67·3·0.95·0.98/1.2 = 115.607 Gy."""
    assert mird_dose(3.0, 1.2, 0.05, 0.02) == pytest.approx(115.607, abs=1e-3)
    assert mird_dose(mird_activity(150, 1.1, 0.07), 1.1, 0.07) == pytest.approx(150.0)


@pytest.mark.parametrize("height, weight, expected", [(172.0, 78.0, 1.9110), (180.0, 80.0, 1.9964)])
def test_dubois_bsa(height, weight, expected):
    """BSA = 0.007184·W^0.425·H^0.725: 172 cm, 78 kg → 0.007184·6.3706·41.763 = 1.9110 m²."""
    assert dubois_bsa(height, weight) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("lsf, reduction, contraindicated", [
    (0.05, 0.0, False), (0.0999, 0.0, False), (0.10, 0.20, False), (0.12, 0.20, False), (0.15, 0.40, False),
    (0.17, 0.40, False), (0.20, 0.40, False), (0.25, 1.0, True),
])
def test_bsa_method_with_sirtex_lung_shunt_reductions(lsf, reduction, contraindicated):
    """SIR-Spheres IFU: A = BSA − 0.2 + V_T/V_L = 1.9110 − 0.2 + 200/1600 = 1.8360 GBq, reduced by 20% for
    10% ≤ LSF < 15%, 40% for 15–20%, contraindicated above 20%."""
    plan = bsa_plan(172.0, 78.0, 200.0, 1600.0, lsf, lung_mass_kg=1.0)
    unreduced = 1.911017 - 0.2 + 0.125
    assert plan.details["activity_before_reduction_gbq"] == pytest.approx(unreduced, abs=1e-5)
    assert plan.details["lung_shunt_reduction"] == reduction
    assert plan.details["contraindicated"] is contraindicated
    assert plan.activity_gbq == pytest.approx(unreduced * (1 - reduction), abs=1e-5)
    if contraindicated:
        assert plan.activity_gbq == 0.0
        assert any("contraindicated" in w for w in plan.warnings)
    elif reduction:
        assert any("reduced by" in w for w in plan.warnings)


def test_bsa_lobar_fraction_and_liver_dose():
    """Lobar treatment of 60% of the liver: A = 1.8360·0.6 = 1.1016 GBq; dose to a 0.9 kg lobe with LSF 5%:
    D = 49.67·1.1016·0.95/0.9 = 57.76 Gy."""
    plan = bsa_plan(172.0, 78.0, 200.0, 1600.0, 0.05, perfused_fraction=0.6, liver_mass_kg=0.9, lung_mass_kg=1.0)
    assert plan.activity_gbq == pytest.approx(1.836017 * 0.6, abs=1e-5)
    assert plan.compartments[0].mean_dose_gy == pytest.approx(49.67 * 1.836017 * 0.6 * 0.95 / 0.9, rel=1e-5)


class TestPartitionModel:
    """Ho 1996: m_T = 0.2 kg, m_N = 1.3 kg, T/N = 4, LSF = 8%, m_lung = 0.9 kg; (T/N)·m_T + m_N = 2.1 kg."""

    common = dict(tumour_mass_kg=0.2, normal_mass_kg=1.3, tumour_to_normal_ratio=4.0, lung_shunt_fraction=0.08,
                  lung_mass_kg=0.9)

    def test_normal_liver_target(self):
        """A = 40·2.1/(49.67·0.92) = 1.83822 GBq; D_T = 4·40 = 160 Gy; D_L = 49.67·1.83822·0.08/0.9 = 8.1159 Gy."""
        plan = partition_plan(**self.common, normal_dose_gy=40.0)
        assert plan.activity_gbq == pytest.approx(1.83822, abs=1e-5)
        assert plan.compartment("normal liver").mean_dose_gy == pytest.approx(40.0)
        assert plan.compartment("tumour").mean_dose_gy == pytest.approx(160.0)
        assert plan.lung.dose_gy == pytest.approx(8.1159, abs=1e-4)
        assert plan.warnings == []

    def test_tumour_target_warns_about_normal_liver(self):
        """A = 200·2.1/(4·49.67·0.92) = 2.29777 GBq → D_N = 50 Gy > 40 Gy limit (resin preset)."""
        plan = partition_plan(**self.common, tumour_dose_gy=200.0)
        assert plan.activity_gbq == pytest.approx(2.29777, abs=1e-5)
        assert plan.compartment("normal liver").mean_dose_gy == pytest.approx(50.0)
        assert any("above the limit of 40 Gy" in w for w in plan.warnings)

    def test_given_activity_and_limit_activities(self):
        """A = 2 GBq: D_N = 49.67·2·0.92/2.1 = 43.520 Gy, D_T = 174.08 Gy; limits: A_max(normal 40 Gy) = 1.83822,
        A_max(lung 30 Gy) = 30·0.9/(49.67·0.08) = 6.7949 GBq."""
        plan = partition_plan(**self.common, activity_gbq=2.0)
        assert plan.compartment("normal liver").mean_dose_gy == pytest.approx(43.520, abs=1e-3)
        assert plan.compartment("tumour").mean_dose_gy == pytest.approx(174.08, abs=1e-2)
        limits = plan.details["max_activity_gbq_by_limit"]
        assert limits["normal liver 'normal liver' ≤ 40 Gy"] == pytest.approx(1.83822, abs=1e-5)
        assert limits["lung ≤ 30 Gy"] == pytest.approx(6.7949, abs=1e-4)

    def test_equals_multi_compartment_with_mass_weighted_uptake(self):
        plan = partition_plan(**self.common, activity_gbq=2.0)
        multi = compartment_plan([Compartment("tumour", 0.2, 0.8, "tumour"), Compartment("normal liver", 1.3, 1.3,
                                                                                          "normal")],
                                 0.08, activity_gbq=2.0, lung_mass_kg=0.9)
        for a, b in zip(plan.compartments, multi.compartments, strict=True):
            assert a.mean_dose_gy == pytest.approx(b.mean_dose_gy, rel=1e-12)


def test_multi_compartment_per_tumour():
    """Counts 300 (T1, 0.05 kg), 100 (T2, 0.1 kg), 600 (normal, 1.2 kg); A = 3 GBq, LSF = 10%:
    A_liver = 2.7 GBq → T1 0.81 GBq → 49.67·0.81/0.05 = 804.65 Gy; T2 0.27 GBq → 134.109 Gy;
    normal 1.62 GBq → 67.0545 Gy; solving T2 = 120 Gy gives A = 120·0.1·1000/(49.67·0.9·100) = 2.68438 GBq."""
    comps = [Compartment("T1", 0.05, 300, "tumour"), Compartment("T2", 0.1, 100, "tumour"),
             Compartment("normal", 1.2, 600, "normal")]
    plan = compartment_plan(comps, 0.10, activity_gbq=3.0, lung_mass_kg=1.0)
    assert [c.mean_dose_gy for c in plan.compartments] == pytest.approx([804.654, 134.109, 67.0545], abs=1e-3)
    solved = compartment_plan(comps, 0.10, target_dose_gy=120.0, target_compartment="T2", lung_mass_kg=1.0)
    assert solved.activity_gbq == pytest.approx(2.68438, abs=1e-5)


def test_lung_dose_default_mass_is_flagged():
    """D = 49.67·2·0.1/m: 9.934 Gy with the 1 kg default (warned), 12.4175 Gy with a CT mass of 0.8 kg."""
    default = lung_dose(2.0, 0.1)
    assert default.dose_gy == pytest.approx(9.934) and default.lung_mass_kg == 1.0
    assert any("default" in w for w in default.warnings)
    measured = lung_dose(2.0, 0.1, 0.8)
    assert measured.dose_gy == pytest.approx(12.4175) and measured.warnings == []


def test_lung_limits_single_and_cumulative():
    """A = 4 GBq, LSF 20%, 1 kg: D_L = 49.67·0.8 = 39.74 Gy > 30 Gy; with 20 Gy before: 59.74 > 50 Gy."""
    plan = mird_plan(120.0, 1.5, 0.20, lung_mass_kg=1.0, previous_lung_dose_gy=20.0)
    plan2 = compartment_plan([Compartment("liver", 1.5, 1.0)], 0.2, activity_gbq=4.0, lung_mass_kg=1.0,
                             limits="glass_therasphere", previous_lung_dose_gy=20.0)
    assert plan2.lung.dose_gy == pytest.approx(39.736)
    assert any("single-treatment limit of 30 Gy" in w for w in plan2.warnings)
    assert any("Cumulative lung dose 59.7 Gy" in w for w in plan2.warnings)
    assert plan.activity_gbq == pytest.approx(120 * 1.5 / (49.67 * 0.8))


@pytest.mark.parametrize("hours, expected", [(0.0, 1.0), (64.1, 0.5), (128.2, 0.25), (24.0, 2 ** (-24 / 64.1)),
                                             (-64.1, 2.0)])
def test_decay_factor(hours, expected):
    assert decay_factor(hours) == pytest.approx(expected, rel=1e-12)


def test_activity_at_calibration():
    """A_cal = A_tx·2^(Δt/T½) = 3·2^(48/64.1) = 3·1.680429 = 5.04129 GBq."""
    assert activity_at_calibration(3.0, 48.0) == pytest.approx(5.04129, abs=1e-5)
    assert activity_at_calibration(3.0, 48.0, HALF_LIFE_H) * decay_factor(48.0) == pytest.approx(3.0)


@pytest.mark.parametrize("calibration, treatment", [(48.0, None), (datetime(2024, 1, 1, 12),
                                                                    datetime(2024, 1, 1, 12) + timedelta(hours=48))])
def test_order_vial(calibration, treatment):
    """Need 3 GBq, residual 2%: 3/0.98 = 3.06122 in the vial at treatment, ×1.680429 = 5.14417 GBq at
    calibration → 7 GBq vial, delivering 7·2^(−48/64.1)·0.98 = 4.08229 GBq; it would give exactly 3 GBq
    64.1·log2(7·0.98/3) = 76.487 h after calibration."""
    order = order_vial(3.0, calibration, treatment, residual_fraction=0.02,
                       available_vials_gbq=(3, 5, 7, 10, 15, 20))
    assert order.activity_in_vial_at_treatment_gbq == pytest.approx(3.06122, abs=1e-5)
    assert order.activity_at_calibration_gbq == pytest.approx(5.14417, abs=1e-5)
    assert order.vial_gbq == 7.0
    assert order.delivered_activity_gbq == pytest.approx(4.08229, abs=1e-5)
    assert order.hours_after_calibration_for_exact_activity == pytest.approx(76.487, abs=1e-3)
    json.dumps(order.to_dict())


def test_order_vial_too_large_is_flagged():
    order = order_vial(30.0, 0.0, available_vials_gbq=(3, 5))
    assert order.vial_gbq == 5.0 and order.warnings


@pytest.mark.parametrize("lsf", [1.0, 1.2, -0.1, float("nan")])
def test_bad_lung_shunt_fraction(lsf):
    with pytest.raises(LungShuntError):
        mird_activity(100, 1.0, lsf)
    with pytest.raises(ValueError):
        partition_plan(0.1, 1.0, 3.0, lsf, normal_dose_gy=40)


@pytest.mark.parametrize("call", [
    lambda: mird_activity(0.0, 1.0),
    lambda: mird_activity(100.0, 0.0),
    lambda: mird_activity(-5.0, 1.0),
    lambda: mird_dose(0.0, 1.0),
    lambda: compartment_plan([Compartment("a", 1.0, 0.0)], 0.1, activity_gbq=1.0),
    lambda: compartment_plan([Compartment("a", 1.0, 1.0)], 0.1, activity_gbq=0.0),
    lambda: lung_dose(1.0, 0.1, 0.0),
])
def test_zero_inputs_raise(call):
    with pytest.raises(ZeroActivityError):
        call()


@pytest.mark.parametrize("call", [
    lambda: partition_plan(0.1, 1.0, 3.0, 0.05),  # no target
    lambda: partition_plan(0.1, 1.0, 3.0, 0.05, activity_gbq=1, normal_dose_gy=40),  # two targets
    lambda: bsa_plan(172, 78, 2000, 1600, 0.05),  # tumour bigger than liver
    lambda: dubois_bsa(1.72, 78),  # metres instead of cm
    lambda: compartment_plan([Compartment("a", 1.0, 1.0)], 0.1, target_dose_gy=50, target_compartment="b"),
    lambda: Compartment("a", 1.0, 1.0, "lung"),
])
def test_bad_inputs_raise_value_errors(call):
    with pytest.raises(Y90InputError):
        call()


def test_plans_serialise_with_provenance():
    plan = partition_plan(0.2, 1.3, 4.0, 0.08, normal_dose_gy=40.0)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["dose_constant"]["value"] == K_CONVENTIONAL
    assert data["provenance"]["y90_half_life_h"] == HALF_LIFE_H
    assert data["limits"]["name"] == "resin_sirtex" and data["limits"]["source"]
    assert math.isclose(data["activity_gbq"], plan.activity_gbq)


# -- vial ordering and decay: bad inputs are clear Y90InputErrors, never raw Python errors ----------------------
CALIBRATION = datetime(2024, 3, 10, 12, 0)


def test_treatment_long_before_calibration_is_refused():
    """Treating 30 days before calibration would "deliver" 3·2^(720/64.1) = 7,218 GBq from a 3 GBq vial:
    a date error, refused (more than MAX_HOURS_BEFORE_CALIBRATION = 24 h before)."""
    assert 3 * 2 ** (720 / 64.1) == pytest.approx(7218, rel=1e-3)
    with pytest.raises(Y90InputError, match="before the vial's calibration"):
        order_vial(3.0, CALIBRATION, CALIBRATION - timedelta(days=30), available_vials_gbq=(3, 5))
    with pytest.raises(Y90InputError, match="before the vial's calibration"):
        order_vial(3.0, -24.5)


def test_treatment_shortly_before_calibration_warns_with_the_factor():
    """10 h before calibration the vial holds 2^(10/64.1) = 1.1143 × its nominal activity: allowed, with a warning."""
    order = order_vial(3.0, -10.0, available_vials_gbq=(3, 5))
    assert order.vial_gbq == 3.0
    assert order.delivered_activity_gbq == pytest.approx(3 * 2 ** (10 / 64.1), rel=1e-12)
    assert any("1.11 ×" in w for w in order.warnings)
    assert order_vial(3.0, 10.0).warnings == []


@pytest.mark.parametrize("calibration, treatment, match", [
    (1e9, None, "after the vial's calibration"),             # 41.7 million days: 2^-15.6M underflows
    (31 * 24.0, None, "after the vial's calibration"),       # beyond 30 days
    (float("nan"), None, "finite"),
    (float("inf"), None, "finite"),
    ("two days", None, "number of hours"),                   # a string that is not a number
    (CALIBRATION, None, "both"),                             # datetime without a treatment time
    (48.0, CALIBRATION, "no treatment time"),                # hours and a datetime
    (CALIBRATION, datetime(2024, 3, 11, 12, 0, tzinfo=timezone.utc), "time zone"),  # naive vs aware
    (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), datetime(9999, 12, 31, tzinfo=timezone.utc), None),
])
def test_bad_intervals_raise_y90_input_errors(calibration, treatment, match):
    with pytest.raises(Y90InputError, match=match):
        order_vial(3.0, calibration, treatment)


def test_aware_datetimes_in_different_zones_give_the_true_interval():
    """12:00 UTC calibration, 14:00 at UTC+2 the same day is the same instant: Δt = 0 h, A_cal = A_needed."""
    cal = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc)
    tx = datetime(2024, 3, 10, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    order = order_vial(3.0, cal, tx)
    assert order.hours_calibration_to_treatment == 0.0 and order.activity_at_calibration_gbq == 3.0


@pytest.mark.parametrize("kwargs", [
    {"available_vials_gbq": (-3.0, 5.0)},
    {"available_vials_gbq": (0.0,)},
    {"available_vials_gbq": (float("nan"), 5.0)},
    {"available_vials_gbq": (float("inf"),)},
    {"available_vials_gbq": ("three",)},
    {"residual_fraction": 1.0},
    {"residual_fraction": -0.1},
    {"residual_fraction": float("nan")},
    {"half_life_h": 0.0},
    {"half_life_h": -64.1},
    {"half_life_h": float("inf")},
])
def test_bad_vials_residuals_and_half_lives_raise(kwargs):
    with pytest.raises(Y90InputError):
        order_vial(3.0, 48.0, **kwargs)


@pytest.mark.parametrize("needed", [0.0, -1.0, float("nan"), float("inf"), None])
def test_bad_needed_activity_raises(needed):
    with pytest.raises(ZeroActivityError):
        order_vial(needed, 48.0)


@pytest.mark.parametrize("call", [
    lambda: decay_factor(1e9),              # 2^(-1.6e7): below the smallest float
    lambda: decay_factor(-1e9),             # 2^(+1.6e7): OverflowError before
    lambda: decay_factor(10.0, 0.0),        # ZeroDivisionError before
    lambda: decay_factor(10.0, -64.1),
    lambda: decay_factor(float("nan")),
    lambda: activity_at_calibration(3.0, -1e9),
    lambda: activity_at_calibration(1e308, 64.1 * 3),  # 1e308·2³ overflows
    lambda: mird_activity(1e200, 1e200),    # inf GBq
    lambda: mird_dose(1e300, 1e-300),
    lambda: lung_dose(1e300, 0.5, 1e-300),
    lambda: partition_plan(1e10, 1.0, 1e300, 0.1, activity_gbq=1.0),  # (T/N)·m_T overflows
])
def test_overflowing_inputs_raise_y90_input_errors(call):
    with pytest.raises(Y90InputError):
        call()
