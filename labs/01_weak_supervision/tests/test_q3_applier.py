"""Question q3: the applier (DataFrame + LFs -> label matrix)."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question

TEXTS = ["call 0123456789 NOW", "nice song", "WOW AMAZING", "code 12345", "ok"]


@question("q3", points=2)
def test_label_matrix_shape_dtype_and_votes(sub):
    df = pd.DataFrame({"text": TEXTS})
    L = np.asarray(sub.apply_lfs(df, [sub.long_number_lf, sub.shouting_lf]))
    assert L.dtype == np.int8, f"the label matrix must be int8, got {L.dtype}"
    np.testing.assert_array_equal(L, [[1, -1], [-1, -1], [-1, 1], [1, -1], [-1, -1]])


@question("q3", points=1)
def test_columns_follow_the_lf_order(sub):
    df = pd.DataFrame({"text": TEXTS})
    one = np.asarray(sub.apply_lfs(df, [sub.shouting_lf, sub.long_number_lf]))
    np.testing.assert_array_equal(one[:, 0], [-1, -1, 1, -1, -1])
    assert np.asarray(sub.apply_lfs(df.iloc[:0], [sub.shouting_lf])).shape == (0, 1)


# LFs whose votes the test chooses, built from functions that live in the submission's
# process (a test cannot send one there): np.sum(row) is a one-column row's value, and
# DataFrame.squeeze(df) a one-column frame's column. The frames' "text" holds the votes.
def _echo_lfs(sub, name):
    return (sub.LabelingFunction(name, sub.np.sum),  # per row
            sub.LabelingFunction(name, sub.np.sum, sub.pd.DataFrame.squeeze))  # vectorised


@question("q3", points=1)
def test_a_broken_lf_is_named(sub):
    for votes in ([0, -2, 1], [1, 0, 300]):
        for lf in _echo_lfs(sub, "broken_lf"):
            with pytest.raises(ValueError, match="broken_lf"):
                sub.apply_lfs(pd.DataFrame({"text": votes}), [lf])
    words = sub.LabelingFunction("words", sub.np.sum, sub.pd.DataFrame.squeeze)
    with pytest.raises(ValueError, match="words"):  # votes that are not integers
        sub.apply_lfs(pd.DataFrame({"text": ["spam", "ham"]}), [words])


@question("q3", points=1, hidden=True)
def test_every_int8_label_fits_and_nothing_else(sub):
    for lf in _echo_lfs(sub, "edge"):
        L = np.asarray(sub.apply_lfs(pd.DataFrame({"text": [127, -1, 0]}), [lf]))
        assert L.dtype == np.int8 and L[:, 0].tolist() == [127, -1, 0]
        for bad in (128, -2):
            with pytest.raises(ValueError, match="edge"):
                sub.apply_lfs(pd.DataFrame({"text": [0, bad]}), [lf])
    two_columns = pd.DataFrame({"text": [1, 0], "other": [0, 1]})  # squeeze gives a 2-D frame
    with pytest.raises(ValueError, match="edge"):
        sub.apply_lfs(two_columns, [_echo_lfs(sub, "edge")[1]])


@question("q3", points=2, hidden=True)
def test_applier_matches_reference(sub, ref, rng):
    pieces = np.array(["BUY", "NOW", "cheap", "55555", "123", "song", "LOVE IT", "x"])
    df = pd.DataFrame({"text": [" ".join(rng.choice(pieces, size=rng.integers(0, 6)))
                                for _ in range(500)]})
    ours = np.asarray(sub.apply_lfs(df, [sub.long_number_lf, sub.shouting_lf, sub.long_number_lf]))
    theirs = ref.apply_lfs(df, [ref.long_number_lf, ref.shouting_lf, ref.long_number_lf])
    assert ours.dtype == np.int8
    np.testing.assert_array_equal(ours, theirs)
