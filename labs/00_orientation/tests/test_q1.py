"""Question q1: spam rate per video."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question


@question("q1", points=2)
def test_rate_of_a_small_frame(sub):
    df = pd.DataFrame({"video": [1, 1, 2, 2, 2], "label": [1, 0, 1, 1, 0]})
    rates = sub.spam_rate_by_video(df)
    assert list(rates.index) == [1, 2]
    assert list(rates.values) == pytest.approx([1 / 2, 2 / 3])


@question("q1", points=1)
def test_unknown_labels_do_not_count(sub):
    df = pd.DataFrame({"video": [3, 3, 3], "label": [1, -1, 0]})
    assert list(sub.spam_rate_by_video(df).values) == pytest.approx([0.5])


@question("q1", points=2, hidden=True)
def test_matches_reference_on_random_frames(sub, ref, rng):
    df = pd.DataFrame({"video": rng.integers(1, 6, size=300), "label": rng.integers(-1, 2, size=300)})
    ours, theirs = sub.spam_rate_by_video(df), ref.spam_rate_by_video(df)
    assert list(ours.index) == list(theirs.index)
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float))
