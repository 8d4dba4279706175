"""Question q4: reviews, four eyes."""

import shutil
import tempfile

import pytest

from mlsys_edu.lab import question

USERS = [("alice", ["author"]), ("carol", ["author", "reviewer"]), ("bob", ["reviewer"]),
         ("erin", ["reviewer"]), ("dave", ["operator"])]


def fresh(ns, root=None):
    root = root or ns.scratch_dir()
    registry = ns.Registry(f"sqlite:///{root}/registry.db", f"{root}/artifacts")
    for name, roles in USERS:
        registry.add_user(name, roles)
    registry.create_model("spam", by="alice")
    registry.register("spam", b"v1", by="alice")
    registry.register("spam", b"v2", by="carol")
    return registry


@question("q4", points=3)
def test_a_reviewer_approves_or_rejects_a_pending_review(sub):
    registry = fresh(sub)
    first = registry.request_review("spam", 1, by="alice", note="please look")
    second = registry.request_review("spam", 2, by="carol", alias="challenger")
    registry.review(first, by="bob", approve=True, note="metrics fine")
    registry.review(second, by="erin", approve=False, note="worse on short comments")
    states = [(r["version"], r["alias"], r["state"], r["decided_by"], r["note"])
              for r in registry.reviews("spam")]
    assert states == [(1, "champion", "approved", "bob", "metrics fine"),
                      (2, "challenger", "rejected", "erin", "worse on short comments")]
    audit = [(e["actor"], e["action"], e["version"], e["alias"]) for e in registry.audit_log("spam")
             if e["action"] in ("approve", "reject")]
    assert audit == [("bob", "approve", 1, "champion"), ("erin", "reject", 2, "challenger")]


@question("q4", points=3)
def test_four_eyes_and_one_decision_per_review(sub):
    registry = fresh(sub)
    own = registry.request_review("spam", 2, by="carol")  # carol wrote v2 and asked
    with pytest.raises(PermissionError):
        registry.review(own, by="carol", approve=True)
    asked = registry.request_review("spam", 1, by="carol")  # alice wrote v1, carol asked
    with pytest.raises(PermissionError):
        registry.review(asked, by="carol", approve=True)
    with pytest.raises(PermissionError):
        registry.review(asked, by="dave", approve=True)  # an operator, not a reviewer
    with pytest.raises(PermissionError):
        registry.review(asked, by="mallory", approve=True)
    with pytest.raises(LookupError):
        registry.review(99, by="bob", approve=True)
    assert [r["state"] for r in registry.reviews("spam")] == ["pending", "pending"]
    registry.review(asked, by="bob", approve=False)
    with pytest.raises(ValueError):
        registry.review(asked, by="erin", approve=True)
    assert [(r["state"], r["decided_by"]) for r in registry.reviews("spam")] == [
        ("pending", None), ("rejected", "bob")]
    assert sum(e["action"] in ("approve", "reject") for e in registry.audit_log()) == 1


@question("q4", points=3, hidden=True)
def test_random_review_decisions_match_the_reference(sub, ref, rng):
    folder = tempfile.mkdtemp()
    try:
        ours, theirs = fresh(sub), fresh(ref, folder)
        people = [name for name, _ in USERS] + ["mallory"]
        tickets = []
        for _ in range(40):
            if not tickets or rng.random() < 0.3:
                version = int(rng.integers(1, 3))
                asker = ["alice", "carol"][int(rng.integers(0, 2))]
                alias = ["champion", "challenger"][int(rng.integers(0, 2))]
                a = ours.request_review("spam", version, by=asker, alias=alias)
                b = theirs.request_review("spam", version, by=asker, alias=alias)
                tickets.append((a, b))
                continue
            a, b = tickets[int(rng.integers(0, len(tickets)))]
            who, approve = people[int(rng.integers(0, len(people)))], bool(rng.random() < 0.6)
            outcomes = []
            for registry, ticket in ((ours, a), (theirs, b)):
                try:
                    registry.review(ticket, by=who, approve=approve, note=f"{who} {approve}")
                    outcomes.append("ok")
                except (PermissionError, ValueError, LookupError) as err:
                    outcomes.append([c.__name__ for c in (PermissionError, ValueError, LookupError)
                                     if isinstance(err, c)][0])
            assert outcomes[0] == outcomes[1], f"review by {who}: {outcomes}"
        strip = lambda rows: [{k: v for k, v in r.items() if k != "id"} for r in rows]  # noqa
        assert strip(ours.reviews("spam")) == strip(theirs.reviews("spam"))
        theirs.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
