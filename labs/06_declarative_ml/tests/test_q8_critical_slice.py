"""Question q8: slicing functions and the weakest slice."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question

TEXTS = ["nice", "I love this song so much", "one two three four five", "it's 2014 now!!",
         "", " ".join(["word"] * 29), " ".join(["word"] * 30), "check out my channel: www.x.com"]


def _report(rows):
    return pd.DataFrame(rows, columns=["slice", "count", "accuracy"]).set_index("slice")


@question("q8", points=2)
def test_short_and_long_comments(sub):
    frame = pd.DataFrame({"text": TEXTS})
    short = np.asarray(sub.short_comment(frame))
    long = np.asarray(sub.long_comment(frame))
    assert short.dtype == bool and long.dtype == bool, "slicing functions return booleans"
    np.testing.assert_array_equal(short, [True, False, True, True, True, False, False, False])
    np.testing.assert_array_equal(long, [False, False, False, False, False, False, True, False])


@question("q8", points=2)
def test_weakest_slice(sub):
    report = _report([("all", 250, 0.9), ("link", 40, 0.95), ("short", 8, 0.5),
                      ("song", 30, 0.8), ("shouting", 12, 0.8)])
    assert sub.weakest_slice(report) == "song", "short has too few rows; song ties " \
        "shouting and is larger"
    assert sub.weakest_slice(report, min_count=5) == "short"
    with pytest.raises(ValueError):
        sub.weakest_slice(report, min_count=1000)


@question("q8", points=3, hidden=True)
def test_slicing_functions_match_reference(sub, ref, rng):
    pieces = np.array(["a", "it's", "2015", "!!", "...", "x-y", "ok", "LOL", "www.a.com", "é"])
    texts = [" ".join(rng.choice(pieces, size=rng.integers(0, 40))) for _ in range(400)]
    frame = pd.DataFrame({"text": texts, "author": "a"})
    for name in ("short_comment", "long_comment"):
        ours = np.asarray(getattr(sub, name)(frame))
        np.testing.assert_array_equal(ours, np.asarray(getattr(ref, name)(frame)), err_msg=name)


@question("q8", points=2, hidden=True)
def test_weakest_slice_matches_reference(sub, ref, rng):
    for _ in range(30):
        S = int(rng.integers(1, 7))
        rows = [("all", 250, 0.9)] + [(f"s{i}", int(rng.integers(1, 40)),
                                       float(rng.choice([0.5, 0.75, 0.8, 1.0]))) for i in range(S)]
        report = _report(rows)
        min_count = int(rng.integers(1, 20))
        try:
            expected = ref.weakest_slice(report, min_count)
        except ValueError:
            with pytest.raises(ValueError):
                sub.weakest_slice(report, min_count)
            continue
        assert sub.weakest_slice(report, min_count) == expected
