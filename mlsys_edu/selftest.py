"""The lab self-test: do a lab's tests tell a finished exercise from an unfinished one?

Layer 3 (combines ``course`` and ``grader``). It builds the student and the solution notebooks,
grades both with the judge exactly as a student submission would be graded, and passes iff

* the solution scores full marks on every question, and every one of its cells runs without
  an error in the judge's sandbox, and
* the student stubs score 0 on every question that has an exercise (its ``check("qN")``
  follows a solution region): a test that passes on the stubs cannot fail a wrong answer.

    mlsys-edu selftest LAB                    # a per-question table; exit 1 with the reasons
    mlsys-edu selftest LAB --mutants 40       # also: do plausible wrong solutions lose points?
    mlsys-edu selftest LAB --versions colab   # the same, with the judge under Colab's versions

``--mutants K`` grades K mutants (the solution with one slip each, see ``mlsys_edu.mutants``)
and lists the survivors; ``--min-kill-rate`` makes too many survivors an error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from mlsys_edu.course.config import CourseConfig, load_config
from mlsys_edu.course.notebooks import solution_notebook, student_notebook
from mlsys_edu.lab.layout import Lab, get_lab, project_root
from mlsys_edu.lab.source import parse_lab_source
from mlsys_edu.lab.validate import validate_lab


@dataclass
class QuestionRow:
    """One question's scores on the solution and on the stubs."""

    question: str
    max_score: float
    solution_score: float
    stub_score: float
    has_exercise: bool

    @property
    def ok(self) -> bool:
        full = self.solution_score >= self.max_score - 1e-9
        return full and (not self.has_exercise or self.stub_score <= 1e-9)


