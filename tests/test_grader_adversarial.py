"""Adversarial submissions, graded in ONE batch with correct and wrong ones: each gets the
result it deserves and none changes another's (see grader_fixtures/make.py for the list)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from grader_fixtures.make import CORRECT, LAB_DIR, MAX_SCORE, catalog, make_notebook, write_catalog
from mlsys_edu.grader import GradeOptions, grade_batch
from mlsys_edu.grader.student import make_check
from mlsys_edu.lab.layout import get_lab

OPTIONS = GradeOptions(cell_timeout_s=2, memory_mb=2048, preload=("numpy", "pandas", "pyarrow"),
                       max_test_timeout_s=2)
NAMES = list(catalog())


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("adversarial")
    subs = root / "submissions"
    expects = write_catalog(subs)
    nb = root / "zoe_notebook.ipynb"
    nb.write_bytes(make_notebook(CORRECT))
    make_check("99_mini", {}, {}).export(subs / "zip_submission.zip", notebook=nb, student="zoe")
    autograder_before = Path("/autograder/results/results.json").exists()
    out = root / "out"
    lab = get_lab(Path.cwd(), str(LAB_DIR))
    records = grade_batch(lab, [subs], out, workers=2, options=OPTIONS, progress=False)
    return {"records": {r["student"]: r for r in records}, "list": records, "out": out,
            "expects": expects, "autograder_before": autograder_before}


@pytest.mark.parametrize("name", NAMES)
def test_each_submission_gets_what_it_deserves(batch, name):
    record, expect = batch["records"][name], batch["expects"][name]
    sandbox = record.get("sandbox") or {}
    if name == "read_hidden" and not sandbox.get("mount_namespace") and os.geteuid() != 0:
        pytest.skip("no mount namespace and not root: the judge's files stay readable")
    if name == "network" and not sandbox.get("network_blocked"):
        pytest.skip("this platform does not allow a network namespace")
    assert record["status"] == expect.status, record["reason"]
    if expect.score is not None:
        assert record["score"] == expect.score, [(t["name"], t["status"], t["message"][:200])
                                                 for t in record["tests"]]
    statuses = {t["name"]: t["status"] for t in record["tests"]}
    for test, status in expect.tests.items():
        assert statuses[test] == status, record["tests"]
    cell_statuses = [c["status"] for c in record["cells"]]
    if expect.cell_status:
        assert set(expect.cell_status) & set(cell_statuses), record["cells"]
    if record["status"] == "graded":  # the other questions are untouched by the attack
        assert record["max_score"] == MAX_SCORE
        assert len(record["tests"]) == 6


def test_export_zip_is_graded_under_the_manifests_student(batch):
    record = batch["records"]["zoe"]
    assert record["score"] == MAX_SCORE and record["source"].endswith("zip_submission.zip")


def test_gradebook_has_exactly_one_row_per_submission(batch):
    with open(batch["out"] / "gradebook.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(NAMES) + 1
    assert sorted(r["student"] for r in rows) == sorted([*NAMES, "zoe"])
    assert list(rows[0])[:3] == ["student", "score", "max_score"]
    assert {"q1", "q2", "q3", "status", "reason"} <= set(rows[0])
    bad = next(r for r in rows if r["student"] == "bad_json")
    assert bad["status"] == "unreadable" and "JSON" in bad["reason"]


def test_forged_results_do_not_reach_the_judges_outputs(batch):
    results = json.loads((batch["out"] / "results.json").read_text())
    assert results == batch["list"]
    fake = batch["records"]["fake_results"]
    assert fake["score"] == 6.0
    assert Path("/autograder/results/results.json").exists() == batch["autograder_before"]


def test_hidden_tests_and_reference_cannot_be_read(batch):
    record = batch["records"]["read_hidden"]
    if not record["sandbox"]["mount_namespace"] and os.geteuid() != 0:
        pytest.skip("no mount namespace and not root: the judge's files stay readable")
    cells = [c for c in record["cells"] if c["status"] == "error"]
    assert len(cells) == 2
    for cell in cells:
        assert "FileNotFoundError" in cell["message"] or "PermissionError" in cell["message"]
    assert (LAB_DIR / "tests" / "test_q1.py").is_file()  # the files are there: just not for it


def test_files_left_in_tmp_do_not_reach_the_machine(batch):
    record = batch["records"]["drop_in_tmp"]
    if "/tmp" not in record["sandbox"].get("private_tmp", []):
        pytest.skip("no mount namespace: /tmp is shared")
    assert all(c["status"] == "ok" for c in record["cells"])  # the write itself worked
    assert not Path("/tmp/mlsys_edu_drop.txt").exists()


def test_magics_are_skipped_and_display_is_harmless(batch):
    cells = batch["records"]["magics"]["cells"]
    assert [c["message"] for c in cells[1:3]] == ["skipped", "skipped"]
    assert all(c["status"] == "ok" for c in cells)


def test_failure_messages_are_pytests_readable_ones(batch):
    (test,) = [t for t in batch["records"]["wrong_mean"]["tests"] if t["name"] == "test_mean_small"]
    assert test["message"].startswith("assert 4.0 == 3.0")
    (test,) = [t for t in batch["records"]["always_equal"]["tests"]
               if t["name"] == "test_mean_small"]
    assert "Obtained: <__main__.AlwaysEqual object in the submission>" in test["message"]


def test_network_is_unreachable_where_the_platform_allows(batch):
    record = batch["records"]["network"]
    if not record["sandbox"]["network_blocked"]:
        pytest.skip("this platform does not allow a network namespace")
    (cell,) = [c for c in record["cells"] if c["status"] == "error"]
    assert "OSError" in cell["message"] or "unreachable" in cell["message"]
    loopback = record["cells"][2]  # a server and its client on 127.0.0.1 still work
    assert loopback["status"] == "ok", loopback


def test_no_process_of_any_submission_outlives_the_batch(batch):
    uids = {r["sandbox"]["uid"] for r in batch["list"] if r.get("sandbox")}
    if os.geteuid() != 0:
        pytest.skip("without root the sandbox shares the judge's uid")
    left = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
                if os.stat(f"/proc/{entry}").st_uid in uids and state not in (b"Z", b"X"):
                    left.append(Path(f"/proc/{entry}/cmdline").read_bytes())  # alive: bad
            except OSError:
                pass
    assert left == []


def test_sandbox_ran_unprivileged_and_isolated_under_root(batch):
    report = batch["records"]["correct"]["sandbox"]
    if os.geteuid() != 0:
        pytest.skip("not root: nothing to drop")
    assert report["uid"] != 0
    if report["mount_namespace"]:  # the course root, or at least its labs folder
        assert any(LAB_DIR.parent == Path(p) or Path(p) in LAB_DIR.parents
                   for p in report["hidden"]), report


def test_feedback_shows_public_messages_but_not_hidden_ones(batch):
    text = (batch["out"] / "feedback" / "wrong_mean.md").read_text()
    assert "Score: 6 / 9" in text
    assert "## q1 test_mean_small: failed" in text and "4.0 == 3.0" in text
    assert "test_mean_matches_reference (hidden) | failed" in text
    assert "## q1 test_mean_matches_reference" not in text
    html = (batch["out"] / "feedback" / "wrong_mean.html").read_text()
    assert "test_mean_small" in html and "4.0 == 3.0" in html
    unreadable = (batch["out"] / "feedback" / "not_utf8.md").read_text()
    assert "not UTF-8" in unreadable


def test_the_unprivileged_path_isolates_too(tmp_path):
    """What a judge that is not root gets (user namespaces), emulated from root."""
    if os.geteuid() != 0:
        pytest.skip("the batch above already ran the unprivileged path")
    names = ["correct", "read_hidden", "network", "os_exit_func", "forkbomb"]
    expects = write_catalog(tmp_path / "subs", names)
    preload = (*OPTIONS.preload, "subprocess", "socket", "pyarrow.pandas_compat",
               "encodings.idna")  # /root is closed to this uid: import before dropping root
    options = GradeOptions(**{**OPTIONS.__dict__, "preload": preload, "zygote_uid": 62999})
    lab = get_lab(Path.cwd(), str(LAB_DIR))
    records = {r["student"]: r for r in grade_batch(lab, [tmp_path / "subs"], tmp_path / "out",
                                                    workers=1, options=options, progress=False)}
    for name in names:
        record = records[name]
        assert record["score"] == expects[name].score, (name, record["tests"], record["cells"])
        assert record["sandbox"]["uid"] == 62999
    if not records["correct"]["sandbox"]["mount_namespace"]:
        pytest.skip(f"user namespaces are not allowed here: {records['correct']['sandbox']}")
    for cell in records["read_hidden"]["cells"][1:3]:
        assert "FileNotFoundError" in cell["message"], cell
    assert "unreachable" in records["network"]["cells"][1]["message"]
    assert records["network"]["cells"][2]["status"] == "ok", records["network"]["cells"]


# ----------------------------------------------------------------------------- hidden data
LEAKY_LAB = LAB_DIR.parent / "98_leaky"
SECRET = "hidden input 7f3a9c"  # the hidden test's input (tests/test_q1.py of 98_leaky)
LEAKERS = {
    "echo": "def shout(text):\n    return text",  # fails the hidden test: its message has it
    "raiser": "def shout(text):\n    raise ValueError(f'cannot shout {text!r}')",
    # Keeps every input in a file and raises with them on the next call: run after the hidden
    # test, the public test's (shown) message would carry the hidden input.
    "smuggler": ("import os\n"
                 "def shout(text):\n"
                 "    seen = open('seen.txt').read() if os.path.exists('seen.txt') else ''\n"
                 "    open('seen.txt', 'a').write(text + ';')\n"
                 "    if seen:\n"
                 "        raise ValueError('inputs seen before: ' + seen)\n"
                 "    return text.upper() + '!'"),
}


def test_hidden_tests_data_never_reaches_the_student(tmp_path, capfd):
    """A hidden test that prints its input and fails with it in its message, and submissions
    that raise with it or smuggle it into a public test: the feedback (Markdown, HTML,
    Gradescope) shows the hidden test's status and points and says why no more; the
    instructor's results.json keeps the message; nothing reaches the judge's output."""
    from mlsys_edu.grader.gradescope import to_gradescope
    from mlsys_edu.grader.report import HIDDEN_NOTE

    subs = tmp_path / "subs"
    subs.mkdir()
    for name, code in LEAKERS.items():
        (subs / f"{name}.ipynb").write_bytes(make_notebook([code]))
    lab = get_lab(Path.cwd(), str(LEAKY_LAB))
    records = {r["student"]: r for r in grade_batch(lab, [subs], tmp_path / "out", workers=1,
                                                    options=OPTIONS, progress=False)}
    captured = capfd.readouterr()
    assert SECRET not in captured.out + captured.err  # the hidden test's print was captured
    for name, record in records.items():
        hidden = next(t for t in record["tests"] if t["hidden"])
        assert hidden["status"] in ("failed", "error"), (name, hidden)
        assert SECRET in hidden["message"] + hidden.get("output", "")  # the instructor sees it
        md = (tmp_path / "out" / "feedback" / f"{name}.md").read_text()
        page = (tmp_path / "out" / "feedback" / f"{name}.html").read_text()
        gradescope = json.dumps(to_gradescope(record))
        for shown in (md, page, gradescope):
            assert SECRET not in shown and "7f3a9c" not in shown, name
        assert "test_shout_secret (hidden) | " + hidden["status"] + " | 0 / 2" in md
        assert HIDDEN_NOTE in md and "## q1 test_shout_secret" not in md
        assert "shout(" not in md.replace("shout('hi')", "")  # no assertion text of it
    public = next(t for t in records["smuggler"]["tests"] if not t["hidden"])
    assert public["status"] == "passed"  # it ran before the hidden test saw the secret
    assert [t["name"] for t in records["echo"]["tests"]] == ["test_shout_secret",
                                                            "test_shout_public"]


def test_the_offline_datasets_stay_readable_under_a_fresh_tmp(tmp_path, monkeypatch):
    """MLSYS_EDU_DATA under /tmp, reached through a symlink (a checkout's ../shared): the
    child's /tmp is fresh and empty, yet the datasets are bound back and the path resolves."""
    data = tmp_path / "real" / "data"
    data.mkdir(parents=True)
    (data / "marker.txt").write_text("the dataset")
    (tmp_path / "shared").symlink_to(tmp_path / "real")
    monkeypatch.setenv("MLSYS_EDU_DATA", str(tmp_path / "shared" / "data"))
    reader = ("import os\nfrom pathlib import Path\n"
              "assert Path(os.environ['MLSYS_EDU_DATA'], 'marker.txt').read_text() == "
              "'the dataset'")
    sub = tmp_path / "subs" / "dana.ipynb"
    sub.parent.mkdir()
    sub.write_bytes(make_notebook([*CORRECT, reader]))
    lab = get_lab(Path.cwd(), str(LAB_DIR))
    (record,) = grade_batch(lab, [sub], tmp_path / "out", workers=1, options=OPTIONS,
                            progress=False)
    assert record["cells"][-1]["status"] == "ok", record["cells"][-1]
    assert record["score"] == MAX_SCORE
