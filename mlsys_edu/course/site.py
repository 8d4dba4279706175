"""Assemble the site's pages under ``build/docs`` and build it with mkdocs --strict.

``lectures/`` is copied as it is; each lab gets a page made from its notebooks, the student
notebooks are published under ``notebooks/`` (download links and the Colab badge point there),
and the benchmark report, when there is one, becomes the Performance page. mkdocs runs only
when some input changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Callable

import nbformat

from mlsys_edu.course.config import CourseConfig
from mlsys_edu.course.vendor import SCRIPTS, cached_npm_file
from mlsys_edu.course.pages import _write_if_changed, lab_page, lab_title
from mlsys_edu.lab.layout import Lab


class SiteBuildError(RuntimeError):
    """mkdocs reported an error or a warning (the site is built with --strict)."""


def _copy_tree(src: Path, dst: Path) -> set[Path]:
    written = set()
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(target, path.read_bytes())
            written.add(target)
    return written


def _run_date(results_json: Path) -> tuple[str, bool] | None:
    """(date, quick) of a benchmark results file: a run's, or a record's newest run."""
    try:
        data = json.loads(results_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    runs = data.get("runs", [data])
    if not runs or "machine" not in runs[0]:
        return None
    return max(str(r["machine"].get("date", "")) for r in runs), bool(runs[0].get("quick"))


def performance_source(root: Path) -> Path | None:
    """Where the Performance page comes from: ``build/bench`` when it holds a full run newer
    than the committed record (``benchmarks/results``), else the record; a quick run in
    ``build/bench`` only when nothing is recorded; None when there is nothing at all."""
    bench, recorded = root / "build" / "bench", root / "benchmarks" / "results"
    fresh, kept = _run_date(bench / "results.json"), _run_date(recorded / "results.json")
    has_recorded = (recorded / "results.md").is_file()
    if (bench / "results.md").is_file() and fresh is not None:
        date, quick = fresh
        if not has_recorded or (not quick and (kept is None or date >= kept[0])):
            return bench
    if has_recorded:
        return recorded
    return bench if (bench / "results.md").is_file() else None


def _performance_page(root: Path, docs: Path) -> str:
    source = performance_source(root)
    if source is None:
        return ("# Performance\n\nNo benchmark results yet. Run `mlsys-edu bench` to compare "
                "the labs' systems with the tools people use today; this page then shows the "
                "latest table and figures, with the date and the machine.\n")
    for figure in sorted(source.glob("*.png")):
        (docs / "performance").mkdir(parents=True, exist_ok=True)
        _write_if_changed(docs / "performance" / figure.name, figure.read_bytes())
    text = (source / "results.md").read_text(encoding="utf-8")
    if not text.lstrip().startswith("# "):
        text = "# Performance\n\n" + text
    if re.search(r"!\[[^\]]*\]\((?!performance/)[^)/]+\.png\)", text):  # the record's own
        return re.sub(r"(!\[[^\]]*\]\()([^)/]+\.png\))", r"\1performance/\2", text)
    figures = "".join(f"\n![{p.stem}](performance/{p.name})\n" for p in sorted(source.glob("*.png")))
    return text + figures


def _labs_index(rows: list[tuple[str, str, str]]) -> str:
    lines = ["# Labs", "",
             "Each lab builds a miniature but real version of a system the seminar discusses. "
             "Open a lab's page for the handout, then work in its notebook, locally or on Colab.",
             "", "| lab | notebook | Colab |", "| --- | --- | --- |"]
    for name, title, colab in rows:
        lines.append(f"| [{title}]({name}.md) | [{name}.ipynb](../notebooks/{name}.ipynb) | "
                     f"[open]({colab}) |")
    return "\n".join(lines) + "\n"


def assemble_docs(root: Path, labs: list[Lab], config: CourseConfig,
                  log: Callable[[str], None] = print) -> Path:
    """Write every page of the site into ``build/docs`` and return that folder."""
    docs = root / "build" / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()
    if (root / "lectures").is_dir():
        written |= _copy_tree(root / "lectures", docs)
    assets = resources.files("mlsys_edu.course") / "assets"
    for name in ("colab-badge.svg", "mathjax-config.js", "course.css", "course.js"):
        target = docs / "assets" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_if_changed(target, (assets / name).read_bytes())
        written.add(target)
    for asset in SCRIPTS:
        local = cached_npm_file(asset)
        if local is not None:
            target = docs / "assets" / asset
            _write_if_changed(target, local.read_bytes())
            written.add(target)
    rows = []
    for lab in labs:
        if not lab.student_notebook.is_file():
            continue
        student = nbformat.read(lab.student_notebook, as_version=4)
        solution = (nbformat.read(lab.solution_notebook, as_version=4)
                    if lab.solution_notebook.is_file() else None)
        if solution is not None and len(solution.cells) != len(student.cells):
            solution = None  # stale execution of an older source: show no outputs
        page = docs / "labs" / f"{lab.name}.md"
        page.parent.mkdir(parents=True, exist_ok=True)
        text = lab_page(lab.name, student, solution, config.colab_link(lab.name), docs, log)
        _write_if_changed(page, text.encode())
        written |= {page, *(docs / "labs" / lab.name).glob("*.png")}
        notebook_copy = docs / "notebooks" / f"{lab.name}.ipynb"
        notebook_copy.parent.mkdir(parents=True, exist_ok=True)
        _write_if_changed(notebook_copy, lab.student_notebook.read_bytes())
        written.add(notebook_copy)
        rows.append((lab.name, lab_title(student, lab.name), config.colab_link(lab.name)))
    for path, text in ((docs / "labs" / "index.md", _labs_index(rows)),
                       (docs / "performance.md", _performance_page(root, docs))):
        _write_if_changed(path, text.encode())
        written.add(path)
    written |= set((docs / "performance").glob("*.png"))
    if not (docs / "index.md") in written:
        home = "# ML Systems\n\nSee the [labs](labs/index.md).\n"
        _write_if_changed(docs / "index.md", home.encode())
        written.add(docs / "index.md")
    for path in sorted(docs.rglob("*"), reverse=True):  # drop pages whose source is gone
        if path.is_file() and path not in written:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return docs


def _tree_digest(root: Path, docs: Path) -> str:
    digest = hashlib.sha256((root / "mkdocs.yml").read_bytes())
    for path in sorted(docs.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(docs)).encode())
            digest.update(path.read_bytes())
    plugin = Path(__file__).with_name("mkdocs_plugin.py")
    digest.update(plugin.read_bytes())
    return digest.hexdigest()


def build_site(root: Path, docs: Path, force: bool = False) -> tuple[Path, bool]:
    """Run ``mkdocs build --strict`` unless nothing changed; return (site folder, whether built)."""
    site = root / "build" / "site"
    stamp = root / "build" / "cache" / "site.json"
    digest = _tree_digest(root, docs)
    if (not force and stamp.is_file() and (site / "index.html").is_file()
            and json.loads(stamp.read_text()).get("digest") == digest):
        return site, False
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                           "-f", str(root / "mkdocs.yml")], cwd=root, env=env,
                          capture_output=True, text=True)
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("WARNING")]
    if proc.returncode != 0 or warnings:
        raise SiteBuildError("mkdocs build --strict failed:\n" + (proc.stderr or proc.stdout))
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"digest": digest}))
    return site, True

