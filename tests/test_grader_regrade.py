"""Regrading one question of a batch (on the fixture lab: fast)."""

from __future__ import annotations

import json
import shutil

import pytest

from grader_fixtures.make import LAB_DIR, write_catalog
from mlsys_edu.grader import GradeOptions, grade_batch
from mlsys_edu.grader.regrade import merge_question, read_history, regrade_question
from mlsys_edu.lab.layout import get_lab

QUICK = GradeOptions(cell_timeout_s=2, memory_mb=2048, preload=("numpy", "pandas", "pyarrow"),
                     max_test_timeout_s=2)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """Four submissions of the fixture lab graded once for the whole module."""
    root = tmp_path_factory.mktemp("regrade")
    write_catalog(root / "subs", ["correct", "wrong_mean", "stub", "bad_json"])
    lab = get_lab(root, str(LAB_DIR))
    records = grade_batch(lab, [root / "subs"], root / "out", workers=2, options=QUICK,
                          progress=False)
    return root, {r["student"]: r for r in records}


@pytest.fixture()
def batch(pristine, tmp_path):
    """A copy of the graded batch (its submissions too) and of the lab, whose tests a test
    may edit: a regrade in one test cannot reach another."""
    root, before = pristine
    lab_dir = tmp_path / "course" / "labs" / LAB_DIR.name
    shutil.copytree(LAB_DIR, lab_dir)
    shutil.copytree(root / "subs", tmp_path / "subs")
    shutil.copytree(root / "out", tmp_path / "out")
    for name in ("results.json", "batch.json"):  # the copies' sources are the copied files
        path = tmp_path / "out" / name
        path.write_text(path.read_text().replace(str(root / "subs"), str(tmp_path / "subs")))
    return {"lab": get_lab(tmp_path, str(lab_dir)), "out": tmp_path / "out",
            "subs": tmp_path / "subs", "before": before}


def _results(out):
    return {r["student"]: r for r in json.loads((out / "results.json").read_text())}


def test_the_batch_keeps_what_a_regrade_needs(batch):
    manifest = json.loads((batch["out"] / "batch.json").read_text())
    assert manifest["lab"] == "99_mini" and set(manifest["questions"]) == {"q1", "q2", "q3"}
    assert manifest["questions"]["q1"]["tests"] == ["test_mean_small",
                                                    "test_mean_matches_reference"]
    assert manifest["options"]["cell_timeout_s"] == 2
    assert all(len(s["sha256"] or "") == 64 for s in manifest["submissions"])


def test_regrade_changes_one_question_and_keeps_the_history(batch):
    lab, out, before = batch["lab"], batch["out"], batch["before"]
    q1 = lab.tests_dir / "test_q1.py"
    # The fix: the hidden test was worth 2, it should be 4 and accept a mean off by one.
    q1.write_text(q1.read_text().replace("points=2, hidden=True", "points=4, hidden=True")
                  .replace("pytest.approx(ref.mean(xs))", "pytest.approx(ref.mean(xs), abs=1.01)"))
    report = regrade_question(lab, out, "q1", "accept off-by-one means", workers=2,
                              progress=False)
    after = _results(out)
    assert report.ran and len(report.changed) == 2  # correct (+2 points), wrong_mean (+4)
    assert after["correct"]["questions"]["q1"] == {"score": 5.0, "max_score": 5.0}
    assert after["wrong_mean"]["questions"]["q1"]["score"] == 4.0
    assert after["stub"]["questions"]["q1"]["score"] == 0.0
    for student in ("correct", "wrong_mean", "stub"):
        for q in ("q2", "q3"):
            assert after[student]["questions"][q] == before[student]["questions"][q]
        assert after[student]["max_score"] == 11.0
        assert after[student]["score"] == sum(t["score"] for t in after[student]["tests"])
    assert after["bad_json"]["status"] == "unreadable" and after["bad_json"]["max_score"] == 11
    (line,) = read_history(out)
    assert line["reason"] == "accept off-by-one means" and line["question"] == "q1"
    assert line["tests_sha256"]["old"] != line["tests_sha256"]["new"]
    rows = {s["student"]: s for s in line["students"]}
    assert (rows["wrong_mean"]["old_score"], rows["wrong_mean"]["new_score"]) == (0.0, 4.0)
    assert rows["bad_json"]["status"] == "kept" and "not graded" in rows["bad_json"]["why"]
    manifest = json.loads((out / "batch.json").read_text())
    assert manifest["questions"]["q1"]["sha256"] == line["tests_sha256"]["new"]
    assert manifest["questions"]["q1"]["max_score"] == 5.0
    feedback = (out / "feedback" / "wrong_mean.md").read_text()
    assert "Question q1 was regraded" in feedback and "Score: 10 / 11" in feedback
    gradebook = (out / "gradebook.csv").read_text()
    assert "wrong_mean,10.0,11.0,4.0" in gradebook


def test_an_unchanged_question_is_not_regraded(batch):
    out = batch["out"]
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    report = regrade_question(batch["lab"], out, "q2", workers=1, progress=False)
    assert not report.ran and "unchanged" in report.message
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files
    forced = regrade_question(batch["lab"], out, "q2", workers=1, force=True, progress=False)
    assert forced.ran and forced.changed == []  # deterministic: the same scores again
    assert _results(out)["correct"]["score"] == batch["before"]["correct"]["score"]


def test_a_file_changed_since_grading_keeps_its_old_score(batch):
    (batch["subs"] / "correct.ipynb").write_text((batch["subs"] / "stub.ipynb").read_text())
    (batch["subs"] / "wrong_mean.ipynb").unlink()
    report = regrade_question(batch["lab"], batch["out"], "q1", force=True, workers=1,
                              progress=False)
    kept = {c.student: c.why for c in report.kept}
    assert "changed since it was graded" in kept["correct"]
    assert "is gone" in kept["wrong_mean"]
    assert _results(batch["out"])["correct"]["score"] == 9.0


def test_bad_requests_are_clear_errors(batch, tmp_path):
    with pytest.raises(LookupError, match="no tests for question 'q9'.*q1, q2, q3"):
        regrade_question(batch["lab"], batch["out"], "q9", progress=False)
    with pytest.raises(FileNotFoundError, match="no results.json"):
        regrade_question(batch["lab"], tmp_path, "q1", progress=False)
    other = get_lab(tmp_path, str(LAB_DIR.parent / "98_leaky"))
    with pytest.raises(ValueError, match="holds a batch of 99_mini"):
        regrade_question(other, batch["out"], "q1", progress=False)


def test_merge_keeps_every_other_test_in_place():
    record = {"tests": [{"question": "q1", "name": "a", "score": 1.0},
                        {"question": "q2", "name": "b", "score": 2.0},
                        {"question": "q1", "name": "c", "score": 0.0}],
              "questions": {"q1": {"score": 1.0, "max_score": 2.0},
                            "q2": {"score": 2.0, "max_score": 2.0}}}
    merge_question(record, "q1", [{"question": "q1", "name": "a", "score": 3.0}], 3.0)
    assert [t["name"] for t in record["tests"]] == ["a", "b"]
    assert record["questions"]["q2"] == {"score": 2.0, "max_score": 2.0}
    assert (record["score"], record["max_score"]) == (5.0, 5.0)
