"""Question q5: supervision as data (every source's votes, combined into probabilities)."""

import numpy as np
import pandas as pd
import pytest

from mlsys_edu.lab import question

SPEC = {"payloads": [{"name": "tokens", "type": "sequence", "column": "text"}],
        "tasks": [{"name": "spam", "payload": "tokens", "classes": ["ham", "spam"]}],
        "sources": [{"name": "gold", "task": "spam", "column": "gold"},
                    {"name": "link", "task": "spam", "lf": "link"},
                    {"name": "song", "task": "spam", "lf": "song"}]}
FRAME = pd.DataFrame({"text": ["see http://x.co", "nice song", "hello", "my song http://y.co"],
                      "gold": [1, -1, -1, 0]})


def _schema(sub, **changes):
    return sub.parse_schema({**SPEC, **changes})


@question("q5", points=2)
def test_votes_of_every_source_in_schema_order(sub):
    votes = sub.collect_votes(_schema(sub), FRAME, sub.LFS)
    assert set(votes) == {"spam"}
    L = np.asarray(votes["spam"])
    assert L.dtype == np.int8, f"votes are int8, got {L.dtype}"
    np.testing.assert_array_equal(L, [[1, 1, -1], [-1, -1, 0], [-1, -1, -1], [0, 1, 0]])


@question("q5", points=2)
def test_bad_sources_are_refused_by_name(sub):
    with pytest.raises(ValueError, match=r"sources\[1\] 'link'.*2 votes for 4 rows"):
        sub.collect_votes(_schema(sub), FRAME, {"link": sub.pd.DataFrame.nunique,
                                               "song": sub.LFS["song"]})
    with pytest.raises(ValueError, match=r"sources\[2\] 'song'"):
        sub.collect_votes(_schema(sub), FRAME, {"link": sub.LFS["link"]})  # no such LF
    with pytest.raises(ValueError, match=r"sources\[0\] 'gold'"):
        sub.collect_votes(_schema(sub), FRAME.assign(gold=[1, 2, -1, 0]), sub.LFS)  # class 2?
    with pytest.raises(ValueError, match=r"sources\[0\] 'gold'"):
        sub.collect_votes(_schema(sub), FRAME.drop(columns="gold"), sub.LFS)


@question("q5", points=2)
def test_probabilistic_labels_follow_gold_and_skip_uncovered(sub):
    schema = _schema(sub)
    L = np.array([[1, 1, -1], [0, -1, 0], [-1, -1, -1], [-1, 1, -1], [1, 1, -1], [0, -1, 0],
                  [-1, -1, 0], [0, 1, 0]], dtype=np.int8)
    probs, covered = sub.probabilistic_labels(schema, "spam", L)
    probs, covered = np.asarray(probs), np.asarray(covered)
    assert probs.shape == (8, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(covered, [True, True, False, True, True, True, True, True])
    gold = L[:, 0] != -1
    np.testing.assert_array_equal(probs[gold].argmax(axis=1), L[gold, 0],
                                  err_msg="where gold exists, it wins")
    assert probs[3, 1] > 0.5 and probs[6, 0] > 0.5, "the LFs' learned accuracies decide"


@question("q5", points=3, hidden=True)
def test_matches_reference_on_random_votes(sub, ref, rng):
    for n, m, k, with_gold in ((400, 5, 2, True), (300, 4, 3, True), (300, 6, 2, False)):
        classes = [f"c{i}" for i in range(k)]
        sources = ([{"name": "gold", "task": "t", "column": "gold"}] if with_gold else []) + [
            {"name": f"lf{j}", "task": "t", "lf": f"lf{j}"} for j in range(m)]
        spec = {"payloads": [{"name": "x", "type": "category", "column": "x"}],
                "tasks": [{"name": "t", "payload": "x", "classes": classes}], "sources": sources}
        y = rng.integers(0, k, n)
        L = np.where(rng.random((n, len(sources))) < 0.75,
                     np.where(rng.random((n, len(sources))) < 0.5, y[:, None],
                              rng.integers(0, k, (n, len(sources)))), -1).astype(np.int8)
        if with_gold:
            L[:, 0] = np.where(rng.random(n) < 0.3, y, -1)
        L[:10] = -1
        ours = sub.probabilistic_labels(sub.parse_schema(spec), "t", L)
        theirs = ref.probabilistic_labels(ref.parse_schema(spec), "t", L)
        np.testing.assert_allclose(np.asarray(ours[0]), theirs[0], atol=1e-6)
        np.testing.assert_array_equal(np.asarray(ours[1]), theirs[1])


@question("q5", points=2, hidden=True)
def test_collect_votes_matches_reference(sub, ref, rng):
    words = np.array(["check", "out", "my", "song", "http://a.b", "free", "money", "love",
                      "12345", "please", "subscribe"])
    n = 300
    frame = pd.DataFrame({"text": [" ".join(rng.choice(words, size=rng.integers(0, 8)))
                                   for _ in range(n)], "label": rng.integers(-1, 2, n)})
    names = [str(x) for x in rng.permutation(list(ref.LFS))[:6]]
    spec = {"payloads": [{"name": "tokens", "type": "sequence", "column": "text"}],
            "tasks": [{"name": "spam", "payload": "tokens", "classes": ["ham", "spam"]}],
            "sources": [{"name": f"s_{x}", "task": "spam", "lf": x} for x in names[:3]] +
                       [{"name": "gold", "task": "spam", "column": "label"}] +
                       [{"name": f"s_{x}", "task": "spam", "lf": x} for x in names[3:]]}
    ours = sub.collect_votes(sub.parse_schema(spec), frame, sub.LFS)["spam"]
    theirs = ref.collect_votes(ref.parse_schema(spec), frame, ref.LFS)["spam"]
    np.testing.assert_array_equal(np.asarray(ours), theirs)
