"""Question q3: KS, chi-square, PSI, Jensen-Shannon, normed Wasserstein."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlsys_edu.lab import question


@question("q3", points=2)
def test_ks_statistic_and_p_value(sub, rng):
    x, y = rng.normal(size=400), rng.normal(0.3, 1, size=300)
    d, p = sub.ks_test(x, y)
    assert d == pytest.approx(stats.ks_2samp(x, y).statistic)
    en = np.sqrt(400 * 300 / 700)
    assert p == pytest.approx(stats.kstwobign.sf((en + 0.12 + 0.11 / en) * d), rel=1e-6)
    d_nan, _ = sub.ks_test(np.append(x, np.nan), y)
    assert d_nan == pytest.approx(d), "NaN is dropped"
    with pytest.raises(ValueError):
        sub.ks_test([np.nan, np.nan], y)


@question("q3", points=2)
def test_chi_square_is_a_test_of_homogeneity(sub):
    x = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    y = ["a"] * 40 + ["b"] * 40 + ["c"] * 20
    chi2, p = sub.chi_square_test(x, y)
    expected = stats.chi2_contingency(np.array([[60, 30, 10], [40, 40, 20]]), correction=False)
    assert chi2 == pytest.approx(expected[0]) and p == pytest.approx(expected[1])
    # a category seen only in the window counts; nulls are a category of their own
    chi2_new, _ = sub.chi_square_test(x + [None] * 10, y + ["d"] * 10)
    table = np.array([[60, 30, 10, 10, 0], [40, 40, 20, 0, 10]])
    assert chi2_new == pytest.approx(stats.chi2_contingency(table, correction=False)[0])
    with pytest.raises(ValueError):
        sub.chi_square_test([], y)


@question("q3", points=2)
def test_distances(sub):
    r, c = np.array([0.5, 0.3, 0.2, 0.0]), np.array([0.25, 0.25, 0.25, 0.25])
    rc, cc = np.clip(r, 1e-4, None), np.clip(c, 1e-4, None)
    assert sub.psi(r, c) == pytest.approx(np.sum((cc - rc) * np.log(cc / rc)))
    assert sub.jensen_shannon(r, c) == pytest.approx(distance.jensenshannon(r, c))
    assert sub.jensen_shannon(r, r) == pytest.approx(0.0, abs=1e-9)
    x, y = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0, 4.0])
    assert sub.wasserstein_normed(x, y) == pytest.approx(1.0 / np.std(x))


@question("q3", points=3, hidden=True)
def test_tests_match_reference(sub, ref, rng):
    for n, m, shift in ((50, 80, 0.0), (2000, 1500, 0.1), (300, 40, 1.0)):
        x, y = rng.standard_t(3, size=n), rng.standard_t(3, size=m) + shift
        np.testing.assert_allclose(sub.ks_test(x, y), ref.ks_test(x, y), rtol=1e-7, atol=1e-12)
        assert sub.wasserstein_normed(x, y) == pytest.approx(ref.wasserstein_normed(x, y))
        assert sub.wasserstein_normed(x, y) == pytest.approx(
            stats.wasserstein_distance(x, y) / np.std(x))
        cats = np.array(list("abcdefgh"))
        cx = pd.Series(rng.choice(cats, n, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.05, 0.03, 0.02]))
        cy = pd.Series(rng.choice(cats, m, p=[0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05]))
        np.testing.assert_allclose(sub.chi_square_test(cx, cy), ref.chi_square_test(cx, cy),
                                   rtol=1e-7)
        r, c = rng.dirichlet(np.ones(10)), rng.dirichlet(np.ones(10))
        assert sub.psi(r, c) == pytest.approx(ref.psi(r, c))
        assert sub.jensen_shannon(r, c) == pytest.approx(ref.jensen_shannon(r, c))


@question("q3", points=2, hidden=True)
def test_rare_categories_are_pooled(sub, ref, rng):
    x = ["a"] * 500 + ["b"] * 480 + ["r1"] * 3 + ["r2"] * 2
    y = ["a"] * 490 + ["b"] * 470 + ["r3"] * 4 + ["r1"] * 1
    chi2, p = sub.chi_square_test(x, y)
    np.testing.assert_allclose((chi2, p), ref.chi_square_test(x, y), rtol=1e-7)
    pooled = np.array([[500, 480, 5], [490, 470, 5]])
    assert chi2 == pytest.approx(stats.chi2_contingency(pooled, correction=False)[0])
    assert sub.chi_square_test(["a"] * 5, ["a"] * 7) == pytest.approx((0.0, 1.0))
    # exactly two rare categories are pooled too
    x2, y2 = ["a"] * 500 + ["b"] * 480 + ["r1"] * 3, ["a"] * 490 + ["b"] * 470 + ["r2"] * 4
    two = np.array([[500, 480, 3], [490, 470, 4]])
    assert sub.chi_square_test(x2, y2)[0] == pytest.approx(
        stats.chi2_contingency(two, correction=False)[0]), "two rare categories: one pool"
