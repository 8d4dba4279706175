"""Batch grading: 50 submissions give exactly 50 rows; the CLI; an internal error keeps its row."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grader_fixtures.make import LAB_DIR, MAX_SCORE, write_catalog
from mlsys_edu.grader import GradeOptions, grade_batch, judge
from mlsys_edu.grader.__main__ import main
from mlsys_edu.lab.layout import get_lab

QUICK = GradeOptions(cell_timeout_s=1, memory_mb=2048, preload=("numpy", "pandas", "pyarrow"),
                     max_test_timeout_s=1)
MIX = {"correct": 20, "wrong_mean": 10, "renamed": 4, "stub": 5, "loop_func": 2,
       "os_exit_func": 2, "loop_cell": 1, "big_answer": 1, "always_equal": 1, "bad_json": 2,
       "not_utf8": 1, "lost_cells": 1}


def lab():
    return get_lab(Path.cwd(), str(LAB_DIR))


def test_fifty_submissions_give_fifty_rows(tmp_path):
    subs = tmp_path / "subs"
    expects = {}
    for name, copies in MIX.items():
        expects.update(write_catalog(subs, [name], copies=copies))
    assert len(expects) == 50
    records = grade_batch(lab(), [subs], tmp_path / "out", workers=2, options=QUICK,
                          progress=False)
    assert len(records) == 50
    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["student"] for r in rows) == sorted(expects)
    by_student = {r["student"]: r for r in rows}
    for student, expect in expects.items():
        assert by_student[student]["status"] == expect.status, by_student[student]
        assert float(by_student[student]["score"]) == expect.score, by_student[student]
    assert len(list((tmp_path / "out" / "feedback").glob("*.md"))) == 50


def test_an_internal_error_still_gets_a_row_with_the_reason(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    write_catalog(subs, ["correct", "wrong_mean"])
    real = judge._grade_cells_and_tests

    def flaky(record, sub, *args, **kwargs):
        if sub.student == "wrong_mean":
            raise RuntimeError("disk on fire")
        return real(record, sub, *args, **kwargs)

    monkeypatch.setattr(judge, "_grade_cells_and_tests", flaky)
    records = {r["student"]: r for r in grade_batch(lab(), [subs], tmp_path / "out", workers=1,
                                                    options=QUICK, progress=False)}
    assert records["correct"]["score"] == MAX_SCORE
    assert records["wrong_mean"]["status"] == "internal-error"
    assert "disk on fire" in records["wrong_mean"]["reason"]


def test_cli_grades_a_folder_and_hides_hidden_messages_unless_asked(tmp_path, capsys):
    subs = tmp_path / "subs"
    write_catalog(subs, ["wrong_mean"])
    out = tmp_path / "out"
    assert main(["grade", str(LAB_DIR), str(subs), "-o", str(out), "--workers", "1",
                 "--cell-timeout", "5", "--show-hidden",
                 "--preload", "numpy,pandas,pyarrow"]) == 0
    assert "graded 1 of 1" in capsys.readouterr().out
    (record,) = json.loads((out / "results.json").read_text())
    assert record["score"] == 6.0
    feedback = (out / "feedback" / "wrong_mean.md").read_text()
    assert "## q1 test_mean_matches_reference: failed" in feedback  # --show-hidden


def test_unknown_lab_is_a_clear_error(tmp_path):
    with pytest.raises(LookupError, match="no lab"):
        main(["grade", "77", str(tmp_path), "-o", str(tmp_path / "out")])
