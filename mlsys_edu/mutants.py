"""Mutation self-test: do a lab's tests catch plausible wrong solutions?

The self-test shows that the tests pass on the solution and fail on the stubs. A student's
wrong answer is rarely a stub: it is the solution with one slip. A *mutant* is the solution
with exactly one such slip in one solution region:

==============  ==========================================  ==============================
kind            change                                      example
==============  ==========================================  ==============================
comparison      ``<`` and ``<=``, ``>`` and ``>=``,          ``n >= 30`` -> ``n > 30``
                ``==`` and ``!=``, ``in`` and ``not in``
sign            ``+`` and ``-``, ``*`` and ``/``, a unary    ``a - b`` -> ``a + b``
                minus dropped
boolean         ``and`` and ``or``                           ``a and b`` -> ``a or b``
constant        an integer plus or minus one, a float        ``alpha=1.0`` -> ``alpha=2.0``
                doubled, ``True`` and ``False``
axis            ``axis=``/``dim=`` 0 and 1 swapped           ``sum(axis=0)`` -> ``sum(axis=1)``
dropped         a statement replaced by ``pass``             ``L = validate(L)`` -> ``pass``
swapped         a call's first two positional arguments     ``f(a, b)`` -> ``f(b, a)``
==============  ==========================================  ==============================

Each mutant becomes a solution notebook that the real batch grader grades (warm pool, in
parallel). A mutant that still scores full marks *survives*: either the tests have a gap there,
or the change cannot matter (an equivalent mutant). The report names each survivor's line so a
person can tell which. Sampling is deterministic for a given seed.

A lab's author records the survivors they judged equivalent, with the reason, in
``labs/NN_slug/mutants.toml``; the report shows those as explained, and CI fails on any other::

    [[equivalent]]
    exercise = "1.3"
    old = "bar = tqdm(lfs, disable=len(df) < progress_min_rows)"
    new = "bar = tqdm(lfs, disable=len(df) <= progress_min_rows)"
    why = "the progress bar's threshold only changes what is displayed"
"""

from __future__ import annotations

import ast
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import nbformat

from mlsys_edu.course.config import CourseConfig, load_config
from mlsys_edu.course.notebooks import solution_notebook
from mlsys_edu.lab.layout import Lab
from mlsys_edu.lab.source import Cell, LabSource, parse_lab_source

_COMPARISON_SWAPS = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">", ast.Eq: "!=",
                     ast.NotEq: "==", ast.In: "not in", ast.NotIn: "in", ast.Is: "is not",
                     ast.IsNot: "is"}
_COMPARISON_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
                    ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
                    ast.IsNot: "is not"}
_BINOP_SWAPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"),
                ast.Div: ("/", "*")}
_DROPPABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.If, ast.Raise)


@dataclass(frozen=True)
class Mutation:
    """One slip: replace the text of file lines ``line..end_line`` (1-based) with ``new``."""

    kind: str
    line: int
    end_line: int
    old: tuple[str, ...]
    new: tuple[str, ...]
    exercise: str
    what: str

    @property
    def label(self) -> str:
        return f"{self.kind} at line {self.line}: {self.what}"


@dataclass
class MutantResult:
    mutation: Mutation
    questions: list[str]  # the questions whose check follows the mutated exercise
    score: float = 0.0
    max_score: float = 0.0
    lost: dict[str, float] = field(default_factory=dict)  # question -> points lost
    status: str = ""
    equivalent: str = ""  # the author's reason, when mutants.toml lists this survivor

    @property
    def survived(self) -> bool:
        return self.status == "graded" and self.score >= self.max_score - 1e-9


