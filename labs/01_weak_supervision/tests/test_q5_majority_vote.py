"""Question q5: majority vote and its tie policy."""

import numpy as np
import pytest

from mlsys_edu.lab import question
from mlsys_edu.lab.testing import assert_names_position, random_weak_labels

L_SMALL = np.array([[0, 0, 1],     # clear winner 0
                    [1, -1, -1],   # single vote 1
                    [0, 1, -1],    # tie
                    [-1, -1, -1],  # no votes
                    [2, 2, 1]])    # three classes: winner 2


@question("q5", points=2)
def test_majority_with_ties_abstaining(sub):
    np.testing.assert_array_equal(sub.majority_vote(L_SMALL, 3), [0, 1, -1, -1, 2])


@question("q5", points=2)
def test_random_tie_break_picks_a_tied_class(sub):
    picks = np.array([sub.majority_vote(L_SMALL, 3, tie_break="random", seed=s)
                      for s in range(40)])
    assert (picks[:, [0, 1, 4]] == [0, 1, 2]).all(), "random tie-break changes only ties"
    assert set(picks[:, 2]) == {0, 1}, "a 0-1 tie goes to 0 or 1, each sometimes"
    assert set(picks[:, 3]) == {0, 1, 2}, "an all-abstain row may go to any class"
    again = sub.majority_vote(L_SMALL, 3, tie_break="random", seed=7)
    np.testing.assert_array_equal(again, picks[7], err_msg="the same seed, the same answer")


@question("q5", points=1)
def test_labels_outside_cardinality_are_refused(sub):
    with pytest.raises(ValueError) as info:
        sub.majority_vote(np.array([[0, 1], [1, 2]]), 2)
    assert_names_position(info.value, 2, 1, 1)


@question("q5", points=3, hidden=True)
def test_majority_matches_reference(sub, ref, rng):
    for n, m, k in ((1000, 7, 2), (800, 4, 3), (300, 1, 2), (400, 6, 5)):
        L, _ = random_weak_labels(rng, n, m, k)
        L[: n // 10] = -1
        np.testing.assert_array_equal(sub.majority_vote(L, k), ref.majority_vote(L, k),
                                      err_msg=f"{n}x{m}, {k} classes")
        ours = np.asarray(sub.majority_vote(L, k, tie_break="random", seed=3))
        counts = ref.vote_counts(L, k)
        tied_ok = counts[np.arange(n), ours] == counts.max(axis=1)
        assert tied_ok.all() and (ours >= 0).all(), "random tie-break returns a top class"
    # one class: a point nobody voted on still abstains
    one = np.where(rng.random((200, 3)) < 0.3, 0, -1).astype(np.int8)
    np.testing.assert_array_equal(sub.majority_vote(one, 1), ref.majority_vote(one, 1))


@question("q5", points=1, hidden=True)
def test_majority_refuses_bad_input(sub):
    with pytest.raises(ValueError):
        sub.majority_vote(np.zeros((0, 2), dtype=np.int8), 2)
    with pytest.raises(ValueError):
        sub.majority_vote(np.array([[0.5, 1.0]]), 2)
    with pytest.raises(ValueError):
        sub.majority_vote(np.array([[0, 1]]), 2, tie_break="first")
