"""The lab self-test: solution at full marks, stubs at zero on every exercise question."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

from mlsys_edu import selftest as selftest_module
from mlsys_edu.grader import GradeOptions
from mlsys_edu.lab import get_lab, load_tests
from mlsys_edu.selftest import compare, selftest

FIXTURE_LAB = Path(__file__).parent / "grader_fixtures" / "labs" / "99_mini"
# The fixture lab imports numpy and pandas only: a lighter warm child than the default.
LIGHT = GradeOptions(preload=("numpy", "pandas"))


@pytest.fixture(scope="module")
def good_report():
    return selftest(get_lab(Path.cwd(), str(FIXTURE_LAB)), options=LIGHT)


def _copy_lab(tmp_path: Path) -> Path:
    target = tmp_path / "labs" / FIXTURE_LAB.name
    shutil.copytree(FIXTURE_LAB, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _first_public_question(folder: Path) -> tuple[str, Path, str]:
    """(question, its test file, a function the student must write for it)."""
    case = next(c for c in load_tests(folder / "tests") if not c.hidden)
    tree = ast.parse(Path(case.file).read_text())
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == case.name)
    used = [n.attr for n in ast.walk(func) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "sub"]
    return case.question, Path(case.file), used[0]


def test_the_fixture_lab_passes(good_report):
    assert good_report.passed, str(good_report)
    cases = load_tests(FIXTURE_LAB / "tests", include_hidden=True)
    assert {r.question for r in good_report.rows} == {c.question for c in cases}
    for row in good_report.rows:
        assert row.ok and row.max_score > 0
        assert row.solution_score == pytest.approx(row.max_score)
        if row.has_exercise:
            assert row.stub_score == 0.0
    assert "PASSED" in str(good_report) and "q" in good_report.table()


def test_a_test_that_passes_on_the_stubs_fails_the_selftest(tmp_path, capsys, monkeypatch):
    folder = _copy_lab(tmp_path)
    question, test_file, name = _first_public_question(folder)
    # Replace the question's tests with one that only checks the function exists: the stub
    # defines it too, so the test cannot tell a finished exercise from an unfinished one.
    for path in (folder / "tests").glob("*.py"):
        text = path.read_text()
        if f'"{question}"' in text:
            path.unlink()
    test_file.write_text(
        "from mlsys_edu.lab import question\n\n\n"
        f'@question("{question}", points=1)\n'
        "def test_exists(sub):\n"
        f"    assert callable(sub.{name})\n")
    lab = get_lab(Path.cwd(), str(folder))
    report = selftest(lab, options=LIGHT)
    assert not report.passed
    assert f"{question} passes on the stubs: its tests cannot fail" in report.failures[0]
    row = next(r for r in report.rows if r.question == question)
    assert row.stub_score == 1.0 and row.solution_score == 1.0 and not row.ok
    # the command prints the table and the reason, and exits non-zero
    monkeypatch.setattr(selftest_module, "selftest", lambda lab, **kw: report)
    assert selftest_module.main([str(folder)]) == 1
    printed = capsys.readouterr().out
    assert "FAILED" in printed and f"{question} passes on the stubs" in printed


def test_a_test_the_solution_fails_fails_the_selftest(tmp_path):
    folder = _copy_lab(tmp_path)
    question, test_file, name = _first_public_question(folder)
    for path in (folder / "tests").glob("*.py"):
        if f'"{question}"' in path.read_text():
            path.unlink()
    test_file.write_text(
        "from mlsys_edu.lab import question\n\n\n"
        f'@question("{question}", points=2)\n'
        "def test_impossible(sub):\n"
        f"    assert sub.{name} is None, 'wants None'\n")
    report = selftest(get_lab(Path.cwd(), str(folder)), options=LIGHT)
    assert not report.passed
    assert any(f.startswith(f"{question} scores 0/2 on the solution: test_impossible failed")
               for f in report.failures), report.failures


def test_compare_reports_an_ungradable_notebook():
    graded = {"status": "graded", "questions": {"q1": {"score": 1.0, "max_score": 1.0}},
              "tests": [], "cells": []}
    broken = {"status": "unreadable", "reason": "not valid JSON"}
    report = compare("99_mini", graded, broken, {"q1"})
    assert not report.passed
    assert report.failures == ["the student notebook could not be graded (unreadable): "
                               "not valid JSON"]
    partial = {"status": "graded", "questions": {"q1": {"score": 1.0, "max_score": 3.0}},
               "tests": [{"question": "q1", "name": "test_a", "status": "passed"},
                         {"question": "q1", "name": "test_b", "status": "failed"}]}
    report = compare("99_mini", graded | {"questions": {"q1": {"score": 3.0, "max_score": 3.0}}},
                     partial, {"q1"})
    assert report.failures == ["q1 scores 1/3 on the stubs: test_a pass without the exercise done"]
    assert compare("99_mini", graded | {"questions": {"q1": {"score": 3.0, "max_score": 3.0}}},
                   partial, set()).passed  # a question without an exercise may pass on stubs


def test_a_solution_cell_that_fails_under_the_judge_fails_the_selftest():
    graded = {"status": "graded", "questions": {"q1": {"score": 1.0, "max_score": 1.0}},
              "tests": [], "cells": [{"index": 5, "status": "error", "message":
                                      "Traceback...\nModuleNotFoundError: No module named 'x'"}]}
    stubs = {"status": "graded", "questions": {"q1": {"score": 0.0, "max_score": 1.0}},
             "tests": [], "cells": []}
    report = compare("99_mini", graded, stubs, {"q1"})
    assert report.failures == ["solution cell 5 error under the judge: ModuleNotFoundError: "
                               "No module named 'x'"]
