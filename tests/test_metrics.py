"""Metrics against values computed by hand on small fixtures (see the comments for the arithmetic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit, logit
from scipy.stats import binom

from microcalc.checks import metrics

# Six lesions: three malignant (p 0.9, 0.6, 0.3) and three benign (p 0.2, 0.6, 0.1).
Y = np.array([1, 0, 1, 0, 1, 0])
P = np.array([0.9, 0.2, 0.6, 0.6, 0.3, 0.1])


def test_log_loss_by_hand():
    # probabilities given to what happened: 0.9, 0.8, 0.6, 0.4, 0.3, 0.9; their product is 0.6^6
    assert metrics.log_loss(Y, P) == pytest.approx(-math.log(0.6), abs=1e-12)


def test_brier_by_hand():
    # squared errors 0.01, 0.04, 0.16, 0.36, 0.49, 0.01
    assert metrics.brier(Y, P) == pytest.approx(1.07 / 6, abs=1e-12)


def test_auc_by_hand_with_a_tie():
    # malignant 0.9 beats all 3 benign (3); 0.6 beats 0.2 and 0.1, ties 0.6 (2.5); 0.3 beats 0.2, 0.1 (2)
    assert metrics.auc(Y, P) == pytest.approx(7.5 / 9, abs=1e-12)


def test_auc_is_undefined_with_one_class():
    assert math.isnan(metrics.auc([1, 1, 1], [0.2, 0.5, 0.9]))


def test_roc_curve_by_hand_and_its_area_is_the_auc():
    fpr, tpr = metrics.roc_curve(Y, P)
    # thresholds 0.9, 0.6 (one of each class), 0.3, 0.2, 0.1
    np.testing.assert_allclose(fpr, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 1, 1, 1])
    assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.auc(Y, P))


def test_net_benefit_by_hand():
    # t = 0.5: biopsy p >= 0.5 -> 2 TP, 1 FP: 2/6 - 1/6 * 1 = 1/6
    # t = 0.25: biopsy p >= 0.25 -> 3 TP, 1 FP: 3/6 - 1/6 * (1/3) = 4/9
    np.testing.assert_allclose(metrics.net_benefit(Y, P, [0.5, 0.25]), [1 / 6, 4 / 9])
    curve = metrics.decision_curve(Y, P, [0.25])
    # biopsy all at 0.25: 3/6 - 3/6 * (1/3) = 1/3; biopsy none: 0
    assert curve["biopsy_all"].iloc[0] == pytest.approx(1 / 3)
    assert curve["biopsy_none"].iloc[0] == 0.0


def _calibrated_groups():
    """Two groups of four: p = 0.25 with 1 malignant, p = 0.75 with 3 malignant (perfectly calibrated)."""
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)
    return y, p


def test_calibration_of_calibrated_predictions_is_slope_1_intercept_0():
    slope, intercept = metrics.calibration(*_calibrated_groups())
    assert slope == pytest.approx(1.0, abs=1e-8)
    assert intercept == pytest.approx(0.0, abs=1e-8)


def test_calibration_slope_of_overconfident_predictions_is_one_half():
    # doubling every logit makes predictions too extreme: recalibration halves them back
    y, p = _calibrated_groups()
    slope, intercept = metrics.calibration(y, expit(2 * logit(p)))
    assert slope == pytest.approx(0.5, abs=1e-8)
    assert intercept == pytest.approx(0.0, abs=1e-8)  # symmetric groups: no shift in the large


def test_calibration_intercept_of_shifted_predictions():
    # predictions one logit too high: calibration-in-the-large is -1, slope stays 1
    y, p = _calibrated_groups()
    slope, intercept = metrics.calibration(y, expit(logit(p) + 1.0))
    assert slope == pytest.approx(1.0, abs=1e-8)
    assert intercept == pytest.approx(-1.0, abs=1e-8)


def test_calibration_slope_solves_the_logistic_score_equations():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.05, 0.95, 300)
    y = (rng.random(300) < expit(0.3 + 0.7 * logit(p))).astype(float)
    slope, _ = metrics.calibration(y, p)
    z = logit(p)
    # the intercept a of the joint fit solves sum(y - mu) = 0; the slope then solves sum((y - mu) z) = 0
    a = metrics._logistic_fit(y, np.column_stack([np.ones_like(z), z]), np.zeros_like(z))[0]
    mu = expit(a + slope * z)
    assert abs(np.sum(y - mu)) < 1e-8 and abs(np.sum((y - mu) * z)) < 1e-8


def test_equal_count_bins():
    bins = metrics.equal_count_bins(np.linspace(0, 1, 10)[::-1], 3)
    assert np.bincount(bins).tolist() == [4, 3, 3]
    assert bins[-1] == 0 and bins[0] == 2  # lowest predictions in the first bin


def test_reliability_bins_counts_rates_and_bands():
    # bin 0: four lesions at p = 0.25 (1 malignant); bin 1: four at 0.75 (3 malignant); no draw spread
    y, p = _calibrated_groups()
    table = metrics.reliability_bins(y, np.repeat(p[:, None], 500, axis=1), bins=2, mass=0.9)
    assert table["n"].tolist() == [4, 4] and table["malignant"].tolist() == [1, 3]
    np.testing.assert_allclose(table["observed"], [0.25, 0.75])
    np.testing.assert_allclose(table["predicted"], [0.25, 0.75])
    np.testing.assert_allclose(table["mean_lower"], [0.25, 0.75])  # no parameter uncertainty
    assert table["inside"].all() and metrics.interval_coverage(table) == 1.0


def test_predictive_band_is_the_binomial_band_when_parameters_are_known():
    # 200 lesions all at p = 0.3 with no parameter uncertainty: the band is Binomial(200, 0.3)'s / 200
    draws = np.full((200, 4000), 0.3)
    table = metrics.reliability_bins(np.r_[np.ones(60), np.zeros(140)], draws, bins=1, mass=0.9)
    assert table["band_lower"].iloc[0] == pytest.approx(binom.ppf(0.05, 200, 0.3) / 200, abs=0.011)
    assert table["band_upper"].iloc[0] == pytest.approx(binom.ppf(0.95, 200, 0.3) / 200, abs=0.011)


def test_mean_band_is_the_spread_of_the_draws():
    # every lesion shares one draw-to-draw value, uniform on [0.2, 0.4]: the 90% band is [0.21, 0.39]
    shared = np.linspace(0.2, 0.4, 2001)
    table = metrics.reliability_bins(np.r_[np.ones(3), np.zeros(7)], np.tile(shared, (10, 1)), bins=1, mass=0.9)
    assert table["mean_lower"].iloc[0] == pytest.approx(0.21, abs=1e-3)
    assert table["mean_upper"].iloc[0] == pytest.approx(0.39, abs=1e-3)
    assert metrics.mean_band_coverage(table) == 1.0  # observed 0.3 is inside


def test_coverage_falls_for_an_overconfident_model():
    # truth varies from 5% to 95%; the "model" triples every logit and is certain of it
    rng = np.random.default_rng(7)
    truth = np.linspace(0.05, 0.95, 1000)
    y = (rng.random(1000) < truth).astype(float)
    overconfident = np.repeat(expit(3 * logit(truth))[:, None], 200, axis=1)
    assert metrics.interval_coverage(metrics.reliability_bins(y, overconfident, bins=10)) <= 0.4
    calibrated = np.repeat(truth[:, None], 200, axis=1)
    assert metrics.interval_coverage(metrics.reliability_bins(y, calibrated, bins=10)) >= 0.7


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="outcomes"):
        metrics.log_loss([1, 2], [0.5, 0.5])
    with pytest.raises(ValueError, match="probabilities"):
        metrics.brier([1, 0], [0.5, 1.5])
    with pytest.raises(ValueError, match="2 outcomes but 3"):
        metrics.auc([1, 0], [0.1, 0.2, 0.3])
