"""Seconds per graded submission: our warm-pool judge, a cold process each, and ``otter run``.

``prepare`` writes a tiny 3-question lab in two equivalent formats from one list of checks:
ours (``labs/90_bench/`` with ``lab.py`` and ``@question`` tests) and otter-grader 7's
(an autograder zip with ``otter_config.json`` and OK-format ``tests/qN.py``, what
``otter assign`` emits for a Python assignment; otter run ignores the zip's Gradescope
setup files, so they are left out). It then writes N submission notebooks with known,
deterministic mistakes, so every side must reach the same mean score.

Sides, all given the same number of parallel workers (``workers``):

* ``ours``: ``mlsys-edu grade LAB SUBMISSIONS -o OUT --workers N`` (one command for the batch);
* ``cold``: the naive approach, one fresh ``python -c`` per submission that executes the code
  cells and runs the same tests in the student's process;
* ``anchor``: ``otter run -a autograder.zip`` per submission, in the ``otter`` side environment.

Each returns wall seconds for the batch divided by N: seconds per graded submission.
"""

from __future__ import annotations

import csv
import json
import os
import pprint
import subprocess
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ANCHOR = "otter"
TITLE = "Grading: seconds per graded submission (3-question lab)"
SIDES = ("ours", "cold", "anchor")

LAB_NAME = "90_bench"
POINTS_PER_TEST = 1.0
SUBMISSION_TIMEOUT_S = 120.0

# One list of checks, written once, rendered into both test formats. ``{s}`` is where the
# student's namespace goes: ``sub.`` in ours, nothing in otter's doctests and the cold baseline.
CHECKS: dict[str, list[tuple[str, str]]] = {
    "q1": [
        ("test_softmax_matches_formula",
         "np.allclose({s}softmax(np.array([1.0, 2.0, 3.0])), "
         "np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum())"),
        ("test_softmax_is_stable", "np.allclose({s}softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])"),
    ],
    "q2": [
        ("test_coverage_small", "np.allclose({s}lf_coverage(np.array([[0, -1], [1, 1], [-1, -1]])), "
                                "[2 / 3, 1 / 3])"),
        ("test_coverage_all_abstain", "np.allclose({s}lf_coverage(np.full((4, 3), -1)), [0.0, 0.0, 0.0])"),
    ],
    "q3": [
        ("test_majority_small", "list({s}majority_vote(np.array([[1, 1, 0], [0, -1, 0], "
                                "[-1, -1, -1]]))) == [1, 0, -1]"),
        ("test_majority_tie_abstains", "list({s}majority_vote(np.array([[1, 0, -1]]))) == [-1]"),
    ],
}

SOLUTIONS = {
    "q1": '''def softmax(x):
    """exp(x_i - max x) / sum_j exp(x_j - max x): the shift keeps exp from overflowing."""
    z = np.exp(x - np.max(x))
    return z / z.sum()
''',
    "q2": '''def lf_coverage(L):
    """Fraction of rows each labeling function (column) votes on: mean_i [L_ij != -1]."""
    return (L != -1).mean(axis=0)
''',
    "q3": '''def majority_vote(L):
    """Most common non-abstain label per row; -1 when every LF abstains or on a tie."""
    out = np.full(L.shape[0], -1)
    for i, row in enumerate(L):
        votes = row[row != -1]
        if votes.size == 0:
            continue
        labels, counts = np.unique(votes, return_counts=True)
        if (counts == counts.max()).sum() == 1:
            out[i] = labels[np.argmax(counts)]
    return out
''',
}

# The mistakes students make: each costs a known number of points.
MISTAKES = {
    "q1": ('def softmax(x):\n    z = np.exp(x)\n    return z / z.sum()\n', 1.0),  # overflows
    "q2": ("def lf_coverage(L):\n    return (L != -1).sum(axis=0) / L.shape[1]\n", 1.0),
    "q3": ('def majority_vote(L):\n    raise NotImplementedError("Exercise 3")\n', 2.0),
}


def _mistakes_of(i: int) -> list[str]:
    """Which questions submission ``i`` gets wrong (deterministic, every pattern appears)."""
    return [q for q, every, at in (("q1", 4, 1), ("q2", 3, 2), ("q3", 5, 3)) if i % every == at]


def total_points() -> float:
    return POINTS_PER_TEST * sum(len(v) for v in CHECKS.values())


def cases(quick: bool) -> list[dict[str, Any]]:
    """20 notebooks (2 quick) importing numpy; then the same importing pandas as well, as real
    lab notebooks do, which a cold process pays for per submission and a warm pool once."""
    n, workers = (2, 2) if quick else (20, 2)
    base = {"label": f"{n} submissions, {workers} workers", "n": n, "workers": workers,
            "imports": ["numpy"]}
    if quick:
        return [base]
    return [base, {**base, "label": f"{base['label']}, notebooks import pandas",
                   "imports": ["numpy", "pandas"]}]


