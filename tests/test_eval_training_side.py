"""The per-image scale factor and log-depth slope of benchmarks/eval_training_side.py (reported by
it and by eval_depth_range.py) against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import benchmark_script


@pytest.fixture(scope="module")
def script():
    return benchmark_script("eval_training_side")


def test_log_slope_of_a_squeezed_prediction_is_its_exponent(script):
    # truth 1..4 m; prediction 2 * truth ** 0.5: ln p = ln 2 + 0.5 ln g, an exact squeeze by half
    gt = np.linspace(1.0, 4.0, 60).reshape(6, 10)
    pred = 2.0 * np.sqrt(gt)
    slope, corr = script.log_slope(gt, pred)
    assert slope == pytest.approx(0.5, abs=1e-12) and corr == pytest.approx(1.0, abs=1e-12)
    # unusable pixels (no truth, beyond 20 m, non-positive prediction) do not count
    gt2, pred2 = gt.copy(), pred.copy()
    gt2[0, 0], gt2[0, 1], pred2[0, 2] = np.nan, 50.0, 0.0
    pred2[0, 0] = pred2[0, 1] = 100.0
    assert script.log_slope(gt2, pred2)[0] == pytest.approx(0.5, abs=1e-12)
    # a prediction as wide as the truth, off by a factor: slope 1
    assert script.log_slope(gt, 0.8 * gt)[0] == pytest.approx(1.0, abs=1e-12)


def test_scale_factor_is_the_ratio_of_medians(script):
    gt = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])  # median of the five valid: 3
    pred = np.array([[0.5, 1.0, 2.0], [2.5, 3.0, 9.0]])  # median of the same five: 2
    assert script.scale_factor(gt, pred) == pytest.approx(1.5)


def test_flat_truth_has_no_slope(script):
    gt = np.full((4, 4), 2.0)
    slope, corr = script.log_slope(gt, gt * np.linspace(1, 2, 16).reshape(4, 4))
    assert np.isnan(slope) and np.isnan(corr)
