"""After the deadline, end to end on lab 01: grade -> item analysis -> regrade one question ->
similarity -> late policy -> Canvas CSV, through the ``mlsys-edu`` command.

The batch (``grader_fixtures/lab01.py``): the solution, an independent solution written
differently, a disguised copy of each (locals renamed, comments dropped, re-laid out), one with
typical slips and the untouched stubs. The lab is graded from a copy in which one q5 test is
broken (it passes a misspelt keyword argument, so it errors on every submission); the item
analysis must flag it, and after the instructor fixes it a regrade of q5 must change q5 alone.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from grader_fixtures.lab01 import LAB_DIR, write_batch
from mlsys_edu.cli import main

BROKEN = "test_random_tie_break_picks_a_tied_class"
Q5 = "test_q5_majority_vote.py"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _results(out: Path) -> dict[str, dict]:
    return {r["student"]: r for r in json.loads((out / "results.json").read_text())}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, offline_data):
    """The batch graded by ``mlsys-edu grade`` against a lab copy with q5's test broken."""
    root = tmp_path_factory.mktemp("after_deadline")
    lab = root / "course" / "labs" / LAB_DIR.name
    shutil.copytree(LAB_DIR, lab, ignore=shutil.ignore_patterns("__pycache__"))
    test_file = lab / "tests" / Q5
    fixed = test_file.read_text()
    broken = fixed.replace('tie_break="random", seed=s)', 'tiebreak="random", seed=s)')
    assert broken != fixed
    test_file.write_text(broken)
    write_batch(root / "subs")
    out = root / "out"
    assert main(["grade", str(lab), str(root / "subs"), "-o", str(out), "--workers", "2",
                 "--cell-timeout", "120"]) == 0
    return {"root": root, "lab": lab, "out": out, "test_file": test_file, "fixed": fixed}


