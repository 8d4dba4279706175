"""Make the student and solution notebooks from a lab source.

Both notebooks start with the same setup cell (tagged ``mlsys_edu:setup``): it installs the
toolkit where it is missing (Colab) and creates ``check`` with the lab's public tests embedded,
so on Colab the notebook plus the package is all a student needs. The student notebook has the
solution regions replaced by stubs; nothing of a solution reaches it (code, outputs, metadata).
"""

from __future__ import annotations

import hashlib

import nbformat
from nbformat import NotebookNode

from mlsys_edu.course.config import CourseConfig
from mlsys_edu.lab.figures import alt_texts
from mlsys_edu.lab.layout import Lab
from mlsys_edu.lab.questions import public_source
from mlsys_edu.lab.source import LabSource

SETUP_TAG = "mlsys_edu:setup"
BADGE_SVG = "https://colab.research.google.com/assets/colab-badge.svg"

SETUP_TEMPLATE = '''\
# Setup: installs the course toolkit where it is missing (e.g. on Colab) and creates `check`,
# which runs a question's public tests: check("q1"), check.all(), check.export().
import importlib.util, subprocess, sys
if importlib.util.find_spec("mlsys_edu") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", {install!r}], check=True)
from mlsys_edu.grader.student import make_check
PUBLIC_TESTS = {tests}
check = make_check({lab!r}, PUBLIC_TESTS, globals())'''


def public_tests(lab: Lab) -> dict[str, str]:
    """Each test file's source with the hidden tests cut out: what may ship to students."""
    return {
        path.name: public_source(path.read_text(encoding="utf-8"))
        for path in sorted(lab.tests_dir.glob("*.py"))
        if not path.name.startswith("_")
    }


def setup_source(lab: Lab, config: CourseConfig) -> str:
    tests = "{\n" + "".join(f"    {name!r}: {src!r},\n" for name, src in public_tests(lab).items()) + "}"
    return SETUP_TEMPLATE.format(install=config.install, tests=tests, lab=lab.name)


def colab_badge(lab: Lab, config: CourseConfig) -> str:
    return f"[![Open In Colab]({BADGE_SVG})]({config.colab_link(lab.name)})"


def _cell_id(lab: Lab, index: int) -> str:
    """Stable cell ids, so rebuilding an unchanged lab gives an identical notebook."""
    return hashlib.sha1(f"{lab.name}:{index}".encode()).hexdigest()[:12]


def _notebook(lab: Lab, source: LabSource, config: CourseConfig, version: str) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
        "mlsys_edu": {"lab": lab.name, "version": version},
    }
    setup = nbformat.v4.new_code_cell(setup_source(lab, config))
    setup.metadata = {"tags": [SETUP_TAG], "cellView": "form",
                      "jupyter": {"source_hidden": True}}
    cells = [nbformat.v4.new_markdown_cell(colab_badge(lab, config)), setup]
    for cell in source.cells:
        text = cell.solution_source() if version == "solution" else cell.student_source()
        if cell.kind == "markdown":
            new = nbformat.v4.new_markdown_cell(text)
        else:
            new = nbformat.v4.new_code_cell(text)
        if cell.tags:
            new.metadata["tags"] = cell.tags
        alts = alt_texts(cell.lines) if cell.kind == "code" else []
        if alts:  # nbconvert's convention: a cell's "alt" is its figure's text alternative
            new.metadata["alt"] = " ".join(alts) if len(alts) == 1 else " | ".join(
                f"Figure {i}: {alt}" for i, alt in enumerate(alts, start=1))
        info = {}
        if cell.has_exercise:
            info["exercise"] = [r.exercise for r in cell.regions]
        if cell.checks:
            info["checks"] = [q for q, _ in cell.checks]
        if version == "solution":
            info["line"] = cell.line  # for build errors: lab.py:LINE
        if info:
            new.metadata["mlsys_edu"] = info
        cells.append(new)
    for index, cell in enumerate(cells):
        cell.id = _cell_id(lab, index)
    nb.cells = cells
    return nb


def student_notebook(lab: Lab, source: LabSource, config: CourseConfig) -> NotebookNode:
    """The handout: solution regions replaced with stubs, public tests embedded."""
    return _notebook(lab, source, config, "student")


def solution_notebook(lab: Lab, source: LabSource, config: CourseConfig) -> NotebookNode:
    """The same notebook with the solutions in place (executed by the build)."""
    return _notebook(lab, source, config, "solution")


def _all_text_lines(node: object) -> set[str]:
    """Every stripped line of every string anywhere in a notebook (sources, outputs, metadata)."""
    found: set[str] = set()
    if isinstance(node, str):
        found.update(line.strip() for line in node.splitlines())
    elif isinstance(node, dict):
        for value in node.values():
            found |= _all_text_lines(value)
    elif isinstance(node, list):
        for value in node:
            found |= _all_text_lines(value)
    return found


def leaked_solution_lines(nb: NotebookNode, source: LabSource) -> list[str]:
    """Lines of the solution regions found anywhere in a notebook (should be none).

    A line that the student version shows anyway (say ``return result`` outside any region)
    is not a leak.
    """
    shown = {line.strip() for cell in source.cells for line in cell.student_source().splitlines()}
    present = _all_text_lines(nb)
    return [line.strip() for line in source.solution_lines()
            if line.strip() in present and line.strip() not in shown]