IMPORT_LINES = {"numpy": "import numpy as np\n", "pandas": "import pandas as pd\n"}


# ---------------------------------------------------------------- writing the inputs

def _notebook(cells: list[str]) -> dict[str, Any]:
    """A minimal nbformat-4 notebook: a title, then one code cell per source."""
    def code(k: int, src: str) -> dict[str, Any]:
        return {"cell_type": "code", "execution_count": None, "id": f"code-{k}", "metadata": {},
                "outputs": [], "source": src.splitlines(keepends=True)}
    return {"cells": [{"cell_type": "markdown", "id": "title", "metadata": {},
                       "source": ["# Benchmark lab: softmax, coverage, majority vote\n"]},
                      *(code(k, src) for k, src in enumerate(cells))],
            "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                        "name": "python3"},
                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 5}


def _our_lab(lab_dir: Path, solution_module: Path) -> None:
    """``labs/90_bench/lab.py`` (percent format, solution regions) and ``tests/qN.py``."""
    cells = ["# %% [markdown]\n# # Benchmark lab\n", '# %% tags=["export"]\nimport numpy as np\n']
    for k, (q, src) in enumerate(SOLUTIONS.items(), start=1):
        head, body = src.split("\n", 1)
        cells.append(f'# %% tags=["export"]\n{head}\n    # BEGIN SOLUTION {k}.1\n'
                     f"{body}    # END SOLUTION\n")
    (lab_dir / "tests").mkdir(parents=True, exist_ok=True)
    (lab_dir / "lab.py").write_text("\n".join(cells), encoding="utf-8")
    for q, checks in CHECKS.items():
        tests = ["import numpy as np\n\nfrom mlsys_edu.lab import question\n"]
        for name, expr in checks:
            tests.append(f'\n@question("{q}", points={POINTS_PER_TEST})\ndef {name}(sub):\n'
                         f"    assert bool({expr.format(s='sub.')})\n")
        (lab_dir / "tests" / f"{q}.py").write_text("\n".join(tests), encoding="utf-8")
    solution_module.parent.mkdir(parents=True, exist_ok=True)
    solution_module.write_text("import numpy as np\n\n\n" + "\n\n".join(SOLUTIONS.values()),
                               encoding="utf-8")


def _otter_autograder(path: Path) -> None:
    """An otter-grader 7 autograder zip: ``otter_config.json`` and OK-format tests."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("otter_config.json", json.dumps({"lang": "python", "pdf": False}))
        for q, checks in CHECKS.items():
            spec = {"name": q, "suites": [{
                "cases": [{"code": f">>> import numpy as np\n>>> bool({expr.format(s='')})\nTrue",
                           "hidden": False, "locked": False, "points": POINTS_PER_TEST}
                          for _, expr in checks],
                "scored": True, "setup": "", "teardown": "", "type": "doctest"}]}
            zf.writestr(f"tests/{q}.py", f"OK_FORMAT = True\n\ntest = {pprint.pformat(spec)}\n")


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Write the lab (both formats) and ``n`` submissions into ``workdir``."""
    root = Path(workdir).resolve()
    lab_dir = root / "labs" / LAB_NAME
    _our_lab(lab_dir, root / "build" / "solutions" / f"{LAB_NAME}.py")
    (root / "mkdocs.yml").write_text("site_name: bench\n", encoding="utf-8")  # a course root
    _otter_autograder(root / "autograder.zip")
    subs = root / "submissions"
    subs.mkdir(exist_ok=True)
    for old in subs.glob("*.ipynb"):
        old.unlink()
    expected = []
    for i in range(case["n"]):
        wrong = _mistakes_of(i)
        imports = "".join(IMPORT_LINES[m] for m in case.get("imports", ["numpy"]))
        cells = [imports] + [MISTAKES[q][0] if q in wrong else SOLUTIONS[q] for q in SOLUTIONS]
        (subs / f"student{i:03d}.ipynb").write_text(json.dumps(_notebook(cells), indent=1),
                                                    encoding="utf-8")
        expected.append(total_points() - sum(MISTAKES[q][1] for q in wrong))
    return {**case, "root": str(root), "lab": str(lab_dir), "submissions": str(subs),
            "tests": str(lab_dir / "tests"), "autograder": str(root / "autograder.zip"),
            "expected_mean_points": sum(expected) / len(expected)}


# ---------------------------------------------------------------- the sides