def test_after_the_deadline_end_to_end(graded, capsys):
    out, lab = graded["out"], graded["lab"]
    before = _results(out)
    full = before["ada"]["max_score"]
    # --- grade: the solution and its copy get everything but the broken test's 2 points
    assert before["ada"]["score"] == before["ada_copy"]["score"] == full - 2
    assert before["ben"]["score"] == before["ben_copy"]["score"] == full - 2
    assert before["dee_stubs"]["score"] == 0
    assert 0 < before["cyd_wrong"]["score"] < 10
    # --- item analysis (written with the batch): the broken test is flagged
    analysis = json.loads((out / "item_analysis.json").read_text())
    flagged = {t["name"]: t["flags"] for t in analysis["tests"] if t["flags"]}
    assert any("errors" in f for f in flagged[BROKEN]), flagged
    assert (out / "item_analysis.png").stat().st_size > 10_000
    assert f"**q5 {BROKEN}**" in (out / "item_analysis.md").read_text()

    # --- regrade q5 after the fix: q5 changes, nothing else does, the history says so
    graded["test_file"].write_text(graded["fixed"])
    capsys.readouterr()
    assert main(["regrade", str(lab), str(out), "--question", "q5", "--workers", "2",
                 "--reason", "misspelt tie_break in a q5 test"]) == 0
    assert "4 changed" in capsys.readouterr().out
    after = _results(out)
    for student, old in before.items():
        new = after[student]
        for q in old["questions"]:
            if q != "q5":
                assert new["questions"][q] == old["questions"][q], (student, q)
        assert [t for t in new["tests"] if t["question"] != "q5"] == \
            [t for t in old["tests"] if t["question"] != "q5"]
        assert new["cells"] == old["cells"]
    for student in ("ada", "ada_copy", "ben", "ben_copy"):
        assert after[student]["score"] == full, after[student]["tests"]
    assert after["dee_stubs"]["score"] == 0
    (history,) = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history["question"] == "q5" and history["reason"].startswith("misspelt")
    assert history["tests_sha256"]["old"] != history["tests_sha256"]["new"]
    ada = next(s for s in history["students"] if s["student"] == "ada")
    assert (ada["old_score"], ada["new_score"]) == (before["ada"]["questions"]["q5"]["score"],
                                                    after["ada"]["questions"]["q5"]["score"])
    gradebook = {r["student"]: r for r in _rows(out / "gradebook.csv")}
    assert float(gradebook["ada"]["score"]) == full and float(gradebook["ada"]["q5"]) == 9
    assert "regraded" in (out / "feedback" / "ada.md").read_text()
    fixed_analysis = json.loads((out / "item_analysis.json").read_text())
    assert not [t for t in fixed_analysis["tests"] if t["name"] == BROKEN and t["flags"]]

    # --- regrading the unchanged question changes nothing
    snapshot = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert main(["regrade", str(lab), str(out), "--question", "q5"]) == 0
    assert "unchanged" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == snapshot

    # --- similarity: the disguised copies are the top pairs, the independent ones are not
    assert main(["similarity", str(lab), str(out)]) == 0
    report = json.loads((out / "similarity.json").read_text())
    pairs = [(tuple(sorted((p["a"], p["b"]))), p) for p in report["pairs"]]
    assert {pairs[0][0], pairs[1][0]} == {("ada", "ada_copy"), ("ben", "ben_copy")}
    assert pairs[0][1]["flagged"] and pairs[1][1]["flagged"]
    assert all(p["similarity"] < 0.5 and not p["flagged"] for _, p in pairs[2:])
    independent = [p for key, p in pairs if key == ("ada", "ben")]
    assert not independent or independent[0]["similarity"] < 0.5
    assert "ada_copy" in (out / "similarity.html").read_text()
    assert (out / "similarity.png").stat().st_size > 5_000
    assert _results(out) == after  # it never changes a grade

    # --- late policy from the instructor's times, then the Canvas CSV
    times = graded["root"] / "times.csv"
    times.write_text("student,submitted_at\n"
                     "ada,2026-10-01T23:50:00-07:00\n"       # on time
                     "ben,2026-10-03T08:00:00-07:00\n"       # 1 day 8 h late: 2 days
                     "ada_copy,2026-10-02T08:58:00+02:00\n"  # 06:58 UTC: 1 min early
                     "ghost,2026-10-01T10:00:00Z\n")          # no submission
    assert main(["late", str(out), "--times", str(times), "--deadline",
                 "2026-10-01T23:59:00-07:00", "--per-day", "10", "--cap", "50"]) == 0
    gradebook = {r["student"]: r for r in _rows(out / "gradebook.csv")}
    assert list(gradebook["ada"])[:7] == ["student", "score", "max_score", "submitted_at",
                                          "days_late", "late_penalty", "final_score"]
    assert float(gradebook["ada"]["final_score"]) == full
    assert float(gradebook["ada_copy"]["final_score"]) == full
    assert gradebook["ben"]["days_late"] == "2"
    assert float(gradebook["ben"]["final_score"]) == pytest.approx(full * 0.8)
    assert float(gradebook["ben"]["score"]) == full  # the raw score stays beside it
    assert "not checked" in gradebook["dee_stubs"]["reason"]

    roster = graded["root"] / "canvas_export.csv"
    roster.write_text('Student,ID,SIS User ID,SIS Login ID,Section,"Lab 01 (4242)"\n'
                      "Points Possible,,,,,60\n"
                      '"Lovelace, Ada",101,S101,ada,Sec 1,\n'
                      '"Babbage, Ben",102,S102,ben,Sec 1,\n'
                      '"Nobody, Nell",103,S103,nell,Sec 2,\n')
    assert main(["export-grades", str(out), "--canvas-assignment", "Lab 01 (4242)",
                 "--canvas-roster", str(roster)]) == 0
    with open(out / "canvas.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                       "Lab 01 (4242)"]
    assert rows[1][0] == "Points Possible" and float(rows[1][5]) == full
    by_login = {r[3]: r for r in rows[2:]}
    assert by_login["ada"][:2] == ["Lovelace, Ada", "101"]
    assert float(by_login["ada"][5]) == full
    assert float(by_login["ben"][5]) == pytest.approx(full * 0.8)
    assert by_login["nell"][5] == ""  # no submission: Canvas keeps what it has
    unmatched = (out / "canvas_unmatched.txt").read_text().split()
    assert set(unmatched) == {"ada_copy", "ben_copy", "cyd_wrong", "dee_stubs"}
    plain = {r["student_id"]: r for r in _rows(out / "grades.csv")}
    assert len(plain) == 6 and float(plain["ben"]["final_score"]) == pytest.approx(full * 0.8)
