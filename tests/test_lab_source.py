"""Parsing and stripping lab sources, including every malformed case check-labs reports."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_edu.lab.layout import Lab
from mlsys_edu.lab.source import LabSourceError, parse_lab_source
from mlsys_edu.lab.validate import validate_lab

GOOD = '''\
# %% [markdown]
# # Lab 07: Example
#
# Some *text*.

# %% tags=["export"]
import numpy as np

# %% tags=["export"]
def mean(xs):
    """The mean."""
    # BEGIN SOLUTION
    total = sum(xs)
    return total / len(xs)
    # END SOLUTION


# %%
values = [1, 2, 3]
for v in values:
    # BEGIN SOLUTION
    print(v * 2)
    # END SOLUTION
check("q1")
'''


def write(tmp_path: Path, text: str, name: str = "lab.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(LabSourceError) as info:
        parse_lab_source(write(tmp_path, text), exercise_prefix="7")
    return [str(p) for p in info.value.problems]


def test_cells_kinds_tags_and_lines(tmp_path):
    lab = parse_lab_source(write(tmp_path, GOOD), exercise_prefix="7")
    assert [c.kind for c in lab.cells] == ["markdown", "code", "code", "code"]
    assert [c.line for c in lab.cells] == [1, 6, 9, 18]
    assert [c.is_export for c in lab.cells] == [False, True, True, False]
    assert lab.cells[0].solution_source() == "# Lab 07: Example\n\nSome *text*."
    assert lab.checks() == [("q1", 24)]


def test_function_body_becomes_not_implemented(tmp_path):
    lab = parse_lab_source(write(tmp_path, GOOD), exercise_prefix="7")
    student = lab.cells[2].student_source()
    assert student == ('def mean(xs):\n    """The mean."""\n'
                       '    raise NotImplementedError("Exercise 7.1")')
    assert "total" not in student
    assert "# BEGIN SOLUTION" not in lab.cells[2].solution_source()
    assert "return total / len(xs)" in lab.cells[2].solution_source()


def test_other_regions_become_your_code_here_with_indentation(tmp_path):
    lab = parse_lab_source(write(tmp_path, GOOD), exercise_prefix="7")
    student = lab.cells[3].student_source()
    assert "    ...  # YOUR CODE HERE" in student.splitlines()
    assert "print(v * 2)" not in student
    ast.parse(student)  # still valid Python


def test_exercise_id_from_marker_overrides_numbering(tmp_path):
    text = GOOD.replace("    # BEGIN SOLUTION\n    total", "    # BEGIN SOLUTION 3.4\n    total")
    lab = parse_lab_source(write(tmp_path, text), exercise_prefix="7")
    assert 'Exercise 3.4' in lab.cells[2].student_source()
    assert lab.cells[3].regions[0].exercise == "7.2"


def test_export_source_is_the_export_cells_with_solutions(tmp_path):
    lab = parse_lab_source(write(tmp_path, GOOD), exercise_prefix="7")
    module = lab.export_source()
    namespace: dict = {}
    exec(compile(module, "ref", "exec"), namespace)
    assert namespace["mean"]([1, 2, 3, 6]) == 3
    assert "values = [1, 2, 3]" not in module  # demo cells are left out


def test_questions_with_exercises(tmp_path):
    text = GOOD + '\n# %%\nprint("demo")\n\n# %%\ncheck("q2")\n'
    lab = parse_lab_source(write(tmp_path, text), exercise_prefix="7")
    assert lab.questions_with_exercises() == ["q1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# %%\nx = 1\n# BEGIN SOLUTION\ny = 2\n", "lab.py:3: 'BEGIN SOLUTION' is never closed"),
        ("# %%\nx = 1\n# END SOLUTION\n", "lab.py:3: 'END SOLUTION' without a 'BEGIN SOLUTION'"),
        ("# %%\n# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n",
         "lab.py:3: nested 'BEGIN SOLUTION'"),
        ("# %% [markdown]\n# text\n# BEGIN SOLUTION\n# END SOLUTION\n",
         "lab.py:3: 'BEGIN SOLUTION' in a markdown cell"),
        ("# %%\n# BEGIN SOLUTION\nx = 1\n# %%\n# END SOLUTION\n",
         "lab.py:2: 'BEGIN SOLUTION' is never closed in its cell"),
        ("# %%\ndef f():\n    # BEGIN SOLUTION\n    return 1\n# END SOLUTION\n",
         "lab.py:5: 'END SOLUTION' is indented differently"),
        ("# %%\n# BEGIN SOLUTION one\nx = 1\n# END SOLUTION\n", "must look like 1.2"),
        ("x = 1\n# %%\ny = 2\n", "lab.py:1: code before the first cell"),
        ("# %% tags=[export]\nx = 1\n", "lab.py:1: cell metadata tags=[export] is not JSON"),
        ("# %%\ndef f(:\n    pass\n", "lab.py:2: syntax error in code cell"),
        ("", "no cells found"),
    ],
)
def test_malformed_sources_report_file_line_and_fix(tmp_path, text, expected):
    problems = problems_of(tmp_path, text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "lab.py") + ":") for p in problems)


def test_every_problem_is_reported_at_once(tmp_path):
    text = "# %%\n# END SOLUTION\n# %% [markdown]\n# BEGIN SOLUTION\n"
    assert len(problems_of(tmp_path, text)) == 2


def make_lab(tmp_path: Path, source: str, tests: dict[str, str]) -> Lab:
    lab = Lab(tmp_path, "07", "example")
    lab.tests_dir.mkdir(parents=True)
    lab.source.write_text(source, encoding="utf-8")
    for name, text in tests.items():
        (lab.tests_dir / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return lab


TEST_Q1 = '''\
from mlsys_edu.lab import question

@question("q1", points=1)
def test_mean(sub):
    assert sub.mean([1, 3]) == 2
'''


def test_valid_lab_passes_cross_check(tmp_path):
    source, cases = validate_lab(make_lab(tmp_path, GOOD, {"test_q1.py": TEST_Q1}))
    assert [c.name for c in cases] == ["test_mean"]


def test_check_without_tests_is_reported(tmp_path):
    lab = make_lab(tmp_path, GOOD + '\n# %%\ncheck("q9")\n', {"test_q1.py": TEST_Q1})
    with pytest.raises(LabSourceError) as info:
        validate_lab(lab)
    assert any('lab.py:27: check("q9") but no test is marked @question("q9")' in str(p)
               for p in info.value.problems), info.value.problems


def test_question_without_check_is_reported(tmp_path):
    extra = TEST_Q1 + '\n@question("q2", points=1)\ndef test_other(sub):\n    assert True\n'
    lab = make_lab(tmp_path, GOOD, {"test_q1.py": extra})
    with pytest.raises(LabSourceError) as info:
        validate_lab(lab)
    message = str(info.value)
    assert 'test_q1.py:7: question "q2" has no check("q2") in lab.py' in message


def test_public_test_asking_for_ref_is_reported(tmp_path):
    tests = {"test_q1.py": TEST_Q1.replace("def test_mean(sub)", "def test_mean(sub, ref)")}
    with pytest.raises(LabSourceError, match="asks for `ref`"):
        validate_lab(make_lab(tmp_path, GOOD, tests))


def test_a_lab_longer_than_600_lines_is_reported(tmp_path):
    long = GOOD + "\n# %% [markdown]\n" + "# More story.\n" * 600
    with pytest.raises(LabSourceError, match=r"lab.py:601: lab.py has \d+ lines; keep it to 600"):
        validate_lab(make_lab(tmp_path, long, {"test_q1.py": TEST_Q1}))


def test_broken_test_file_is_reported_with_its_line(tmp_path):
    tests = {"test_q1.py": TEST_Q1 + "\nundefined_name\n"}
    with pytest.raises(LabSourceError, match=r"test_q1.py:7: loading the tests failed: NameError"):
        validate_lab(make_lab(tmp_path, GOOD, tests))


# ---- property: stripping never leaks a solution line and always leaves valid Python ----

statement = st.sampled_from(["x = 1", "y = x + 2", "print('hi')", "z = [i for i in range(3)]",
                             "if x:\n    w = 3", "total = sum([1, 2])"])


@settings(max_examples=60, deadline=None)
@given(bodies=st.lists(st.lists(statement, min_size=1, max_size=4), min_size=1, max_size=4),
       in_function=st.lists(st.booleans(), min_size=4, max_size=4))
def test_stripping_is_valid_python_and_hides_solutions(tmp_path_factory, bodies, in_function):
    cells = []
    secrets = []
    for i, body in enumerate(bodies):
        secret = f"secret_{i} = {i * 7 + 1}"
        secrets.append(secret)
        lines = [secret, *body]
        if in_function[i]:
            inner = "\n".join("    " + line.replace("\n", "\n    ") for line in lines)
            cells.append(f"# %%\ndef f{i}():\n    '''Doc.'''\n    # BEGIN SOLUTION\n{inner}\n"
                         "    # END SOLUTION\n")
        else:
            cells.append("# %%\n# BEGIN SOLUTION\n" + "\n".join(lines) + "\n# END SOLUTION\n")
    path = tmp_path_factory.mktemp("lab") / "lab.py"
    path.write_text("\n".join(cells))
    lab = parse_lab_source(path, exercise_prefix="1")
    student = "\n\n".join(c.student_source() for c in lab.cells)
    ast.parse(student)
    assert not any(secret in student for secret in secrets)
    assert student.count("NotImplementedError") == sum(in_function[: len(bodies)])
    solution = "\n\n".join(c.solution_source() for c in lab.cells)
    assert all(secret in solution for secret in secrets)
