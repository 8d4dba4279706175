"""Turn an executed solution notebook into a lab's page on the site: the student handout.

The page shows the narrative, the starter code (the student version of every cell), and the
outputs and figures of every cell that holds no exercise and no ``check``, taken from the
solution run. Exercise cells never show outputs: they would give the answer away.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Callable

from nbformat import NotebookNode

from mlsys_edu.course.notebooks import SETUP_TAG
from mlsys_edu.lab.figures import alt_texts

FENCE = "```"


def _is_setup(cell: NotebookNode) -> bool:
    return SETUP_TAG in cell.metadata.get("tags", [])


def _shows_outputs(cell: NotebookNode) -> bool:
    info = cell.metadata.get("mlsys_edu", {})
    return not info.get("exercise") and not info.get("checks")


def _html_block(html: str) -> str:
    """Raw HTML that Markdown passes through: no blank lines inside, blank lines around."""
    body = "\n".join(line for line in html.splitlines() if line.strip())
    return (f'<div class="mlsys-output" markdown="0" role="region" aria-label="Cell output" '
            f'tabindex="0">\n{body}\n</div>')


def _outputs(cell: NotebookNode, figures: Path, stem: str, index: int,
             log: Callable[[str], None] = print) -> list[str]:
    """Markdown for a cell's outputs; figures are written as PNG files under ``figures``,
    each with the text alternative its ``# alt:`` line gives (the build log names a figure
    that has none; it gets an empty alt rather than an invented one)."""
    parts: list[str] = []
    alts = iter(alt_texts(cell.source.splitlines()))
    for number, output in enumerate(cell.get("outputs", []), start=1):
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            parts.append(f"{FENCE}text\n{output['text'].rstrip()}\n{FENCE}")
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data:
                name = f"cell{index:02d}-{number}.png"
                figures.mkdir(parents=True, exist_ok=True)
                _write_if_changed(figures / name, base64.b64decode(data["image/png"]))
                alt = next(alts, "")
                if not alt:
                    where = cell.metadata.get("mlsys_edu", {}).get("line", "?")
                    log(f"[{stem}] the figure of the cell at lab.py:{where} has no text "
                        "alternative: add a `# alt: ...` line to that cell")
                parts.append(f"![{_escape_alt(alt)}]({stem}/{name})")
            elif "text/html" in data:
                parts.append(_html_block(data["text/html"]))
            elif "text/markdown" in data:
                parts.append(data["text/markdown"])
            elif "text/plain" in data:
                parts.append(f"{FENCE}text\n{data['text/plain'].rstrip()}\n{FENCE}")
    return parts


def _escape_alt(text: str) -> str:
    """Alt text safe inside Markdown's ``![...]``."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _write_if_changed(path: Path, content: bytes) -> None:
    """Keep mtimes (and the site cache) stable when nothing changed."""
    if not path.is_file() or path.read_bytes() != content:
        path.write_bytes(content)


def lab_title(student: NotebookNode, default: str) -> str:
    """The first Markdown heading of a notebook."""
    for cell in student.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.M)
            if match:
                return match.group(1).strip()
    return default


def lab_page(name: str, student: NotebookNode, solution: NotebookNode | None,
             colab_link: str, docs: Path, log: Callable[[str], None] = print) -> str:
    """The Markdown of ``labs/<name>.md``; figures go to ``docs/labs/<name>/``."""
    links = (f"[![Open in Colab](../assets/colab-badge.svg)]({colab_link}){{ .colab-badge }} "
             f"[Download the notebook ({name}.ipynb)](../notebooks/{name}.ipynb)")
    parts: list[str] = []
    executed = solution is not None
    badge_placed = False
    for index, cell in enumerate(student.cells):
        if _is_setup(cell):
            continue
        if cell.cell_type == "markdown":
            if "colab-badge.svg" in cell.source:
                continue  # the page has its own badge, next to the download link
            parts.append(cell.source)
            if not badge_placed:
                parts.append(links)
                if not executed:
                    parts.append('!!! note "Outputs not built yet"\n    Run `mlsys-edu build` '
                                 "to execute this lab; its outputs and figures then appear here.")
                badge_placed = True
            continue
        parts.append(f"{FENCE}python\n{cell.source}\n{FENCE}")
        if executed and _shows_outputs(cell):
            parts += _outputs(solution.cells[index], docs / "labs" / name, name, index, log)
    if not badge_placed:
        parts.insert(0, links)
    return "\n\n".join(parts) + "\n"
