"""The mutation self-test: slips found in solution regions only, applied exactly, sampled
reproducibly, graded by the real grader; and every lab's tests kill a small sample in CI."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from mlsys_edu.grader import GradeOptions
from mlsys_edu.lab import get_lab
from mlsys_edu.lab.layout import find_labs
from mlsys_edu.lab.source import parse_lab_source
from mlsys_edu.mutants import (apply, equivalent_mutants, exercise_questions, explain,
                               find_mutations, mutation_test, sample)

REPO = Path(__file__).resolve().parents[1]
FIXTURE_LAB = Path(__file__).parent / "grader_fixtures" / "labs" / "99_mini"
LIGHT = GradeOptions(preload=("numpy", "pandas"))

SOURCE = textwrap.dedent('''\
    # %% [markdown]
    # # Lab 97: slips

    # %% tags=["export"]
    import numpy as np


    def f(x, y):
        """Outside the region nothing changes: 1 + 1 < 3."""
        z = 1 + 1
        # BEGIN SOLUTION 1.1
        if x < y and y >= 0:
            x = -x
        total = np.sum([x, y], axis=0) * 2.5
        return max(total, y) == True
        # END SOLUTION


    # %%
    check("q1")
    ''')


@pytest.fixture()
def source(tmp_path):
    path = tmp_path / "labs" / "97_slips" / "lab.py"
    path.parent.mkdir(parents=True)
    path.write_text(SOURCE, encoding="utf-8")
    return parse_lab_source(path, "1")


def test_every_kind_of_slip_is_found_inside_regions_only(source):
    found = find_mutations(source)
    kinds = {m.kind for m in found}
    assert kinds == {"comparison", "sign", "boolean", "constant", "axis", "dropped", "swapped"}
    lines = SOURCE.splitlines()
    region = range(lines.index("    # BEGIN SOLUTION 1.1") + 2,
                   lines.index("    # END SOLUTION") + 1)
    assert all(m.line in region and m.end_line in region for m in found)
    assert all(m.exercise == "1.1" for m in found)
    news = {m.new[0].strip() for m in found if m.line == m.end_line}
    for expected in ("if x <= y and y >= 0:", "if x < y or y >= 0:", "if x < y and y > 0:",
                     "x = x", "total = np.sum([x, y], axis=1) * 2.5",
                     "total = np.sum([x, y], axis=0) * 5.0", "return max(y, total) == True",
                     "return max(total, y) == False", "return max(total, y) != True",
                     "total = np.sum([x, y], axis=0) / 2.5", "if x < y and y >= 1:", "pass"):
        assert expected in news, expected


def test_a_mutation_changes_only_its_line_and_compiles(source):
    text = SOURCE
    for mutation in find_mutations(source):
        mutated = apply(text, mutation)
        compile(mutated, "mutant", "exec")
        before, after = text.splitlines(), mutated.splitlines()
        changed = [i + 1 for i, (a, b) in enumerate(zip(before, after)) if a != b]
        if mutation.line == mutation.end_line:
            assert changed == [mutation.line]
        assert len(after) == len(before) - (mutation.end_line - mutation.line)


def test_sampling_is_reproducible_and_spread_over_exercises():
    lab = parse_lab_source(REPO / "labs" / "01_weak_supervision" / "lab.py", "1")
    found = find_mutations(lab)
    first, again, other = sample(found, 14, 0), sample(found, 14, 0), sample(found, 14, 1)
    assert first == again and first != other
    assert {m.exercise for m in first} == {f"1.{i}" for i in range(1, 8)}
    assert exercise_questions(lab)["1.6"] == ["q6"]


def test_equivalent_mutants_are_read_and_matched(tmp_path, source):
    lab_dir = tmp_path / "labs" / "97_slips"
    mutation = next(m for m in find_mutations(source) if m.kind == "boolean")
    (lab_dir / "mutants.toml").write_text(
        '[[equivalent]]\nexercise = "1.1"\n'
        f"old = '{mutation.old[0].strip()}'\nnew = '''{mutation.new[0]}'''\n"
        'why = "for the sake of the test"\n', encoding="utf-8")
    lab = get_lab(tmp_path, "97")
    known = equivalent_mutants(lab)
    assert explain(mutation, known) == "for the sake of the test"
    other = next(m for m in find_mutations(source) if m.kind == "axis")
    assert explain(other, known) == ""
    (lab_dir / "mutants.toml").write_text('[[equivalent]]\nexercise = "1.1"\n')
    with pytest.raises(ValueError, match="lacks"):
        equivalent_mutants(lab)


def test_the_fixture_lab_kills_its_mutants_with_the_real_grader(tmp_path):
    target = tmp_path / "labs" / FIXTURE_LAB.name
    shutil.copytree(FIXTURE_LAB, target, ignore=shutil.ignore_patterns("__pycache__"))
    report = mutation_test(get_lab(tmp_path, "99"), 6, seed=3, workers=2, options=LIGHT,
                           progress=False)
    assert len(report.results) == 6 and report.candidates >= 6
    assert all(r.status == "graded" for r in report.results), [r.status for r in report.results]
    assert report.kill_rate >= 5 / 6, str(report)
    assert "mutation self-test of 99_mini" in str(report)
    by_question = report.by_question()
    assert sum(n for n, _ in by_question.values()) >= 6


# Every lab: a small sample of its mutants, each killed or explained in its mutants.toml.
CI_MUTANTS = int(os.environ.get("MLSYS_EDU_CI_MUTANTS", "6"))
LABS = find_labs(REPO)


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_a_small_sample_of_mutants_is_killed(lab, offline_data):
    report = mutation_test(lab, CI_MUTANTS, seed=0, workers=2, progress=False)
    print(report)
    assert all(r.status == "graded" for r in report.results), str(report)
    assert not report.unexplained, str(report)
