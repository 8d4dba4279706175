"""Question q6: confidence-based performance estimation."""

import numpy as np
import pytest

from mlsys_edu.lab import question


def _scores(rng, n, shift=0.0):
    x = rng.normal(shift, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * x))).astype(int)
    p = 1 / (1 + np.exp(-4 * x))  # over-confident: needs calibrating
    return p, y


@question("q6", points=2)
def test_calibrated_estimate_is_close(sub, rng):
    p_ref, y_ref = _scores(rng, 5000)
    est = sub.ConfidenceEstimator().calibrate(p_ref, y_ref)
    for shift in (1.0, -1.5, 0.0):
        p, y = _scores(rng, 20_000, shift)
        realized = ((p >= 0.5) == y).mean()
        assert abs(est.estimate(p) - realized) < 0.02, f"covariate shift {shift}"
    naive = np.mean(np.maximum(p, 1 - p))
    assert abs(naive - realized) > 0.04, "(the uncalibrated confidence is far off)"


@question("q6", points=1)
def test_refuses_bad_input(sub):
    with pytest.raises(ValueError):
        sub.ConfidenceEstimator().calibrate([0.2, 0.7], [1, 1])
    with pytest.raises(ValueError):
        sub.ConfidenceEstimator().calibrate([0.2, 1.7], [0, 1])
    with pytest.raises(ValueError):
        sub.ConfidenceEstimator().calibrate([0.2, np.nan], [0, 1])
    est = sub.ConfidenceEstimator().calibrate([0.1, 0.4, 0.6, 0.9], [0, 1, 0, 1])
    with pytest.raises(ValueError):
        est.estimate([])


@question("q6", points=3, hidden=True)
def test_cbpe_matches_reference(sub, ref, rng):
    p_ref, y_ref = _scores(rng, 800)
    ours = sub.ConfidenceEstimator().calibrate(p_ref, y_ref)
    theirs = ref.ConfidenceEstimator().calibrate(p_ref, y_ref)
    for shift in (0.0, 0.7, 2.0):
        p, _ = _scores(rng, 3000, shift)
        assert ours.estimate(p) == pytest.approx(theirs.estimate(p), abs=1e-9)
    assert ours.estimate(list(p)) == pytest.approx(theirs.estimate(p), abs=1e-9), "a list too"
    high = sub.ConfidenceEstimator(threshold=0.8).calibrate(p_ref, y_ref)
    p, _ = _scores(rng, 3000, 0.3)
    theirs_high = ref.ConfidenceEstimator(0.8).calibrate(p_ref, y_ref)
    assert high.estimate(p) == pytest.approx(theirs_high.estimate(p))
