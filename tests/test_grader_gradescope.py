"""Gradescope: the autograder zip, run_autograder through the local emulator, results.json."""

from __future__ import annotations

import copy
import json
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from mlsys_edu.grader import gradescope_cli
from mlsys_edu.grader.gradescope import (
    CONFIG_NAME,
    GradescopeConfig,
    build_autograder_zip,
    failure_results,
    to_gradescope,
    validate_results,
)
from mlsys_edu.lab import get_lab, load_tests
from mlsys_edu.selftest import lab_notebooks

FIXTURE_LAB = Path(__file__).parent / "grader_fixtures" / "labs" / "99_mini"

# The example of Gradescope's "Autograder Specifications" page, with its comments removed:
# a schema written from the specification must accept it.
SPEC_EXAMPLE = {
    "score": 44.0, "execution_time": 136, "output": "Text relevant to the entire submission",
    "output_format": "simple_format", "test_output_format": "text", "test_name_format": "text",
    "visibility": "after_due_date", "stdout_visibility": "visible", "extra_data": {},
    "tests": [{"score": 2.0, "max_score": 2.0, "status": "passed", "name": "Your name here",
               "name_format": "text", "number": "1.1", "output": "Giant multiline string",
               "output_format": "text", "tags": ["tag1", "tag2", "tag3"],
               "visibility": "visible", "extra_data": {}}],
    "leaderboard": [{"name": "Accuracy", "value": 0.926},
                    {"name": "Time", "value": 15.1, "order": "asc"},
                    {"name": "Stars", "value": "*****"}],
}


@pytest.fixture(scope="module")
def lab():
    return get_lab(Path.cwd(), str(FIXTURE_LAB))


@pytest.fixture(scope="module")
def autograder_zip(lab, tmp_path_factory) -> Path:
    # the fixture lab imports numpy and pandas only: a lighter warm child than the default
    config = GradescopeConfig(grade_options={"preload": ["numpy", "pandas"]})
    return build_autograder_zip(lab, tmp_path_factory.mktemp("zip") / "autograder.zip", config)


@pytest.fixture(scope="module")
def submissions(lab, tmp_path_factory) -> dict[str, Path]:
    """The lab's own notebooks as submissions: the solution (full marks) and the stubs."""
    folder = tmp_path_factory.mktemp("subs")
    student, solution = lab_notebooks(lab)
    paths = {"solution": folder / "alice.ipynb", "stubs": folder / "bob.ipynb"}
    nbformat.write(solution, paths["solution"])
    nbformat.write(student, paths["stubs"])
    return paths


