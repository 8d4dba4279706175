from mlsys_edu.lab import question
import pytest


@question("q1", points=1, timeout_s=2, memory_mb=2048)
def test_mean_small(sub):
    assert sub.mean([1, 2, 3, 6]) == pytest.approx(3.0)


@question("q1", points=2, hidden=True, timeout_s=2, memory_mb=2048)
def test_mean_matches_reference(sub, ref, rng):
    xs = rng.normal(size=50).tolist()
    assert sub.mean(xs) == pytest.approx(ref.mean(xs))
