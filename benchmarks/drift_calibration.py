"""Drift tests' calibration and power: lab 05's tests against Evidently's per-column defaults.

Each trial draws a fresh reference and current sample of ``n`` rows of 5 numeric columns
(normal, Student-t(4), uniform, log-normal, normal) and 5 categorical ones (3, 5, 8, 12 and
30 equally likely categories, cut from a latent normal), the current one shifted by
``shift`` standard deviations (numeric columns: the value; categorical: the latent). Every
column of every trial is one decision at alpha = 0.05, so the rates below rest on
``trials x 5`` decisions per column kind (1,000 for 200 trials).

Ours: ``ks_test`` on numeric columns, ``chi_square_test`` (homogeneity, rare categories
pooled) on categorical ones, and ``mmd_test`` on the 5 numeric columns jointly (199
permutations, 500 rows a side; the first 100 trials), from the lab's reference solution: p < 0.05 is a flag.
Evidently 0.7.23: the test its defaults pick per column (``get_stattest(..., None)``: up to
1,000 reference rows KS and chi-square, above that normed Wasserstein and Jensen-Shannon
distances with threshold 0.1) and its own drift decision. Cases without shift measure the
false-positive rate, cases with one the power.
"""

from __future__ import annotations

import math
import time
from statistics import NormalDist
from typing import Any

import numpy as np

ANCHOR = "evidently"
TITLE = "Drift tests at alpha 0.05: false positives without drift, power with a shift"
SEED = 20240601
LAB = "labs/05_monitoring/lab.py"
MMD_TRIALS = 100  # the MMD test costs ~0.2 s a trial: the first 100 trials only


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"n": 500, "shift": 0.0, "trials": 5, "label": "FPR n=500 (toy)"}]
    return [{"n": 1_000, "shift": 0.0, "trials": 200, "label": "FPR n=1,000"},
            {"n": 100_000, "shift": 0.0, "trials": 200, "label": "FPR n=100,000"},
            {"n": 5_000, "shift": 0.2, "trials": 200, "label": "power 0.2 sd, n=5,000"},
            {"n": 100_000, "shift": 0.05, "trials": 50, "label": "power 0.05 sd, n=100,000"}]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    return dict(case)  # every trial is drawn from the seed, identically on both sides


def draw(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """(n, 5) numeric and (n, 5) categorical codes, shifted by ``shift`` sd."""
    numeric = np.column_stack([rng.normal(size=n), rng.standard_t(4, size=n) / np.sqrt(2),
                               rng.uniform(size=n) * np.sqrt(12), rng.lognormal(size=n),
                               rng.normal(size=n)])
    numeric[:, 3] /= math.sqrt((math.e - 1) * math.e)  # log-normal(0, 1)'s sd: all unit sd
    numeric += shift
    categorical = np.column_stack([
        np.searchsorted([NormalDist().inv_cdf(q) for q in np.linspace(0, 1, k + 1)[1:-1]],
                        rng.normal(shift, 1, n)) for k in (3, 5, 8, 12, 30)])
    return numeric, categorical


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    import pandas as pd

    rng = np.random.default_rng(SEED + case["n"] + int(case["shift"] * 1000))
    trials = [(draw(rng, case["n"], 0.0), draw(rng, case["n"], case["shift"]))
              for _ in range(case["trials"])]
    flags_num, flags_cat, flags_mmd = [], [], []
    if side == "ours":
        from pathlib import Path

        from mlsys_edu.lab.source import load_solution_module

        lab = load_solution_module(Path(__file__).resolve().parents[1] / LAB)
        start = time.perf_counter()
        for (num_r, cat_r), (num_c, cat_c) in trials:
            flags_num += [lab.ks_test(num_r[:, j], num_c[:, j])[1] < 0.05 for j in range(5)]
            flags_cat += [lab.chi_square_test(cat_r[:, j], cat_c[:, j])[1] < 0.05
                          for j in range(5)]
            if len(flags_mmd) < MMD_TRIALS:
                flags_mmd.append(lab.mmd_test(num_r, num_c, seed=len(flags_mmd))[1] < 0.05)
        seconds = time.perf_counter() - start
    elif side == "anchor":
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType

        start = time.perf_counter()
        for (num_r, cat_r), (num_c, cat_c) in trials:
            for j in range(5):
                ref, cur = pd.Series(num_r[:, j]), pd.Series(num_c[:, j])
                test = get_stattest(ref, cur, ColumnType.Numerical, None)
                flags_num.append(bool(test(ref, cur, ColumnType.Numerical, None).drifted))
                ref, cur = pd.Series(cat_r[:, j]), pd.Series(cat_c[:, j])
                test = get_stattest(ref, cur, ColumnType.Categorical, None)
                flags_cat.append(bool(test(ref, cur, ColumnType.Categorical, None).drifted))
        seconds = time.perf_counter() - start
    else:
        raise ValueError(f"unknown side {side!r}")
    out = {"seconds": seconds, "numeric_flag_rate": float(np.mean(flags_num)),
           "categorical_flag_rate": float(np.mean(flags_cat))}
    if flags_mmd:
        out["mmd_flag_rate"] = float(np.mean(flags_mmd))
    return out