COLD_GRADER = r"""
import json, sys, types
from pathlib import Path
import numpy as np
from mlsys_edu.lab import load_tests
nb = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
ns = {"__name__": "__main__"}
for cell in nb["cells"]:
    if cell["cell_type"] == "code":
        try:
            exec(compile("".join(cell["source"]), "<cell>", "exec"), ns)
        except BaseException:
            pass
sub = types.SimpleNamespace(**ns)
earned = possible = 0.0
for t in load_tests(Path(sys.argv[2])):
    possible += t.points
    fixtures = {"sub": sub, "rng": np.random.default_rng(t.seed), "ref": None}
    try:
        t.func(**{k: fixtures[k] for k in t.fixtures})
        earned += t.points
    except BaseException:
        pass
print(json.dumps({"earned": earned, "possible": possible}))
"""


def _parallel(commands: list[list[str]], workers: int, cwd: str) -> list[subprocess.CompletedProcess]:
    def one(cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                              timeout=SUBMISSION_TIMEOUT_S)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, commands))


def _notebooks(case: dict[str, Any]) -> list[Path]:
    return sorted(Path(case["submissions"]).glob("*.ipynb"))


def _run_cold(case: dict[str, Any]) -> list[float]:
    cmds = [[sys.executable, "-c", COLD_GRADER, str(nb), case["tests"]] for nb in _notebooks(case)]
    points = []
    for done in _parallel(cmds, case["workers"], case["root"]):
        if done.returncode != 0:
            raise RuntimeError(f"cold grader failed:\n{done.stderr[-2000:]}")
        points.append(json.loads(done.stdout.strip().splitlines()[-1])["earned"])
    return points


def _run_otter(case: dict[str, Any]) -> list[float]:
    otter = Path(sys.executable).parent / "otter"
    if not otter.exists():
        raise RuntimeError(f"no otter command next to {sys.executable}: run this side in the "
                           "'otter' side environment (mlsys-edu bench builds it)")
    out_root = Path(case["root"]) / "otter-out"
    cmds = []
    for nb in _notebooks(case):
        out = out_root / nb.stem
        out.mkdir(parents=True, exist_ok=True)
        cmds.append([str(otter), "run", "-a", case["autograder"], "-o", str(out), "--no-logo",
                     str(nb)])
    points = []
    for cmd, done in zip(cmds, _parallel(cmds, case["workers"], case["root"])):
        results = Path(cmd[cmd.index("-o") + 1]) / "results.json"
        if done.returncode != 0 or not results.exists():
            raise RuntimeError(f"otter run failed ({done.returncode}):\n"
                               f"{(done.stdout + done.stderr)[-2000:]}")
        report = json.loads(results.read_text(encoding="utf-8"))
        points.append(float(report.get("score", sum(t.get("score", 0) for t in report["tests"]))))
    return points


def _gradebook_mean(out: Path) -> float | None:
    """Mean of the gradebook's score column, when a CSV with one is there (best effort)."""
    for path in sorted(out.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for column in ("score", "total", "points", "earned", "total_points"):
            values = [r.get(column) for r in rows]
            try:
                numbers = [float(v) for v in values if v not in (None, "")]
            except ValueError:
                continue
            if numbers and len(numbers) == len(rows):
                return sum(numbers) / len(numbers)
    return None


def _run_ours(case: dict[str, Any]) -> float | None:
    out = Path(case["root"]) / "ours-out"
    cmd = [sys.executable, "-c", "import sys; from mlsys_edu.cli import main; sys.exit(main())",
           "grade", case["lab"], case["submissions"], "-o", str(out),
           "--workers", str(case["workers"])]
    env = {**os.environ, "MLSYS_EDU_ROOT": case["root"]}
    done = subprocess.run(cmd, cwd=case["root"], env=env, capture_output=True, text=True,
                          timeout=SUBMISSION_TIMEOUT_S * case["n"])
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-2000:]
        hint = ""
        if "No module named 'mlsys_edu.cli'" in tail or "invalid choice" in tail:
            hint = ("our grader is not available: `mlsys-edu grade` (mlsys_edu/cli.py wiring "
                    "mlsys_edu/grader/) is missing in this checkout. ")
        raise RuntimeError(f"{hint}`mlsys-edu grade` exited {done.returncode}:\n{tail}")
    return _gradebook_mean(out)


def run(side: str, case: dict[str, Any]) -> dict[str, Any]:
    """Grade every submission on ``side``; seconds per submission, and the mean score."""
    started = time.perf_counter()
    if side == "ours":
        mean = _run_ours(case)
    elif side in ("cold", "anchor"):
        points = _run_cold(case) if side == "cold" else _run_otter(case)
        mean = sum(points) / len(points)
    else:
        raise ValueError(f"unknown side {side!r}; sides: {SIDES}")
    total_s = time.perf_counter() - started
    result: dict[str, Any] = {"seconds": total_s / case["n"], "batch_s": total_s,
                              "mean_points": mean}
    if mean is not None:
        result["scores_match"] = abs(mean - case["expected_mean_points"]) < 1e-9
    return result
