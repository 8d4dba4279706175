"""Lab 03's given plumbing (registry_db, registry_base, processes) and properties of the lab's
reference solution, checked against brute-force definitions with hypothesis."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from lab03_support import BACKENDS, fresh_database_url, load_reference, make_registry

from mlsys_edu.labkit import processes
from mlsys_edu.labkit.registry_base import StoreBase, audit_hash, flip_byte
from mlsys_edu.labkit.registry_db import (DatabaseError, IntegrityError, connect, create_schema,
                                          sqlite_path)

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FAST = settings(max_examples=15, deadline=None)


@pytest.fixture(scope="module")
def ref():
    return load_reference()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    with fresh_database_url(request.param, tmp_path) as url:
        yield url


# ------------------------------------------------------------------ registry_db
def test_sqlite_urls_and_their_errors():
    assert sqlite_path("sqlite:///reg.db") == "reg.db"
    assert sqlite_path("sqlite:////tmp/a%20b.db") == "/tmp/a b.db"
    with pytest.raises(ValueError, match="in-memory"):
        sqlite_path("sqlite:///:memory:")
    with pytest.raises(ValueError, match="sqlite:///"):
        sqlite_path("sqlite://reg.db")
    with pytest.raises(ValueError, match="postgresql://"):
        connect("mysql://localhost/db")


def test_statements_rows_and_placeholders(db_url):
    with connect(db_url) as db:
        db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v DOUBLE PRECISION)")
        assert db.execute("INSERT INTO t VALUES (?, ?), (?, ?)", ("a%", 1.5, "b", 2.0)) == 2
        assert db.rows("SELECT k, v FROM t WHERE k LIKE 'a%' ORDER BY k") == [{"k": "a%", "v": 1.5}]
        assert db.row("SELECT v FROM t WHERE k = ?", ("b",)) == {"v": 2.0}
        assert db.row("SELECT v FROM t WHERE k = ?", ("zz",)) is None
        assert db.value("SELECT count(*) FROM t") == 2
        assert db.value("SELECT v FROM t WHERE k = ?", ("zz",), default=-1) == -1
        assert db.value("UPDATE t SET v = v + 1 WHERE k = ? RETURNING v", ("b",)) == 3.0


def test_transactions_commit_roll_back_and_nest(db_url):
    with connect(db_url) as db, connect(db_url) as other:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        with db.transaction():
            db.execute("INSERT INTO t VALUES (1)")
            with db.transaction():  # joins the outer one
                db.execute("INSERT INTO t VALUES (2)")
            assert db.in_transaction
        assert other.value("SELECT count(*) FROM t") == 2
        with pytest.raises(ZeroDivisionError):
            with db.transaction():
                db.execute("INSERT INTO t VALUES (3)")
                with db.transaction():
                    db.execute("INSERT INTO t VALUES (4)")
                1 / 0
        assert not db.in_transaction
        assert other.value("SELECT count(*) FROM t") == 2, "all or nothing"
        with pytest.raises(IntegrityError, match="INSERT INTO t"):
            db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(DatabaseError, match="no_such_table"):
            db.execute("SELECT * FROM no_such_table")


def test_read_only_connections_cannot_write(db_url, tmp_path):
    with connect(db_url) as db:
        db.execute("CREATE TABLE t (k INTEGER)")
    with connect(db_url, read_only=True) as viewer:
        assert viewer.value("SELECT count(*) FROM t") == 0
        with pytest.raises(DatabaseError):
            with viewer.transaction():
                viewer.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(FileNotFoundError, match="create it first"):
        connect(f"sqlite:///{tmp_path}/absent.db", read_only=True)


def test_a_writer_waits_for_the_lock_then_times_out_with_advice(tmp_path):
    url = f"sqlite:///{tmp_path}/lock.db"
    holder, waiter = connect(url), connect(url, timeout_s=0.3)
    holder.execute("CREATE TABLE t (k INTEGER)")
    with holder.transaction():
        start = time.monotonic()
        with pytest.raises(DatabaseError, match="held the write lock"):
            with waiter.transaction():
                pass
        assert time.monotonic() - start >= 0.3
    holding = threading.Event()

    def hold_briefly() -> None:
        with connect(url) as mine, mine.transaction():  # a connection per thread
            holding.set()
            time.sleep(0.2)

    thread = threading.Thread(target=hold_briefly)
    other = connect(url, timeout_s=5)
    thread.start()
    holding.wait(5)
    start = time.monotonic()
    with other.transaction():  # waits for the holder, then gets in
        other.execute("INSERT INTO t VALUES (1)")
    assert time.monotonic() - start > 0.05
    thread.join()
    assert holder.value("SELECT count(*) FROM t") == 1
    for db in (holder, waiter, other):
        db.close()


def test_schema_is_created_once_with_append_only_triggers(db_url):
    ddl = "CREATE TABLE IF NOT EXISTS log (seq {serial}, what TEXT NOT NULL)"
    with connect(db_url) as db:
        assert create_schema(db, ddl, append_only=["log"]) is True
        assert create_schema(db, ddl, append_only=["log"]) is False
        db.execute("INSERT INTO log (what) VALUES (?)", ("first",))
        db.execute("INSERT INTO log (what) VALUES (?)", ("second",))
        assert [r["seq"] for r in db.rows("SELECT seq FROM log ORDER BY seq")] == [1, 2]
        for sql in ("UPDATE log SET what = 'x'", "DELETE FROM log"):
            with pytest.raises(IntegrityError, match="append-only"):
                db.execute(sql)


# ------------------------------------------------------------------ processes
def test_fork_map_returns_results_in_order_and_reports_failures():
    assert processes.fork_map(lambda i: {"i": i, "pid": os.getpid() != 0}, 3) == [
        {"i": 0, "pid": True}, {"i": 1, "pid": True}, {"i": 2, "pid": True}]

    def fails_on_one(i: int) -> int:
        if i == 1:
            raise RuntimeError("writer one broke")
        return i

    with pytest.raises(processes.ChildFailed, match="writer one broke"):
        processes.fork_map(fails_on_one, 3)
    with pytest.raises(TimeoutError, match="killed"):
        processes.fork_map(lambda i: time.sleep(30), 2, timeout_s=0.5)
    with pytest.raises(ValueError):
        processes.fork_map(lambda i: i, 0)


def test_run_killed_at_stops_at_the_named_point_only(tmp_path):
    store = StoreBase(str(tmp_path / "store"))
    path = os.path.join(store.tmp, "x")

    def write_and_rename() -> None:
        with open(path, "wb") as f:
            f.write(b"data")
            f.flush()
            os.fsync(f.fileno())
        os.replace(path, path + ".done")
        fd = os.open(store.tmp, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)

    assert processes.run_killed_at("fsync", write_and_rename) == "killed at fsync"
    assert os.path.exists(path) and not os.path.exists(path + ".done")
    assert processes.run_killed_at("rename", write_and_rename) == "killed at rename"
    assert not os.path.exists(path + ".done")
    assert processes.run_killed_at("fsync_dir", write_and_rename) == "killed at fsync_dir"
    assert os.path.exists(path + ".done"), "killed after the rename, at the folder's fsync"
    assert processes.run_killed_at("commit", write_and_rename) == "finished"
    with pytest.raises(processes.ChildFailed, match="ZeroDivisionError"):
        processes.run_killed_at("commit", lambda: 1 / 0)
    with pytest.raises(ValueError, match="unknown crash point"):
        processes.run_killed_at("halfway", write_and_rename)


# ------------------------------------------------------------------ registry_base
def test_store_layout_and_flip_byte(tmp_path):
    store = StoreBase(str(tmp_path / "s"))
    assert len(os.listdir(store.objects)) == 256 and store.digests() == []
    digest = hashlib.sha256(b"x").hexdigest()
    assert store.path(digest).endswith(f"objects/{digest[:2]}/{digest[2:]}")
    for bad in ("ABC", digest.upper(), digest[:-1], 42):
        with pytest.raises(ValueError, match="SHA-256"):
            store.path(bad)
    target = tmp_path / "f"
    target.write_bytes(b"abcdef")
    flip_byte(str(target), 2)
    flip_byte(str(target), -1)
    assert target.read_bytes() == b"ab" + bytes([ord("c") ^ 0xFF]) + b"de" + bytes(
        [ord("f") ^ 0xFF])
    with pytest.raises(ValueError, match="no byte"):
        flip_byte(str(target), 99)


def test_users_models_reviews_and_the_audit_chain(ref, tmp_path):
    registry = make_registry(ref, f"sqlite:///{tmp_path}/r.db", tmp_path / "a",
                             users=(("alice", ["author"]), ("bob", ["reviewer"])))
    for roles in ([], ["admin"]):
        with pytest.raises(ValueError, match="roles"):
            registry.add_user("eve", roles)
    with pytest.raises(ValueError, match="exists"):
        registry.add_user("bob", ["author"])
    with pytest.raises(PermissionError, match="not an author"):
        registry.create_model("other", by="bob")
    with pytest.raises(PermissionError, match="unknown user"):
        registry.create_model("other", by="nobody")
    for bad in ("", "-dash", "has space", "a/b"):
        with pytest.raises(ValueError, match="must match"):
            registry.create_model(bad, by="alice")
    with pytest.raises(ValueError, match="exists already"):
        registry.create_model("spam", by="alice")
    with pytest.raises(LookupError):
        registry.request_review("spam", 1, by="alice")
    with pytest.raises(RuntimeError, match="inside"):
        registry._audit("alice", "forged")
    registry.register("spam", b"w", by="alice")
    registry.comment("spam", 1, "hello", by="bob")
    with pytest.raises(PermissionError):
        registry.comment("spam", 1, "hi", by="nobody")
    prev = ""
    for entry in registry.audit_log():
        assert entry["prev_hash"] == prev and entry["hash"] == audit_hash(prev, entry)
        prev = entry["hash"]
    assert [e["action"] for e in registry.audit_log()][-2:] == ["register", "comment"]
    registry.close()


# ------------------------------------------------------------------ the reference, by brute force
VERSION = st.fixed_dictionaries({
    "model": st.sampled_from(["a", "b"]),
    "tags": st.dictionaries(st.sampled_from(["stage", "team"]), st.sampled_from(["x", "y"])),
    "metrics": st.dictionaries(st.sampled_from(["acc", "f1"]),
                               st.sampled_from([0.1, 0.5, 0.9])),
    "datasets": st.dictionaries(st.sampled_from(["train", "test"]), st.sampled_from("01")),
})
QUERY = st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(["a", "b"]),
    "tags": st.dictionaries(st.sampled_from(["stage", "team"]), st.sampled_from(["x", "y"]),
                            max_size=2),
    "dataset": st.sampled_from("01"),
    "min_metrics": st.dictionaries(st.sampled_from(["acc", "f1"]),
                                   st.sampled_from([0.0, 0.5, 0.95]), max_size=2),
})


def _sha(char: str) -> str:
    return hashlib.sha256(char.encode()).hexdigest()


def _matches(v: dict, query: dict) -> bool:
    return (query.get("model", v["model"]) == v["model"]
            and all(v["tags"].get(k) == t for k, t in query.get("tags", {}).items())
            and ("dataset" not in query or _sha(query["dataset"]) in v["datasets"].values())
            and all(v["metrics"].get(k, -1) >= low
                    for k, low in query.get("min_metrics", {}).items()))


@given(st.lists(VERSION, min_size=1, max_size=8), st.lists(QUERY, min_size=1, max_size=5))
@FAST
def test_search_is_a_filter_over_all_versions(ref, tmp_path_factory, versions, queries):
    folder = tmp_path_factory.mktemp("search")
    registry = make_registry(ref, f"sqlite:///{folder}/r.db", folder / "a", models=("a", "b"))
    for v in versions:
        registry.register(v["model"], b"w", by="alice", tags=v["tags"], metrics=v["metrics"],
                          datasets={k: _sha(c) for k, c in v["datasets"].items()})
    everything = registry.versions("a") + registry.versions("b")
    for query in queries:
        q = {**query, "dataset": _sha(query["dataset"])} if "dataset" in query else query
        expected = [(v["model"], v["version"]) for v in everything if _matches(v, query)]
        assert [(v["model"], v["version"]) for v in registry.search(**q)] == expected, query
    a, b = everything[0], everything[-1]
    if a["model"] == b["model"]:
        forward, back = registry.diff(a["model"], a["version"], b["version"]), \
            registry.diff(b["model"], b["version"], a["version"])
        for part in ("params", "metrics", "datasets", "tags"):
            assert back[part] == {k: pair[::-1] for k, pair in forward[part].items()}
    registry.close()


@given(st.lists(st.one_of(st.integers(1, 4), st.just("rollback")), min_size=1, max_size=15))
@FAST
def test_rollback_follows_the_alias_history_like_a_stack(ref, tmp_path_factory, steps):
    folder = tmp_path_factory.mktemp("rollback")
    registry = make_registry(ref, f"sqlite:///{folder}/r.db", folder / "a",
                             users=(("alice", ["author"]), ("bob", ["reviewer"]),
                                    ("dave", ["operator"])))
    for v in range(1, 5):
        registry.register("spam", f"w{v}".encode(), by="alice")
        registry.review(registry.request_review("spam", v, by="alice"), by="bob", approve=True)
    history: list[int] = []  # the brute-force model: the versions the alias held, in order
    for step in steps:
        if step == "rollback":
            if len(history) < 2:
                with pytest.raises(LookupError):
                    registry.rollback("spam", "champion", by="dave")
                continue
            history.pop()
            assert registry.rollback("spam", "champion", by="dave") == history[-1]
        else:
            registry.set_alias("spam", "champion", step, by="dave")
            if history[-1:] != [step]:
                history.append(step)
        assert registry.aliases("spam").get("champion") == (history[-1] if history else None)
    assert registry.verify()["ok"]
    registry.close()


def test_scratch_dirs_outlive_forks_and_go_when_their_process_exits(tmp_path):
    import subprocess
    import sys

    script = """if True:
        import os, sys
        from mlsys_edu.labkit.registry_base import scratch_dir
        path = scratch_dir()
        open(os.path.join(path, "registry.db"), "w").close()
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # a cell's fork ends normally: atexit runs in it
        os.waitpid(pid, 0)
        print(path, os.path.exists(os.path.join(path, "registry.db")))
    """
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[1] == "True", "a fork's exit must not remove its parent's folder"
    assert out[0].startswith(str(tmp_path)) and not os.path.exists(out[0]), "removed at exit"