# ----------------------------------------------------------------------------------------------
# The zip
# ----------------------------------------------------------------------------------------------
def test_zip_holds_scripts_tests_reference_and_package(lab, autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        names = set(zf.namelist())
        infos = {i.filename: i for i in zf.infolist()}
        for script in ("setup.sh", "run_autograder"):
            assert script in names, "Gradescope needs both scripts at the root of the archive"
            assert (infos[script].external_attr >> 16) & stat.S_IXUSR, f"{script} not executable"
        # every test file, hidden tests included, byte for byte
        for path in lab.tests_dir.glob("*.py"):
            assert zf.read(f"labs/{lab.name}/tests/{path.name}") == path.read_bytes()
        assert zf.read(f"labs/{lab.name}/lab.py") == lab.source.read_bytes()
        reference = zf.read(f"build/solutions/{lab.name}.py").decode()
        meta = json.loads(zf.read(CONFIG_NAME))
        assert "package/pyproject.toml" in names
        assert "package/mlsys_edu/grader/gradescope.py" in names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        constraints = zf.read("constraints.txt").decode().splitlines()
    cases = load_tests(lab.tests_dir, include_hidden=True)
    assert any(c.hidden for c in cases), "the fixture lab should have hidden tests"
    assert meta["lab"] == lab.name and meta["reference_included"] is True
    assert meta["tests"] == len(cases) and meta["hidden_tests"] == sum(c.hidden for c in cases)
    assert meta["max_score"] == pytest.approx(sum(c.points for c in cases))
    namespace: dict = {}
    exec(compile(reference, "reference", "exec"), namespace)  # the reference is a working module
    assert "BEGIN SOLUTION" not in reference
    # Gradescope installs the versions this environment grades with
    import numpy
    import pandas

    assert f"numpy=={numpy.__version__}" in constraints
    assert f"pandas=={pandas.__version__}" in constraints


def test_scripts_are_valid_bash_and_install_source_is_configurable(lab, tmp_path):
    pinned = build_autograder_zip(lab, tmp_path / "pinned.zip",
                                  GradescopeConfig(install="mlsys-edu[grader]==0.1.0",
                                                   extras=("grader",), torch_cpu=False,
                                                   pin_versions=False))
    with zipfile.ZipFile(pinned) as zf:
        setup = zf.read("setup.sh").decode()
        assert not [n for n in zf.namelist() if n.startswith("package/")]
        assert "constraints.txt" not in zf.namelist()  # pin_versions=False
        for script in ("setup.sh", "run_autograder"):
            (tmp_path / script).write_bytes(zf.read(script))
            subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    assert "'mlsys-edu[grader]==0.1.0'" in setup and "download.pytorch.org" not in setup
    with zipfile.ZipFile(build_autograder_zip(lab, tmp_path / "bundle.zip")) as zf:
        bundled = zf.read("setup.sh").decode()
    assert '"$SRC/package[grader,labs]"' in bundled and "download.pytorch.org/whl/cpu" in bundled
    assert '-c "$SRC/constraints.txt"' in bundled and '-c "$SRC/constraints.txt"' not in setup


def test_config_rejects_unknown_visibility_and_options():
    with pytest.raises(ValueError, match="hidden_visibility"):
        GradescopeConfig(hidden_visibility="public")
    with pytest.raises(ValueError, match="timeout_seconds"):
        GradescopeConfig(grade_options={"timeout_seconds": 3})
    options = GradescopeConfig(grade_options={"preload": ["numpy"], "memory_mb": 1024})
    assert options.judge_options().preload == ("numpy",)
    assert options.judge_options().memory_mb == 1024


# ----------------------------------------------------------------------------------------------
# run_autograder through the emulator, end to end with the real judge
# ----------------------------------------------------------------------------------------------
def test_emulator_grades_the_solution_with_full_marks(lab, autograder_zip, submissions, tmp_path):
    run = gradescope_cli.emulate(autograder_zip, submissions["solution"], workdir=tmp_path,
                                 keep=True)
    assert run.returncode == 0, run.stdout
    assert run.schema_errors == [], run.schema_errors
    results = run.results
    cases = load_tests(lab.tests_dir, include_hidden=True)
    assert results["score"] == pytest.approx(sum(c.points for c in cases))
    assert len(results["tests"]) == len(cases)
    for test, case in zip(results["tests"], cases):
        assert test["name"].startswith(f"{case.question} {case.name}")
        assert test["max_score"] == case.points and test["score"] == case.points
        assert test["status"] == "passed"
        assert test["visibility"] == ("after_published" if case.hidden else "visible")
    numbers = [t["number"] for t in results["tests"]]
    assert len(set(numbers)) == len(numbers)
    assert isinstance(results["execution_time"], int) and results["stdout_visibility"] == "hidden"
    assert (run.root / "results" / "stdout").read_text() == run.stdout


def test_emulator_grades_the_stubs_with_zero_and_withholds_hidden_messages(
        lab, autograder_zip, submissions, tmp_path):
    run = gradescope_cli.emulate(autograder_zip, submissions["stubs"], workdir=tmp_path)
    assert run.ok, (run.schema_errors, run.stdout)
    assert not run.root.exists(), "the temporary tree is removed unless kept"
    results = run.results
    assert results["score"] == 0.0
    assert all(t["status"] == "failed" and t["score"] == 0.0 for t in results["tests"])
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    public = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert hidden and public
    assert all("withheld" in t["output"] for t in hidden if t["output"] != "failed")
    assert any(len(t["output"].splitlines()) > 1 for t in public), "public failures explain why"


def test_emulator_prefers_the_export_zip_over_a_stray_notebook(lab, autograder_zip, submissions,
                                                               tmp_path):
    """An upload of a draft notebook (the stubs) next to check.export()'s zip of the solution."""
    from mlsys_edu.grader.student import make_check

    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "draft.ipynb").write_bytes(submissions["stubs"].read_bytes())
    make_check(lab.name, {}, {}).export(folder / f"{lab.name}_submission.zip",
                                        notebook=submissions["solution"], student="alice")
    run = gradescope_cli.emulate(autograder_zip, folder, workdir=tmp_path)
    assert run.ok, (run.schema_errors, run.stdout)
    assert f"grading {lab.name}_submission.zip" in run.stdout
    assert run.results["score"] == sum(t["max_score"] for t in run.results["tests"]) > 0


def test_emulator_without_a_notebook_still_writes_valid_results(autograder_zip, tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "notes.txt").write_text("I forgot the notebook")
    run = gradescope_cli.emulate(autograder_zip, folder, workdir=tmp_path)
    assert run.ok, run.schema_errors
    assert run.results["score"] == 0.0
    assert "no notebook" in run.results["output"] and "notes.txt" in run.results["output"]


