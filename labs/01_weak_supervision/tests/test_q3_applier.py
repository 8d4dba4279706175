"""Question q3: the applier (DataFrame + LFs -> label matrix)."""

import numpy as np
import pandas as pd

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


@question("q3", points=2, hidden=True)
def test_applier_matches_reference(sub, ref, rng):
    pieces = np.array(["BUY", "NOW", "cheap", "55555", "123", "song", "LOVE IT", "x"])
    df = pd.DataFrame({"text": [" ".join(rng.choice(pieces, size=rng.integers(0, 6)))
                                for _ in range(500)]})
    ours = np.asarray(sub.apply_lfs(df, [sub.long_number_lf, sub.shouting_lf, sub.long_number_lf]))
    theirs = ref.apply_lfs(df, [ref.long_number_lf, ref.shouting_lf, ref.long_number_lf])
    assert ours.dtype == np.int8
    np.testing.assert_array_equal(ours, theirs)
