"""Question q3: the pipeline: content-addressed cache, SQLite record, failures."""

import time

import numpy as np
import pandas as pd

from mlsys_edu.lab import question

TEXTS = ["Check out my channel&#39;s videos<br />", "nice song", "nice song", "\ufeffLove it",
         "<b>free</b> money", "", "subscribe plz"]


def _comments(rng=None, n=7):
    """Comments with markup, a repeat, an empty text and an undated one."""
    if rng is None:
        texts, authors = TEXTS, ["ann", "bob", "bob", "cy", "dee", "eve", "ann"]
    else:
        texts = list(rng.choice(TEXTS, n))
        authors = list(rng.choice(["ann", "bob", "cy", " dee ", "Ed&amp;Co"], n))
    dates = pd.to_datetime(["2014-05-01 10:00", "2014-05-01 11:00", "2014-05-01 12:00", None,
                            "2015-01-01", "2014-05-01 12:00", "2014-06-01"] * (n // 7 + 1),
                           format="ISO8601")[:n]
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)], "author": authors,
                         "text": texts, "date": dates, "video": (np.arange(n) % 2 + 1)})


def _nodes(sub, frame, chunk_rows=3, dedupe=None):
    return [sub.Source("comments", frame=frame),
            sub.Step("clean", sub.sp.clean, ["comments"], {"chunk_rows": chunk_rows}),
            sub.Step("dedupe", dedupe if dedupe is not None else sub.sp.dedupe, ["clean"]),
            sub.Step("features", sub.sp.features, ["dedupe"]),
            sub.Step("daily_volume", sub.sp.daily_volume, ["features"]),
            sub.Step("with_volume", sub.sp.add_volume, ["features", "daily_volume"])]


def _statuses(report):
    return dict(zip(report["step"], report["status"]))


@question("q3", points=2)
def test_second_run_is_cached(sub):
    root = sub.tempfile.mkdtemp()
    first = sub.Pipeline(_nodes(sub, _comments()), root).reproduce()
    assert list(first.columns[:3]) == ["step", "status", "rows"]
    assert set(first["status"]) == {"ran"}, first
    assert list(first["rows"]) == [7, 6, 5, 5, 4, 4], "the undated comment has no volume"
    pipe = sub.Pipeline(_nodes(sub, _comments()), root)
    start = time.perf_counter()
    again = pipe.reproduce()
    elapsed = time.perf_counter() - start
    assert set(again["status"]) == {"cached"}, "nothing changed: nothing runs again"
    assert ((again["seconds"] >= 0) & (again["seconds"] <= elapsed)).all(), "seconds per node"
    record = pipe.record()  # the steps table of the latest run
    assert list(record["step"]) == list(again["step"]), "one steps row per node, in order"
    assert set(record["status"]) == {"cached"} and set(record["run_status"]) == {"ok"}
    assert list(record["output"]) == list(sub.Pipeline(_nodes(sub, _comments()), root)
                                          .record()["output"])


@question("q3", points=2)
def test_a_change_reruns_what_depends_on_it(sub):
    root = sub.tempfile.mkdtemp()
    sub.Pipeline(_nodes(sub, _comments()), root).reproduce()
    report = sub.Pipeline(_nodes(sub, _comments(), dedupe=sub.sp.clean), root).reproduce()
    assert _statuses(report) == {"comments": "cached", "clean": "cached", "dedupe": "ran",
                                 "features": "ran", "daily_volume": "ran", "with_volume": "ran"}
    frame = _comments()
    frame.loc[6, "text"] = "a different comment"
    report = sub.Pipeline(_nodes(sub, frame), root).reproduce()
    assert set(report["status"]) == {"ran"}, "new data: every step runs"


@question("q3", points=2)
def test_a_failed_step_stores_nothing(sub):
    root = sub.tempfile.mkdtemp()
    nodes = [sub.Source("comments", frame=_comments()[["comment_id", "text"]]),
             sub.Step("volume", sub.sp.daily_volume, ["comments"]),  # no video, no day
             sub.Step("dedupe", sub.sp.dedupe, ["volume"])]
    pipe = sub.Pipeline(nodes, root)
    report = pipe.reproduce()
    assert list(report["status"]) == ["ran", "failed", "skipped"]
    assert report["error"].iloc[1].startswith("KeyError"), "error: '<Type>: <message>'"
    assert len(pipe.store.listing()) == 1, "only the source's artifact is stored"
    record = pipe.record()
    assert list(record["status"]) == ["ran", "failed", "skipped"], "every node has its row"
    assert set(record["run_status"]) == {"failed"}, "a run with a failed step failed"
    assert pd.isna(record["output"].iloc[1]) and 0 <= record["seconds"].iloc[0] < 600
    try:
        pipe.output("volume")
    except LookupError:
        pass
    else:
        raise AssertionError("a failed step has no output")


