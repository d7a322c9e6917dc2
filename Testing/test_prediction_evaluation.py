"""Evaluation statistics against published values and hand calculations (sources in each docstring)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("lifelines")

from HCCInterventionalAILib.prediction.errors import MissingValuesError, PredictionInputError, SingleClassError
from HCCInterventionalAILib.prediction.evaluation import (
    auc_ci,
    bootstrap_auc_ci,
    calibration_curve,
    decision_curve,
    delong_test,
    delong_test_unpaired,
    delong_variance,
    diagnostic_metrics,
    hosmer_lemeshow,
    kaplan_meier_curves,
    logrank,
    spiegelhalter_z,
    youden_threshold,
)

# Hanley & McNeil, Radiology 143:29-36 (1982), Table 1: CT ratings (1 = definitely normal ... 5 = definitely
# abnormal) of 109 patients, 58 truly normal and 51 truly abnormal. The paper reports the area 0.893 and, with
# its own approximate formula, a standard error of 0.032.
HM_NORMAL = [33, 6, 6, 11, 2]
HM_ABNORMAL = [3, 2, 2, 11, 33]


def hanley_mcneil() -> tuple[np.ndarray, np.ndarray]:
    y = np.r_[np.zeros(sum(HM_NORMAL)), np.ones(sum(HM_ABNORMAL))]
    rating = np.r_[np.repeat(np.arange(1, 6), HM_NORMAL), np.repeat(np.arange(1, 6), HM_ABNORMAL)]
    return y, rating


def test_auc_matches_hanley_mcneil_1982():
    """AUC of the CT rating data: 0.893 in Hanley & McNeil (1982), exactly 2642/2958 = 0.89317 by counting
    (sum over abnormal patients of the V10 components listed in the next test)."""
    y, rating = hanley_mcneil()
    auc, low, high = auc_ci(y, rating)
    assert auc == pytest.approx(0.893, abs=5e-4)
    assert auc == pytest.approx(2642 / 2958, abs=1e-12)
    assert low < auc < high


def test_delong_variance_hand_calculation():
    """DeLong variance of the Hanley-McNeil data from the 5x2 table, by category (no ranks).

    Structural component of an abnormal patient rated r: V10(r) = (#normal rated < r + 0.5 #normal rated r)/58,
    so V10 = (16.5, 36, 42, 50.5, 57)/58 for r = 1..5; of a normal patient rated r:
    V01(r) = (#abnormal rated > r + 0.5 #abnormal rated r)/51 = (49.5, 47, 45, 38.5, 16.5)/51.
    Var = S10/51 + S01/58 with S the sample variances (n - 1) of these components weighted by the counts.
    The result, SE = 0.0307, is also close to the paper's 0.032 from its exponential approximation.
    """
    y, rating = hanley_mcneil()
    v10 = np.repeat(np.array([16.5, 36, 42, 50.5, 57]) / 58, HM_ABNORMAL)
    v01 = np.repeat(np.array([49.5, 47, 45, 38.5, 16.5]) / 51, HM_NORMAL)
    expected = np.var(v10, ddof=1) / 51 + np.var(v01, ddof=1) / 58
    auc, variance = delong_variance(y, rating)
    assert auc == pytest.approx(v10.mean(), abs=1e-12)
    assert variance == pytest.approx(expected, rel=1e-10)
    assert math.sqrt(variance) == pytest.approx(0.032, abs=0.002)
    _, low, high = auc_ci(y, rating)
    assert (low, high) == pytest.approx((auc - 1.959964 * math.sqrt(expected), auc + 1.959964 * math.sqrt(expected)),
                                        abs=1e-6)


PAIRED_Y = np.array([1, 1, 1, 0, 0, 0])
PAIRED_A = np.array([0.9, 0.8, 0.4, 0.7, 0.3, 0.2])
PAIRED_B = np.array([0.6, 0.5, 0.9, 0.55, 0.8, 0.1])


def test_delong_paired_hand_calculation():
    """Three cases, three controls, two scores (hand calculation).

    psi_A (cases x controls) = [[1,1,1],[1,1,1],[0,1,1]]: AUC_A = 8/9, V10_A = (1, 1, 2/3), V01_A = (2/3, 1, 1).
    psi_B = [[1,0,1],[0,0,1],[1,1,1]]: AUC_B = 2/3, V10_B = (2/3, 1/3, 1), V01_B = (2/3, 1/3, 1).
    S10 = [[1/27, -1/18], [-1/18, 1/9]], S01 = [[1/27, 0], [0, 1/9]].
    Var(A - B) = (S10_AA + S10_BB - 2 S10_AB)/3 + (S01_AA + S01_BB - 2 S01_AB)/3 = 11/81,
    z = (2/9)/sqrt(11/81) = 2/sqrt(11) = 0.60302, p = 2(1 - Phi(z)) = 0.5465,
    95% CI of the difference = 2/9 -+ 1.959964 sqrt(11)/9.
    """
    result = delong_test(PAIRED_Y, PAIRED_A, PAIRED_B)
    assert (result.auc_a, result.auc_b) == pytest.approx((8 / 9, 2 / 3), abs=1e-12)
    assert result.z == pytest.approx(2 / math.sqrt(11), abs=1e-9)
    assert result.p_value == pytest.approx(0.54649, abs=5e-5)
    half = 1.959964 * math.sqrt(11) / 9
    assert (result.ci_low, result.ci_high) == pytest.approx((2 / 9 - half, 2 / 9 + half), abs=1e-6)


def test_delong_unpaired_hand_calculation():
    """Same two scores treated as independent samples: Var = 2/81 + 2/27 = 8/81, z = (2/9)/sqrt(8/81) = 0.70711."""
    result = delong_test_unpaired(PAIRED_Y, PAIRED_A, PAIRED_Y, PAIRED_B)
    assert result.z == pytest.approx(1 / math.sqrt(2), abs=1e-9)
    assert result.p_value == pytest.approx(0.47950, abs=5e-5)


def test_youden_midpoint_threshold_hand_calculation():
    """Hanley-McNeil ratings: thresholds are midway between ratings (pROC style).

    Calling rating >= 3.5 positive: Se = (11+33)/51 = 0.8627, Sp = (33+6+6)/58 = 0.7759, J = 0.6386; the
    neighbours give J = 0.9020 + 0.6724 - 1 = 0.5744 (2.5) and 0.6471 + 0.9655 - 1 = 0.6126 (4.5).
    """
    y, rating = hanley_mcneil()
    threshold, sensitivity, specificity = youden_threshold(y, rating)
    assert threshold == 3.5
    assert sensitivity == pytest.approx(44 / 51)
    assert specificity == pytest.approx(45 / 58)


def test_diagnostic_metrics_hand_calculation():
    """At 3.5 on the Hanley-McNeil data: TP 44, FN 7, TN 45, FP 13; PPV = 44/57, NPV = 45/52.

    Exact interval of 0 successes out of n: upper = 1 - 0.025^(1/n) (Clopper & Pearson 1934), 0.30850 for n = 10.
    """
    y, rating = hanley_mcneil()
    metrics = diagnostic_metrics(y, rating, 3.5)
    assert (metrics.tp, metrics.fn, metrics.tn, metrics.fp) == (44, 7, 45, 13)
    assert metrics.ppv == pytest.approx(44 / 57)
    assert metrics.npv == pytest.approx(45 / 52)
    assert metrics.ci["sensitivity"][0] < 44 / 51 < metrics.ci["sensitivity"][1]
    none = diagnostic_metrics(np.r_[np.ones(10), np.zeros(5)], np.r_[np.zeros(10), np.ones(5)], 0.5)
    assert none.sensitivity == 0.0
    assert none.ci["sensitivity"][1] == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-6)


def test_hosmer_lemeshow_hand_calculation():
    """Nine patients in three risk groups (g = 3, df = 1).

    p = 0.1 x3 (y = 0,0,1), 0.5 x3 (y = 1,0,0), 0.8 x3 (y = 1,1,1). Quantile breaks 0.1, 0.367, 0.6, 0.8.
    C = (1-0.3)^2/0.3 + (2-2.7)^2/2.7 + (1-1.5)^2/1.5 + (2-1.5)^2/1.5 + (3-2.4)^2/2.4 + (0-0.6)^2/0.6
      = 1.63333 + 0.18148 + 0.16667 + 0.16667 + 0.15 + 0.6 = 2.89815; p = P(chi2_1 > 2.89815) = 0.08868.
    """
    p = np.repeat([0.1, 0.5, 0.8], 3)
    y = np.array([0, 0, 1, 1, 0, 0, 1, 1, 1])
    chi2, df, p_value = hosmer_lemeshow(y, p, groups=3)
    assert chi2 == pytest.approx(2.89815, abs=1e-5)
    assert df == 1
    assert p_value == pytest.approx(0.08868, abs=5e-5)


def test_hosmer_lemeshow_detects_miscalibration():
    """Risks that are systematically too low (true logit + 1.5) must fail the test; calibrated ones pass."""
    rng = np.random.default_rng(3)
    logit = rng.normal(-0.5, 1.2, 1500)
    y = rng.random(1500) < 1 / (1 + np.exp(-logit))
    assert hosmer_lemeshow(y, 1 / (1 + np.exp(-logit))).p_value > 0.01
    assert hosmer_lemeshow(y, 1 / (1 + np.exp(-(logit - 1.5)))).p_value < 1e-6


def test_spiegelhalter_hand_calculation():
    """p = (0.2, 0.2, 0.7, 0.9), y = (0, 1, 1, 1).

    Numerator: -0.12 + 0.48 - 0.12 - 0.08 = 0.16; variance: 0.0576 + 0.0576 + 0.0336 + 0.0576 = 0.2064;
    Z = 0.16/sqrt(0.2064) = 0.35218, two-sided p = 0.72470.
    """
    z, p_value = spiegelhalter_z([0, 1, 1, 1], [0.2, 0.2, 0.7, 0.9])
    assert z == pytest.approx(0.35218, abs=5e-5)
    assert p_value == pytest.approx(0.72470, abs=5e-5)


# Acute myelogenous leukaemia remission data (Embury et al., West. J. Med. 126:267-272, 1977; Miller, Survival
# Analysis, Wiley 1981, p. 49), weeks, "+" = censored. R survival's documented output of
# survdiff(Surv(time, status) ~ x, data = aml): observed 7 / 11, expected 10.69 / 7.31, Chisq = 3.4 on 1 df,
# p = 0.07 (0.0653 unrounded).
AML_MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1), (45, 0), (48, 1), (161, 0)]
AML_NONMAINTAINED = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1), (30, 1), (33, 1), (43, 1),
                     (45, 1)]


def test_logrank_matches_r_survival_aml():
    rows = [(*r, "Maintained") for r in AML_MAINTAINED] + [(*r, "Nonmaintained") for r in AML_NONMAINTAINED]
    time, event, group = zip(*rows, strict=True)
    chi2, df, p_value = logrank(time, event, group)
    assert chi2 == pytest.approx(3.4, abs=0.05)
    assert df == 1
    assert p_value == pytest.approx(0.0653, abs=5e-4)
    curves = kaplan_meier_curves(time, event, group)
    # Medians from the same R documentation (survfit): 31 weeks maintained, 23 weeks non-maintained.
    assert curves["Maintained"]["median"] == 31
    assert curves["Nonmaintained"]["median"] == 23


def test_decision_curve_hand_calculation():
    """Four patients, p = (0.9, 0.6, 0.3, 0.1), y = (1, 0, 1, 0); at pt = 0.5: TP = 1, FP = 1,
    NB = 1/4 - 1/4 * 1 = 0; treat all: 0.5 - 0.5 * 1 = 0. At pt = 0.2: TP = 2, FP = 1, NB = 0.5 - 0.25/4 = 0.4375.
    """
    curve = decision_curve([1, 0, 1, 0], [0.9, 0.6, 0.3, 0.1], thresholds=[0.2, 0.5])
    assert curve.net_benefit_model == pytest.approx([0.4375, 0.0])
    assert curve.net_benefit_all == pytest.approx([0.5 - 0.5 * 0.25, 0.0])


def test_bootstrap_ci_agrees_with_binormal_truth():
    """Binormal scores (d' = 1): true AUC = Phi(1/sqrt 2) = 0.76025; both CIs must cover it and be similar."""
    rng = np.random.default_rng(11)
    y = np.r_[np.ones(200), np.zeros(200)]
    score = np.r_[rng.normal(1, 1, 200), rng.normal(0, 1, 200)]
    delong = auc_ci(y, score)
    boot = bootstrap_auc_ci(y, score, n_boot=500, seed=1)
    assert delong.low < 0.76025 < delong.high
    assert boot.low < 0.76025 < boot.high
    assert (boot.high - boot.low) == pytest.approx(delong.high - delong.low, rel=0.2)


def test_calibration_slope_and_intercept():
    """Calibrated risks give slope ~1, intercept ~0; over-confident risks (logit x 2) give slope ~0.5."""
    rng = np.random.default_rng(5)
    logit = rng.normal(0, 1.5, 4000)
    y = rng.random(4000) < 1 / (1 + np.exp(-logit))
    good = calibration_curve(y, 1 / (1 + np.exp(-logit)))
    assert good.slope == pytest.approx(1.0, abs=0.1)
    assert good.intercept == pytest.approx(0.0, abs=0.1)
    assert np.abs(good.observed - good.predicted).max() < 0.08
    bad = calibration_curve(y, 1 / (1 + np.exp(-2 * logit)))
    assert bad.slope == pytest.approx(0.5, abs=0.06)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(SingleClassError, match="one class"):
        auc_ci([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(MissingValuesError, match="missing"):
        auc_ci([1, 0, 1], [0.1, np.nan, 0.3])
    with pytest.raises(PredictionInputError, match="0 \\(no event\\) and 1"):
        auc_ci([2, 0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(PredictionInputError, match="has 2 values"):
        auc_ci([1, 0, 1], [0.1, 0.2])
    with pytest.raises(PredictionInputError, match="identically"):
        delong_test(PAIRED_Y, PAIRED_A, PAIRED_A * 2)
    with pytest.raises(PredictionInputError, match="probabilities"):
        hosmer_lemeshow([0, 1, 1], [0.1, 1.2, 0.5])
    with pytest.raises(SingleClassError, match="two groups"):
        logrank([1, 2, 3], [1, 1, 0], ["a", "a", "a"])
