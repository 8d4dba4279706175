"""Question q2: the preprocessor behind the heuristic LFs."""

import numpy as np
import pandas as pd

from mlsys_edu.lab import question


def _frame():
    return pd.DataFrame({
        "author": ["ann", "bob", "ann", "cy", "ann"],
        "text": ["Check out MY channel", "nice song", "subscribe, it's free!", "",
                 "THE the tHe 2014"],
        "label": [-1, -1, -1, -1, -1],
    })


@question("q2", points=2)
def test_word_and_stop_word_counts(sub):
    out = sub.add_features(_frame())
    assert list(out["n_words"]) == [4, 2, 3, 0, 3]
    # "out", "my" are stop words; "it's" is not (the list has no apostrophes); "the" is
    assert list(out["n_stop_words"]) == [2, 0, 0, 0, 3]


@question("q2", points=2)
def test_author_comments_and_copy(sub):
    df = _frame()
    out = sub.add_features(df)
    assert list(out["author_comments"]) == [3, 1, 3, 1, 3]
    assert list(df.columns) == ["author", "text", "label"], "return a copy; leave df as it is"
    assert list(out["text"]) == list(df["text"])


@question("q2", points=1, hidden=True)
def test_features_are_integers_even_on_an_empty_batch(sub):
    for df in (_frame().iloc[:0], _frame().iloc[3:4]):  # no rows; one empty comment
        out = sub.add_features(df)
        assert len(out) == len(df)
        for column in ("n_words", "n_stop_words", "author_comments"):
            assert out[column].dtype == np.int64, f"{column} is {out[column].dtype}, not int64"


@question("q2", points=2, hidden=True)
def test_features_match_reference(sub, ref, rng):
    words = np.array(["the", "and", "my", "song", "love", "it's", "FREE", "sub4sub", "x"])
    n = 200
    df = pd.DataFrame({"author": rng.choice(["a", "b", "c", "d", "e", "f"], size=n),
                       "text": [" ".join(rng.choice(words, size=rng.integers(0, 9)))
                                for _ in range(n)],
                       "label": -1})
    ours, theirs = sub.add_features(df), ref.add_features(df)
    for column in ("n_words", "n_stop_words", "author_comments"):
        np.testing.assert_array_equal(np.asarray(ours[column], dtype=np.int64),
                                      np.asarray(theirs[column], dtype=np.int64), err_msg=column)