@question("q3", points=3, hidden=True)
def test_outputs_and_lineage_match_reference(sub, ref, rng):
    frame = _comments(rng, 60)
    ours = sub.Pipeline(_nodes(sub, frame, chunk_rows=7), sub.tempfile.mkdtemp())
    theirs = ref.Pipeline(_nodes(ref, frame, chunk_rows=7), ref.tempfile.mkdtemp())
    ours_report, theirs_report = ours.reproduce(), theirs.reproduce()
    assert list(ours_report["rows"]) == list(theirs_report["rows"])
    for name in theirs_report["step"]:
        pd.testing.assert_frame_equal(ours.output(name), theirs.output(name), check_dtype=False)
    lin_ours, lin_theirs = ours.lineage(), theirs.lineage()
    assert lin_ours.n_rows == lin_theirs.n_rows
    for name, inputs in lin_theirs.edges.items():
        for source, edges in inputs.items():
            np.testing.assert_array_equal(lin_ours.edges[name][source], edges, err_msg=name)


@question("q3", points=2, hidden=True)
def test_identical_output_stops_the_cascade(sub, rng):
    root, frame = sub.tempfile.mkdtemp(), _comments(rng, 20)
    sub.Pipeline(_nodes(sub, frame, chunk_rows=40), root).reproduce()
    report = sub.Pipeline(_nodes(sub, frame, chunk_rows=50), root).reproduce()  # cleans nothing
    assert _statuses(report) == {"comments": "cached", "clean": "ran", "dedupe": "cached",
                                 "features": "cached", "daily_volume": "cached",
                                 "with_volume": "cached"}, "same bytes, same key downstream"
    again = sub.Pipeline(_nodes(sub, frame, chunk_rows=40), root).reproduce()
    assert set(again["status"]) == {"cached"}


@question("q3", points=2, hidden=True)
def test_record_and_files(sub, rng):
    folder = sub.tempfile.mkdtemp()
    csv = f"{folder}/export.csv"
    frame = _comments(rng, 12)[["comment_id", "author", "text"]]
    sub.Path(csv).write_bytes(frame.to_csv(index=False).encode())
    nodes = [sub.Source("export", path=csv), sub.Step("clean", sub.sp.clean, ["export"])]
    pipe = sub.Pipeline(nodes, f"{folder}/pipe")
    assert list(pipe.reproduce()["status"]) == ["ran", "ran"]
    latest = pipe._latest()
    assert [(row[0], row[3]) for row in latest] == [("export", "ran"), ("clean", "ran")], \
        "every node gets a steps row in the run"
    assert all(len(row[1]) == 64 and len(row[2]) == 64 for row in latest), "key and output"
    assert list(pipe.output("export")["text"]) == list(frame["text"])
    edges = pipe.lineage().edges["clean"]["export"]
    assert np.asarray(edges).shape[1] == pipe._rows(latest[1][2])
    sub.Path(csv).write_bytes(frame.iloc[::-1].to_csv(index=False).encode())
    assert list(sub.Pipeline(nodes, f"{folder}/pipe").reproduce()["status"]) == ["ran", "ran"]
    stray = [f for f in pipe.store.listing() if "tmp" in f.rsplit("/", 1)[-1]]
    assert not stray, f"temporary files left behind: {stray}"


@question("q3", points=2, hidden=True)
def test_a_broken_source_is_recorded_with_its_anomalies(sub, rng):
    folder = sub.tempfile.mkdtemp()
    good = _comments(rng, 5)[["comment_id", "author", "text"]].to_csv(index=False)
    sub.Path(f"{folder}/good.csv").write_bytes(good.encode())
    sub.Path(f"{folder}/latin1.csv").write_bytes((good + "c9,ann,café\n").encode("latin-1"))
    nodes = [sub.Source("good", path=f"{folder}/good.csv"),
             sub.Source("latin1", path=f"{folder}/latin1.csv"),
             sub.Step("clean", sub.sp.clean, ["latin1"])]
    pipe = sub.Pipeline(nodes, f"{folder}/pipe")
    start = time.perf_counter()
    report = pipe.reproduce()
    elapsed = time.perf_counter() - start
    assert list(report["status"]) == ["ran", "failed", "skipped"]
    assert report["error"].iloc[1].startswith("DataError") and "UTF-8" in report["error"].iloc[1]
    record = pipe.record()
    assert '"encoding"' in record["anomalies"].iloc[1], "a DataError's anomalies are recorded"
    assert record["anomalies"].iloc[0] == "[]"
    assert ((record["seconds"] >= 0) & (record["seconds"] <= elapsed)).all()
    assert len(record) == 3 and set(record["run_status"]) == {"failed"}
