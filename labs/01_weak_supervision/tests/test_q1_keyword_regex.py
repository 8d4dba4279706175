"""Question q1: keyword and regular-expression labeling functions."""

import numpy as np
import pandas as pd

from mlsys_edu.lab import question

TEXTS = ["Check out my CHANNEL", "nice song", "Subscribe plz!!", "Visit www.free-cash.com now",
         "I love this", "c++ and $$$ here", ""]


def _frame(texts):
    return pd.DataFrame({"text": list(texts)})


@question("q1", points=2)
def test_keyword_lf_votes_case_insensitively(sub):
    lf = sub.keyword_lf("kw", ["channel", "plz"], 1)
    df = _frame(TEXTS)
    assert lf.name == "kw"
    assert [lf(df.iloc[i]) for i in range(len(df))] == [1, -1, 1, -1, -1, -1, -1]


@question("q1", points=2)
def test_regex_lf_votes(sub):
    lf = sub.regex_lf("link", r"www\.|https?://", 1)
    df = _frame(TEXTS)
    assert [lf(df.iloc[i]) for i in range(len(df))] == [-1, -1, -1, 1, -1, -1, -1]
    ham = sub.regex_lf("song", r"\bsong\b", 0)
    assert ham(df.iloc[1]) == 0 and ham(df.iloc[0]) == -1


@question("q1", points=2)
def test_vectorized_form_agrees_with_rows(sub):
    df = _frame(TEXTS)
    for lf in (sub.keyword_lf("kw", ["C++", "$$$", "love"], 0),
               sub.regex_lf("re", r"check.*out|\$", 1)):
        rows = [lf(df.iloc[i]) for i in range(len(df))]
        assert lf.vectorized is not None, "give the LF a vectorised form"
        np.testing.assert_array_equal(np.asarray(lf.vectorized(df)), rows)
    # regex metacharacters in keywords are plain text: "c++" must not be a regex
    assert list(sub.keyword_lf("kw", ["c++"], 1).vectorized(df)) == [-1] * 5 + [1, -1]


@question("q1", points=1)
def test_vectorized_form_keeps_pythons_unicode_meaning(sub):
    # Python's re: "é" is a letter (no word boundary before "song"), "٥" is a digit
    df = _frame(["ésong", "a song!", "call ٥٥٥٥٥", "call 55555", "ÉSONG", "Song\n"])
    for pattern, expected in ((r"\bsong\b", [-1, 1, -1, -1, -1, 1]),
                              (r"\d{5}", [-1, -1, 1, 1, -1, -1]),
                              (r"song$", [1, -1, -1, -1, 1, 1])):
        lf = sub.regex_lf("re", pattern, 1)
        assert [lf(df.iloc[i]) for i in range(len(df))] == expected, pattern
        np.testing.assert_array_equal(np.asarray(lf.vectorized(df)), expected,
                                      err_msg=f"vectorised {pattern!r}")


@question("q1", points=1, hidden=True)
def test_keyword_lf_without_keywords_abstains(sub):
    df = _frame(TEXTS)
    lf = sub.keyword_lf("none", [], 2)
    assert [lf(df.iloc[i]) for i in range(len(df))] == [-1] * len(TEXTS)
    np.testing.assert_array_equal(np.asarray(lf.vectorized(df)), [-1] * len(TEXTS))


@question("q1", points=3, hidden=True)
def test_keyword_and_regex_match_reference(sub, ref, rng):
    vocab = np.array(["check", "out", "my", "channel", "SONG", "song.", "free", "$5", "a+b",
                      "http://x.co", "Love", "plz", "(", ")", "...", "ésong", "٣٣", "ÜBER",
                      "\n", "ｈｔｔｐ"])
    texts = [" ".join(rng.choice(vocab, size=rng.integers(0, 8))) for _ in range(300)]
    df = _frame(texts)
    cases = [("keyword_lf", (["song", "a+b"], 0)), ("keyword_lf", (["(", "$5", "..."], 1)),
             ("regex_lf", (r"check.*out", 1)), ("regex_lf", (r"^\s*$", 0)),
             ("regex_lf", (r"\bsong\b", 2)), ("regex_lf", (r"\d+|über", 1)),
             ("keyword_lf", (["über", "ｈｔｔｐ"], 1))]
    for factory, (arg, label) in cases:
        ours = getattr(sub, factory)("lf", arg, label)
        theirs = getattr(ref, factory)("lf", arg, label)
        expected = np.asarray(theirs.vectorized(df))
        np.testing.assert_array_equal(np.asarray(ours.vectorized(df)), expected)
        sample = rng.choice(len(df), size=40, replace=False)
        assert [ours(df.iloc[i]) for i in sample] == list(expected[sample])
