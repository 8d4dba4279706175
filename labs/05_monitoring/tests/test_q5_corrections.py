"""Question q5: Bonferroni and Benjamini-Hochberg."""

import numpy as np
import pytest

from mlsys_edu.lab import question

P = np.array([0.01, 0.04, 0.03, 0.2, 0.001])


@question("q5", points=2)
def test_bonferroni(sub):
    np.testing.assert_allclose(sub.bonferroni(P), [0.05, 0.2, 0.15, 1.0, 0.005])
    np.testing.assert_allclose(sub.bonferroni([0.01, np.nan, 0.3]), [0.02, np.nan, 0.6])


@question("q5", points=2)
def test_benjamini_hochberg(sub):
    # sorted: 0.001, 0.01, 0.03, 0.04, 0.2 -> *5/rank: 0.005, 0.025, 0.05, 0.05, 0.2
    np.testing.assert_allclose(sub.benjamini_hochberg(P), [0.025, 0.05, 0.05, 0.2, 0.005])
    np.testing.assert_allclose(sub.benjamini_hochberg([0.04, np.nan, 0.01]), [0.04, np.nan, 0.02])


@question("q5", points=3, hidden=True)
def test_corrections_match_reference(sub, ref, rng):
    for m in (1, 7, 60):
        p = rng.uniform(size=m) ** 3
        p[rng.random(m) < 0.2] = np.nan
        np.testing.assert_allclose(sub.benjamini_hochberg(p), ref.benjamini_hochberg(p))
        np.testing.assert_allclose(sub.bonferroni(p), ref.bonferroni(p))
    ties = np.array([0.02, 0.02, 0.02, 0.5])
    np.testing.assert_allclose(sub.benjamini_hochberg(ties), [0.08 / 3] * 3 + [0.5])
