"""Reading a lab source: cells, solution regions, export cells and ``check`` calls.

A lab source is a jupytext percent-format ``.py`` file (``# %%`` code cells,
``# %% [markdown]`` text cells), valid Python from top to bottom. Inside code cells,
solution regions sit between ``# BEGIN SOLUTION`` and ``# END SOLUTION``; the student build
replaces each region with a stub (see ``Cell.student_source``). Every problem found is reported
with ``file:line`` and what to fix, all at once, so an author fixes a source in one pass.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

CELL_RE = re.compile(r"^# %%(?P<rest>.*)$")
MARKER_RE = re.compile(r"^(?P<indent>\s*)#\s*(?P<kind>BEGIN|END)\s+SOLUTION\b(?P<rest>.*)$")
CHECK_RE = re.compile(r"""\bcheck\(\s*["'](?P<q>[A-Za-z0-9_.-]+)["']\s*\)""")
EXERCISE_ID_RE = re.compile(r"^\s*(\d+\.\d+)\s*$")
YOUR_CODE = "...  # YOUR CODE HERE"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a lab source, located at ``file:line``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class LabSourceError(ValueError):
    """A lab source (or its questions) is malformed; ``problems`` lists every finding."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Region:
    """A solution region: the file lines of its markers and what replaces it for students."""

    begin_line: int  # 1-based line of ``# BEGIN SOLUTION``
    end_line: int  # 1-based line of ``# END SOLUTION``
    indent: str
    exercise: str = ""  # "N.M", from the marker or numbered in order
    is_function_body: bool = False

    @property
    def stub(self) -> str:
        if self.is_function_body:
            return f'{self.indent}raise NotImplementedError("Exercise {self.exercise}")'
        return f"{self.indent}{YOUR_CODE}"


@dataclass
class Cell:
    """One cell: its kind, its text lines (markers included) and where it sits in the file."""

    kind: str  # "code" or "markdown"
    line: int  # 1-based line of the ``# %%`` marker
    lines: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    regions: list[Region] = field(default_factory=list)
    checks: list[tuple[str, int]] = field(default_factory=list)  # (question, file line)

    @property
    def tags(self) -> list[str]:
        return list(self.metadata.get("tags", []))

    @property
    def is_export(self) -> bool:
        return "export" in self.tags

    @property
    def has_exercise(self) -> bool:
        return bool(self.regions)

    def file_line(self, index: int) -> int:
        """The file line of ``self.lines[index]``."""
        return self.line + 1 + index

    def _region_of(self) -> dict[int, Region]:
        by_line = {}
        for region in self.regions:
            for line in range(region.begin_line, region.end_line + 1):
                by_line[line] = region
        return by_line

    def solution_source(self) -> str:
        """The cell's code with the markers removed and the solutions kept."""
        if self.kind == "markdown":
            return _uncomment_markdown(self.lines)
        marker_lines = {r.begin_line for r in self.regions} | {r.end_line for r in self.regions}
        kept = [t for i, t in enumerate(self.lines) if self.file_line(i) not in marker_lines]
        return _trim("\n".join(kept))

    def student_source(self) -> str:
        """The cell's code with each solution region replaced by its stub."""
        if self.kind == "markdown":
            return _uncomment_markdown(self.lines)
        region_of = self._region_of()
        out = []
        for i, text in enumerate(self.lines):
            region = region_of.get(self.file_line(i))
            if region is None:
                out.append(text)
            elif self.file_line(i) == region.begin_line:
                out.append(region.stub)
        return _trim("\n".join(out))


@dataclass
class LabSource:
    """A parsed lab source."""

    path: Path
    cells: list[Cell]

    @property
    def code_cells(self) -> list[Cell]:
        return [c for c in self.cells if c.kind == "code"]

    def checks(self) -> list[tuple[str, int]]:
        """Every ``check("qN")`` call, in order, with its file line."""
        return [chk for cell in self.cells for chk in cell.checks]

    def solution_lines(self) -> list[str]:
        """The non-blank lines inside solution regions (what students must never see)."""
        lines = []
        for cell in self.code_cells:
            for region in cell.regions:
                for line in range(region.begin_line + 1, region.end_line):
                    text = cell.lines[line - cell.line - 1]
                    if text.strip():
                        lines.append(text)
        return lines

    def questions_with_exercises(self) -> list[str]:
        """Questions whose ``check`` follows a solution region not yet claimed by a check.

        These are the questions the self-test requires to score zero on the student stubs.
        """
        found: list[str] = []
        pending = False
        for cell in self.cells:
            pending = pending or cell.has_exercise
            if cell.checks:
                if pending:
                    found += [q for q, _ in cell.checks if q not in found]
                pending = False
        return found

    def export_source(self, header: str = "") -> str:
        """The solution module: the solution code of every ``export`` cell, in order."""
        parts = [header.rstrip()] if header else []
        parts += [c.solution_source() for c in self.code_cells if c.is_export]
        return "\n\n\n".join(p for p in parts if p) + "\n"


def _trim(text: str) -> str:
    return text.strip("\n")


def _uncomment_markdown(lines: list[str]) -> str:
    """Markdown cells are commented out in the source: ``# text`` becomes ``text``."""
    out = []
    for text in lines:
        if text.startswith("# "):
            out.append(text[2:])
        elif text.rstrip() == "#":
            out.append("")
        else:
            out.append(text)
    return _trim("\n".join(out))


def _parse_header(rest: str, file: str, line: int, problems: list[Problem]) -> tuple[str, dict]:
    """``# %% [markdown] tags=["x"]`` -> ("markdown", {"tags": ["x"]})."""
    rest = rest.strip()
    kind = "code"
    match = re.match(r"^\[(markdown|md)\]\s*", rest)
    if match:
        kind = "markdown"
        rest = rest[match.end():]
    metadata: dict = {}
    for key, value in re.findall(r'(\w+)=(\[[^\]]*\]|"[^"]*"|\S+)', rest):
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError:
            problems.append(Problem(file, line, f"cell metadata {key}={value} is not JSON; "
                                                'write it like tags=["export"]'))
    leftover = re.sub(r'(\w+)=(\[[^\]]*\]|"[^"]*"|\S+)', "", rest).strip()
    if leftover:
        problems.append(Problem(file, line, f"unexpected text {leftover!r} after '# %%'; "
                                            'use "# %%", "# %% [markdown]" or "# %% tags=[\\"export\\"]"'))
    return kind, metadata


def split_cells(text: str, file: str, problems: list[Problem]) -> list[Cell]:
    """Split percent-format text into cells, keeping each cell's file line."""
    cells: list[Cell] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = CELL_RE.match(line)
        if match:
            kind, metadata = _parse_header(match.group("rest"), file, number, problems)
            cells.append(Cell(kind, number, [], metadata))
        elif cells:
            cells[-1].lines.append(line)
        elif line.strip() and not line.startswith("#"):
            problems.append(Problem(file, number, "code before the first cell; start the file "
                                                  "with '# %%' or '# %% [markdown]'"))
    if not cells:
        problems.append(Problem(file, 1, "no cells found; a lab source is jupytext percent "
                                         "format with '# %%' cell markers"))
    return cells


def _find_regions(cell: Cell, file: str, problems: list[Problem]) -> None:
    """Pair BEGIN/END markers of one cell; report unbalanced, nested and misplaced ones."""
    open_region: Region | None = None
    for i, text in enumerate(cell.lines):
        match = MARKER_RE.match(text)
        if not match:
            continue
        line = cell.file_line(i)
        kind, indent, rest = match.group("kind"), match.group("indent"), match.group("rest")
        if cell.kind == "markdown":
            problems.append(Problem(file, line, f"'{kind} SOLUTION' in a markdown cell; solution "
                                                "regions belong in code cells"))
            continue
        if kind == "BEGIN":
            if open_region is not None:
                problems.append(Problem(file, line, "nested 'BEGIN SOLUTION': the region opened "
                                        f"at line {open_region.begin_line} is not closed yet; "
                                        "add '# END SOLUTION' before opening another"))
                continue
            exercise = ""
            if rest.strip():
                id_match = EXERCISE_ID_RE.match(rest)
                if not id_match:
                    problems.append(Problem(file, line, f"exercise id {rest.strip()!r} after "
                                            "'BEGIN SOLUTION' must look like 1.2"))
                else:
                    exercise = id_match.group(1)
            open_region = Region(line, -1, indent, exercise)
        else:
            if open_region is None:
                problems.append(Problem(file, line, "'END SOLUTION' without a 'BEGIN SOLUTION' "
                                        "before it in the same cell"))
                continue
            if indent != open_region.indent:
                problems.append(Problem(file, line, "'END SOLUTION' is indented differently from "
                                        f"its 'BEGIN SOLUTION' at line {open_region.begin_line}"))
            open_region.end_line = line
            cell.regions.append(open_region)
            open_region = None
    if open_region is not None:
        problems.append(Problem(file, open_region.begin_line, "'BEGIN SOLUTION' is never closed "
                                "in its cell; add '# END SOLUTION' (a region cannot span cells)"))


def _syntax_ok(cell: Cell, file: str, problems: list[Problem]) -> bool:
    """Check a code cell, then its student version; report the file line of an error."""
    try:
        ast.parse("\n".join(cell.lines))
    except SyntaxError as err:
        line = cell.file_line((err.lineno or 1) - 1)
        problems.append(Problem(file, line, f"syntax error in code cell: {err.msg}"))
        return False
    if cell.regions:
        try:
            ast.parse(cell.student_source())
        except SyntaxError as err:
            problems.append(Problem(file, cell.line, f"the student version of this cell is not "
                                    f"valid Python ({err.msg}); check where the solution "
                                    "markers sit and how they are indented"))
            return False
    return True


def _mark_function_bodies(cell: Cell) -> None:
    """A region is a function body when it holds every statement of a function after the
    docstring; such a region becomes ``raise NotImplementedError`` for students."""
    tree = ast.parse("\n".join(cell.lines))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            body = body[1:]
        if not body:
            continue
        first = cell.file_line(body[0].lineno - 1)
        last = cell.file_line((body[-1].end_lineno or body[-1].lineno) - 1)
        for region in cell.regions:
            if region.begin_line < first and last < region.end_line:
                region.is_function_body = True


def _scan_checks(cell: Cell) -> None:
    for i, text in enumerate(cell.lines):
        code = text.split("#", 1)[0]
        for match in CHECK_RE.finditer(code):
            cell.checks.append((match.group("q"), cell.file_line(i)))


def parse_lab_source(path: Path, exercise_prefix: str = "") -> LabSource:
    """Parse a lab source; raise ``LabSourceError`` listing every problem found.

    ``exercise_prefix`` (the lab number, e.g. ``"1"``) numbers unnamed regions: the M-th code
    cell holding a region is exercise ``prefix.M`` unless its marker names one.
    """
    path = Path(path)
    file = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LabSourceError([Problem(file, 1, f"cannot read the lab source: {err}")]) from err
    cells = split_cells(text, file, problems)
    exercise_count = 0
    for cell in cells:
        _find_regions(cell, file, problems)
        if cell.kind != "code":
            continue
        _scan_checks(cell)
        if cell.regions:
            exercise_count += 1
            for region in cell.regions:
                region.exercise = region.exercise or f"{exercise_prefix or 0}.{exercise_count}"
        if _syntax_ok(cell, file, problems):
            _mark_function_bodies(cell)
    lab = LabSource(path, cells)
    if problems:
        raise LabSourceError(problems)
    return lab


def imported_modules(lab: LabSource) -> list[str]:
    """Top-level names of the modules the lab's code cells import, in order of appearance
    (``import numpy as np`` and ``from sklearn.x import y`` give numpy, sklearn)."""
    names: list[str] = []
    for cell in lab.code_cells:
        for node in ast.walk(ast.parse("\n".join(cell.lines))):
            if isinstance(node, ast.Import):
                found = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found = [node.module]
            else:
                continue
            names += [n.split(".")[0] for n in found if n.split(".")[0] not in names]
    return names


def solution_module_source(lab_source_path: Path) -> str:
    """The exported solution module's text: the export cells' solution code."""
    lab = parse_lab_source(lab_source_path)
    header = (f'"""Reference solution exported from {Path(lab_source_path).parent.name}/lab.py '
              '(generated; edit the lab source instead)."""')
    return lab.export_source(header)


def exec_as_module(source: str, name: str, filename: str) -> types.ModuleType:
    """Execute trusted course code as a module registered in ``sys.modules`` under ``name``
    (dataclasses and typing look a class's module up there while the class is created)."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - instructor code
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_solution_module(lab_source_path: Path) -> types.ModuleType:
    """The lab's reference solution (its export cells) as a fresh module."""
    lab_name = Path(lab_source_path).parent.name
    return exec_as_module(solution_module_source(lab_source_path),
                          f"mlsys_edu_reference_{lab_name}", f"<reference {lab_name}>")
