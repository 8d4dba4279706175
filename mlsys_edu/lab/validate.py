"""Validate a whole lab: its source and its questions, without executing the lab.

Cross-checks what neither file can check alone: every ``check("qN")`` has tests, every
question has a ``check``, public tests never ask for the reference.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from mlsys_edu.lab.figures import alt_texts, figures_drawn
from mlsys_edu.lab.layout import Lab
from mlsys_edu.lab.questions import TestCase, load_tests
from mlsys_edu.lab.source import LabSource, LabSourceError, Problem, parse_lab_source


def _load_questions(lab: Lab, problems: list[Problem]) -> list[TestCase]:
    if not lab.tests_dir.is_dir():
        problems.append(Problem(str(lab.dir), 1, "no tests/ folder; questions live in "
                                                 f"{lab.tests_dir}/test_qN.py"))
        return []
    try:
        return load_tests(lab.tests_dir, include_hidden=True)
    except SyntaxError as err:
        problems.append(Problem(str(err.filename), err.lineno or 1, f"syntax error: {err.msg}"))
    except Exception as err:  # a broken test file: report where, keep validating the rest
        frames = [f for f in traceback.extract_tb(err.__traceback__)
                  if f.filename.startswith(str(lab.tests_dir))]
        where = frames[-1] if frames else None
        problems.append(Problem(where.filename if where else str(lab.tests_dir),
                                where.lineno or 1 if where else 1,
                                f"loading the tests failed: {type(err).__name__}: {err}"))
    return []


def validate_lab(lab: Lab) -> tuple[LabSource, list[TestCase]]:
    """Parse and cross-check a lab; raise ``LabSourceError`` with every problem found."""
    problems: list[Problem] = []
    source: LabSource | None = None
    try:
        source = parse_lab_source(lab.source, exercise_prefix=str(int(lab.number)))
    except LabSourceError as err:
        problems += err.problems
    cases = _load_questions(lab, problems)
    if source is not None and (cases or not problems):
        problems += cross_check(source, cases)
    if problems:
        raise LabSourceError(problems)
    assert source is not None
    return source, cases


_GENERIC_ALT = re.compile(r"^(a |the )?(figure|plot|chart|graph|image|picture|output)"
                          r"( (from|of|in) cell)?( \d+)?\.?$", re.I)


def figure_problems(source: LabSource) -> list[Problem]:
    """Cells that draw more figures than they give text alternatives (``# alt:`` lines), and
    alternatives that say nothing (``Figure from cell 12``)."""
    problems = []
    file = str(source.path)
    for cell in source.code_cells:
        drawn, alts = figures_drawn(cell.solution_source()), alt_texts(cell.lines)
        if drawn > len(alts):
            problems.append(Problem(file, cell.line, f"this cell draws {drawn} figure(s) but "
                                    f"gives {len(alts)} text alternative(s): add one line "
                                    "`# alt: <what is plotted and the main finding>` per figure, "
                                    "in order (screen readers read it; WCAG 2.1, 1.1.1)"))
        for alt in alts:
            if _GENERIC_ALT.match(alt) or len(alt) < 20:
                problems.append(Problem(file, cell.line, f"the text alternative {alt!r} does not "
                                        "say what the figure shows; describe what is plotted "
                                        "and the main finding"))
    return problems


def cross_check(source: LabSource, cases: list[TestCase]) -> list[Problem]:
    """Problems between a parsed source and its loaded questions (and its figures)."""
    problems = figure_problems(source)
    file = str(source.path)
    questions = {c.question for c in cases}
    public = {c.question for c in cases if not c.hidden}
    checked = {q for q, _ in source.checks()}
    for q, line in source.checks():
        if q not in questions:
            problems.append(Problem(file, line, f'check("{q}") but no test is marked '
                                    f'@question("{q}") in tests/; add one or fix the name'))
        elif q not in public:
            problems.append(Problem(file, line, f'check("{q}") would run nothing: every test of '
                                    f"{q} is hidden; add a public test"))
    for case in cases:
        if case.question not in checked:
            problems.append(Problem(case.file, case.line, f'question "{case.question}" has no '
                                    f'check("{case.question}") in lab.py; add one after its '
                                    "exercise"))
            checked.add(case.question)  # one report per question
        if not case.hidden and "ref" in case.fixtures:
            problems.append(Problem(case.file, case.line, f"public test {case.name} asks for "
                                    "`ref`, which students do not have; make it hidden=True"))
    return problems


def validate_all(labs: list[Lab]) -> list[Problem]:
    """Every problem in every lab (an empty list means all labs are well formed)."""
    problems: list[Problem] = []
    for lab in labs:
        try:
            validate_lab(lab)
        except LabSourceError as err:
            problems += err.problems
    return problems


def relative(problem: Problem, root: Path) -> str:
    """``file:line: message`` with the file relative to the repository root."""
    try:
        file = str(Path(problem.file).resolve().relative_to(root.resolve()))
    except ValueError:
        file = problem.file
    return f"{file}:{problem.line}: {problem.message}"
