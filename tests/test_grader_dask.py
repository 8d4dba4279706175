"""Grading on a Dask cluster: a real LocalCluster with two worker processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from mlsys_edu.grader import GradeOptions
from mlsys_edu.grader.dask_backend import grade_bytes, grade_with_dask, lab_payload
from mlsys_edu.lab import get_lab, load_tests
from mlsys_edu.selftest import lab_notebooks

distributed = pytest.importorskip("distributed")

FIXTURE_LAB = Path(__file__).parent / "grader_fixtures" / "labs" / "99_mini"
LIGHT = GradeOptions(preload=("numpy", "pandas"))  # all the fixture lab imports


@pytest.fixture(scope="module")
def lab():
    return get_lab(Path.cwd(), str(FIXTURE_LAB))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def submissions(lab, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("subs")
    student, solution = lab_notebooks(lab)
    nbformat.write(solution, folder / "alice.ipynb")
    nbformat.write(student, folder / "bob.ipynb")
    return [folder / "alice.ipynb", folder / "bob.ipynb"]


def test_two_submissions_graded_on_two_workers(lab, cluster, submissions):
    records = grade_with_dask(lab, submissions, cluster.scheduler_address, options=LIGHT,
                              progress=False)
    total = sum(c.points for c in load_tests(lab.tests_dir, include_hidden=True))
    assert [r["student"] for r in records] == ["alice", "bob"]  # input order, stem = student
    assert [r["source"] for r in records] == [str(p) for p in submissions]  # client's paths
    assert all(r["status"] == "graded" and r["lab"] == lab.name for r in records)
    alice, bob = records
    assert alice["score"] == pytest.approx(total) and alice["max_score"] == pytest.approx(total)
    assert bob["score"] == 0.0 and bob["max_score"] == pytest.approx(total)
    assert {t["status"] for t in alice["tests"]} == {"passed"}


def test_a_lost_submission_still_gets_a_record(lab, cluster, submissions, tmp_path):
    missing = tmp_path / "carol.ipynb"
    records = grade_with_dask(lab, [missing, submissions[0]], cluster.scheduler_address,
                              options=LIGHT, progress=False)
    assert [r["student"] for r in records] == ["carol", "alice"]
    assert records[0]["status"] == "internal-error" and "cannot read" in records[0]["reason"]
    assert records[1]["status"] == "graded"


def test_the_worker_needs_neither_the_lab_folder_nor_the_submission_path(lab, submissions,
                                                                         tmp_path):
    """What a task carries is enough: grade with the original lab folder gone."""
    copy = tmp_path / "labs" / lab.name
    shutil.copytree(lab.dir, copy)
    payload = lab_payload(get_lab(Path.cwd(), str(copy)))
    shutil.rmtree(tmp_path / "labs")
    record = json.loads(grade_bytes(payload, "alice.ipynb", submissions[0].read_bytes(), LIGHT))
    assert record["status"] == "graded" and record["student"] == "alice"
    assert record["score"] == pytest.approx(record["max_score"]) and record["max_score"] > 0


def test_grade_command_sends_work_to_the_scheduler(lab, cluster, submissions, tmp_path, capsys):
    """``grade ... --scheduler ADDRESS`` (the core's CLI) grades on the cluster: a gradebook row
    per submission, the unreadable one included."""
    from mlsys_edu.grader.__main__ import main

    folder = tmp_path / "subs"
    folder.mkdir()
    for path in submissions:
        shutil.copy(path, folder / path.name)
    (folder / "eve.ipynb").write_text("{not json")
    out = tmp_path / "out"
    assert main(["grade", str(FIXTURE_LAB), str(folder), "-o", str(out),
                 "--scheduler", cluster.scheduler_address, "--preload", "numpy,pandas"]) == 0
    assert "grading on dask" in capsys.readouterr().err
    rows = (out / "gradebook.csv").read_text().splitlines()[1:]
    by_student = {row.split(",")[0]: row for row in rows}
    assert sorted(by_student) == ["alice", "bob", "eve"]
    total = sum(c.points for c in load_tests(lab.tests_dir, include_hidden=True))
    assert by_student["alice"].startswith(f"alice,{total:.1f},{total:.1f}")
    assert "unreadable" in by_student["eve"] and ",graded," in by_student["bob"]