@dataclass
class MutationReport:
    lab: str
    seed: int
    candidates: int
    results: list[MutantResult]

    @property
    def killed(self) -> int:
        return sum(not r.survived for r in self.results)

    @property
    def unexplained(self) -> list[MutantResult]:
        """Survivors that ``mutants.toml`` does not explain: gaps until someone judges them."""
        return [r for r in self.results if r.survived and not r.equivalent]

    @property
    def kill_rate(self) -> float:
        return self.killed / len(self.results) if self.results else 1.0

    def by_question(self) -> dict[str, tuple[int, int]]:
        """``{question: (mutants of its exercise, those that lost points on it)}``."""
        table: dict[str, list[int]] = {}
        for r in self.results:
            for q in r.questions:
                row = table.setdefault(q, [0, 0])
                row[0] += 1
                row[1] += r.lost.get(q, 0.0) > 1e-9
        return {q: (n, k) for q, (n, k) in sorted(table.items())}

    def __str__(self) -> str:
        lines = [f"mutation self-test of {self.lab}: {self.killed} of {len(self.results)} "
                 f"mutants killed ({self.kill_rate:.0%}), {len(self.unexplained)} survivors "
                 f"unexplained; {self.candidates} candidates, seed {self.seed}", "",
                 "question  mutants  lost points there"]
        for q, (n, k) in self.by_question().items():
            lines.append(f"{q:<8}  {n:>7}  {k:>5}")
        survivors = [r for r in self.results if r.survived]
        if survivors:
            lines += ["", "survivors (a gap in the tests, or a change that cannot matter; "
                          "look at these lines):"]
            for r in survivors:
                m = r.mutation
                known = f"  [equivalent: {r.equivalent}]" if r.equivalent else ""
                lines.append(f"  exercise {m.exercise} ({', '.join(r.questions) or 'no check'}),"
                             f" {m.label}{known}")
                lines += [f"      - {text.strip()}" for text in m.old]
                lines += [f"      + {text.strip()}" for text in m.new]
        broken = [r for r in self.results if r.status != "graded"]
        for r in broken:
            lines.append(f"  (not graded: {r.mutation.label}: {r.status})")
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Finding the slips
# ----------------------------------------------------------------------------------------------
class _CellMutator:
    """The mutations of one code cell's solution regions (AST offsets are UTF-8 bytes)."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.raw = [text.encode() for text in cell.lines]
        self.tree = ast.parse("\n".join(cell.lines))
        # positions inside f-strings are unreliable before Python 3.12: leave them alone
        self.in_fstring = {id(n) for js in ast.walk(self.tree) if isinstance(js, ast.JoinedStr)
                           for n in ast.walk(js)}
        self.inside: dict[int, str] = {}  # cell line (1-based) -> exercise
        for region in cell.regions:
            for file_line in range(region.begin_line + 1, region.end_line):
                self.inside[file_line - cell.line] = region.exercise

    def _in_region(self, node: ast.AST) -> str | None:
        first, last = node.lineno, node.end_lineno or node.lineno
        exercises = {self.inside.get(n) for n in range(first, last + 1)}
        return exercises.pop() if len(exercises) == 1 and None not in exercises else None

    def _replace(self, kind: str, node: ast.AST, start: tuple[int, int], end: tuple[int, int],
                 text: str, what: str) -> Mutation | None:
        """Replace the bytes from (line, col) to (line, col), cell coordinates, on one line."""
        exercise = self._in_region(node)
        if exercise is None or start[0] != end[0]:
            return None
        raw = self.raw[start[0] - 1]
        new = (raw[:start[1]] + text.encode() + raw[end[1]:]).decode()
        return self._mutation(kind, start[0], start[0], [new], exercise, what)

    def _mutation(self, kind: str, first: int, last: int, new: list[str], exercise: str,
                  what: str) -> Mutation | None:
        old = self.cell.lines[first - 1:last]
        if list(old) == new:
            return None
        trial = self.cell.lines[:first - 1] + new + self.cell.lines[last:]
        try:
            compile("\n".join(trial), "<mutant>", "exec")
        except SyntaxError:
            return None
        offset = self.cell.line
        return Mutation(kind, first + offset, last + offset, tuple(old), tuple(new), exercise,
                        what)

    def _between(self, left: ast.AST, right: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        return (left.end_lineno or left.lineno, left.end_col_offset or 0), (right.lineno,
                                                                         right.col_offset)

    def _operator_swap(self, kind: str, node: ast.AST, left: ast.AST, right: ast.AST,
                       old_text: str, new_text: str) -> Mutation | None:
        (l1, c1), (l2, c2) = self._between(left, right)
        if l1 != l2:
            return None
        gap = self.raw[l1 - 1][c1:c2].decode()
        if gap.count(old_text) != 1 and gap.strip() != old_text:
            return None
        start = c1 + len(gap[:gap.index(old_text)].encode())
        return self._replace(kind, node, (l1, start), (l1, start + len(old_text.encode())),
                             new_text, f"`{old_text}` -> `{new_text}`")

    def mutations(self) -> Iterator[Mutation]:
        for node in ast.walk(self.tree):
            if id(node) not in self.in_fstring:
                yield from filter(None, self._for_node(node))

    def _for_node(self, node: ast.AST) -> Iterator[Mutation | None]:
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(node.ops):
                if type(op) in _COMPARISON_SWAPS:
                    yield self._operator_swap("comparison", node, operands[i], operands[i + 1],
                                              _COMPARISON_TEXT[type(op)],
                                              _COMPARISON_SWAPS[type(op)])
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            old, new = _BINOP_SWAPS[type(node.op)]
            yield self._operator_swap("sign", node, node.left, node.right, old, new)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            yield self._replace("sign", node, (node.lineno, node.col_offset),
                                (node.operand.lineno, node.operand.col_offset), "",
                                "unary minus dropped")
        elif isinstance(node, ast.BoolOp):
            old, new = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
            yield self._operator_swap("boolean", node, node.values[0], node.values[1], old, new)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str | bytes):
            yield from self._constants(node)
        elif isinstance(node, ast.keyword) and node.arg in ("axis", "dim"):
            value = node.value
            if isinstance(value, ast.Constant) and value.value in (0, 1) and not isinstance(
                    value.value, bool):
                swapped = str(1 - value.value)
                yield self._replace("axis", value, *self._span(value), swapped,
                                    f"{node.arg}={value.value} -> {node.arg}={swapped}")
        elif isinstance(node, ast.Call) and len(node.args) >= 2:
            first, second = node.args[0], node.args[1]
            if (first.lineno == second.lineno == (first.end_lineno or 0) == second.end_lineno
                    and not isinstance(first, ast.Starred) and not isinstance(second, ast.Starred)):
                raw = self.raw[first.lineno - 1]
                a = raw[first.col_offset:first.end_col_offset].decode()
                b = raw[second.col_offset:second.end_col_offset].decode()
                if a != b:
                    middle = raw[first.end_col_offset:second.col_offset].decode()
                    yield self._replace("swapped", node, (first.lineno, first.col_offset),
                                        (first.lineno, second.end_col_offset or 0),
                                        b + middle + a, f"arguments `{a}` and `{b}` swapped")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.For, ast.While, ast.If,
                             ast.With, ast.Try, ast.Module)):
            for body in ("body", "orelse"):
                for stmt in getattr(node, body, []):
                    yield self._drop(stmt)

    def _span(self, node: ast.AST) -> tuple[tuple[int, int], tuple[int, int]]:
        return (node.lineno, node.col_offset), (node.end_lineno or node.lineno,
                                                node.end_col_offset or 0)

    def _constants(self, node: ast.Constant) -> Iterator[Mutation | None]:
        value = node.value
        if isinstance(value, bool):
            yield self._replace("constant", node, *self._span(node), str(not value),
                                f"{value} -> {not value}")
        elif isinstance(value, int):
            for new in (value + 1, value - 1):
                if new >= 0:
                    yield self._replace("constant", node, *self._span(node), str(new),
                                        f"{value} -> {new}")
        elif isinstance(value, float):
            yield self._replace("constant", node, *self._span(node), repr(value * 2),
                                f"{value!r} -> {value * 2!r}")

    def _drop(self, stmt: ast.stmt) -> Mutation | None:
        if not isinstance(stmt, _DROPPABLE):
            return None
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return None  # a docstring
        exercise = self._in_region(stmt)
        if exercise is None:
            return None
        first, last = stmt.lineno, stmt.end_lineno or stmt.lineno
        indent = self.cell.lines[first - 1][:stmt.col_offset]
        text = self.cell.lines[first - 1].strip()
        what = f"`{text[:60]}{'...' if len(text) > 60 or last > first else ''}` dropped"
        return self._mutation("dropped", first, last, [f"{indent}pass"], exercise, what)


def find_mutations(source: LabSource) -> list[Mutation]:
    """Every candidate mutation of every solution region, in file order."""
    found: dict[tuple, Mutation] = {}
    for cell in source.code_cells:
        if not cell.regions:
            continue
        for mutation in _CellMutator(cell).mutations():
            found.setdefault((mutation.line, mutation.end_line, mutation.new), mutation)
    return sorted(found.values(), key=lambda m: (m.line, m.kind, m.new))


def sample(mutations: list[Mutation], k: int, seed: int) -> list[Mutation]:
    """``k`` mutations drawn without replacement, reproducibly, spread over the exercises:
    round-robin over exercises in a seeded order, each exercise's list shuffled by the seed."""
    rng = random.Random(seed)
    by_exercise: dict[str, list[Mutation]] = {}
    for m in mutations:
        by_exercise.setdefault(m.exercise, []).append(m)
    queues = [rng.sample(ms, len(ms)) for _, ms in sorted(by_exercise.items())]
    chosen: list[Mutation] = []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop())
    return sorted(chosen, key=lambda m: (m.line, m.kind, m.new))


