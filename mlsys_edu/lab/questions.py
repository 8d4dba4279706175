"""Questions: pytest-style test functions marked with ``@question``.

A lab's questions live in ``labs/NN_slug/tests/*.py``. Each test function asks for any of
three fixtures by parameter name:

* ``sub`` -- the submission's namespace (the student's notebook globals, or in batch grading
  a proxy whose calls run in the sandboxed child);
* ``ref`` -- the exported solution module (instructor side only, so hidden tests only);
* ``rng`` -- a ``numpy.random.Generator`` seeded from the test's name, so a student's
  notebook and the batch grader draw the same numbers.

Test files are compiled with pytest's assertion rewriting, so a plain ``assert`` fails with
pytest's readable message wherever the test runs.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FIXTURES = ("sub", "ref", "rng")
_MARK = "__mlsys_question__"


@dataclass(frozen=True)
class QuestionMark:
    """What ``@question`` records on a test function."""

    name: str
    points: float
    hidden: bool = False
    timeout_s: float = 30.0
    memory_mb: int = 2048


def question(
    name: str,
    points: float = 1,
    hidden: bool = False,
    timeout_s: float = 30.0,
    memory_mb: int = 2048,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a test function as part of question ``name``, worth ``points``.

    ``hidden`` tests ship only in the autograder. ``timeout_s`` and ``memory_mb`` bound the
    test in the grader's sandbox.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"question name must be a non-empty string, got {name!r}")
    if points < 0:
        raise ValueError(f"question {name!r}: points must be >= 0, got {points}")

    def mark(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, _MARK, QuestionMark(name, float(points), hidden, timeout_s, memory_mb))
        return func

    return mark


@dataclass(frozen=True)
class TestCase:
    """One test function of one question, ready to run."""

    question: str
    name: str  # the function's name, unique within a lab
    points: float
    hidden: bool
    timeout_s: float
    memory_mb: int
    func: Callable[..., Any] = field(compare=False, repr=False)
    file: str = ""
    line: int = 0

    @property
    def fixtures(self) -> tuple[str, ...]:
        """The fixture names this test asks for, in order."""
        return tuple(inspect.signature(self.func).parameters)

    @property
    def seed(self) -> int:
        """Seed for ``rng``: stable across machines and processes (not ``hash()``)."""
        return int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:4], "little")


def compile_test_source(source: str, filename: str) -> Any:
    """Compile test code with pytest's assertion rewriting (readable assert messages)."""
    tree = ast.parse(source, filename=filename)
    try:
        from _pytest.assertion.rewrite import rewrite_asserts

        rewrite_asserts(tree, source.encode(), module_path=filename)
    except ImportError:  # pragma: no cover - pytest is a dependency; plain asserts still work
        pass
    return compile(tree, filename, "exec")


def collect(namespace: dict[str, Any], file: str = "") -> list[TestCase]:
    """The ``@question`` functions defined in ``namespace``, in definition order."""
    cases = []
    for obj in namespace.values():
        mark = getattr(obj, _MARK, None)
        if not isinstance(mark, QuestionMark) or not callable(obj):
            continue
        unknown = [p for p in inspect.signature(obj).parameters if p not in FIXTURES]
        if unknown:
            raise ValueError(
                f"{file}: test {obj.__name__} asks for {unknown}; the fixtures are {list(FIXTURES)}"
            )
        line = getattr(getattr(obj, "__code__", None), "co_firstlineno", 0)
        cases.append(
            TestCase(mark.name, obj.__name__, mark.points, mark.hidden, mark.timeout_s,
                     mark.memory_mb, obj, file, line)
        )
    return sorted(cases, key=lambda c: c.line)


def load_source(source: str, filename: str) -> list[TestCase]:
    """Execute one test file's source and collect its questions."""
    namespace: dict[str, Any] = {"__name__": f"mlsys_edu_tests.{Path(filename).stem}",
                                 "__file__": filename}
    exec(compile_test_source(source, filename), namespace)  # noqa: S102 - instructor's own tests
    return collect(namespace, filename)


def load_tests(tests_dir: Path, include_hidden: bool = True) -> list[TestCase]:
    """All test cases of a lab's ``tests/`` folder, hidden ones only when asked."""
    cases: list[TestCase] = []
    for path in sorted(Path(tests_dir).glob("*.py")):
        if path.name.startswith("_"):
            continue
        cases += load_source(path.read_text(encoding="utf-8"), str(path))
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{tests_dir}: test function names must be unique in a lab: {dupes}")
    return [c for c in cases if include_hidden or not c.hidden]


def _is_hidden(node: ast.AST) -> bool:
    """Whether a function definition carries ``@question(..., hidden=True)``."""
    for deco in getattr(node, "decorator_list", []):
        if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "question":
            for kw in deco.keywords:
                if kw.arg == "hidden" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    return True
    return False


def public_source(source: str) -> str:
    """The test file with every hidden test removed: what may ship to students.

    Whole function definitions are cut by line range, so comments and helpers stay readable.
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_hidden(node):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            drop.update(range(start - 1, node.end_lineno or node.lineno))
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def points_by_question(cases: list[TestCase]) -> dict[str, float]:
    """Total points of each question, in first-seen order."""
    totals: dict[str, float] = {}
    for case in cases:
        totals[case.question] = totals.get(case.question, 0.0) + case.points
    return totals
