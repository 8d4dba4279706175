"""Question q7: TFDV's skew distances (L-infinity and Jensen-Shannon)."""

import numpy as np
import pytest

from mlsys_edu.lab import question


@question("q7", points=2)
def test_linf_distance(sub):
    assert sub.linf_distance(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(0.25)
    assert sub.linf_distance(["a"], ["b"]) == pytest.approx(1.0), "values seen on one side only"
    assert sub.linf_distance([True, False], [False, True]) == pytest.approx(0.0)


@question("q7", points=2)
def test_js_divergence(sub):
    x = np.arange(100.0)
    assert sub.js_divergence(x, x) == pytest.approx(0.0, abs=1e-12)
    assert sub.js_divergence(np.zeros(10), np.full(10, 5.0)) == pytest.approx(1.0), \
        "disjoint histograms: 1 with base-2 logarithms"
    assert sub.js_divergence(x, x + 1000) == pytest.approx(1.0), "all above the last edge"
    half = sub.js_divergence(x, np.r_[x[:50], x[:50] + 1000])
    assert half == pytest.approx(0.5), "half the mass moved out of the reference's bins"
    assert sub.js_divergence(np.r_[x, np.nan], x) == pytest.approx(0.0, abs=1e-12), "NaNs dropped"


@question("q7", points=3, hidden=True)
def test_distances_match_reference(sub, ref, rng):
    for n in (5, 100, 2000):
        cats = rng.choice(list("abcde"), n, p=[0.4, 0.3, 0.1, 0.1, 0.1])
        other = rng.choice(list("abcdf"), n // 2 + 1)
        assert sub.linf_distance(cats, other) == pytest.approx(ref.linf_distance(cats, other))
        a, b = rng.normal(size=n), rng.normal(0.5, 1.5, n // 2 + 1)
        for bins in (4, 10):
            assert sub.js_divergence(a, b, bins) == pytest.approx(ref.js_divergence(a, b, bins))
        ints = rng.integers(0, 3, n).astype(float)
        assert sub.js_divergence(ints, ints[::-1][: n // 2 + 1]) == pytest.approx(
            ref.js_divergence(ints, ints[::-1][: n // 2 + 1]))


@question("q7", points=1, hidden=True)
def test_js_is_bounded(sub, rng):
    for _ in range(20):
        a, b = rng.exponential(size=rng.integers(1, 50)), rng.normal(size=rng.integers(1, 50))
        assert -1e-12 <= sub.js_divergence(a, b) <= 1 + 1e-12
