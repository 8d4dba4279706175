"""Question q5: aliases (gated, compare-and-set), loading and rollback."""

import shutil
import tempfile

import pytest

from mlsys_edu.lab import question

USERS = [("alice", ["author"]), ("bob", ["reviewer"]), ("dave", ["operator"]),
         ("olga", ["operator", "author"])]


def fresh(ns, root=None, versions=4):
    """spam v1..v4 (artifacts b"w1".., alice), every version approved for champion."""
    root = root or ns.scratch_dir()
    registry = ns.Registry(f"sqlite:///{root}/registry.db", f"{root}/artifacts")
    for name, roles in USERS:
        registry.add_user(name, roles)
    registry.create_model("spam", by="alice")
    for v in range(1, versions + 1):
        registry.register("spam", f"w{v}".encode(), by="alice")
        registry.review(registry.request_review("spam", v, by="alice"), by="bob", approve=True)
    return registry


def name_of(info):
    return type(info.value).__name__


@question("q5", points=2)
def test_set_alias_resolve_and_load(sub):
    registry = fresh(sub)
    registry.set_alias("spam", "champion", 2, by="dave")
    registry.set_alias("spam", "challenger", 3, by="olga")
    assert registry.aliases("spam") == {"challenger": 3, "champion": 2}
    assert registry.resolve("spam", "champion") == 2
    assert registry.load("spam", "champion") == b"w2"
    assert registry.load("spam", 4) == b"w4"
    registry.set_alias("spam", "champion", 4, by="dave")
    assert registry.load("spam", "champion") == b"w4", "an alias moves"
    assert registry.version("spam", 4)["aliases"] == ["champion"]
    moves = [(e["actor"], e["version"], e["alias"]) for e in registry.audit_log("spam")
             if e["action"] == "set_alias"]
    assert moves == [("dave", 2, "champion"), ("olga", 3, "challenger"), ("dave", 4, "champion")]


@question("q5", points=3)
def test_alias_moves_are_gated_and_checked(sub):
    registry = fresh(sub)
    registry.register("spam", b"w5", by="alice")  # v5: never reviewed
    with pytest.raises(PermissionError):
        registry.set_alias("spam", "champion", 5, by="dave")  # no approved review
    registry.set_alias("spam", "challenger", 5, by="dave")  # not protected: no review needed
    with pytest.raises(PermissionError):
        registry.set_alias("spam", "champion", 1, by="alice")  # an author, not an operator
    for bad in ("Champion", "3", "two words", ""):
        with pytest.raises(ValueError):
            registry.set_alias("spam", bad, 1, by="dave")
    with pytest.raises(LookupError):
        registry.set_alias("spam", "champion", 9, by="dave")
    with pytest.raises(LookupError):
        registry.resolve("spam", "champion")
    rejected = registry.request_review("spam", 5, by="alice")
    registry.review(rejected, by="bob", approve=False)
    with pytest.raises(PermissionError):
        registry.set_alias("spam", "champion", 5, by="dave")  # rejected is not approved
    other = registry.request_review("spam", 5, by="alice", alias="challenger")
    registry.review(other, by="bob", approve=True)
    with pytest.raises(PermissionError):
        registry.set_alias("spam", "champion", 5, by="dave")  # approved for another alias
    assert registry.aliases("spam") == {"challenger": 5}


@question("q5", points=2)
def test_compare_and_set(sub):
    registry = fresh(sub)
    registry.set_alias("spam", "champion", 1, by="dave", expected=None)
    registry.set_alias("spam", "champion", 2, by="dave", expected=1)
    with pytest.raises(Exception) as info:  # a second operator, looking at the same old page
        registry.set_alias("spam", "champion", 3, by="olga", expected=1)
    assert name_of(info) == "AliasConflict", f"got {info.value!r}"
    assert "2" in str(info.value), "say where the alias points now"
    assert registry.resolve("spam", "champion") == 2


@question("q5", points=2)
def test_load_verifies_the_artifact(sub):
    registry = fresh(sub)
    registry.set_alias("spam", "champion", 3, by="dave")
    digest = registry.version("spam", 3)["artifact"]
    sub.flip_byte(registry.store.path(digest), 0)
    with pytest.raises(Exception) as info:
        registry.load("spam", "champion")
    assert name_of(info) == "ArtifactCorrupt" and digest in str(info.value)
    with pytest.raises(LookupError):
        registry.load("spam", 17)
    with pytest.raises(LookupError):
        registry.load("spam", "staging")


@question("q5", points=3)
def test_rollback_walks_back_through_the_alias_history(sub):
    registry = fresh(sub)
    with pytest.raises(LookupError):
        registry.rollback("spam", "champion", by="dave")  # no history yet
    for v in (1, 2, 2, 3):  # moving to where it points already changes nothing
        registry.set_alias("spam", "champion", v, by="dave")
    assert registry.rollback("spam", "champion", by="dave") == 2
    assert registry.resolve("spam", "champion") == 2
    with pytest.raises(PermissionError):
        registry.rollback("spam", "champion", by="alice")
    assert registry.rollback("spam", "champion", by="olga") == 1
    with pytest.raises(LookupError):
        registry.rollback("spam", "champion", by="dave")  # v1 was the first champion
    registry.set_alias("spam", "champion", 4, by="dave")
    assert registry.rollback("spam", "champion", by="dave") == 1
    last = [e for e in registry.audit_log("spam") if e["action"] == "rollback"][-1]
    assert (last["actor"], last["version"], last["alias"]) == ("dave", 1, "champion")


@question("q5", points=4, hidden=True)
def test_random_alias_histories_match_the_reference(sub, ref, rng):
    folder = tempfile.mkdtemp()
    try:
        ours, theirs = fresh(sub, versions=6), fresh(ref, folder, versions=6)
        for _ in range(40):
            alias = ["champion", "challenger"][int(rng.integers(0, 2))]
            step, version, guess = rng.random(), int(rng.integers(1, 7)), int(rng.integers(1, 7))
            outcomes = []
            for registry in (ours, theirs):
                try:
                    if step < 0.6:
                        current = registry.aliases("spam").get(alias)
                        expected = current if step < 0.3 else guess if step < 0.45 else None
                        registry.set_alias("spam", alias, version, by="dave", expected=expected)
                        outcomes.append("set")
                    else:
                        outcomes.append(registry.rollback("spam", alias, by="olga"))
                except Exception as err:  # noqa: BLE001 - compared by name with the reference
                    outcomes.append(type(err).__name__)
            assert outcomes[0] == outcomes[1], f"step {step:.2f}, alias {alias}: {outcomes}"
            assert ours.aliases("spam") == theirs.aliases("spam"), outcomes
        for alias, version in theirs.aliases("spam").items():
            assert ours.load("spam", alias) == f"w{version}".encode()
        theirs.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