@dataclass
class SelftestReport:
    """The outcome: one row per question, the reasons it failed, and both judge records."""

    lab: str
    rows: list[QuestionRow]
    failures: list[str]
    warnings: list[str] = field(default_factory=list)
    solution_record: dict[str, Any] = field(default_factory=dict, repr=False)
    stub_record: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def passed(self) -> bool:
        return not self.failures

    def table(self) -> str:
        """A plain-text table: question, points, solution score, stub score, verdict."""
        head = ("question", "points", "solution", "stubs", "exercise", "ok")
        rows = [head] + [(r.question, f"{r.max_score:g}", f"{r.solution_score:g}",
                          f"{r.stub_score:g}", "yes" if r.has_exercise else "no",
                          "ok" if r.ok else "FAIL") for r in self.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        parts = [f"self-test of {self.lab}: {verdict}", self.table()]
        parts += [f"  - {reason}" for reason in self.failures]
        parts += [f"  (warning) {w}" for w in self.warnings]
        return "\n".join(parts)


# ----------------------------------------------------------------------------------------------
# Notebooks and exercises, from the course build when it is there
# ----------------------------------------------------------------------------------------------
def lab_notebooks(lab: Lab) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """The (student, solution) notebooks, unexecuted, exactly as the course build writes them."""
    config = load_config(lab.root) if (lab.root / "mkdocs.yml").is_file() else CourseConfig()
    source, _ = validate_lab(lab)  # raises LabSourceError listing every problem
    return student_notebook(lab, source, config), solution_notebook(lab, source, config)


def exercise_questions(lab: Lab) -> set[str]:
    """Questions whose ``check`` follows a solution region: they must score 0 on the stubs."""
    return set(parse_lab_source(lab.source).questions_with_exercises())


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------
def _first_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[0][:200] if lines else ""


def _last_line(text: str) -> str:
    """A traceback's last line: the exception and its message."""
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def _judge(record: dict[str, Any], which: str, failures: list[str]) -> bool:
    if record.get("status") == "graded":
        return True
    failures.append(f"the {which} notebook could not be graded ({record.get('status')}): "
                    f"{record.get('reason') or 'no reason given'}")
    return False


def compare(lab_name: str, solution: dict[str, Any], stubs: dict[str, Any],
            exercises: set[str]) -> SelftestReport:
    """The verdict from the two judge records (see the module docstring for the rule)."""
    failures: list[str] = []
    warnings: list[str] = []
    sol_ok, stub_ok = _judge(solution, "solution", failures), _judge(stubs, "student", failures)
    by_q_sol = solution.get("questions", {}) if sol_ok else {}
    by_q_stub = stubs.get("questions", {}) if stub_ok else {}
    names = list(dict.fromkeys([*by_q_sol, *by_q_stub]))
    rows = []
    for q in names:
        max_score = float((by_q_sol.get(q) or by_q_stub.get(q) or {}).get("max_score", 0.0))
        rows.append(QuestionRow(q, max_score, float(by_q_sol.get(q, {}).get("score", 0.0)),
                                float(by_q_stub.get(q, {}).get("score", 0.0)), q in exercises))
    for row in rows:
        if sol_ok and row.solution_score < row.max_score - 1e-9:
            bad = [t for t in solution.get("tests", [])
                   if t.get("question") == row.question and t.get("status") != "passed"]
            why = "; ".join(f"{t.get('name')} {t.get('status')}: "
                            f"{_first_line(t.get('message', ''))}" for t in bad)
            failures.append(f"{row.question} scores {row.solution_score:g}/{row.max_score:g} on "
                            f"the solution: {why or 'see the solution record'}")
        if stub_ok and row.has_exercise and row.stub_score > 1e-9:
            passing = [t.get("name") for t in stubs.get("tests", [])
                       if t.get("question") == row.question and t.get("status") == "passed"]
            if row.stub_score >= row.max_score - 1e-9:
                failures.append(f"{row.question} passes on the stubs: its tests cannot fail "
                                f"({', '.join(passing)} pass without the exercise done)")
            else:
                failures.append(f"{row.question} scores {row.stub_score:g}/{row.max_score:g} on "
                                f"the stubs: {', '.join(passing)} pass without the exercise done")
    if sol_ok and stub_ok:
        for q in sorted(exercises - set(names)):
            failures.append(f"{q} is checked in the notebook but has no tests")
    for cell in solution.get("cells", []):  # the solution runs clean under the judge too
        if cell.get("status") not in ("ok", None):
            failures.append(f"solution cell {cell.get('index')} {cell.get('status')} under the "
                            f"judge: {_last_line(cell.get('message', ''))}")
    return SelftestReport(lab_name, rows, failures, warnings, solution, stubs)


def selftest(lab: Lab, *, options: Any = None) -> SelftestReport:
    """Grade the lab's solution and student notebooks with the judge and compare them."""
    from mlsys_edu.grader import grade_submission

    student_nb, solution_nb = lab_notebooks(lab)
    with tempfile.TemporaryDirectory(prefix=f"selftest-{lab.name}-") as tmp:
        records = {}
        for name, nb in (("solution", solution_nb), ("stubs", student_nb)):
            path = Path(tmp) / f"{name}.ipynb"
            nbformat.write(nb, path)
            records[name] = grade_submission(lab, path, options=options)
    return compare(lab.name, records["solution"], records["stubs"], exercise_questions(lab))


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``selftest`` on the ``mlsys-edu`` command's subparsers."""
    parser = subparsers.add_parser(
        "selftest", help="check that a lab's tests pass on the solution and fail on the stubs")
    parser.add_argument("lab", help="lab number, name or folder")
    parser.add_argument("--mutants", type=int, default=0, metavar="K",
                        help="also grade K plausible wrong solutions (mutants) and list the "
                             "ones that keep full marks")
    parser.add_argument("--seed", type=int, default=0, help="which mutants (default 0)")
    parser.add_argument("--min-kill-rate", type=float, default=0.0, metavar="R",
                        help="fail when fewer than this fraction of the mutants lose points")
    parser.add_argument("--strict", action="store_true",
                        help="fail on a surviving mutant that mutants.toml does not explain")
    parser.add_argument("--workers", type=int, default=None,
                        help="mutants graded at once (default: the number of cores)")
    parser.add_argument("--versions", default=None, metavar="SET",
                        help="run under a version set's venv (e.g. colab; see mlsys-edu versions)")
    parser.set_defaults(func=handle_selftest)
    return parser


def _rerun_under(set_name: str, lab: Lab, args: argparse.Namespace) -> int:
    """Run this same command with the interpreter of a version set's venv."""
    import subprocess

    from mlsys_edu.versions import ensure_set_env

    python = ensure_set_env(set_name, lab.root, log=lambda line: print(line, flush=True))
    argv = [str(python), "-m", "mlsys_edu.selftest", str(lab.dir), "--seed", str(args.seed),
            "--mutants", str(args.mutants), "--min-kill-rate", str(args.min_kill_rate)]
    if args.strict:
        argv.append("--strict")
    if args.workers:
        argv += ["--workers", str(args.workers)]
    return subprocess.run(argv, cwd=lab.root).returncode


def handle_selftest(args: argparse.Namespace) -> int:
    """Print the report(s); exit status 1 when the self-test (or the kill rate) fails."""
    key, root = args.lab, getattr(args, "root", None)
    if Path(key).is_dir():
        lab = get_lab(Path.cwd(), key)
    else:
        lab = get_lab(Path(root).resolve() if root else project_root(), key)
    if args.versions:
        return _rerun_under(args.versions, lab, args)
    report = selftest(lab)
    print(report, flush=True)
    status = 0 if report.passed else 1
    if args.mutants > 0:
        from mlsys_edu.mutants import mutation_test

        mutants = mutation_test(lab, args.mutants, seed=args.seed, workers=args.workers)
        print(f"\n{mutants}")
        if mutants.kill_rate < args.min_kill_rate:
            print(f"  - kill rate {mutants.kill_rate:.0%} is below {args.min_kill_rate:.0%}")
            status = 1
        if args.strict and mutants.unexplained:
            print(f"  - {len(mutants.unexplained)} survivors are neither killed nor explained "
                  f"in {lab.dir / 'mutants.toml'}")
            status = 1
    return status


def main(argv: list[str] | None = None) -> int:
    top = argparse.ArgumentParser(prog="python -m mlsys_edu.selftest")
    add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["selftest", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
