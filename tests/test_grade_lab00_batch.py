"""Fifty lab-00 submissions, correct, wrong and adversarial, graded in one batch by the CLI:
one gradebook row each, and each score the one an instructor would call fair."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from mlsys_edu.cli import main
from mlsys_edu.course.config import load_config
from mlsys_edu.course.notebooks import solution_notebook, student_notebook
from mlsys_edu.lab.layout import get_lab
from mlsys_edu.lab.validate import validate_lab

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

# Each variant: (how many copies, what to do to the solution notebook, expected score).
# Lab 00 has q1 (5 points) and q2 (5 points).
VARIANTS = {
    "correct": (14, None, 10.0),
    # counts unknown labels (-1): passes the small-frame test only (2 of q1's 5 points)
    "wrong_rate": (6, ("spam_rate_by_video", "    return df.groupby('video')['label'].mean()"), 7.0),
    "wrong_words": (5, ("top_words", "    return []"), 5.0),
    "loop_in_cell": (2, ("append", "while True:\n    pass"), 10.0),
    "loop_in_function": (2, ("top_words", "    while True:\n        pass"), 5.0),
    "exit_in_cell": (2, ("append", "import os\nos._exit(0)"), 10.0),
    "sysexit_in_function": (2, ("spam_rate_by_video", "    raise SystemExit(0)"), 5.0),
    "always_equal": (2, ("top_words", "    class Eq(list):\n        def __eq__(self, other):\n"
                                      "            return True\n    return Eq()"), 5.0),
    "patch_numpy": (2, ("append", "import numpy, pytest\nnumpy.testing.assert_allclose = "
                                  "lambda *a, **k: None\npytest.approx = lambda *a, **k: 0"), 10.0),
    "fake_report": (2, ("append", "print('q1: 5/5 q2: 5/5 PASSED')\nopen('results.json', 'w')"
                                  ".write('{\"score\": 100}')"), 10.0),
    "read_hidden_tests": (2, ("append", f"print(open({str(REPO / 'labs/00_orientation/tests/test_q1.py')!r}).read())"), 10.0),
    "renamed": (3, ("rename", "spam_rate_by_video"), 5.0),
    "memory_bomb": (2, ("top_words", "    x = bytearray(8 * 2**30)\n    return []"), 5.0),
    "not_json": (1, "bytes", 0.0),
    "not_utf8": (1, "latin1", 0.0),
    "stubs": (2, "student", 0.0),
}


def _replace_body(source: str, name: str, body: str) -> str:
    """The cell with function ``name``'s body (after its docstring) replaced by ``body``."""
    head, _, _ = source.partition(f"def {name}(")
    signature_and_doc = source[len(head):].split('"""')
    return head + '"""'.join(signature_and_doc[:2]) + '"""\n' + body + "\n"


def make_submission(kind: str, base: nbformat.NotebookNode, student: nbformat.NotebookNode) -> bytes:
    _, change, _ = VARIANTS[kind]
    if change == "bytes":
        return b'{"cells": [ this is not json'
    if change == "latin1":
        return nbformat.writes(base).replace("spam", "sp\u00e4m").encode("latin-1", "replace")
    if change == "student":
        return nbformat.writes(student).encode()
    nb = nbformat.from_dict(base)
    if change is not None:
        what, text = change
        if what == "append":
            nb.cells.insert(4, nbformat.v4.new_code_cell(text))
        elif what == "rename":
            for cell in nb.cells:
                cell.source = cell.source.replace(f"def {text}(", f"def my_{text}(")
        else:
            for cell in nb.cells:
                if f"def {what}(" in cell.source:
                    cell.source = _replace_body(cell.source, what, text)
    return nbformat.writes(nb).encode()


def test_fifty_lab00_submissions_one_row_each_and_fair_scores(tmp_path):
    lab = get_lab(REPO, "00")
    source, _ = validate_lab(lab)
    config = load_config(REPO)
    base, student = solution_notebook(lab, source, config), student_notebook(lab, source, config)
    folder = tmp_path / "submissions"
    folder.mkdir()
    expected = {}
    for kind, (copies, _, score) in VARIANTS.items():
        for i in range(copies):
            (folder / f"{kind}-{i}.ipynb").write_bytes(make_submission(kind, base, student))
            expected[f"{kind}-{i}"] = score
    assert len(expected) == 50
    out = tmp_path / "out"
    assert main(["--root", str(REPO), "grade", "00", str(folder), "-o", str(out),
                 "--workers", "2", "--cell-timeout", "3", "--test-timeout", "3",
                 "--memory-mb", "1024"]) == 0
    with open(out / "gradebook.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["student"] for r in rows) == sorted(expected)
    wrong = {r["student"]: (float(r["score"]), expected[r["student"]]) for r in rows
             if float(r["score"]) != expected[r["student"]]}
    assert wrong == {}
    reasons = {r["student"]: r.get("reason", "") for r in rows}
    assert reasons["not_json-0"] and reasons["not_utf8-0"]  # a row that says why
    assert (out / "feedback" / "correct-0.md").is_file()
