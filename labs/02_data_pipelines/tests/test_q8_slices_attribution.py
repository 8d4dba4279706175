"""Question q8: slice reports with Wilson intervals, and LF blame for label errors."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question


def _wilson(errors, n, z=1.96):
    p = errors / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return center - half, center + half


@question("q8", points=2)
def test_slice_report(sub):
    frame = pd.DataFrame({"n_words": [1, 2, 10, 40, 3, 50]})
    correct = np.array([False, True, True, False, False, True])
    report = sub.slice_report(frame, {"short": (frame["n_words"] < 5).to_numpy(),
                                      "long": np.array([0, 0, 0, 1, 0, 1], bool),
                                      "none": np.zeros(6, bool)}, correct)
    assert list(report["slice"]) == ["short", "long", "none", "all"]
    assert list(report["n"]) == [3, 2, 0, 6] and list(report["errors"]) == [2, 1, 0, 3]
    np.testing.assert_allclose(report["error_rate"][:2], [2 / 3, 1 / 2])
    low, high = _wilson(2, 3)
    assert report["low"][0] == pytest.approx(low) and report["high"][0] == pytest.approx(high)
    np.testing.assert_allclose(report["lift"][:2], [(2 / 3) / 0.5, 1.0])
    assert np.isnan(report["error_rate"][2]), "an empty slice has no rate"


@question("q8", points=2)
def test_attribute_errors(sub):
    votes = pd.DataFrame({"lf_a": [1, 1, -1, 0], "lf_b": [1, -1, 0, 0], "lf_c": [-1, -1, -1, -1]})
    gold, predicted = np.array([0, 1, 0, 1]), np.array([1, 1, 0, 0])
    table = sub.attribute_errors(votes, gold, predicted)
    assert list(table.index) == ["lf_a", "lf_b", "lf_c"]
    assert list(table["votes"]) == [3, 3, 0] and list(table["wrong"]) == [2, 2, 0]
    assert list(table["on_errors"]) == [2, 2, 0]
    np.testing.assert_allclose(table["blame"], [1.0, 1.0, 0.0])  # row 0: 2 wrong voters, 1/2 each
    np.testing.assert_allclose(table["accuracy"][:2], [1 / 3, 1 / 3])
    assert np.isnan(table["accuracy"].iloc[2])


@question("q8", points=3, hidden=True)
def test_slices_match_reference(sub, ref, rng):
    n = 300
    frame = pd.DataFrame({"x": rng.normal(size=n), "g": rng.integers(0, 4, n)})
    correct = rng.random(n) < 0.8
    slices = {f"g{k}": (frame["g"] == k).to_numpy() for k in range(5)}
    slices["big"] = (frame["x"] > 1).to_numpy()
    ours, theirs = sub.slice_report(frame, slices, correct), ref.slice_report(frame, slices, correct)
    assert list(ours["slice"]) == list(theirs["slice"])
    for column in ("n", "errors", "error_rate", "low", "high", "lift"):
        np.testing.assert_allclose(np.asarray(ours[column], float), np.asarray(theirs[column], float),
                                   err_msg=column)


@question("q8", points=3, hidden=True)
def test_attribution_matches_reference(sub, ref, rng):
    for n, m in ((200, 6), (50, 1), (500, 10)):
        votes = pd.DataFrame(rng.choice([-1, -1, 0, 1], size=(n, m)),
                             columns=[f"lf_{j}" for j in range(m)])
        gold, predicted = rng.integers(0, 2, n), rng.integers(0, 2, n)
        ours, theirs = (x.attribute_errors(votes, gold, predicted) for x in (sub, ref))
        assert list(ours.index) == list(theirs.index), "sorted by blame, ties in column order"
        for column in theirs.columns:
            np.testing.assert_allclose(np.asarray(ours[column], float),
                                       np.asarray(theirs[column], float), err_msg=column)
        assert ours["blame"].sum() == pytest.approx(
            ((predicted != gold) & ((votes.to_numpy() != -1) &
                                   (votes.to_numpy() != gold[:, None])).any(1)).sum())
