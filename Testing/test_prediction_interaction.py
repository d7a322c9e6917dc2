"""Treatment-interaction model (TACE vs HAIC): hand-checked risks and recovery of the planted interaction."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("statsmodels")

from HCCInterventionalAILib.prediction.cohort import make_synthetic_cohort
from HCCInterventionalAILib.prediction.errors import SingleClassError, UnseenCategoryError
from HCCInterventionalAILib.prediction.interaction import InteractionModel, fit_interaction_model, subgroup_analysis

COVARIATES = ["afp_gt_400", "pvtt", "tumour_size_cm", "ecog"]


def test_recommendation_hand_calculation():
    """One binary covariate x (mean 0, scale 1), g = -1 + 0.5 x, h = 0.4 - 2 x.

    x = 1: g = -0.5, h = -1.6; risk TACE (t = -1) = logistic(-0.5 + 0.8) = 0.57444,
    risk HAIC (t = +1) = logistic(-0.5 - 0.8) = 0.21417 -> HAIC; received TACE -> Alter, benefit 0.36027.
    x = 0: g = -1, h = 0.4; TACE logistic(-1.2) = 0.23148, HAIC logistic(-0.8) = 0.31003 -> TACE; received TACE ->
    Maintain, benefit 0.
    """
    model = InteractionModel(["x"], [], {}, ("TACE", "HAIC"), {"x": 0.0}, {"x": 1.0}, ["intercept", "x"],
                             [-1.0, 0.5], [0.4, -2.0])
    table = pd.DataFrame({"x": [1.0, 0.0], "arm": ["TACE", "TACE"]})
    out = model.recommend(table, received="arm")
    assert out["risk_TACE"].tolist() == pytest.approx([0.57444, 0.23148], abs=5e-5)
    assert out["risk_HAIC"].tolist() == pytest.approx([0.21417, 0.31003], abs=5e-5)
    assert out["recommended"].tolist() == ["HAIC", "TACE"]
    assert out["group"].tolist() == ["Alter", "Maintain"]
    assert out["benefit"].tolist() == pytest.approx([0.36027, 0.0], abs=5e-5)
    assert out["h"].tolist() == pytest.approx([-1.6, 0.4], abs=1e-9)


@pytest.fixture(scope="module")
def cohort():
    return make_synthetic_cohort(800, seed=21)


def test_interaction_model_recovers_planted_direction(cohort):
    """Planted h(x) = 1.5 (0.6 - 1.6 PVTT - 0.5 (size - 7)/3): HAIC is better for PVTT and large tumours.

    The fitted model recommends the truly better arm for most patients (> 80%), and the PVTT and tumour-size
    interaction coefficients are negative with 95% CIs excluding 0.
    """
    model = fit_interaction_model(cohort.table, "progressive_disease", COVARIATES, "treatment")
    recommended = model.recommend(cohort.table)["recommended"].to_numpy()
    agreement = float((recommended == cohort.truth["better_treatment"].to_numpy()).mean())
    assert agreement > 0.8
    coefficients = model.coefficient_table().set_index("term")
    for term in ("pvtt", "tumour_size_cm"):
        assert coefficients.loc[term, "interaction_ci_high"] < 0
    # on the standardised scale the planted size coefficient is 1.5 * (-0.5/3) * SD(size); PVTT 1.5 * -1.6 * SD
    sd = cohort.table[["pvtt", "tumour_size_cm"]].std(ddof=0)
    assert coefficients.loc["pvtt", "interaction_ci_low"] < -2.4 * sd["pvtt"] < coefficients.loc["pvtt",
                                                                                                 "interaction_ci_high"]


def test_no_planted_interaction_gives_no_significant_interaction():
    """With interaction_strength = 0 the PVTT and size interaction CIs include 0 (seeded, deterministic)."""
    flat = make_synthetic_cohort(800, seed=22, interaction_strength=0.0)
    model = fit_interaction_model(flat.table, "progressive_disease", COVARIATES, "treatment")
    table = model.coefficient_table().set_index("term")
    for term in ("pvtt", "tumour_size_cm"):
        assert table.loc[term, "interaction_ci_low"] < 0 < table.loc[term, "interaction_ci_high"]


def test_maintain_group_has_fewer_events(cohort):
    """Patients who received the recommended arm (Maintain) progress less often than the others (Alter)."""
    model = fit_interaction_model(cohort.table, "progressive_disease", COVARIATES, "treatment")
    groups = model.recommend(cohort.table, received="treatment")["group"]
    rates = cohort.table.groupby(groups.to_numpy())["progressive_disease"].mean()
    assert rates["Maintain"] < rates["Alter"] - 0.1
    sub = subgroup_analysis(cohort.table.assign(group=groups.to_numpy()), "progressive_disease", "treatment", ["pvtt"])
    pvtt = sub.set_index("level").loc["1"]
    assert pvtt["odds_ratio"] < 1  # HAIC vs TACE within PVTT: planted benefit of HAIC


def test_interaction_bad_inputs(cohort):
    model = fit_interaction_model(cohort.table, "progressive_disease", ["pvtt", "bclc"], "treatment",
                                  categorical=["bclc"])
    with pytest.raises(UnseenCategoryError, match="bclc = D was not seen"):
        model.recommend(pd.DataFrame({"pvtt": [1], "bclc": ["D"]}))
    with pytest.raises(UnseenCategoryError, match="Unknown treatment arm"):
        model.recommend(pd.DataFrame({"pvtt": [1], "bclc": ["C"], "arm": ["RFA"]}), received="arm")
    one_arm = cohort.table.assign(progressive_disease=np.where(cohort.table["treatment"] == "TACE", 1,
                                                               cohort.table["progressive_disease"]))
    with pytest.raises(SingleClassError, match="TACE arm"):
        fit_interaction_model(one_arm, "progressive_disease", ["pvtt"], "treatment")
    assert math.isfinite(model.interaction[0])