def exercise_questions(source: LabSource) -> dict[str, list[str]]:
    """``{exercise: questions}``: the checks that follow each exercise's cells."""
    found: dict[str, list[str]] = {}
    pending: list[str] = []
    for cell in source.cells:
        pending += [r.exercise for r in cell.regions if r.exercise not in pending]
        if cell.checks and pending:
            for exercise in pending:
                found[exercise] = [q for q, _ in cell.checks]
            pending = []
    return found


def _squash(lines: tuple[str, ...] | list[str] | str) -> str:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    return " ".join(text.split())


def equivalent_mutants(lab: Lab) -> list[dict[str, str]]:
    """The survivors the lab's author judged equivalent (``mutants.toml``), each with ``why``."""
    import tomllib

    path = lab.dir / "mutants.toml"
    if not path.is_file():
        return []
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("equivalent", [])
    for entry in entries:
        missing = {"exercise", "old", "new", "why"} - set(entry)
        if missing:
            raise ValueError(f"{path}: an [[equivalent]] entry lacks {sorted(missing)}")
    return entries


def explain(mutation: Mutation, known: list[dict[str, str]]) -> str:
    """The author's reason if ``mutation`` is one of the ``known`` equivalent ones, else ''."""
    for entry in known:
        if (entry["exercise"] == mutation.exercise and _squash(entry["old"]) == _squash(
                mutation.old) and _squash(entry["new"]) == _squash(mutation.new)):
            return entry["why"]
    return ""


