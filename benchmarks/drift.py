"""Drift report: lab 05's `drift_report` against Evidently's `DataDriftPreset`, same data.

Data: a reference and a current sample of ``n`` rows x 20 columns (10 numeric: normal,
log-normal, uniform and Student-t; 10 categorical: 3 to 30 categories drawn by cutting a
latent normal), with a mild shift in two numeric and two categorical columns. Ours:
``drift_report(reference, current, TESTS)`` from the lab's reference solution (KS or
chi-square per column, PSI, Jensen-Shannon, Wasserstein, BH correction). Evidently 0.7.23:
``Report([DataDriftPreset()]).run(current, reference)`` with its defaults (its own choice of
test per column). Measured: seconds for the report, and how many columns each side flags.
"""

from __future__ import annotations

import time
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np

ANCHOR = "evidently"
TITLE = "Drift report on n rows x 20 columns: ours vs Evidently DataDriftPreset"
ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "05_monitoring" / "lab.py"
SEED = 20240514
N_NUMERIC = N_CATEGORICAL = 10


def cases(quick: bool) -> list[dict[str, Any]]:
    sizes = [2_000] if quick else [10_000, 100_000]
    return [{"n": n, "label": f"{n:,} x 20"} for n in sizes]


def make_columns(rng: np.random.Generator, n: int, shift: float) -> dict[str, np.ndarray]:
    """20 columns; ``shift`` (in standard deviations) moves columns 0, 1 of each kind."""
    cols: dict[str, np.ndarray] = {}
    for j in range(N_NUMERIC):
        s = shift if j < 2 else 0.0
        kind = j % 4
        x = (rng.normal(size=n), rng.standard_t(4, size=n), rng.uniform(size=n),
             rng.lognormal(size=n))[kind]
        cols[f"num_{j}"] = x * np.exp(s) if kind == 3 else x + s * np.std(x)
    for j in range(N_CATEGORICAL):
        k = (3, 5, 8, 12, 30)[j % 5]
        latent = rng.normal(shift if j < 2 else 0.0, 1, n)
        edges = [NormalDist().inv_cdf(q) for q in np.linspace(0, 1, k + 1)[1:-1]]
        codes = np.searchsorted(edges, latent)  # k equally likely categories without shift
        cols[f"cat_{j}"] = codes
    return cols


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + case["n"])
    paths = {}
    for side, shift in (("reference", 0.0), ("current", 0.05)):
        path = Path(workdir) / f"{side}_{case['n']}.npz"
        np.savez(path, **make_columns(rng, case["n"], shift))
        paths[side] = str(path)
    return {**case, **paths}


def load_frame(path: str):
    import pandas as pd

    with np.load(path, allow_pickle=False) as data:
        return pd.DataFrame({name: (data[name] if name.startswith("num")
                                    else np.char.add("c", data[name].astype(str)).astype(object))
                             for name in data.files})


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    reference, current = load_frame(case["reference"]), load_frame(case["current"])
    if side == "ours":
        from mlsys_edu.lab.source import load_solution_module
        from mlsys_edu.labkit.monitoring import drift_report

        lab = load_solution_module(LAB)
        start = time.perf_counter()
        report = drift_report(reference, current, lab.TESTS)
        seconds = time.perf_counter() - start
        flagged = int(report["drifted"].sum())
    elif side == "anchor":
        from evidently import Report
        from evidently.presets import DataDriftPreset

        start = time.perf_counter()
        result = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
        seconds = time.perf_counter() - start
        flagged = _evidently_flagged(result.dict())
    else:
        raise ValueError(f"unknown side {side!r}")
    return {"seconds": seconds, "columns_flagged": flagged}


def _evidently_flagged(result: dict) -> int:
    """How many columns Evidently's report calls drifted (its DriftedColumnsCount metric)."""
    for metric in result.get("metrics", []):
        if "DriftedColumnsCount" in str(metric.get("metric_name", metric.get("metric_id", ""))):
            value = metric.get("value", {})
            return int(value.get("count", -1)) if isinstance(value, dict) else int(value)
    return -1
