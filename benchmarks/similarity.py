"""Similarity report: ours (winnowing over normalised tokens) against copydetect (MOSS-style
winnowing, the pip-installable tool instructors use), on 100 synthetic lab-01 submissions
(``similarity_scale.py``: ours alone on 1,000).

Each synthetic student starts from lab 01's student notebook; each exercise is left undone
(15%) or done from the reference solution with the student's own edits: lines of their own
inserted between the solution's (about one per two lines), so that no two students share long
runs by chance. Then ``copies`` students are replaced by a disguised copy of another student
(locals renamed, comments dropped, code re-laid out by ``ast.unparse``), and ``partial`` more
copy half of another student's exercises. Both sides get the same files, the starter code as
boilerplate, and rank every pair; the metric ``planted_in_top`` is the share of the planted
pairs among the top-ranked pairs (as many as were planted): 1.0 means every copy is on top.
Seconds: the whole comparison, reading the files to writing the report (``cpu_s``: the CPU
time of it, which the load of a shared machine changes far less).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "copydetect"
TITLE = "Similarity report over synthetic lab-01 submissions (ours vs copydetect)"
ROOT = Path(__file__).resolve().parents[1]
LAB_DIR = ROOT / "labs" / "01_weak_supervision"
NOISE = ["{v} = len(str({a}))", "{v} = [{a}] * {b}", "{v} = {{'k{a}': {b}}}",
         "{v} = max({a}, {b}) - {a}", "{v} = sorted(range({a}))[:{b}]",
         "{v} = ({a} + {b}) % 7", "{v} = '{a}'.join(['x', 'y'])", "assert {a} >= 0, 'n{b}'"]


def cases(quick: bool) -> list[dict[str, Any]]:
    # copydetect compares every pair in Python (minutes for a few hundred submissions), so the
    # side-by-side case is 100 submissions; similarity_scale.py runs ours on 1,000.
    if quick:
        return [{"n": 12, "copies": 2, "partial": 1, "label": "12 submissions"}]
    return [{"n": 100, "copies": 6, "partial": 3, "label": "100 submissions"}]


def _student_body(body: str, indent: str, rng: np.random.Generator, student: int) -> str:
    """The reference body with the student's own lines inserted between its lines."""
    out = []
    lines = body.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        safe = (stripped and not stripped.startswith(("return", "else", "elif", "except",
                                                      "finally", ")", "]", "}", "@"))
                and not lines[i - 1].rstrip().endswith((",", "(", "[", "{", "\\"))
                if i else True)
        if safe and rng.random() < 0.5:
            lead = line[: len(line) - len(line.lstrip())]
            noise = NOISE[rng.integers(len(NOISE))].format(
                v=f"s{student}_{i}", a=int(rng.integers(2, 99)), b=int(rng.integers(2, 9)))
            out.append(lead + noise)
        out.append(line)
    return "\n".join(indent + line if line else line for line in out)


def synthetic_batch(n: int, copies: int, partial: int, seed: int = 0
                    ) -> tuple[list[list[str]], list[str], list[tuple[int, int]]]:
    """``n`` submissions (lists of code cells), the starter cells, and the planted pairs."""
    import re

    from mlsys_edu.grader.similarity import disguise
    from mlsys_edu.lab.source import parse_lab_source

    rng = np.random.default_rng(seed)
    source = parse_lab_source(LAB_DIR / "lab.py")
    starter = [c.student_source() for c in source.code_cells]
    stub = re.compile(r'^(\s*)raise NotImplementedError\("Exercise [0-9.]+"\)\s*$', re.M)
    bodies = []  # the solution of every stub, in order, without the region's indentation
    for cell in source.code_cells:
        for region in cell.regions:
            lines = cell.lines[region.begin_line - cell.line: region.end_line - cell.line - 1]
            bodies.append("\n".join(line[len(region.indent):] for line in lines))
    subs = []
    for student in range(n):
        count = 0

        def fill(match: Any) -> str:
            nonlocal count
            body = bodies[count]
            count += 1
            if rng.random() < 0.15:
                return match.group(0)  # not done
            return _student_body(body, match.group(1), rng, student)

        subs.append([stub.sub(fill, cell) for cell in starter])
    planted = []
    order = rng.permutation(n)
    for c in range(copies + partial):
        original, copier = int(order[2 * c]), int(order[2 * c + 1])
        copied = [disguise(cell, f"c{c}_") if cell not in starter else cell
                  for cell in subs[original]]
        if c >= copies:  # a partial copy: the copier's own work in every other changed cell
            changed = [i for i, cell in enumerate(copied) if cell not in starter]
            for i in changed[::2]:
                copied[i] = subs[copier][i]
        subs[copier] = copied
        planted.append((min(original, copier), max(original, copier)))
    return subs, starter, planted


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Write the batch twice: notebooks for ours, one ``.py`` per student for copydetect."""
    import nbformat

    subs, starter, planted = synthetic_batch(case["n"], case["copies"], case["partial"])
    folder = Path(workdir)
    notebooks, scripts, boiler = folder / "notebooks", folder / "scripts", folder / "starter"
    for d in (notebooks, scripts, boiler):
        d.mkdir(parents=True, exist_ok=True)
    for i, cells in enumerate(subs):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, notebooks / f"s{i:04d}.ipynb")
        (scripts / f"s{i:04d}.py").write_text("\n\n".join(cells) + "\n", encoding="utf-8")
    (boiler / "starter.py").write_text("\n\n".join(starter) + "\n", encoding="utf-8")
    return {**case, "notebooks": str(notebooks), "scripts": str(scripts),
            "starter": str(boiler), "out": str(folder / "report"), "planted": planted}


def _planted_in_top(ranked: list[tuple[str, str]], planted: list[list[int]]) -> float:
    want = {(f"s{a:04d}", f"s{b:04d}") for a, b in planted}
    top = {tuple(sorted(p)) for p in ranked[: len(want)]}
    return len(top & want) / max(1, len(want))


def run(side: str, case: dict[str, Any]) -> dict[str, Any]:
    if side == "ours":
        from mlsys_edu.grader.similarity import compare_submissions

        paths = sorted(Path(case["notebooks"]).glob("*.ipynb"))
        cpu, start = time.process_time(), time.perf_counter()
        report = compare_submissions(LAB_DIR / "lab.py", paths, Path(case["out"]) / "ours",
                                     top=max(50, 2 * len(case["planted"])))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        ranked = [(p.a, p.b) for p in report.pairs]
    elif side == "anchor":
        from copydetect import CopyDetector

        cpu, start = time.process_time(), time.perf_counter()
        detector = CopyDetector(test_dirs=[case["scripts"]], boilerplate_dirs=[case["starter"]],
                                extensions=["py"], display_t=0.0, autoopen=False, silent=True,
                                out_file=str(Path(case["out"]) / "copydetect.html"))
        detector.run()
        detector.generate_html_report()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        found = detector.get_copied_code_list()  # [sim_a, sim_b, file_a, file_b, ...]
        found.sort(key=lambda row: -max(row[0], row[1]))
        ranked = [(Path(row[2]).stem, Path(row[3]).stem) for row in found]
    else:
        raise ValueError(f"unknown side {side!r}")
    # CPU seconds beside the wall time: on a shared machine the wall time grows with the load
    return {"seconds": seconds, "cpu_s": round(cpu, 2),
            "planted_in_top": _planted_in_top(ranked, case["planted"]), "submissions": case["n"]}


if __name__ == "__main__":  # a quick look: python benchmarks/similarity.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(cases(True)[0], tmp)
        print(json.dumps(run("ours", prepared)))
