"""Question q6: verify, after corruption, tampering and crashes."""

import shutil
import tempfile

from mlsys_edu.lab import question


def fresh(ns, root=None, versions=3):
    root = root or ns.scratch_dir()
    registry = ns.Registry(f"sqlite:///{root}/registry.db", f"{root}/artifacts")
    registry.add_user("alice", ["author"])
    for model in ("ham", "spam"):
        registry.create_model(model, by="alice")
        for v in range(1, versions + 1):
            registry.register(model, f"{model} {v}".encode(), by="alice")
    return registry


def kinds(report):
    return sorted((p["kind"], p["model"], p["version"]) for p in report["problems"])


@question("q6", points=2)
def test_a_healthy_registry_verifies(sub):
    registry = fresh(sub)
    report = registry.verify()
    assert report["ok"] is True and report["problems"] == []
    assert report["versions_checked"] == 6
    assert report["partial_files"] == [] and report["orphans"] == []
    registry.store.put(b"stored, but no version uses it")
    assert len(registry.verify()["orphans"]) == 1 and registry.verify()["ok"], \
        "an orphan is listed, not a problem"


@question("q6", points=3)
def test_verify_reports_missing_and_corrupted_artifacts(sub):
    registry = fresh(sub)
    corrupt = registry.version("spam", 2)["artifact"]
    missing = registry.version("ham", 3)["artifact"]
    sub.flip_byte(registry.store.path(corrupt), 1)
    sub.os.remove(registry.store.path(missing))
    report = registry.verify()
    assert report["ok"] is False
    assert kinds(report) == [("corrupt", "spam", 2), ("missing", "ham", 3)]
    details = {p["kind"]: p["detail"] for p in report["problems"]}
    assert corrupt in details["corrupt"] and registry.store.path(corrupt) in details["corrupt"]
    assert missing in details["missing"]
    registry.store.put(b"spam 2")  # restore from the source: put() repairs the copy
    assert kinds(registry.verify()) == [("missing", "ham", 3)]


@question("q6", points=2)
def test_verify_checks_numbering_and_the_audit_chain(sub):
    registry = fresh(sub)
    registry.db.execute("UPDATE models SET last_version = 5 WHERE name = 'ham'")  # a gap
    assert kinds(registry.verify()) == [("numbering", "ham", None)]
    registry.db.execute("UPDATE models SET last_version = 3 WHERE name = 'ham'")
    registry.db.execute("DROP TRIGGER audit_log_no_update")  # an owner rewrites history
    registry.db.execute("UPDATE audit_log SET actor = 'mallory' WHERE action = 'register' "
                        "AND model = 'spam' AND version = 2")
    assert kinds(registry.verify()) == [("audit", None, None)]
    registry.db.execute("UPDATE audit_log SET detail = '{}' WHERE action = 'register' "
                        "AND model = 'ham'")
    assert kinds(registry.verify()) == [("audit", None, None)], "one problem: the first break"


@question("q6", points=3, hidden=True)
def test_random_damage_is_reported_like_the_reference(sub, ref, rng):
    folder = tempfile.mkdtemp()
    try:
        ours, theirs = fresh(sub, versions=5), fresh(ref, folder, versions=5)
        picks = {}
        for model, version, kind in zip(rng.choice(["ham", "spam"], size=6),
                                        rng.integers(1, 6, size=6), rng.integers(0, 2, size=6)):
            picks.setdefault((str(model), int(version)), "corrupt" if kind else "missing")
        for (model, version), kind in picks.items():
            offset = int(rng.integers(0, 5))
            for registry, ns in ((ours, sub), (theirs, ref)):
                path = registry.store.path(registry.version(model, version)["artifact"])
                if kind == "corrupt":
                    ns.flip_byte(path, offset)
                else:
                    ns.os.remove(path)
        if rng.random() < 0.5:
            for registry in (ours, theirs):
                registry.db.execute("UPDATE models SET last_version = last_version + 1 "
                                    "WHERE name = 'spam'")
        assert kinds(ours.verify()) == kinds(theirs.verify())
        theirs.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@question("q6", points=2, hidden=True)
def test_every_crash_point_leaves_a_registry_that_verifies(sub):
    root = sub.scratch_dir()
    url, store = f"sqlite:///{root}/registry.db", f"{root}/artifacts"
    registry = fresh(sub, root, versions=1)
    for seed, point in enumerate(["fsync", "rename", "fsync_dir", "commit"]):
        assert sub.crash_while_registering(sub.Registry, url, store, "spam", "alice", point,
                                           seed) == f"killed at {point}"
        report = registry.verify()
        assert report["ok"], f"after a crash at {point}: {report['problems']}"
    report = registry.verify()
    assert len(report["partial_files"]) == 2 and len(report["orphans"]) == 2
    assert report["versions_checked"] == 2
