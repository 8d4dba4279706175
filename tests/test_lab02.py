"""Lab 02's plumbing and reference solution: canonical bytes and their hash, code fingerprints,
lineage against brute force, crash safety of the store, bad input, and the planted bugs."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlsys_edu.lab.source import solution_module_source  # noqa: E402
from mlsys_edu.labkit import artifacts  # noqa: E402
from mlsys_edu.labkit.pipelines import DataError, compose, read_csv_source  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LAB_SOURCE = REPO / "labs" / "02_data_pipelines" / "lab.py"
FAST = settings(max_examples=30, deadline=None)

def _sample_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "i": pd.array([1, 2, None], dtype="Int64"), "f": [0.5, np.nan, -2.0],
        "s": ["a", None, "ü \ufeff"], "b": [True, False, True],
        "t": pd.to_datetime(["2014-01-01", None, "2015-06-05T01:02:03.5"], format="ISO8601"),
        "c": pd.Categorical(["x", "y", "x"]), "n": np.array([3, 4, 5], dtype=np.int8)})


@pytest.fixture(scope="module")
def lab() -> types.ModuleType:
    module = types.ModuleType("lab02_reference")
    sys.modules[module.__name__] = module
    exec(compile(solution_module_source(LAB_SOURCE), str(LAB_SOURCE), "exec"), module.__dict__)
    return module


# ----------------------------------------------------------------------------- bytes
EXPECTED_DIGEST = "aab569df772703c0a74fc997d42267c6913db7a64fd16efbff438d248fc27b5a"


def test_frame_hash_is_the_same_on_every_version() -> None:
    """The digest below was computed on both version sets (pandas 3.1 / pyarrow 26 and
    Colab's pandas 2.2.3 / pyarrow 18.1): a change here breaks every cache and lineage key."""
    assert artifacts.frame_hash(_sample_frame()) == EXPECTED_DIGEST


def test_hash_ignores_the_index_and_the_string_storage() -> None:
    frame = _sample_frame()
    shuffled = frame.set_axis([7, 3, 9])
    assert artifacts.frame_hash(shuffled) == artifacts.frame_hash(frame)
    as_objects = frame.astype({"s": object})
    assert artifacts.frame_hash(as_objects) == artifacts.frame_hash(frame)
    pytest.importorskip("pyarrow")
    as_arrow = frame.astype({"s": "string[pyarrow]"})
    assert artifacts.frame_hash(as_arrow) == artifacts.frame_hash(frame)
    assert artifacts.frame_hash(frame[list(frame.columns)[::-1]]) != artifacts.frame_hash(frame)


def test_unstorable_frames_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="mixed Python objects"):
        artifacts.canonical_bytes(pd.DataFrame({"x": [1, "a"]}))
    with pytest.raises(ValueError, match="duplicate column"):
        artifacts.canonical_bytes(pd.DataFrame([[1, 2]], columns=["a", "a"]))


@given(st.lists(st.tuples(st.integers(-2**40, 2**40), st.floats(allow_nan=True, width=64),
                          st.text(max_size=8), st.booleans()), max_size=30))
@FAST
def test_canonical_bytes_round_trip(rows) -> None:
    frame = pd.DataFrame(rows, columns=["i", "f", "s", "b"]).astype(
        {"i": "int64", "f": "float64", "b": "bool"})
    data = artifacts.canonical_bytes(frame)
    back = artifacts.read_frame(data)
    assert artifacts.canonical_bytes(back) == data
    assert list(back.columns) == ["i", "f", "s", "b"] and len(back) == len(frame)


# ----------------------------------------------------------------------------- code
FINGERPRINT_SCRIPT = """
import sys
from mlsys_edu.labkit.artifacts import code_fingerprint
LIMIT = 3
def helper(x):
    return x in {"a", "b", "c", "d"}
def step(t, n=2):
    return [helper(v) for v in t][:LIMIT + n]
print(code_fingerprint(step))
"""


def _fingerprint(script: str, seed: str) -> str:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
    return done.stdout.strip()


