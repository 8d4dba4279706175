"""End to end: lab 00 becomes a student notebook, an executed solution, a module and a page."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mlsys_edu.course.build import build
from mlsys_edu.course.config import load_config
from mlsys_edu.course.execute import NotebookExecutionError
from mlsys_edu.course.notebooks import SETUP_TAG, leaked_solution_lines, student_notebook
from mlsys_edu.lab.layout import Lab, find_labs, get_lab
from mlsys_edu.lab.validate import validate_lab

REPO = Path(__file__).resolve().parents[1]
LABS = find_labs(REPO)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_student_notebook_has_no_solution_line(lab):
    source, _ = validate_lab(lab)
    nb = student_notebook(lab, source, load_config(REPO))
    assert source.solution_lines(), "a lab without solution regions teaches nothing"
    assert leaked_solution_lines(nb, source) == []
    every_line = {ln.strip() for cell in nb.cells for ln in cell.source.splitlines()}
    hidden = {line.strip() for line in source.solution_lines()}
    shown = {ln.strip() for c in source.cells for ln in c.student_source().splitlines()}
    assert not (hidden - shown) & every_line


def test_leak_detector_finds_a_planted_solution_line():
    lab = get_lab(REPO, "00")
    source, _ = validate_lab(lab)
    nb = student_notebook(lab, source, load_config(REPO))
    secret = source.solution_lines()[0]
    nb.cells[-1].outputs = [] if nb.cells[-1].cell_type == "code" else None
    nb.metadata["planted"] = {"note": secret}
    assert secret.strip() in leaked_solution_lines(nb, source)


def test_first_build_executes_and_second_is_cached(built_course):
    root, first, second = built_course
    assert first.executed == ["00_orientation"]
    assert first.site_built
    assert second.executed == [] and second.cached == ["00_orientation"]
    assert not second.site_built  # nothing changed: mkdocs does not run again


def test_student_notebook_setup_cell_and_badge(built_course):
    root, _, _ = built_course
    lab = get_lab(root, "00")
    nb = nbformat.read(lab.student_notebook, as_version=4)
    nbformat.validate(nb)
    badge, setup = nb.cells[0], nb.cells[1]
    assert "colab.research.google.com" in badge.source and "00_orientation.ipynb" in badge.source
    assert SETUP_TAG in setup.metadata["tags"]
    assert "pip" in setup.source and "make_check('00_orientation'" in setup.source
    assert "test_rate_of_a_small_frame" in setup.source  # public tests embedded
    assert "test_matches_reference" not in json.dumps(nb)  # hidden tests are not
    stubs = [c.source for c in nb.cells if "NotImplementedError" in c.source]
    assert any('raise NotImplementedError("Exercise 0.1")' in s for s in stubs)


def test_solution_notebook_is_executed_with_a_figure(built_course):
    root, _, _ = built_course
    nb = nbformat.read(get_lab(root, "00").solution_notebook, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert not any(o.output_type == "error" for o in outputs)


def test_solution_module_is_importable_and_correct(built_course):
    root, _, _ = built_course
    path = get_lab(root, "00").solution_module
    spec = importlib.util.spec_from_file_location("ref00", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.top_words(["a b a"], 1) == [("a", 2)]
    assert "comments = load_youtube_spam()" not in path.read_text()  # demo cells left out


def test_lab_page_shows_outputs_but_not_exercise_outputs(built_course):
    root, _, _ = built_course
    page = (root / "build" / "docs" / "labs" / "00_orientation.md").read_text()
    # the figure's text alternative is its `# alt:` line, never a cell number
    assert "![Bar chart of the share of spam comments in each of the five videos" in page
    assert "Figure from cell" not in page
    assert "1,956 comments from 5 videos" in page  # output of a demo cell
    assert 'raise NotImplementedError("Exercise 0.1")' in page  # starter code
    assert "labelled.groupby" not in page  # no solution
    html = (root / "build" / "site" / "labs" / "00_orientation" / "index.html").read_text()
    assert "colab.research.google.com" in html and "../../notebooks/00_orientation.ipynb" in html
    assert (root / "build" / "site" / "notebooks" / "00_orientation.ipynb").is_file()


FAILING_LAB = '''\
# %% [markdown]
# # Lab 98: Broken

# %% tags=["export"]
def one():
    # BEGIN SOLUTION
    return 1
    # END SOLUTION


# %%
check("q1")

# %%
from mlsys_edu.data.reads import record_read
record_read(DATA_FILE)
assert open(DATA_FILE).read() == "good", "the data changed"
'''

TEST = '''\
from mlsys_edu.lab import question

@question("q1")
def test_one(sub):
    assert sub.one() == 1
'''


def tiny_course(tmp_path: Path, data_file: Path) -> Lab:
    (tmp_path / "mkdocs.yml").write_text((REPO / "mkdocs.yml").read_text())
    lab = Lab(tmp_path, "98", "broken")
    lab.tests_dir.mkdir(parents=True)
    lab.source.write_text(FAILING_LAB.replace("DATA_FILE", repr(str(data_file))))
    (lab.tests_dir / "test_q1.py").write_text(TEST)
    return lab


def test_cache_follows_the_data_a_lab_reads_and_a_failing_cell_fails_the_build(tmp_path):
    data_file = tmp_path / "data.txt"
    data_file.write_text("good")
    lab = tiny_course(tmp_path, data_file)
    assert build(tmp_path, site=False, log=lambda _: None).executed == [lab.name]
    assert build(tmp_path, site=False, log=lambda _: None).cached == [lab.name]
    data_file.write_text("bad!")  # same size, new content: the recorded hash differs
    with pytest.raises(NotebookExecutionError) as info:
        build(tmp_path, site=False, log=lambda _: None)
    message = str(info.value)
    assert "lab 98_broken" in message and "labs/98_broken/lab.py:14" in message
    assert "the data changed" in message and "AssertionError" in message


def test_a_solution_that_fails_its_own_check_fails_the_build(tmp_path):
    data_file = tmp_path / "data.txt"
    data_file.write_text("good")
    lab = tiny_course(tmp_path, data_file)
    lab.source.write_text(lab.source.read_text().replace("return 1", "return 2"))
    with pytest.raises(NotebookExecutionError) as info:
        build(tmp_path, site=False, log=lambda _: None)
    message = str(info.value)
    assert "does not pass its own public checks" in message
    assert "check('q1') scored 0/1: test_one failed: assert 2 == 1" in message


def test_check_labs_command_reports_file_and_line(tmp_path, capsys):
    from mlsys_edu.cli import main

    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    lab = Lab(tmp_path, "97", "bad")
    lab.tests_dir.mkdir(parents=True)
    lab.source.write_text(textwrap.dedent('''\
        # %%
        def f():
            # BEGIN SOLUTION
            return 1
        # %%
        check("q1")
        '''))
    (lab.tests_dir / "test_q1.py").write_text(TEST.replace("one()", "f()"))
    assert main(["--root", str(tmp_path), "check-labs"]) == 1
    err = capsys.readouterr().err
    assert "labs/97_bad/lab.py:3: 'BEGIN SOLUTION' is never closed" in err


def test_new_lab_scaffold_validates(tmp_path):
    from mlsys_edu.cli import main

    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    (tmp_path / "labs").mkdir()
    assert main(["--root", str(tmp_path), "new-lab", "6", "feature_store"]) == 0
    lab = get_lab(tmp_path, "06")
    source, cases = validate_lab(lab)
    assert lab.name == "06_feature_store" and [c.question for c in cases] == ["q1", "q1"]
    from mlsys_edu.selftest import selftest

    assert selftest(lab).passed  # the scaffold's test fails on its stub, passes on its solution
    assert build(tmp_path, only=[lab], site=False, log=lambda _: None).executed == [lab.name]
    assert main(["--root", str(tmp_path), "new-lab", "6", "other"]) == 1  # number taken


def test_validation_cache_still_catches_a_new_problem(tmp_path):
    from mlsys_edu.lab.source import LabSourceError

    lab = tiny_course(tmp_path, tmp_path / "data.txt")
    build(tmp_path, execute=False, site=False, log=lambda _: None)  # validated and stamped
    lab.source.write_text(lab.source.read_text() + '\n# %%\ncheck("q9")\n')
    with pytest.raises(LabSourceError, match='check\\("q9"\\) but no test'):
        build(tmp_path, execute=False, site=False, log=lambda _: None)
    (lab.tests_dir / "test_q1.py").write_text(TEST + "\nundefined_name\n")  # tests change too
    lab.source.write_text(lab.source.read_text().replace('check("q9")', ""))
    with pytest.raises(LabSourceError, match="NameError"):
        build(tmp_path, execute=False, site=False, log=lambda _: None)


def test_lab01_notebook_scores_at_least_the_snorkel_tutorial(tmp_path, offline_data):
    """Lab 01 executed end to end (as `make course` does): its results table puts our label
    model and end model at or above the Snorkel spam tutorial's test accuracies."""
    import re
    import shutil

    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "labs" / "01_weak_supervision", tmp_path / "labs" / "01_weak_supervision",
                    ignore=shutil.ignore_patterns("__pycache__"))
    lab = get_lab(tmp_path, "01")
    build(tmp_path, only=[lab], log=lambda _: None)
    nb = nbformat.read(lab.solution_notebook, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "results = pd.DataFrame" in c.source)
    html = cell.outputs[0]["data"]["text/html"]
    # rows: majority vote, label model, end model; columns: ours, Snorkel tutorial
    (mv, mv_ref), (lm, lm_ref), (end, end_ref) = np.reshape(
        [float(v) for v in re.findall(r">(\d+\.\d)%<", html)], (3, 2))
    assert (mv_ref, lm_ref, end_ref) == (84.0, 86.0, 94.4)
    assert mv >= mv_ref and lm >= lm_ref and end >= end_ref, html
