"""Question q1: lineage-aware filter, join and aggregate on Traced frames."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question


def _edges(t, name):
    """The relation as sorted (out, in) pairs: the order of a row's edges does not matter."""
    e = np.asarray(t.lineage[name])
    return e[:, np.lexsort((e[1], e[0]))].tolist()


@question("q1", points=2)
def test_filter_keeps_rows_and_their_origin(sub):
    t = sub.Traced.source(pd.DataFrame({"x": [10, 20, 30, 40]}), "a")
    kept = t.filter(np.array([False, True, False, True]))
    assert list(kept.frame["x"]) == [20, 40]
    assert list(kept.frame.index) == [0, 1], "the result has a fresh RangeIndex"
    assert _edges(kept, "a") == [[0, 1], [1, 3]], "row 0 comes from row 1, row 1 from row 3"
    again = kept.filter([False, True])  # any array-like of booleans
    assert _edges(again, "a") == [[0], [3]], "filters compose: back to the input's row 3"
    with pytest.raises(ValueError):
        t.filter(np.array([True, False]))


@question("q1", points=2)
def test_join_links_both_sides(sub):
    left = sub.Traced.source(pd.DataFrame({"k": [1, 2, 3], "a": ["x", "y", "z"]}), "left")
    right = sub.Traced.source(pd.DataFrame({"k": [2, 3, 3, 4], "b": [0.5, 1.5, 2.5, 9.0]}),
                              "right")
    joined = left.join(right, on="k")
    assert list(joined.frame.columns) == ["k", "a", "b"]
    assert joined.frame[["a", "b"]].values.tolist() == [["y", 0.5], ["z", 1.5], ["z", 2.5]]
    assert _edges(joined, "left") == [[0, 1, 2], [1, 2, 2]]
    assert _edges(joined, "right") == [[0, 1, 2], [0, 1, 2]]
    kept = left.join(right, on="k", how="left")
    assert len(kept) == 4
    assert _edges(kept, "right") == [[1, 2, 3], [0, 1, 2]], "an unmatched row has no right edge"
    outer = left.join(right, on="k", how="outer")  # k=1 has no right row, k=4 no left row
    assert list(outer.frame["k"]) == [1, 2, 3, 3, 4]
    assert _edges(outer, "left") == [[0, 1, 2, 3], [0, 1, 2, 2]]
    assert _edges(outer, "right") == [[1, 2, 3, 4], [0, 1, 2, 3]]
    side = left.join(sub.Traced.source(pd.DataFrame({"c": [7, 8, 9]}), "c"), on=None)
    assert list(side.frame["c"]) == [7, 8, 9] and _edges(side, "c") == [[0, 1, 2], [0, 1, 2]]
    for bad in (pd.DataFrame({"c": [1, 2]}), pd.DataFrame({"a": [1, 2, 3]})):
        with pytest.raises(ValueError):  # on=None needs equal lengths and distinct columns
            left.join(sub.Traced.source(bad, "bad"), on=None)


@question("q1", points=2)
def test_aggregate_links_a_group_to_all_its_rows(sub):
    t = sub.Traced.source(pd.DataFrame({"g": ["b", "a", "b", None, "a"], "v": [1, 2, 3, 4, 5]}),
                          "src")
    groups = t.aggregate("g", total=("v", "sum"), n=("v", "size"))
    assert list(groups.frame["g"]) == ["a", "b"]
    assert list(groups.frame["total"]) == [7, 4] and list(groups.frame["n"]) == [2, 2]
    assert _edges(groups, "src") == [[0, 0, 1, 1], [1, 4, 0, 2]], "row 3 (no key) is in no group"


def _random_frame(rng, n):
    return pd.DataFrame({"k": rng.integers(0, 8, n),
                         "g": rng.choice(["p", "q", "r", None], n),
                         "x": np.round(rng.normal(size=n), 3)})


def _plain(frame):
    """Missing values as None, whatever carried them (NaN, None, pd.NA)."""
    return frame.reset_index(drop=True).astype(object).where(frame.notna().to_numpy(), None)


def _same(ours, theirs):
    pd.testing.assert_frame_equal(_plain(ours.frame), _plain(theirs.frame), check_dtype=False)
    assert sorted(ours.lineage) == sorted(theirs.lineage)
    for name in theirs.lineage:
        assert _edges(ours, name) == _edges(theirs, name), f"lineage to {name!r}"


@question("q1", points=3, hidden=True)
def test_chains_match_reference(sub, ref, rng):
    for n in (1, 40, 300):
        a, b = _random_frame(rng, n), _random_frame(rng, n // 2 + 1).rename(columns={"x": "y"})
        mask_a, mask_b = rng.random(n) < 0.7, rng.random(len(b)) < 0.5
        ours = (sub.Traced.source(a, "a").filter(mask_a)
                .join(sub.Traced.source(b, "b").filter(mask_b), on=["k", "g"], how="inner"))
        theirs = (ref.Traced.source(a, "a").filter(mask_a)
                  .join(ref.Traced.source(b, "b").filter(mask_b), on=["k", "g"], how="inner"))
        _same(ours, theirs)
        _same(ours.aggregate(["g", "k"], s=("y", "sum")), theirs.aggregate(["g", "k"], s=("y", "sum")))
        for how in ("left", "outer", "right"):
            mine = sub.Traced.source(a, "a").join(sub.Traced.source(b, "b"), on="k", how=how)
            _same(mine, ref.Traced.source(a, "a").join(ref.Traced.source(b, "b"), on="k",
                                                        how=how))


@question("q1", points=2, hidden=True)
def test_lineage_is_the_true_relation(sub, rng):
    """Brute force: an output row's edges lead to exactly the input rows it was made from."""
    n = 200
    frame = pd.DataFrame({"id": np.arange(n), "g": rng.integers(0, 15, n).astype(float)})
    frame.loc[rng.random(n) < 0.1, "g"] = np.nan
    t = sub.Traced.source(frame, "src").filter(rng.random(n) < 0.8)
    groups = t.aggregate("g", ids=("id", "min"), n=("id", "size"))
    out, into = np.asarray(groups.lineage["src"])
    for r, (g, count) in enumerate(zip(groups.frame["g"], groups.frame["n"])):
        members = into[out == r]
        assert len(members) == count and (frame["g"].to_numpy()[members] == g).all()
    assert not np.isin(np.flatnonzero(frame["g"].isna().to_numpy()), into).any()
    whole = sub.Traced.source(frame, "src")
    side = whole.join(sub.Traced.source(frame[["id"]].rename(columns={"id": "other"}), "src"),
                      on=None)  # the same input on both sides: its edges are merged, sorted
    edges = np.asarray(side.lineage["src"])
    assert edges.shape == (2, 2 * n) and (np.diff(edges[0]) >= 0).all()
