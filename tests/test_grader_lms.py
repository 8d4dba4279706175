"""Grades out: the late policy (times from the instructor), Canvas's CSV, the plain CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_edu.cli import main
from mlsys_edu.grader.late import (LatePolicy, apply_late_policy, days_late, late_result,
                                   read_submission_times)
from mlsys_edu.grader.lms import write_canvas_csv, write_plain_csv
from mlsys_edu.grader.report import write_outputs

DEADLINE = "2026-10-01T23:59:00-07:00"


def rec(student: str, score: float, status: str = "graded", max_score: float = 10.0) -> dict:
    return {"student": student, "lab": "99_mini", "source": f"{student}.ipynb",
            "status": status, "reason": "" if status == "graded" else "broken JSON",
            "score": score, "max_score": max_score, "cells": [], "tests": [],
            "questions": {"q1": {"score": score, "max_score": max_score}}}


def test_days_late_count_a_started_day():
    due = dt.datetime.fromisoformat(DEADLINE)
    assert days_late(due, due) == 0
    assert days_late(due + dt.timedelta(seconds=1), due) == 1
    assert days_late(due + dt.timedelta(days=1), due) == 1
    assert days_late(due + dt.timedelta(days=1, seconds=1), due) == 2
    assert days_late(due + dt.timedelta(minutes=9), due, grace_minutes=10) == 0


def test_penalty_grace_days_cap_and_basis():
    policy = LatePolicy(DEADLINE, per_day_pct=10, grace_days=1, cap_pct=25)
    three_days = "2026-10-04T20:00:00-07:00"
    result = late_result(policy, 8.0, 10.0, three_days)
    assert (result["days_late"], result["charged_days"]) == (3, 2)
    assert result["penalty"] == 2.0 and result["final_score"] == 6.0
    ten_days = late_result(policy, 8.0, 10.0, "2026-10-11T00:00:00-07:00")
    assert ten_days["penalty"] == 2.5  # capped at 25% of the maximum
    of_score = late_result(LatePolicy(DEADLINE, per_day_pct=50, basis="score"), 4.0, 10.0,
                           "2026-10-02T08:00:00-07:00")
    assert of_score["final_score"] == 2.0
    floor = late_result(LatePolicy(DEADLINE, per_day_pct=100), 3.0, 10.0,
                        "2026-10-02T08:00:00-07:00")
    assert floor["final_score"] == 0.0 and floor["penalty"] == 3.0  # never below zero


@given(st.floats(0, 10), st.integers(0, 30), st.floats(0, 100), st.integers(0, 5),
       st.floats(0, 100))
@settings(max_examples=100, deadline=None)
def test_a_penalty_is_never_negative_nor_above_the_cap(score, days, per_day, grace, cap):
    policy = LatePolicy(DEADLINE, per_day_pct=per_day, grace_days=grace, cap_pct=cap)
    when = (dt.datetime.fromisoformat(DEADLINE) + dt.timedelta(days=days)).isoformat()
    result = late_result(policy, score, 10.0, when)
    assert 0 <= result["penalty"] <= min(score, cap / 10) + 1e-6  # rounded to 1e-6 points
    assert result["final_score"] == pytest.approx(score - result["penalty"], abs=1e-6)


def test_times_csv_errors_say_what_to_fix(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("student,submitted_at\nann,2026-10-01 23:00\n")
    with pytest.raises(ValueError, match="row 2: '2026-10-01 23:00' has no time zone"):
        read_submission_times(path)
    path.write_text("student,submitted_at\nann,yesterday\n")
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        read_submission_times(path)
    path.write_text("name,when\nann,2026-10-01T23:00:00Z\n")
    with pytest.raises(ValueError, match="needs a student column"):
        read_submission_times(path)
    with pytest.raises(ValueError, match="no time zone"):
        LatePolicy("2026-10-01T23:59")
    with pytest.raises(FileNotFoundError, match="cannot read the submission times"):
        read_submission_times(tmp_path / "nope.csv")


def test_times_come_from_the_instructor_with_extensions_and_resubmissions(tmp_path):
    path = tmp_path / "times.csv"
    path.write_text("Student ID,Submitted At,deadline\n"
                    "ann,2026-10-02T10:00:00Z,\n"
                    "ann,2026-10-03T10:00:00Z,\n"            # resubmitted: the latest counts
                    "bob,2026-10-05T00:00:00Z,2026-10-06T00:00:00Z\n")  # an extension
    times = read_submission_times(path)
    records = [rec("ann", 10.0), rec("bob", 10.0), rec("cyd", 10.0)]
    # cyd's own zip claims an early time: it is never read
    records[2]["manifest"] = {"exported_at": "2020-01-01T00:00:00Z"}
    unknown = apply_late_policy(records, LatePolicy(DEADLINE, per_day_pct=10), times)
    assert unknown == []
    ann, bob, cyd = (r["late"] for r in records)
    assert ann["days_late"] == 2 and ann["final_score"] == 8.0
    assert bob["days_late"] == 0 and bob["final_score"] == 10.0
    assert cyd["submitted_at"] is None and "not checked" in cyd["note"]


def test_gradebook_and_feedback_show_the_late_policy_beside_the_raw_score(tmp_path):
    records = [rec("ann", 9.0), rec("bad", 0.0, status="unreadable")]
    apply_late_policy(records, LatePolicy(DEADLINE, per_day_pct=10),
                      {"ann": {"submitted_at": "2026-10-02T12:00:00-07:00", "deadline": None}})
    write_outputs(records, tmp_path)
    with open(tmp_path / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:7] == ["student", "score", "max_score", "submitted_at", "days_late",
                                 "late_penalty", "final_score"]
    assert (rows[0]["score"], rows[0]["late_penalty"], rows[0]["final_score"]) == \
        ("9.0", "1.0", "8.0")
    feedback = (tmp_path / "feedback" / "ann.md").read_text()
    assert "1 day(s) after the deadline" in feedback and "final score 8 / 10" in feedback


def test_canvas_csv_without_a_roster(tmp_path):
    records = [rec("ann", 7.5), rec("bob", 0.0, status="unreadable")]
    out = tmp_path / "canvas.csv"
    assert write_canvas_csv(records, out, "Lab 99") == []
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Lab 99"]
    assert rows[1] == ["Points Possible", "", "", "", "", "10"]
    assert rows[2] == ["ann", "", "", "ann", "", "7.5"]
    assert rows[3][-1] == "0.0"  # not graded: 0, and the gradebook says why


def test_canvas_roster_matching_and_missing_students(tmp_path):
    roster = tmp_path / "export.csv"
    roster.write_text("\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Lab 99 (7)\n"
                      "Points Possible,,,,,10\n"
                      "\"Ann, A\",1,U1,ANN,S1,\n\"Cyd, C\",3,U3,cyd,S1,4\n"
                      "\"Student, Test\",9,,,,\n")
    records = [rec("ann", 7.0), rec("zed", 5.0)]
    out = tmp_path / "canvas.csv"
    assert write_canvas_csv(records, out, "Lab 99 (7)", roster=roster) == ["zed"]
    rows = list(csv.reader(out.open()))
    assert rows[2] == ["Ann, A", "1", "U1", "ANN", "S1", "7.0"]  # case-insensitive match
    assert rows[3][-1] == "" and len(rows) == 4  # no submission: blank; the test student dropped
    write_canvas_csv(records, out, "Lab 99 (7)", roster=roster, missing="zero")
    assert list(csv.reader(out.open()))[3][-1] == "0.0"
    with pytest.raises(ValueError, match="does not look like a Canvas gradebook export"):
        bad = tmp_path / "bad.csv"
        bad.write_text("name,score\nann,1\n")
        write_canvas_csv(records, out, "Lab 99", roster=bad)
    with pytest.raises(ValueError, match="match must be one of"):
        write_canvas_csv(records, out, "Lab 99", match="Email")


def test_plain_csv_has_one_row_per_student(tmp_path):
    records = [rec("ann", 4.0), rec("ann", 6.0), rec("bob", 10.0)]
    assert write_plain_csv(records, tmp_path / "grades.csv") == ["ann"]
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert rows["ann"]["final_score"] == "6.0" and rows["bob"]["percent"] == "100.0"


def test_cli_late_then_export(tmp_path, capsys):
    out = tmp_path / "graded"
    records = [rec("ann", 9.0), rec("bob", 6.0)]
    write_outputs(records, out)
    times = tmp_path / "times.csv"
    times.write_text("student,submitted_at\nann,2026-10-03T00:30:00-07:00\n")
    assert main(["late", str(out), "--times", str(times), "--deadline", DEADLINE,
                 "--per-day", "20", "--grace-days", "1"]) == 0
    text = capsys.readouterr().out
    assert "1 of 2 submissions late" in text and "no submission time for 1: bob" in text
    saved = json.loads((out / "late.json").read_text())
    assert saved["policy"]["grace_days"] == 1 and "ann" in saved["times"]
    assert main(["export-grades", str(out), "--canvas-assignment", "Lab 99"]) == 0
    rows = {r["student_id"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["ann"]["final_score"] == "7.0"  # 2 days late, 1 forgiven: 20% of 10
    assert (out / "canvas.csv").is_file()
    assert main(["late", str(tmp_path / "nowhere"), "--times", str(times), "--deadline",
                 DEADLINE]) == 1
    assert "no results.json" in capsys.readouterr().err
