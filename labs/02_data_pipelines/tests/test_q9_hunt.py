"""Question q9: the fixes for the three planted bugs."""

import re

import numpy as np
import pandas as pd

from mlsys_edu.lab import question

MARKUP = r"&#?\w+;|<[a-zA-Z/]|\ufeff"


def _comments(n, rng=None):
    texts = ["a&#39;b<br />", "\ufeffnice", "plain", "<b>bold</b>  x", "", "x &amp; y", "k"]
    pick = (np.arange(n) % len(texts)) if rng is None else rng.integers(0, len(texts), n)
    return pd.DataFrame({"comment_id": [f"c{i}" for i in range(n)],
                         "author": [f" user&amp;{i % 3} " for i in range(n)],
                         "text": [texts[i] for i in pick]})


@question("q9", points=2)
def test_clean_fixed_cleans_every_row(sub):
    t = sub.Traced.source(_comments(13), "src")
    out = sub.clean_fixed(t, chunk_rows=5)
    assert not any(re.search(MARKUP, s) for s in out.frame["text"]), "markup left"
    assert len(out) == 11, "the two empty comments are dropped, one-letter ones kept"
    assert out.frame["author"].iloc[0] == "user&0"


@question("q9", points=2)
def test_add_volume_fixed_keeps_every_comment(sub):
    comments = pd.DataFrame({"video": [1, 1, 2], "day": pd.to_datetime(["2014-01-01", None,
                                                                         "2014-01-02"])})
    volume = pd.DataFrame({"video": [1, 2], "day": pd.to_datetime(["2014-01-01", "2014-01-02"]),
                           "comments_that_day": [5, 7]})
    out = sub.add_volume_fixed(sub.Traced.source(comments, "c"), sub.Traced.source(volume, "v"))
    assert list(out.frame["comments_that_day"]) == [5, 0, 7]
    assert np.asarray(out.lineage["c"]).tolist() == [[0, 1, 2], [0, 1, 2]]


@question("q9", points=2, hidden=True)
def test_clean_fixed_matches_reference(sub, ref, rng):
    for n, chunk in ((1, 500), (37, 8), (120, 500)):
        frame = _comments(n, rng)
        ours = sub.clean_fixed(sub.Traced.source(frame, "s"), chunk_rows=chunk)
        theirs = ref.clean_fixed(ref.Traced.source(frame, "s"), chunk_rows=chunk)
        pd.testing.assert_frame_equal(ours.frame, theirs.frame, check_dtype=False)
        np.testing.assert_array_equal(np.asarray(ours.lineage["s"]), theirs.lineage["s"])


@question("q9", points=4, hidden=True)
def test_fixed_pipeline_has_none_of_the_bugs(sub):
    folder = sub.tempfile.mkdtemp()
    pipe = sub.Pipeline(sub.fix_pipeline(sub.sp.spam_pipeline(sub.sp.write_exports(folder, sub.raw_youtube_spam()))),
                        f"{folder}/pipe")
    report = pipe.reproduce()
    assert set(report["status"]) == {"ran"}, report
    features, with_volume = pipe.output("features"), pipe.output("with_volume")
    dates = features.loc[features["video"] == 5, "date"]
    assert dates.min() >= pd.Timestamp("2013-01-01"), "export 05's dates are read as seconds"
    assert sum(bool(re.search(MARKUP, t)) for t in features["text"]) <= 2, "markup left"
    assert len(with_volume) == len(features), "the volume join keeps every comment"
    assert (with_volume["comments_that_day"] >= 0).all()
