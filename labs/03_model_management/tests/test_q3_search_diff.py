"""Question q3: search and diff."""

import hashlib
import shutil
import tempfile

from mlsys_edu.lab import question

TRAIN, OTHER = hashlib.sha256(b"train").hexdigest(), hashlib.sha256(b"other").hexdigest()


def fresh(ns, root=None):
    root = root or ns.scratch_dir()
    registry = ns.Registry(f"sqlite:///{root}/registry.db", f"{root}/artifacts")
    registry.add_user("alice", ["author"])
    for model in ("ham", "spam"):
        registry.create_model(model, by="alice")
    return registry


def example(ns):
    """spam v1..v3 and ham v1, with tags, data and metrics to search on."""
    registry = fresh(ns)
    registry.register("spam", b"a", by="alice", metrics={"acc": 0.80, "f1": 0.7},
                      datasets={"train": TRAIN}, tags={"stage": "dev"}, params={"C": 1})
    registry.register("spam", b"b", by="alice", metrics={"acc": 0.90, "f1": 0.6},
                      datasets={"train": OTHER}, tags={"stage": "prod", "lfs": 10},
                      params={"C": 10, "new": True}, code="c2")
    registry.register("spam", b"b", by="alice", metrics={"acc": 0.95},
                      datasets={"train": TRAIN, "test": OTHER}, tags={"stage": "prod"},
                      params={"C": 10}, code="c2")
    registry.register("ham", b"h", by="alice", metrics={"acc": 0.99}, datasets={"train": TRAIN},
                      tags={"stage": "prod"})
    return registry


def found(results):
    return [(v["model"], v["version"]) for v in results]


@question("q3", points=3)
def test_search_filters_by_model_tags_data_and_metrics(sub):
    registry = example(sub)
    assert found(registry.search()) == [("ham", 1), ("spam", 1), ("spam", 2), ("spam", 3)]
    assert found(registry.search("spam")) == [("spam", 1), ("spam", 2), ("spam", 3)]
    assert found(registry.search(tags={"stage": "prod"})) == [("ham", 1), ("spam", 2), ("spam", 3)]
    assert found(registry.search(tags={"stage": "prod", "lfs": 10})) == [("spam", 2)]
    assert found(registry.search(dataset=TRAIN)) == [("ham", 1), ("spam", 1), ("spam", 3)]
    assert found(registry.search(dataset=OTHER, model="spam")) == [("spam", 2), ("spam", 3)]
    assert found(registry.search(min_metrics={"acc": 0.9})) == [("ham", 1), ("spam", 2),
                                                                ("spam", 3)]
    assert found(registry.search(min_metrics={"acc": 0.8, "f1": 0.65})) == [("spam", 1)]
    assert found(registry.search(min_metrics={"recall": 0.0})) == [], "a missing metric fails"
    assert registry.search("spam", tags={"stage": "dev"})[0]["metrics"] == {"acc": 0.8, "f1": 0.7}


@question("q3", points=3)
def test_diff_lists_what_changed(sub):
    registry = example(sub)
    d = registry.diff("spam", 1, 2)
    assert d["params"] == {"C": [1, 10], "new": [None, True]}
    assert d["metrics"] == {"acc": [0.8, 0.9], "f1": [0.7, 0.6]}
    assert d["datasets"] == {"train": [TRAIN, OTHER]}
    assert d["tags"] == {"lfs": [None, "10"], "stage": ["dev", "prod"]}
    assert d["code"] == ["", "c2"]
    assert d["artifact"] == [hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()]
    same = registry.diff("spam", 2, 3)
    assert same["artifact"] is None and same["code"] is None, "equal fields diff to None"
    assert same["params"] == {"new": [True, None]}
    assert same["datasets"] == {"test": [None, OTHER], "train": [OTHER, TRAIN]}
    assert registry.diff("spam", 3, 3) == {"params": {}, "metrics": {}, "datasets": {},
                                           "tags": {}, "code": None, "artifact": None}


@question("q3", points=4, hidden=True)
def test_search_and_diff_match_the_reference_on_random_registries(sub, ref, rng):
    folder = tempfile.mkdtemp()
    try:
        ours, theirs = fresh(sub), fresh(ref, folder)
        hashes = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]
        for _ in range(30):
            model = ["ham", "spam"][int(rng.integers(0, 2))]
            kwargs = dict(
                by="alice",
                metrics={m: round(float(rng.random()), 2) for m in ("acc", "f1", "auc")
                         if rng.random() < 0.7},
                datasets={n: hashes[int(rng.integers(0, 4))] for n in ("train", "test")
                          if rng.random() < 0.7},
                tags={t: str(int(rng.integers(0, 3))) for t in ("stage", "team")
                      if rng.random() < 0.6},
                params={p: int(rng.integers(0, 3)) for p in ("C", "n") if rng.random() < 0.6},
                code=str(int(rng.integers(0, 2))))
            artifact = bytes([int(rng.integers(0, 6))])
            ours.register(model, artifact, **kwargs)
            theirs.register(model, artifact, **kwargs)
        for _ in range(25):
            query = {}
            if rng.random() < 0.4:
                query["model"] = ["ham", "spam"][int(rng.integers(0, 2))]
            if rng.random() < 0.5:
                query["tags"] = {"stage": str(int(rng.integers(0, 3)))}
                if rng.random() < 0.4:
                    query["tags"]["team"] = str(int(rng.integers(0, 3)))
            if rng.random() < 0.4:
                query["dataset"] = hashes[int(rng.integers(0, 4))]
            if rng.random() < 0.5:
                query["min_metrics"] = {"acc": round(float(rng.random()), 2)}
                if rng.random() < 0.4:
                    query["min_metrics"]["auc"] = round(float(rng.random()), 2)
            assert found(ours.search(**query)) == found(theirs.search(**query)), query
        for _ in range(15):
            model = ["ham", "spam"][int(rng.integers(0, 2))]
            n = len(theirs.versions(model))
            if n:
                a, b = (int(x) for x in rng.integers(1, n + 1, size=2))
                assert ours.diff(model, a, b) == theirs.diff(model, a, b), (model, a, b)
        theirs.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
