"""mkdocs plugin ``mlsys-edu``: the site's navigation, made from the generated pages.

The course build writes the pages into ``build/docs``; this plugin gives mkdocs a navigation
in the seminar's order (Home, Syllabus, Lectures, Labs, Guides, Bibliography, Performance), so
``mkdocs build --strict`` and ``mkdocs serve`` work on that folder as on any mkdocs site.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin

from mlsys_edu.course.vendor import SCRIPTS


def _title(path: Path, fallback: str) -> str:
    match = re.search(r"^#\s+(.+)$", path.read_text(encoding="utf-8"), flags=re.M)
    return match.group(1).strip() if match else fallback


def _section(docs: Path, folder: str, first: str | None = None) -> list:
    """The pages of a folder, ``first`` (e.g. an index) before the others in name order."""
    pages = sorted((docs / folder).glob("*.md")) if (docs / folder).is_dir() else []
    ordered = [p for p in pages if p.name == first] + [p for p in pages if p.name != first]
    return [{_title(p, p.stem): str(p.relative_to(docs))} for p in ordered]


def course_nav(docs: Path) -> list:
    """Home, Syllabus, Lectures, Labs, Guides, Bibliography, Performance: those that exist."""
    nav: list = []
    for title, page in (("Home", "index.md"), ("Syllabus", "syllabus.md")):
        if (docs / page).is_file():
            nav.append({title: page})
    for title, folder, first in (("Lectures", "sessions", None), ("Labs", "labs", "index.md"),
                                 ("Guides", "guides", None)):
        section = _section(docs, folder, first)
        if section:
            nav.append({title: section})
    for title, page in (("Bibliography", "bibliography.md"), ("Performance", "performance.md")):
        if (docs / page).is_file():
            nav.append({title: page})
    return nav


class CoursePlugin(BasePlugin):
    """Sets ``nav`` from ``docs_dir`` unless mkdocs.yml gives one."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        docs = Path(config["docs_dir"])
        if not (docs / "index.md").is_file():
            raise PluginError(f"{docs} has no pages yet: run `mlsys-edu build` first, which "
                              "writes them and then runs mkdocs")
        if not config.get("nav"):
            config["nav"] = course_nav(docs)
        # Mermaid and MathJax served by the site when the build could fetch them
        # (mlsys_edu.course.vendor); otherwise from their CDNs.
        for asset, (_, _, cdn) in SCRIPTS.items():
            if (docs / "assets" / asset).is_file():
                config["extra_javascript"].append(f"assets/{asset}")
            elif cdn:
                config["extra_javascript"].append(cdn)
        return config
