"""Question q7: monitoring by slice, with bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question

Y = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0, 1])
PRED = np.array([1, 0, 0, 0, 1, 1, 1, 0, 0, 1])
MEMBERS = np.array([[1, 0], [1, 0], [1, 0], [0, 0], [0, 0], [0, 0], [1, 0], [0, 0], [0, 0],
                    [1, 0]], dtype=bool)


@question("q7", points=2)
def test_f1_and_bootstrap(sub):
    assert sub.f1_spam(Y, PRED) == pytest.approx(2 * 4 / (2 * 4 + 1 + 1))
    assert np.isnan(sub.f1_spam(np.zeros(4), np.zeros(4))), "0/0 is nan, not 0"
    assert sub.f1_spam(np.zeros(3), np.ones(3)) == 0.0
    point, low, high = sub.bootstrap_interval(Y, PRED, sub.accuracy, n_boot=2000, seed=1)
    assert point == pytest.approx(0.8)
    assert low < point < high and 0.4 <= low <= 0.7 and high == pytest.approx(1.0)
    again = sub.bootstrap_interval(Y, PRED, sub.accuracy, n_boot=2000, seed=1)
    assert tuple(again) == tuple((point, low, high)), "the same seed, the same interval"


@question("q7", points=2)
def test_slice_report(sub):
    report = sub.slice_report(Y, PRED, MEMBERS, ["first", "empty"], n_boot=500)
    assert list(report.index) == ["all", "first", "empty"]
    assert list(report.columns) == ["count", "accuracy", "acc_low", "acc_high", "f1", "f1_low",
                                    "f1_high"]
    assert list(report["count"]) == [10, 5, 0]
    assert report.loc["first", "accuracy"] == pytest.approx(0.8)
    assert report.loc["first", "f1"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))  # TP 3, FN 1
    assert np.isnan(report.loc["empty", "accuracy"]) and np.isnan(report.loc["empty", "acc_low"])
    assert (report.loc[["all", "first"], "acc_low"] <= report.loc[["all", "first"], "accuracy"]).all()


@question("q7", points=2)
def test_paired_comparison(sub):
    better = Y.copy()
    cmp = sub.compare_models(Y, PRED, better, MEMBERS, ["first", "empty"], n_boot=500)
    assert list(cmp.columns) == ["count", "acc_a", "acc_b", "delta", "delta_low", "delta_high"]
    assert cmp.loc["all", "delta"] == pytest.approx(0.2)
    assert cmp.loc["all", "acc_b"] == 1.0 and cmp.loc["all", "acc_a"] == pytest.approx(0.8)
    assert 0 <= cmp.loc["all", "delta_low"] <= 0.2 <= cmp.loc["all", "delta_high"]
    same = sub.compare_models(Y, PRED, PRED, MEMBERS, ["first", "empty"], n_boot=200)
    assert (same.loc[["all", "first"], ["delta", "delta_low", "delta_high"]] == 0).all().all(), \
        "a model against itself: zero difference, and a paired interval of width zero"


@question("q7", points=3, hidden=True)
def test_matches_reference_on_random_predictions(sub, ref, rng):
    for n, S in ((250, 4), (60, 2), (31, 1)):
        y = rng.integers(0, 2, n)
        a = np.where(rng.random(n) < 0.85, y, 1 - y)
        b = np.where(rng.random(n) < 0.9, y, 1 - y)
        members = rng.random((n, S)) < rng.uniform(0.05, 0.5, S)
        names = [f"s{i}" for i in range(S)]
        for seed in (0, 7):
            ours = sub.slice_report(y, a, members, names, n_boot=300, seed=seed)
            theirs = ref.slice_report(y, a, members, names, n_boot=300, seed=seed)
            pd.testing.assert_frame_equal(ours.astype(float), theirs.astype(float), atol=1e-9,
                                          check_names=False)
            ours = sub.compare_models(y, a, b, members, names, n_boot=300, seed=seed)
            theirs = ref.compare_models(y, a, b, members, names, n_boot=300, seed=seed)
            pd.testing.assert_frame_equal(ours.astype(float), theirs.astype(float), atol=1e-9,
                                          check_names=False)


@question("q7", points=2, hidden=True)
def test_intervals_shrink_and_cover(sub, rng):
    widths = []
    for n in (40, 400, 4000):
        y = rng.integers(0, 2, n)
        pred = np.where(rng.random(n) < 0.8, y, 1 - y)
        point, low, high = sub.bootstrap_interval(y, pred, sub.accuracy, n_boot=400, seed=3)
        assert low <= point <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2], f"wider with fewer rows: {widths}"
    assert widths[2] == pytest.approx(2 * 1.96 * np.sqrt(0.8 * 0.2 / 4000), rel=0.25)
