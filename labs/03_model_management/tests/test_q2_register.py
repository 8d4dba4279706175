"""Question q2: registering versions (numbering, lineage, refusals that leave no trace)."""

import hashlib
import shutil
import tempfile

import pytest

from mlsys_edu.lab import question

DATA = {"train": hashlib.sha256(b"train").hexdigest(), "test": hashlib.sha256(b"test").hexdigest()}
USERS = [("alice", ["author"]), ("carol", ["author", "reviewer"]), ("bob", ["reviewer"]),
         ("dave", ["operator"])]


def fresh(ns, root=None):
    """A registry with the usual users and two models, in a new folder."""
    root = root or ns.scratch_dir()
    registry = ns.Registry(f"sqlite:///{root}/registry.db", f"{root}/artifacts")
    for name, roles in USERS:
        registry.add_user(name, roles)
    registry.create_model("spam", by="alice")
    registry.create_model("ham", by="carol")
    return registry


def count(registry, table, where=""):
    return registry.db.value(f"SELECT count(*) FROM {table} {where}")


def comparable(version):
    return {k: v for k, v in version.items() if k != "created_at"}


@question("q2", points=2)
def test_versions_are_numbered_per_model_from_one(sub):
    registry = fresh(sub)
    numbers = [registry.register("spam", f"w{i}".encode(), by="alice") for i in range(3)]
    assert numbers == [1, 2, 3]
    assert registry.register("ham", b"w0", by="carol") == 1, "each model counts on its own"
    assert registry.register("spam", b"w9", by="carol") == 4
    assert [m["last_version"] for m in registry.models()] == [1, 4]  # ham, spam


@question("q2", points=2)
def test_a_version_records_its_lineage(sub):
    registry = fresh(sub)
    registry.register("spam", b"first", by="alice")
    n = registry.register("spam", b"second weights", by="carol", params={"lr": 0.1, "lfs": ["a"]},
                          metrics={"acc": 0.9, "n": 3}, datasets=DATA, code="abc123", parent=1,
                          tags={"stage": "test", "lfs": 10})
    v = registry.version("spam", n)
    assert v["artifact"] == hashlib.sha256(b"second weights").hexdigest()
    assert v["artifact_bytes"] == len(b"second weights")
    assert (v["params"], v["metrics"], v["datasets"]) == ({"lr": 0.1, "lfs": ["a"]},
                                                          {"acc": 0.9, "n": 3.0}, DATA)
    assert v["tags"] == {"stage": "test", "lfs": "10"}, "tag values are stored as text"
    assert (v["code"], v["parent"], v["created_by"]) == ("abc123", 1, "carol")
    assert registry.store.get(v["artifact"]) == b"second weights"
    entries = [e for e in registry.audit_log("spam") if e["action"] == "register"]
    assert [(e["actor"], e["version"]) for e in entries] == [("alice", 1), ("carol", 2)]


@question("q2", points=1)
def test_identical_weights_share_one_artifact(sub):
    registry = fresh(sub)
    a = registry.register("spam", b"same", by="alice", params={"threshold": 0.5})
    b = registry.register("spam", b"same", by="alice", params={"threshold": 0.3})
    assert registry.version("spam", a)["artifact"] == registry.version("spam", b)["artifact"]
    assert len(registry.store.digests()) == 1


@question("q2", points=3)
def test_refused_registrations_leave_no_trace(sub):
    registry = fresh(sub)
    registry.register("spam", b"ok", by="alice")
    refusals = [
        (ValueError, dict(model="spam", by="alice", metrics={"acc": float("nan")})),
        (ValueError, dict(model="spam", by="alice", metrics={"acc": "high"})),
        (ValueError, dict(model="spam", by="alice", metrics={"ok": 1, "passed": True})),
        (ValueError, dict(model="spam", by="alice", metrics={"loss": float("-inf")})),
        (ValueError, dict(model="spam", by="alice", datasets={"train": "not-a-hash"})),
        (LookupError, dict(model="nope", by="alice")),
        (LookupError, dict(model="spam", by="alice", parent=7)),
        (PermissionError, dict(model="spam", by="bob")),  # a reviewer, not an author
        (PermissionError, dict(model="spam", by="mallory")),  # not a user
    ]
    for error, kwargs in refusals:
        model = kwargs.pop("model")
        with pytest.raises(error):
            registry.register(model, b"refused", tags={"t": 1}, **kwargs)
    assert count(registry, "versions") == 1
    assert count(registry, "metrics") + count(registry, "datasets") + count(registry, "tags") == 0
    assert count(registry, "audit_log", "WHERE action = 'register'") == 1
    assert registry.register("spam", b"next", by="alice") == 2, "a refusal uses no number"