def test_cli_builds_and_runs(lab, submissions, tmp_path, capsys):
    out = tmp_path / "ag.zip"
    assert gradescope_cli.main([str(FIXTURE_LAB), "-o", str(out),
                                "--hidden-visibility", "hidden"]) == 0
    assert "hidden" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert json.loads(zf.read(CONFIG_NAME))["hidden_visibility"] == "hidden"
    assert gradescope_cli.main(["run", str(out), str(submissions["solution"])]) == 0
    printed = capsys.readouterr().out
    assert "follows Gradescope's specification" in printed
    total = sum(c.points for c in load_tests(lab.tests_dir, include_hidden=True))
    assert f"total: {total:g}/{total:g}" in printed
    assert gradescope_cli.main(["run", str(out)]) == 2  # a missing argument is a usage error


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("MLSYS_EDU_TEST_GRADESCOPE_SETUP"),
                    reason="runs setup.sh: a fresh venv installed from PyPI (minutes, network); "
                           "set MLSYS_EDU_TEST_GRADESCOPE_SETUP=1 to run it")
def test_setup_sh_builds_a_venv_that_grades_like_this_environment(lab, submissions, tmp_path):
    config = GradescopeConfig(extras=("grader",), torch_cpu=False,
                              grade_options={"preload": ["numpy", "pandas"]})
    zip_path = build_autograder_zip(lab, tmp_path / "ag.zip", config)
    run = gradescope_cli.emulate(zip_path, submissions["solution"], setup=True, workdir=tmp_path,
                                 keep=True)
    assert (run.root / "venv" / "bin" / "python").is_file()
    assert run.ok and run.returncode == 0, run.stdout
    assert run.results["score"] == sum(t["max_score"] for t in run.results["tests"]) > 0


# ----------------------------------------------------------------------------------------------
# The schema and the converter
# ----------------------------------------------------------------------------------------------
def test_schema_accepts_the_specification_example():
    assert validate_results(SPEC_EXAMPLE) == []
    assert validate_results({"tests": [{"score": 1.0, "max_score": 1.0}]}) == []


@pytest.mark.parametrize("change, expected", [
    (lambda r: (r.pop("score"), r["tests"][0].pop("score")), "any of the given schemas"),
    (lambda r: r["tests"][0].update(status="error"), "status"),
    (lambda r: r["tests"][0].update(visibility="public"), "visibility"),
    (lambda r: r.update(stdout_visibility="shown"), "stdout_visibility"),
    (lambda r: r["tests"][0].update(number=1.1), "number"),
    (lambda r: r["tests"][0].update(points=2.0), "points"),
    (lambda r: r.update(score="44"), "score"),
    (lambda r: r["leaderboard"][1].update(order="up"), "order"),
])
def test_schema_rejects_what_the_specification_does_not_allow(change, expected):
    results = copy.deepcopy(SPEC_EXAMPLE)
    change(results)
    errors = validate_results(results)
    assert errors and any(expected in e for e in errors), errors


def test_unreadable_record_converts_to_zero_with_the_reason():
    record = {"student": "eve", "source": "eve.ipynb", "lab": "99_mini", "status": "unreadable",
              "reason": "the notebook is not valid JSON", "score": 0.0, "max_score": 6.0,
              "duration_s": 0.2, "cells": [], "tests": [], "questions": {}}
    results = to_gradescope(record)
    assert validate_results(results) == []
    assert results["score"] == 0.0 and "not valid JSON" in results["output"]
    assert validate_results(failure_results("boom", 1.5)) == []


def test_every_judge_status_converts_to_passed_or_failed_with_its_reason():
    statuses = ["passed", "failed", "error", "timeout", "out-of-memory", "crashed", "missing",
                "refused"]
    tests = [{"question": "q1", "name": f"test_{i}", "hidden": i % 2 == 1, "points": 1.0,
              "score": 1.0 if s == "passed" else 0.0, "status": s, "message": f"why {s}",
              "duration_s": 0.1} for i, s in enumerate(statuses)]
    record = {"student": "dan", "source": "dan.ipynb", "lab": "99_mini", "status": "graded",
              "reason": "", "score": 1.0, "max_score": 8.0, "duration_s": 3.2,
              "cells": [{"index": 4, "status": "error", "message": "Traceback...\nValueError: x"}],
              "tests": tests, "questions": {"q1": {"score": 1.0, "max_score": 8.0}}}
    results = to_gradescope(record, GradescopeConfig(hidden_visibility="hidden"))
    assert validate_results(results) == []
    assert [t["status"] for t in results["tests"]] == ["passed"] + ["failed"] * 7
    assert [t["number"] for t in results["tests"]] == [f"1.{j}" for j in range(1, 9)]
    assert results["execution_time"] == 4 and results["score"] == 1.0
    for test, status in zip(results["tests"], statuses):
        if status != "passed" and test["visibility"] == "visible":
            assert f"why {status}" in test["output"]  # public: the judge's message
        elif status != "passed":
            assert test["visibility"] == "hidden" and f"why {status}" not in test["output"]
    assert "cell 4: error: ValueError: x" in results["output"]
    shown = to_gradescope(record, GradescopeConfig(show_hidden_output=True))
    assert all(f"why {s}" in t["output"] for t, s in zip(shown["tests"], statuses) if s != "passed")
