"""Question q5: schema inference from a reference batch."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question


def _tuples(schema):
    return [(c.column, c.kind, c.value, c.severity) for c in schema]


def _reference():
    return pd.DataFrame({
        "id": ["a1", "a2", "a3", "a4"],
        "n": [3, 1, 3, 2],
        "x": [0.5, np.nan, 2.0, -1.0],
        "when": pd.to_datetime(["2014-01-02", "2015-06-05 10:30", None, "2013-07-12"],
                               format="ISO8601"),
        "spam": [True, False, False, True],
        "one": ["x", "x", "x", "x"],
        "none": pd.Series([None] * 4, dtype=object),
    })


@question("q5", points=3)
def test_infers_types_ranges_domains_and_uniqueness(sub):
    schema = _tuples(sub.infer_schema(_reference(), max_domain_size=3))
    assert schema == [
        ("id", "type", "string", "error"), ("id", "max_null_fraction", 0.0, "warning"),
        ("id", "length", [2, 2], "warning"), ("id", "unique", None, "error"),
        ("n", "type", "int", "error"), ("n", "max_null_fraction", 0.0, "warning"),
        ("n", "range", [1, 3], "warning"), ("n", "domain", [1, 2, 3], "warning"),
        ("x", "type", "float", "error"), ("x", "max_null_fraction", 0.25, "warning"),
        ("x", "range", [-1.0, 2.0], "warning"),
        ("when", "type", "datetime", "error"), ("when", "max_null_fraction", 0.25, "warning"),
        ("when", "range", ["2013-07-12T00:00:00", "2015-06-05T10:30:00"], "warning"),
        ("spam", "type", "bool", "error"), ("spam", "max_null_fraction", 0.0, "warning"),
        ("spam", "domain", [False, True], "warning"),
        ("one", "type", "string", "error"), ("one", "max_null_fraction", 0.0, "warning"),
        ("one", "length", [1, 1], "warning"), ("one", "domain", ["x"], "warning"),
        ("none", "type", "string", "error"), ("none", "max_null_fraction", 1.0, "warning"),
    ], "a single value is a domain; a column with no value has none"


@question("q5", points=1)
def test_values_are_plain_python(sub):
    for c in sub.infer_schema(_reference(), max_domain_size=3):
        values = c.value if isinstance(c.value, list) else [c.value]
        assert all(v is None or type(v) in (int, float, str, bool) for v in values), \
            f"{c.column} {c.kind}: {c.value!r} holds numpy values; use .item() (JSON needs them)"


def _random_frame(rng, n):
    frame = pd.DataFrame({
        "video": rng.integers(1, 6, n), "score": np.round(rng.normal(size=n), 2),
        "author": rng.choice(["ann", "bob", "cy", "dee", "zed"], n),
        "text": ["".join(rng.choice(list("ab c"), rng.integers(0, 12))) for _ in range(n)],
        "id": rng.permutation(n * 3)[:n], "flag": rng.random(n) < 0.3,
        "date": pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")})
    frame.loc[rng.random(n) < 0.1, "score"] = np.nan
    frame.loc[rng.random(n) < 0.1, "date"] = pd.NaT
    return frame


@question("q5", points=3, hidden=True)
def test_matches_reference_on_random_frames(sub, ref, rng):
    for n, domain in ((50, 20), (200, 4), (30, 40)):
        frame = _random_frame(rng, n)
        ours, theirs = _tuples(sub.infer_schema(frame, domain)), _tuples(ref.infer_schema(frame, domain))
        assert [t[:2] for t in ours] == [t[:2] for t in theirs], "the constraints and their order"
        for o, t in zip(ours, theirs):
            assert o[3] == t[3], f"severity of {t[:2]}"
            if isinstance(t[2], float):
                assert o[2] == pytest.approx(t[2]), t[:2]
            else:
                assert o[2] == t[2], t[:2]
