"""Question q4: LF analysis (polarity, coverage, overlaps, conflicts, accuracy)."""

import numpy as np
import pytest

from mlsys_edu.lab import question
from mlsys_edu.lab.testing import assert_names_position, random_weak_labels

L_SMALL = np.array([[0, -1, 1],
                    [0, 0, -1],
                    [-1, -1, -1],
                    [1, -1, 1]])
Y_SMALL = np.array([0, 0, 1, 1])


@question("q4", points=2)
def test_polarity_and_coverage(sub):
    assert [list(p) for p in sub.lf_polarity(L_SMALL)] == [[0, 1], [0], [1]]
    np.testing.assert_allclose(sub.lf_coverage(L_SMALL), [3 / 4, 1 / 4, 2 / 4])


@question("q4", points=2)
def test_overlaps_and_conflicts(sub):
    # row 0: LFs 0 and 2 overlap and conflict; row 1: LFs 0, 1 overlap and agree;
    # row 3: LFs 0, 2 overlap and agree
    np.testing.assert_allclose(sub.lf_overlaps(L_SMALL), [3 / 4, 1 / 4, 2 / 4])
    np.testing.assert_allclose(sub.lf_conflicts(L_SMALL), [1 / 4, 0, 1 / 4])


@question("q4", points=2)
def test_summary_with_gold_labels(sub):
    summary = sub.lf_summary(L_SMALL, Y_SMALL, names=["a", "b", "c"])
    assert list(summary.index) == ["a", "b", "c"]
    assert list(summary["Correct"]) == [3, 1, 1]
    assert list(summary["Incorrect"]) == [0, 0, 1]
    np.testing.assert_allclose(summary["Emp. Acc."], [1.0, 1.0, 0.5])
    assert "Emp. Acc." not in sub.lf_summary(L_SMALL).columns
    for bad in (Y_SMALL[:1], Y_SMALL[:, None]):  # one gold label per row, or an error
        with pytest.raises(ValueError):  # (numpy would broadcast these without a word)
            sub.lf_summary(L_SMALL, bad)


@question("q4", points=1)
def test_bad_label_matrix_is_refused(sub):
    with pytest.raises(ValueError) as info:
        sub.lf_coverage(np.array([[0, 1], [-2, 0]]))
    assert_names_position(info.value, -2, 1, 0)


@question("q4", points=3, hidden=True)
def test_analysis_matches_reference(sub, ref, rng):
    for n, m, k in ((300, 6, 2), (500, 4, 3), (50, 1, 2)):
        L, y = random_weak_labels(rng, n, m, k)
        for name in ("lf_coverage", "lf_overlaps", "lf_conflicts"):
            np.testing.assert_allclose(getattr(sub, name)(L), getattr(ref, name)(L),
                                       err_msg=f"{name} on a {n}x{m} matrix with {k} classes")
        assert [list(p) for p in sub.lf_polarity(L)] == [list(p) for p in ref.lf_polarity(L)]
        ours, theirs = sub.lf_summary(L, y), ref.lf_summary(L, y)
        for column in ("Coverage", "Overlaps", "Conflicts", "Correct", "Incorrect", "Emp. Acc."):
            np.testing.assert_allclose(np.asarray(ours[column], float),
                                       np.asarray(theirs[column], float), err_msg=column)


@question("q4", points=2, hidden=True)
def test_analysis_edge_cases(sub, ref, rng):
    L, y = random_weak_labels(rng, 200, 5, 3)
    L[:, 2] = -1          # an LF with zero coverage
    L[:20] = -1           # rows where every LF abstains
    summary = sub.lf_summary(L, y)
    assert summary["Coverage"].iloc[2] == 0 and summary["Correct"].iloc[2] == 0
    assert np.isnan(float(summary["Emp. Acc."].iloc[2])), "accuracy of an LF that never votes is nan"
    np.testing.assert_allclose(sub.lf_conflicts(L), ref.lf_conflicts(L))
    agree = np.tile(y[:, None], (1, 4))  # all LFs agree: overlaps = coverage, no conflicts
    np.testing.assert_allclose(sub.lf_overlaps(agree), [1.0] * 4)
    np.testing.assert_allclose(sub.lf_conflicts(agree), [0.0] * 4)


@question("q4", points=2, hidden=True)
def test_analysis_refuses_bad_input(sub):
    with pytest.raises(ValueError) as info:
        sub.lf_overlaps(np.array([[0, 1.0], [np.nan, 0]]))
    assert_names_position(info.value, "nan", 1, 0)
    with pytest.raises(ValueError):
        sub.lf_coverage(np.zeros((0, 3), dtype=np.int8))
    with pytest.raises(ValueError):
        sub.lf_conflicts(np.array([["0", "1"]]))
