"""Question q1: the KLL quantile sketch."""

import numpy as np
import pytest

from mlsys_edu.lab import question


def _rank_error(sketch, data, queries):
    exact = np.searchsorted(np.sort(data), queries, side="right") / len(data)
    return float(np.max(np.abs(np.asarray(sketch.rank(queries)) - exact)))


@question("q1", points=2)
def test_exact_while_small(sub):
    s = sub.KLLSketch(k=200).update(np.array([5.0, 1.0, np.nan, 3.0, 2.0, 4.0]))
    assert s.n == 5, "NaN is not a value: n counts the 5 numbers"
    np.testing.assert_allclose(s.rank([0.5, 1.0, 2.5, 5.0, 9.0]), [0, 0.2, 0.4, 1.0, 1.0])
    np.testing.assert_allclose(s.quantile([0.0, 0.2, 0.5, 1.0]), [1.0, 1.0, 3.0, 5.0])


@question("q1", points=2)
def test_memory_stays_bounded_and_ranks_stay_close(sub, rng):
    data = rng.normal(size=200_000)
    s = sub.KLLSketch(k=100)
    for batch in np.array_split(data, 40):
        s.update(batch)
    assert s.n == len(data)
    assert s.retained <= 3 * 100 + 20, f"the sketch holds {s.retained} items; KLL keeps about 3k"
    assert _rank_error(s, data, np.quantile(data, np.linspace(0.01, 0.99, 50))) < 0.04


@question("q1", points=2)
def test_merge_is_the_sketch_of_the_union(sub, rng):
    a, b = rng.exponential(size=30_000), rng.normal(3, 1, size=50_000)
    sa, sb = sub.KLLSketch(k=200, seed=1).update(a), sub.KLLSketch(k=200, seed=2).update(b)
    before = (sa.n, sa.retained)
    merged = sa.merge(sb)
    assert (sa.n, sa.retained) == before, "merge returns a new sketch; the inputs stay"
    assert merged.n == 80_000 and merged.retained < 600
    union = np.concatenate([a, b])
    assert _rank_error(merged, union, np.quantile(union, np.linspace(0.01, 0.99, 50))) < 0.02


@question("q1", points=1)
def test_empty_sketch_refuses_queries(sub):
    s = sub.KLLSketch()
    with pytest.raises(ValueError):
        s.rank(1.0)
    with pytest.raises(ValueError):
        s.quantile(0.5)


@question("q1", points=3, hidden=True)
def test_rank_error_matches_reference(sub, ref, rng):
    for k, n in ((64, 50_000), (200, 120_000)):
        data = np.concatenate([rng.lognormal(size=n // 2), rng.uniform(-5, 0, n - n // 2)])
        rng.shuffle(data)
        queries = np.quantile(data, np.linspace(0.005, 0.995, 200))
        ours, theirs = sub.KLLSketch(k=k, seed=3), ref.KLLSketch(k=k, seed=3)
        for batch in np.array_split(data, 17):
            ours.update(batch)
            theirs.update(batch)
        assert ours.n == theirs.n == n
        assert ours.retained <= 1.1 * theirs.retained + 5
        assert _rank_error(ours, data, queries) <= max(2 * _rank_error(theirs, data, queries), 3 / k)
        q = np.array([0.1, 0.5, 0.9])
        exact = np.quantile(data, q)
        got = np.asarray(ours.quantile(q))
        assert np.all(np.abs(np.searchsorted(np.sort(data), got) / n - q) < 4 / k)
        assert np.all(np.isfinite(got)) and exact.shape == got.shape


@question("q1", points=2, hidden=True)
def test_merge_many_partitions(sub, rng):
    data = rng.gamma(2.0, size=60_000)
    parts = [sub.KLLSketch(k=128, seed=i).update(chunk)
             for i, chunk in enumerate(np.array_split(data, 12))]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    assert merged.n == len(data) and merged.retained <= 3 * 128 + 20
    assert _rank_error(merged, data, np.quantile(data, np.linspace(0.01, 0.99, 99))) < 0.035
    single = sub.KLLSketch(k=128).update(np.array([7.0]))
    assert float(single.quantile(0.5)) == 7.0 and float(single.rank(7.0)) == 1.0
