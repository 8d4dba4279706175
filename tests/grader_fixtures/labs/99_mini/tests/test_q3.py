from mlsys_edu.lab import question
import pandas as pd


@question("q3", points=1, timeout_s=2, memory_mb=2048)
def test_counter_top(sub):
    c = sub.Counter()
    for w in ["b", "c", "b", "a", "c", "a", "b"]:  # a tie (a, c) not in first-seen order
        c.add(w)
    assert c.top(2) == [("b", 3), ("a", 2)]


@question("q3", points=2, hidden=True, timeout_s=2, memory_mb=2048)
def test_count_frame(sub, ref, rng):
    words = [str(w) for w in rng.choice(list("abcde"), size=30)]
    pd.testing.assert_frame_equal(sub.count_frame(words), ref.count_frame(words))
