"""The given plumbing in mlsys_edu.labkit, tested directly (the labs' questions rely on it)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.labkit.calibration import plot_reliability, reliability
from mlsys_edu.labkit.label_matrix import vote_counts
from mlsys_edu.labkit.labeling import heuristic_lf

torch = pytest.importorskip("torch")
from mlsys_edu.labkit.sparse_torch import SparseLinear, predict_end_model, to_torch


def test_reliability_matches_a_loop_over_bins():
    rng = np.random.default_rng(0)
    p, y = rng.random(200), rng.integers(0, 2, 200)
    p[:3] = [0.0, 1.0, 0.4]  # the edges: 1.0 belongs to the last bin
    mean_p, rate, size = reliability(p, y, n_bins=5)
    expected = []
    for b in range(5):
        in_bin = (p >= b / 5) & ((p < (b + 1) / 5) | ((b == 4) & (p == 1.0)))
        if in_bin.any():
            expected.append((p[in_bin].mean(), y[in_bin].mean(), in_bin.sum()))
    np.testing.assert_allclose(np.column_stack([mean_p, rate, size]), np.array(expected))
    assert size.sum() == len(p)


def test_reliability_refuses_mismatched_inputs():
    with pytest.raises(ValueError, match="same length"):
        reliability(np.array([0.1, 0.2]), np.array([1]))


def test_plot_reliability_draws_one_line_per_model_and_the_diagonal():
    y = np.array([0, 1, 1, 0, 1])
    ax = plot_reliability({"a": np.array([0.1, 0.9, 0.8, 0.3, 0.6]), "b": np.full(5, 0.5)}, y)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["a", "b", "calibrated"]
    # told apart without colour too: every model has its own marker and line style
    assert len({(line.get_marker(), line.get_linestyle()) for line in lines[:2]}) == 2


def test_vote_counts_counts_each_class_and_skips_abstains():
    L = np.array([[0, 1, 1], [-1, -1, -1], [2, 2, -1]], dtype=np.int8)
    np.testing.assert_array_equal(vote_counts(L, 3), [[1, 2, 0], [0, 0, 0], [0, 0, 2]])


def test_heuristic_lf_agrees_row_by_row_and_vectorised():
    df = pd.DataFrame({"n_words": [1, 5, 6, 30]})
    lf = heuristic_lf("short", lambda x: x.n_words <= 5, 0)
    rows = [lf(row) for row in df.itertuples(index=False)]
    assert rows == [0, 0, -1, -1]
    np.testing.assert_array_equal(lf.vectorized(df), rows)


def test_sparse_and_dense_features_give_the_same_probabilities():
    from scipy import sparse

    X = sparse.random(20, 7, density=0.3, random_state=0, format="csr")
    torch.manual_seed(0)
    model = SparseLinear(7, 3)
    dense = predict_end_model(model, X.toarray())
    np.testing.assert_allclose(predict_end_model(model, X), dense, atol=1e-6)
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, atol=1e-6)
    assert to_torch(X).is_sparse and not to_torch(X.toarray()).is_sparse


# ------------------------------------------------------------------ weak_labels

from mlsys_edu.labkit.weak_labels import (SPAM_PATTERN_LFS, OneCoinModel,  # noqa: E402
                                          PatternLF, label_matrix)


def test_pattern_lfs_vote_case_insensitively_and_abstain_on_missing_text():
    lf = PatternLF("link", r"www\.", 1)
    np.testing.assert_array_equal(lf.votes(["see WWW.x.com", "hello", None, float("nan")]),
                                  [1, -1, -1, -1])
    L = label_matrix(["check it out my friend", "nice song"], SPAM_PATTERN_LFS)
    assert L.dtype == np.int8 and L.shape == (2, len(SPAM_PATTERN_LFS))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        PatternLF("bad", "(", 1)


def test_one_coin_model_recovers_accuracies_and_beats_a_coin():
    from mlsys_edu.lab.testing import random_weak_labels

    acc = np.array([0.9, 0.8, 0.7, 0.65, 0.6])
    L, y = random_weak_labels(np.random.default_rng(0), 20_000, 5, 2, accuracies=acc,
                              propensities=0.5)
    supervised = OneCoinModel().fit_accuracies(L, y)
    np.testing.assert_allclose(supervised.accuracies_, acc, atol=0.02)
    unsupervised = OneCoinModel().fit_accuracies(L)
    assert np.argsort(unsupervised.accuracies_).tolist() == np.argsort(acc).tolist()
    p = supervised.predict_proba(L)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    voted = (L != -1).any(axis=1)
    counts = vote_counts(L, 2)
    plurality = (counts[voted].argmax(axis=1) == y[voted]) & (counts[voted, 0] != counts[voted, 1])
    ties = counts[voted, 0] == counts[voted, 1]
    majority = plurality.mean() + 0.5 * ties.mean()  # a tie is a coin flip
    weighted = (supervised.predict(L)[voted] == y[voted]).mean()
    assert weighted > majority + 0.02, (weighted, majority)
    with pytest.raises(ValueError, match="LFs"):
        supervised.predict_proba(L[:, :3])