def apply(source_text: str, mutation: Mutation) -> str:
    """The lab source with one mutation applied."""
    lines = source_text.splitlines()
    assert tuple(lines[mutation.line - 1:mutation.end_line]) == mutation.old
    lines[mutation.line - 1:mutation.end_line] = list(mutation.new)
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# Grading them
# ----------------------------------------------------------------------------------------------
def mutant_notebooks(lab: Lab, mutations: list[Mutation], folder: Path,
                     config: CourseConfig | None = None) -> list[Path]:
    """One solution notebook per mutation (the lab's own tests embedded), written to ``folder``."""
    config = config or (load_config(lab.root) if (lab.root / "mkdocs.yml").is_file()
                        else CourseConfig())
    text = lab.source.read_text(encoding="utf-8")
    paths = []
    for index, mutation in enumerate(mutations):
        mutated = folder / f"mutant{index:03d}" / "lab.py"
        mutated.parent.mkdir(parents=True)
        mutated.write_text(apply(text, mutation), encoding="utf-8")
        nb = solution_notebook(lab, parse_lab_source(mutated, str(int(lab.number))), config)
        path = folder / f"mutant{index:03d}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def mutation_test(lab: Lab, k: int, seed: int = 0, workers: int | None = None,
                  options: Any = None, progress: bool = True) -> MutationReport:
    """Grade ``k`` sampled mutants of the lab's solution with the batch grader."""
    from mlsys_edu.grader import grade_batch

    source = parse_lab_source(lab.source, str(int(lab.number)))
    candidates = find_mutations(source)
    chosen = sample(candidates, k, seed)
    questions = exercise_questions(source)
    with tempfile.TemporaryDirectory(prefix=f"mutants-{lab.name}-") as tmp:
        paths = mutant_notebooks(lab, chosen, Path(tmp) / "submissions")
        records = grade_batch(lab, paths, Path(tmp) / "graded", workers=workers,
                              options=options, progress=progress)
    by_student = {r["student"]: r for r in records}
    known = equivalent_mutants(lab)
    results = []
    for path, mutation in zip(paths, chosen):
        record = by_student.get(path.stem, {})
        result = MutantResult(mutation, questions.get(mutation.exercise, []),
                              float(record.get("score", 0.0)), float(record.get("max_score", 0.0)),
                              status=str(record.get("status", "missing")))
        for q, row in record.get("questions", {}).items():
            result.lost[q] = row["max_score"] - row["score"]
        if result.survived:
            result.equivalent = explain(mutation, known)
        results.append(result)
    return MutationReport(lab.name, seed, len(candidates), results)
