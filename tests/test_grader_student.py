"""The student side: check("qN"), check.all(), check.export()."""

from __future__ import annotations

import hashlib
import json
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlsys_edu.grader.student import make_check
from mlsys_edu.lab.questions import public_source
from grader_fixtures.make import CORRECT, LAB_DIR, make_notebook

TESTS_DIR = LAB_DIR / "tests"
PUBLIC_TESTS = {p.name: public_source(p.read_text()) for p in sorted(TESTS_DIR.glob("test_*.py"))}


def notebook_globals(*cells: str) -> dict:
    ns: dict = {"__name__": "__main__"}
    for cell in cells:
        exec(cell, ns)
    return ns


def correct_ns() -> dict:
    return notebook_globals(*[c for c in CORRECT if not c.startswith("check")])


def test_public_tests_shipped_to_students_hold_no_hidden_test():
    text = "".join(PUBLIC_TESTS.values())
    assert "test_mean_small" in text
    assert "hidden=True" not in text and "test_mean_matches_reference" not in text


def test_check_passes_a_correct_question_and_shows_points():
    check = make_check("99_mini", PUBLIC_TESTS, correct_ns())
    result = check("q1")
    assert result.passed and result.score == result.max_score == 1.0
    assert "PASS" in str(result) and "99_mini q1: 1 / 1 points" in str(result)
    html = result._repr_html_()
    assert "<table>" in html and "test_mean_small" in html and "passed" in html


def test_check_reports_a_wrong_answer_with_pytests_message():
    ns = correct_ns()
    exec("def mean(xs):\n    return sum(xs) / len(xs) + 1", ns)
    result = make_check("99_mini", PUBLIC_TESTS, ns)("q1")
    (r,) = result.results
    assert r.status == "failed" and r.score == 0
    assert "4.0 == 3.0" in r.message  # pytest's assertion rewriting: both sides shown
    assert "FAILED" in str(result)


def test_check_says_what_to_do_for_missing_stub_and_undefined_helper():
    ns = notebook_globals("import numpy as np")
    check = make_check("99_mini", PUBLIC_TESTS, ns)
    assert "define `mean` above" in check("q1").results[0].message
    exec('def mean(xs):\n    raise NotImplementedError("Exercise 1.1")', ns)
    r = check("q1").results[0]
    assert r.status == "not-done" and "Exercise 1.1 is not done yet" in r.message
    exec("def mean(xs):\n    return helper(xs)", ns)
    r = check("q1").results[0]
    assert r.status == "error" and "define `helper` above" in r.message


def test_check_html_escapes_student_text():
    ns = correct_ns()
    exec("def mean(xs):\n    raise ValueError('<script>alert(1)</script>')", ns)
    html = make_check("99_mini", PUBLIC_TESTS, ns)("q1")._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_check_all_runs_every_public_test_and_unknown_question_lists_known_ones():
    check = make_check("99_mini", PUBLIC_TESTS, correct_ns())
    result = check.all()
    assert [r.name for r in result.results] == ["test_mean_small", "test_normalize_unit",
                                                "test_counter_top"]
    assert result.score == 3.0
    with pytest.raises(KeyError, match="q1, q2, q3"):
        check("q9")


def test_rng_is_seeded_like_the_grader():
    from mlsys_edu.lab.questions import load_source

    source = ("from mlsys_edu.lab import question\n"
              "@question('q1')\ndef test_seeded(sub, rng):\n    sub.draws.append(rng.random())\n")
    ns = {"draws": []}
    check = make_check("99_mini", {"test_x.py": source}, ns)
    check("q1"), check("q1")
    (case,) = load_source(source, "test_x.py")
    assert ns["draws"] == [np.random.default_rng(case.seed).random()] * 2


def _read_zip(path: Path) -> tuple[dict, bytes, list[str]]:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("manifest.json"))
        return manifest, zf.read("99_mini.ipynb"), names


def test_export_writes_notebook_and_manifest_without_hidden_tests(tmp_path):
    nb = tmp_path / "my_lab.ipynb"
    nb.write_bytes(make_notebook(CORRECT))
    check = make_check("99_mini", PUBLIC_TESTS, correct_ns())
    out = check.export(tmp_path / "sub.zip", notebook=nb, student="alice")
    manifest, data, names = _read_zip(out)
    assert sorted(names) == ["99_mini.ipynb", "manifest.json"]
    assert data == nb.read_bytes()
    assert manifest["lab"] == "99_mini" and manifest["student"] == "alice"
    assert manifest["files"]["99_mini.ipynb"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert "created" in manifest
    assert b"test_mean_matches_reference" not in out.read_bytes()


def test_export_finds_the_notebook_from_jupyter_session(tmp_path, monkeypatch):
    nb = tmp_path / "session.ipynb"
    nb.write_bytes(make_notebook(CORRECT))
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    monkeypatch.chdir(tmp_path)
    out = make_check("99_mini", PUBLIC_TESTS, {}).export()
    assert out == tmp_path / "99_mini_submission.zip"
    assert _read_zip(out)[1] == nb.read_bytes()
    monkeypatch.delenv("JPY_SESSION_NAME")
    out2 = make_check("99_mini", PUBLIC_TESTS, {"__session__": str(nb)}).export(tmp_path / "b.zip")
    assert _read_zip(out2)[1] == nb.read_bytes()


def test_export_on_colab_asks_the_frontend(tmp_path, monkeypatch):
    notebook = json.loads(make_notebook(CORRECT))
    calls = []

    def blocking_request(kind, timeout_sec=None):
        calls.append(kind)
        return {"ipynb": notebook}

    colab = types.ModuleType("google.colab")
    colab._message = types.SimpleNamespace(blocking_request=blocking_request)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    out = make_check("99_mini", PUBLIC_TESTS, {}).export(tmp_path / "c.zip")
    assert calls == ["get_ipynb"]
    assert json.loads(_read_zip(out)[1]) == notebook


def test_export_without_a_notebook_says_how_to_name_it(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(FileNotFoundError, match=r"check.export\(notebook="):
        make_check("99_mini", PUBLIC_TESTS, {}).export(tmp_path / "x.zip")
    with pytest.raises(FileNotFoundError, match="no notebook at"):
        make_check("99_mini", PUBLIC_TESTS, {}).export(notebook=tmp_path / "nope.ipynb")
