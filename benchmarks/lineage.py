"""Row-level lineage queries over a 1M-row training set: lab 02's arrays against SQLite.

None of the anchor tools keeps row-level lineage (DVC and OpenLineage stop at datasets), so
the comparison is with the way one would store it without them: the same edges in an SQLite
table ``edges(artifact, input, out_row, in_row)`` with an index each way, queried with
recursive CTEs. Input: lab 02's spam pipeline run on the course data resampled to 1,000
copies (1,956,000 comments; ids and authors suffixed), which yields a training set of about
1M rows; its lineage is what both sides query. Three queries, each timed alone, and
``seconds`` = their sum: ``back_ms``, where one training row came from (the mean over 20
random rows); ``source_ms``, which training rows came from export 05; ``lf_ms``, which
training rows depend on LF ``link`` (it voted on them). The answers' sizes show that both
sides agree. Our lineage is memory-mapped from the store (loading it is not timed).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = None
TITLE = "Lineage queries over the training set: ours (edge arrays) vs SQLite recursive CTEs"
SIDES = ("ours", "sqlite")
ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "02_data_pipelines" / "lab.py"
EXPORT = "Youtube05-Shakira"


def cases(quick: bool) -> list[dict[str, Any]]:
    copies = 1 if quick else 1000
    return [{"copies": copies, "label": f"{1956 * copies:,} comments in"}]


def _lab() -> Any:
    from mlsys_edu.lab.source import load_solution_module

    return load_solution_module(LAB)


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Run the pipeline once, then copy its lineage into SQLite."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_rerun", Path(__file__).with_name(
        "pipeline_rerun.py"))
    rerun = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rerun)  # type: ignore[union-attr]
    base = Path(workdir) / f"lineage_{case['copies']}"
    exports = rerun._write_exports(base / "exports", case["copies"])
    lab = _lab()
    pipe = lab.Pipeline(lab.sp.spam_pipeline(exports), base / "pipe")
    pipe.reproduce()
    lin = pipe.lineage()
    rng = np.random.default_rng(0)
    rows = rng.choice(lin.n_rows["training_set"], 20, replace=False).tolist()
    lf_rows = np.flatnonzero(pipe.output("votes")["lf_link"].to_numpy() != -1)
    np.save(base / "lf_rows.npy", lf_rows)
    database = base / "lineage.sqlite"
    if not database.exists():
        names = {n: k for k, n in enumerate(lin.n_rows)}
        with sqlite3.connect(database) as db:
            db.execute("CREATE TABLE edges (artifact INTEGER, input INTEGER, out_row INTEGER, "
                       "in_row INTEGER)")
            for artifact, inputs in lin.edges.items():
                for source, (out, into) in inputs.items():
                    ids = np.full(len(out), names[artifact]), np.full(len(out), names[source])
                    db.executemany("INSERT INTO edges VALUES (?, ?, ?, ?)",
                                   zip(*(x.tolist() for x in (*ids, out, into))))
            db.execute("CREATE INDEX backward ON edges (artifact, out_row)")
            db.execute("CREATE INDEX forward ON edges (input, in_row)")
            db.execute("CREATE TABLE names (name TEXT, id INTEGER)")
            db.executemany("INSERT INTO names VALUES (?, ?)", names.items())
    return {**case, "root": str(base / "pipe"), "exports": exports, "rows": rows,
            "lf_rows": str(base / "lf_rows.npy"), "database": str(database),
            "training_rows": lin.n_rows["training_set"]}


def _ours(case: dict[str, Any]) -> dict[str, float]:
    lab = _lab()
    lin = lab.Pipeline(lab.sp.spam_pipeline(case["exports"]), case["root"]).lineage()
    lf_rows = np.load(case["lf_rows"])
    start = time.perf_counter()
    back = [lab.trace_back(lin, "training_set", [r]) for r in case["rows"]]
    back_s = (time.perf_counter() - start) / len(case["rows"])
    start = time.perf_counter()
    from_export = lab.trace_forward(lin, EXPORT, None, "training_set")
    source_s = time.perf_counter() - start
    start = time.perf_counter()
    on_lf = lab.trace_forward(lin, "votes", lf_rows, "training_set")
    lf_s = time.perf_counter() - start
    return _result(back_s, source_s, lf_s, sum(sum(map(len, b.values())) for b in back),
                   len(from_export), len(on_lf))


def _result(back_s: float, source_s: float, lf_s: float, back_n: int, source_n: int,
            lf_n: int) -> dict[str, float]:
    return {"seconds": back_s + source_s + lf_s, "back_ms": 1e3 * back_s,
            "source_ms": 1e3 * source_s, "lf_ms": 1e3 * lf_s, "back_rows": float(back_n),
            "source_rows": float(source_n), "lf_rows": float(lf_n)}


BACK = """WITH RECURSIVE up(a, r) AS (SELECT ?, ? UNION
          SELECT e.input, e.in_row FROM edges e JOIN up ON e.artifact = up.a AND e.out_row = up.r)
          SELECT COUNT(*) FROM up WHERE a NOT IN (SELECT DISTINCT artifact FROM edges)"""
FORWARD = """WITH RECURSIVE down(a, r) AS ({start} UNION
             SELECT e.artifact, e.out_row FROM edges e JOIN down ON e.input = down.a
             AND e.in_row = down.r)
             SELECT COUNT(*) FROM down WHERE a = ?"""


def _sqlite(case: dict[str, Any]) -> dict[str, float]:
    with sqlite3.connect(case["database"]) as db:
        names = dict(db.execute("SELECT name, id FROM names").fetchall())
        db.execute("CREATE TEMP TABLE lf_rows (r INTEGER)")
        db.executemany("INSERT INTO lf_rows VALUES (?)", ((int(r),) for r in np.load(
            case["lf_rows"])))
        target = names["training_set"]
        start = time.perf_counter()
        back_n = sum(db.execute(BACK, (target, r)).fetchone()[0] for r in case["rows"])
        back_s = (time.perf_counter() - start) / len(case["rows"])
        start = time.perf_counter()
        source_n = db.execute(FORWARD.format(
            start=f"SELECT {names[EXPORT]}, in_row FROM edges WHERE input = {names[EXPORT]}"),
            (target,)).fetchone()[0]
        source_s = time.perf_counter() - start
        start = time.perf_counter()
        lf_n = db.execute(FORWARD.format(start=f"SELECT {names['votes']}, r FROM lf_rows"),
                          (target,)).fetchone()[0]
        lf_s = time.perf_counter() - start
    return _result(back_s, source_s, lf_s, back_n, source_n, lf_n)


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    if side == "ours":
        return _ours(case)
    if side == "sqlite":
        return _sqlite(case)
    raise ValueError(f"unknown side {side!r}")