def test_code_fingerprint_is_stable_across_processes_and_sees_helpers() -> None:
    first = _fingerprint(FINGERPRINT_SCRIPT, "1")
    assert first == _fingerprint(FINGERPRINT_SCRIPT, "2"), "a frozenset constant, sorted"
    commented = FINGERPRINT_SCRIPT.replace("def step", "# a comment\n\ndef step")
    assert _fingerprint(commented, "3") == first, "comments and line numbers do not count"
    for changed in (FINGERPRINT_SCRIPT.replace('"d"}', '"e"}'),  # the helper's code
                    FINGERPRINT_SCRIPT.replace("LIMIT = 3", "LIMIT = 4"),  # a module constant
                    FINGERPRINT_SCRIPT.replace("n=2", "n=5")):  # a default
        assert _fingerprint(changed, "1") != first


# ----------------------------------------------------------------------------- lineage
@given(st.integers(0, 2**16))
@FAST
def test_compose_is_relational_composition(seed) -> None:
    rng = np.random.default_rng(seed)
    old = np.sort(rng.integers(0, 8, rng.integers(0, 20)))
    edges = np.stack([old, rng.integers(0, 5, len(old))])
    new = rng.integers(0, 6, rng.integers(0, 15))
    link = np.stack([new, rng.integers(0, 8, len(new))])
    expected = sorted((n, i) for n, o in link.T for o2, i in edges.T if o == o2)
    result = compose(edges, link)
    assert sorted(map(tuple, result.T.tolist())) == expected
    assert (np.diff(result[0]) >= 0).all(), "sorted by the new row"


def test_aggregate_and_join_lineage_by_brute_force(lab) -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"id": np.arange(60), "k": rng.integers(0, 6, 60).astype(float)})
    frame.loc[rng.random(60) < 0.15, "k"] = np.nan
    t = lab.Traced.source(frame, "src")
    groups = t.aggregate("k", n=("id", "size"))
    joined = t.join(groups, on="k")
    out, into = joined.lineage["src"]
    for r in range(len(joined)):
        key = joined.frame["k"].iloc[r]
        members = set(np.flatnonzero(frame["k"].to_numpy() == key))  # the group, via groups
        assert set(into[out == r]) == members  # its own row is one of the group's rows
    assert len(joined) == frame["k"].notna().sum(), "rows without a key join no group"