@question("q2", points=3, hidden=True)
def test_random_registrations_match_the_reference(sub, ref, rng):
    registry, folder = fresh(sub), tempfile.mkdtemp()
    try:
        theirs = fresh(ref, folder)
        counts = {"spam": 0, "ham": 0}
        for _ in range(25):
            model = ["spam", "ham"][int(rng.integers(0, 2))]
            kwargs = {
                "by": ["alice", "carol"][int(rng.integers(0, 2))],
                "params": {f"p{j}": float(rng.normal()) for j in range(int(rng.integers(0, 3)))},
                "metrics": {f"m{j}": float(rng.random()) for j in range(int(rng.integers(0, 4)))},
                "datasets": {f"d{j}": hashlib.sha256(rng.bytes(4)).hexdigest()
                             for j in range(int(rng.integers(0, 3)))},
                "tags": {f"t{j}": int(rng.integers(0, 5)) for j in range(int(rng.integers(0, 3)))},
                "code": rng.bytes(4).hex(),
                "parent": int(rng.integers(1, counts[model] + 1)) if counts[model] else None,
            }
            artifact = rng.bytes(int(rng.integers(1, 300))) if rng.random() < 0.7 else b"shared"
            counts[model] += 1
            assert registry.register(model, artifact, **kwargs) == counts[model]
            theirs.register(model, artifact, **kwargs)
        for model in counts:
            assert [comparable(v) for v in registry.versions(model)] == \
                [comparable(v) for v in theirs.versions(model)]
        assert registry.store.digests() == theirs.store.digests()
        assert [(e["actor"], e["action"], e["model"], e["version"])
                for e in registry.audit_log()] == [(e["actor"], e["action"], e["model"],
                                                    e["version"]) for e in theirs.audit_log()]
        theirs.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@question("q2", points=3, hidden=True)
def test_writers_in_several_processes_get_every_number_once(sub):
    root = sub.scratch_dir()
    url, store = f"sqlite:///{root}/registry.db", f"{root}/artifacts"
    registry = sub.Registry(url, store)
    registry.add_user("robot", ["author"])
    registry.create_model("load", by="robot")
    runs = sub.register_from_processes(sub.Registry, url, store, "load", "robot", 3, 12)
    got = [v for run in runs for v in run["versions"]]
    assert sorted(got) == list(range(1, 37)), f"numbers lost or doubled: {sorted(got)}"
    assert [v["version"] for v in registry.versions("load")] == list(range(1, 37))
    assert len(registry.store.digests()) == 36


@question("q2", points=2, hidden=True)
def test_a_killed_registration_leaves_no_version_and_no_gap(sub):
    root = sub.scratch_dir()
    url, store = f"sqlite:///{root}/registry.db", f"{root}/artifacts"
    registry = sub.Registry(url, store)
    registry.add_user("alice", ["author"])
    registry.create_model("m", by="alice")
    registry.register("m", b"before", by="alice")
    for seed, point in enumerate(["fsync", "rename", "fsync_dir", "commit"]):
        outcome = sub.crash_while_registering(sub.Registry, url, store, "m", "alice", point, seed)
        assert outcome == f"killed at {point}", outcome
        assert [v["version"] for v in registry.versions("m")] == [1], f"killed at {point}"
        assert registry.models()[0]["last_version"] == 1, "the counter rolls back with the rest"
    assert registry.register("m", b"after", by="alice") == 2
    assert len(registry.store.digests()) == 4, "the artifacts put before the crashes stay"
