"""Data validation: lab 02's ``validate`` against pandera on the same constraints.

Input: a 1M x 20 frame (6 float, 5 int, 4 categorical string, 3 free-text string, 1 bool,
1 datetime column) with 0.1% of its rows broken on purpose (a value out of range, outside its
domain, too long, missing, repeated) and about 5% of its dates past the allowed range,
written once as Parquet. The constraints, written once
below as data (``CONSTRAINTS``), become the lab's ``Constraint`` list, a pandera
``DataFrameSchema`` and (``validation_gx.py``) a Great Expectations suite: per column its type
and missing values, plus ranges (numbers, dates), domains (categories), string lengths and
uniqueness (the id). Every side must find the offending rows, not only a pass/fail:
``bad_rows`` (distinct offending rows) shows that all sides found the same ones.
Measured: seconds of validation (reading the file is outside), rows per second.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "pandera"
TITLE = "Validation: 20 columns, ~50 constraints, rows/s (ours vs pandera)"
ROOT = Path(__file__).resolve().parents[1]
SEED = 2019
CATEGORIES = {"c0": list("abcde"), "c1": [f"v{k}" for k in range(10)], "c2": ["ham", "spam"],
              "c3": ["en", "es", "pt", "de", "fr", "it"]}


def constraints() -> list[tuple[str, str, Any, str]]:
    """(column, kind, value, severity), the lab's vocabulary; the same checks on every side."""
    rows: list[tuple[str, str, Any, str]] = []
    for k in range(6):
        rows += [(f"f{k}", "type", "float", "error"),
                 (f"f{k}", "max_null_fraction", 0.05 if k == 0 else 0.0, "error"),
                 (f"f{k}", "range", [-10.0, 10.0], "error")]
    for k in range(5):
        rows += [(f"i{k}", "type", "int", "error"), (f"i{k}", "range", [0, 1_000_000_000], "error")]
    rows += [("i4", "unique", None, "error")]
    for name, domain in CATEGORIES.items():
        rows += [(name, "type", "string", "error"), (name, "max_null_fraction", 0.0, "error"),
                 (name, "domain", domain, "error")]
    for k in range(3):
        rows += [(f"t{k}", "type", "string", "error"), (f"t{k}", "max_null_fraction", 0.0, "error"),
                 (f"t{k}", "length", [1, 60], "error")]
    rows += [("b0", "type", "bool", "error"),
             ("d0", "type", "datetime", "error"),
             ("d0", "range", ["2013-01-01T00:00:00", "2016-12-31T23:59:59"], "error")]
    return rows


def cases(quick: bool) -> list[dict[str, Any]]:
    n = 20_000 if quick else 1_000_000
    return [{"n": n, "label": f"{n:,} rows x 20 columns"}]


def make_frame(n: int) -> Any:
    """The frame, with 0.1% of rows broken in one of five ways."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    pool = np.array(["".join(rng.choice(list("abcdefgh ijk"), rng.integers(1, 50)))
                     for _ in range(5000)], dtype=object)
    frame = pd.DataFrame({f"f{k}": rng.normal(size=n) for k in range(6)})
    for k in range(4):
        frame[f"i{k}"] = rng.integers(0, 1_000_000, n)
    frame["i4"] = rng.permutation(n).astype(np.int64)
    for name, domain in CATEGORIES.items():
        frame[name] = rng.choice(np.array(domain, dtype=object), n)
    for k in range(3):
        frame[f"t{k}"] = pool[rng.integers(0, len(pool), n)]
    frame["b0"] = rng.random(n) < 0.3
    frame["d0"] = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 10**8, n), "s")
    frame.loc[rng.random(n) < 0.01, "f0"] = np.nan  # allowed: up to 5% missing
    bad = rng.choice(n, size=n // 1000, replace=False)
    kinds = np.arange(len(bad)) % 5
    frame.loc[bad[kinds == 0], "f3"] = 50.0                       # out of range
    frame.loc[bad[kinds == 1], "c1"] = "v99"                      # outside the domain
    frame.loc[bad[kinds == 2], "t1"] = "x" * 80                   # too long
    frame.loc[bad[kinds == 3], "f5"] = np.nan                     # missing
    frame.loc[bad[kinds == 4], "i4"] = frame["i4"].iloc[0]        # a repeated id
    return frame


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    path = Path(workdir) / f"frame_{case['n']}.parquet"
    if not path.exists():
        make_frame(case["n"]).to_parquet(path, index=False)
    return {**case, "frame": str(path), "constraints": constraints()}


def read(case: dict[str, Any]) -> Any:
    import pandas as pd

    return pd.read_parquet(case["frame"])


def ours(frame: Any, rows: list) -> tuple[float, int]:
    from mlsys_edu.lab.source import load_solution_module

    lab = load_solution_module(ROOT / "labs" / "02_data_pipelines" / "lab.py")
    schema = [lab.Constraint(*row) for row in rows]
    start = time.perf_counter()
    anomalies = lab.validate(frame, schema)
    seconds = time.perf_counter() - start
    bad = np.unique(np.concatenate([a.rows for a in anomalies] + [np.zeros(0, np.int64)]))
    return seconds, len(bad)


def pandera_side(frame: Any, rows: list) -> tuple[float, int]:
    import pandas as pd
    import pandera.pandas as pa

    dtypes = {"float": "float64", "int": "int64", "string": object, "bool": "bool",
              "datetime": "datetime64[ns]"}
    columns: dict[str, dict[str, Any]] = {}
    for column, kind, value, _ in rows:
        spec = columns.setdefault(column, {"checks": [], "nullable": True, "unique": False})
        if kind == "type":
            spec["dtype"] = dtypes[value] if value != "string" else frame[column].dtype
        elif kind == "max_null_fraction":
            spec["nullable"] = value > 0
        elif kind == "range":
            low, high = (pd.Timestamp(v) for v in value) if column == "d0" else value
            spec["checks"].append(pa.Check.in_range(low, high))
        elif kind == "domain":
            spec["checks"].append(pa.Check.isin(value))
        elif kind == "length":
            spec["checks"].append(pa.Check.str_length(*value))
        elif kind == "unique":
            spec["unique"] = True
    schema = pa.DataFrameSchema({c: pa.Column(s.pop("dtype"), **s) for c, s in columns.items()})
    start = time.perf_counter()
    try:
        schema.validate(frame, lazy=True)
        cases = None
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
    seconds = time.perf_counter() - start
    bad = 0 if cases is None else cases["index"].dropna().nunique()
    return seconds, int(bad)


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    frame = read(case)
    if side == "ours":
        seconds, bad = ours(frame, case["constraints"])
    elif side == "anchor":
        seconds, bad = pandera_side(frame, case["constraints"])
    else:
        raise ValueError(f"unknown side {side!r}")
    return {"seconds": seconds, "rows_per_s": len(frame) / seconds, "bad_rows": float(bad)}