# ----------------------------------------------------------------------------- the store
def test_a_crash_during_put_leaves_nothing_and_a_rerun_recovers(lab, tmp_path, monkeypatch):
    comments = pd.DataFrame({"comment_id": ["a", "b"], "author": ["x", "y"],
                             "text": ["hi&amp;", "ok"]})
    nodes = [lab.Source("src", frame=comments), lab.Step("clean", lab.sp.clean, ["src"],
                                                         {"chunk_rows": 1})]
    pipe = lab.Pipeline(nodes, tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def crash_on_second(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(lab.os, "replace", crash_on_second)
    report = pipe.reproduce()
    assert list(report["status"]) == ["ran", "failed"] and "disk full" in report["error"][1]
    assert len(pipe.store.listing()) == 1 and not any(".tmp" in f for f in pipe.store.listing())
    monkeypatch.setattr(lab.os, "replace", real_replace)
    again = lab.Pipeline(nodes, tmp_path).reproduce()
    assert list(again["status"]) == ["cached", "ran"]
    with pipe._db() as db:
        statuses = db.execute("SELECT step, status FROM steps ORDER BY rowid").fetchall()
        runs = db.execute("SELECT status FROM runs ORDER BY run").fetchall()
    assert statuses == [("src", "ran"), ("clean", "failed"), ("src", "cached"), ("clean", "ran")]
    assert runs == [("failed",), ("ok",)]


def test_broken_encoding_names_the_line(tmp_path) -> None:
    data = "COMMENT_ID,CONTENT\n1,fine\n2,caf\xe9\n".encode("latin-1")
    with pytest.raises(DataError) as info:
        read_csv_source(data, "export")
    anomaly = info.value.anomalies[0]
    assert anomaly.kind == "encoding" and "line 3" in anomaly.message and list(anomaly.rows) == [1]


def test_anomalies_of_a_failed_source_are_recorded(lab, tmp_path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("COMMENT_ID,CLASS\nc1,spam\n")
    schema = [lab.Constraint("CLASS", "domain", ["0", "1"]),
              lab.Constraint("CONTENT", "type", "string")]
    pipe = lab.Pipeline([lab.Source("export", path=str(path), schema=schema)], tmp_path / "p")
    assert list(pipe.reproduce()["status"]) == ["failed"]
    with pipe._db() as db:
        (recorded,) = db.execute("SELECT anomalies FROM steps").fetchone()
    assert '"missing_column"' in recorded and '"domain"' in recorded
    assert pipe.store.listing() == []


# ----------------------------------------------------------------------------- the hunt
@pytest.fixture(scope="module")
def hunt(lab, tmp_path_factory, offline_data):
    folder = tmp_path_factory.mktemp("hunt")
    last = lab.Pipeline(lab.sp.spam_pipeline(lab.sp.write_exports(folder / "a", lab.raw_youtube_spam(), False)),
                        folder / "pa")
    this = lab.Pipeline(lab.sp.spam_pipeline(lab.sp.write_exports(folder / "b", lab.raw_youtube_spam())), folder / "pb")
    last.reproduce(), this.reproduce()
    return last, this


def test_the_three_planted_bugs_are_found_by_the_tools(lab, hunt) -> None:
    last, this = hunt
    schema = lab.infer_schema(last.output("features"))
    schema.append(lab.Constraint("text", "not_regex", r"&#?\w+;|<[a-zA-Z/]|\ufeff", "error"))
    features, lin = this.output("features"), this.lineage()
    found = {(a.column, a.kind): a.rows for a in lab.validate(features, schema)}
    date_rows = found[("date", "range")]  # bug 1: the unit change, all of export 05
    assert set(lab.trace_back(lin, "features", date_rows)) == {"Youtube05-Shakira"}
    assert len(date_rows) == (features["video"] == 5).sum()
    markup = lab.trace_back(lin, "features", found[("text", "not_regex")])  # bug 2
    offsets = dict(zip(lab.sp.EXPORTS, np.cumsum([0] + [lin.n_rows[s] for s in lab.sp.EXPORTS])))
    positions = np.concatenate([offsets[s] + r for s, r in markup.items()])
    assert (positions >= 1500).mean() > 0.99, "the chunk loop's last chunk is uncleaned"
    export = lab.sp.EXPORTS[3]  # bug 3: the join drops the undated comments
    reached = {a: lab.trace_back(lin, a, np.arange(lin.n_rows[a]))[export]
               for a in ("features", "with_volume")}
    lost = np.setdiff1d(reached["features"], reached["with_volume"])
    raw = read_csv_source(Path(this.nodes[3].path).read_bytes())
    assert len(lost) > 200 and (raw["DATE"].iloc[lost] == "").all()
    assert (raw["CLASS"].iloc[lost] == "1").all(), "every comment the join drops is spam"


def test_the_fixed_pipeline_keeps_every_row_and_reuses_the_sources(lab, hunt) -> None:
    _, this = hunt
    before = this.output("training_set")  # the latest run of the root: read it before fixing
    fixed = lab.Pipeline(lab.fix_pipeline(this.nodes), this.root)
    report = fixed.reproduce()
    assert list(report["status"][:5]) == ["cached"] * 5
    assert len(fixed.output("with_volume")) == len(fixed.output("features"))
    dates = fixed.output("features")["date"]
    assert dates.min() >= pd.Timestamp("2013-01-01")
    after = fixed.output("training_set")
    assert len(after) > len(before)
    assert (after["label"] == 1).mean() > (before["label"] == 1).mean(), \
        "the dropped comments were spam"
