"""Quantile sketch: lab 05's KLL sketch against Apache DataSketches' KLL, same k.

Apache DataSketches 5.2.0 (``kll_doubles_sketch(k)``, C++ behind Python, 8-byte items like
ours) and ours (``KLLSketch(k)`` from the lab's reference solution, numpy). At the same k
both keep about the same number of items (reported: ``retained``), so the rank error is
compared at the same memory. Each run streams ``trials`` log-normal streams of ``n`` values
in batches of 10,000 through each sketch (``seconds`` = update time; ``updates_per_s``),
then measures the largest normalised rank error over 999 quantile points against the exact
ranks (``rank_error``, mean over the trials), and merges 64 sketches of n/64 values of each stream
(``merge_s`` per stream, and the merged sketches' mean ``merged_rank_error``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "datasketches"
TITLE = "KLL quantile sketch: ours (numpy) vs Apache DataSketches kll_doubles_sketch"
SEED = 20240707
LAB = Path(__file__).resolve().parents[1] / "labs" / "05_monitoring" / "lab.py"
BATCH = 10_000
PARTS = 64


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"k": 64, "n": 20_000, "trials": 1, "label": "k=64, 20k values"}]
    return [{"k": 200, "n": 1_000_000, "trials": 5, "label": "k=200, 1M values"},
            {"k": 100, "n": 1_000_000, "trials": 5, "label": "k=100, 1M values"}]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    return dict(case)


def _sketches(side: str, k: int):
    """(new sketch, update, ranks, merge, retained) for one side."""
    if side == "ours":
        from mlsys_edu.lab.source import load_solution_module

        KLLSketch = load_solution_module(LAB).KLLSketch
        seeds = iter(range(10**6))
        return (lambda: KLLSketch(k, seed=next(seeds)), lambda s, x: s.update(x),
                lambda s, q: np.asarray(s.rank(q)), lambda a, b: a.merge(b),
                lambda s: s.retained)
    if side == "anchor":
        from datasketches import kll_doubles_sketch

        def merged(a, b):
            a.merge(b)
            return a

        return (lambda: kll_doubles_sketch(k), lambda s, x: s.update(x),
                lambda s, q: np.asarray(s.get_cdf(list(q)))[:-1], merged,
                lambda s: s.num_retained)
    raise ValueError(f"unknown side {side!r}")


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    new, update, ranks, merge, retained = _sketches(side, case["k"])
    rng = np.random.default_rng(SEED + case["k"])
    streams = [rng.lognormal(size=case["n"]) for _ in range(case["trials"])]
    seconds, errors, kept = 0.0, [], []
    for data in streams:
        exact_sorted = np.sort(data)
        queries = np.quantile(data, np.linspace(0.001, 0.999, 999))
        sketch = new()
        start = time.perf_counter()
        for i in range(0, len(data), BATCH):
            update(sketch, data[i:i + BATCH])
        seconds += time.perf_counter() - start
        exact = np.searchsorted(exact_sorted, queries, side="right") / len(data)
        errors.append(float(np.max(np.abs(ranks(sketch, queries) - exact))))
        kept.append(retained(sketch))
    merge_s, merged_errors = 0.0, []
    for data in streams:  # 64 partial sketches of each stream, merged one by one
        parts = [new() for _ in range(PARTS)]
        for sketch, chunk in zip(parts, np.array_split(data, PARTS)):
            update(sketch, chunk)
        start = time.perf_counter()
        total = parts[0]
        for sketch in parts[1:]:
            total = merge(total, sketch)
        merge_s += time.perf_counter() - start
        queries = np.quantile(data, np.linspace(0.001, 0.999, 999))
        exact = np.searchsorted(np.sort(data), queries, side="right") / len(data)
        merged_errors.append(float(np.max(np.abs(ranks(total, queries) - exact))))
    return {"seconds": seconds, "updates_per_s": case["n"] * case["trials"] / seconds,
            "rank_error": float(np.mean(errors)), "retained": float(np.mean(kept)),
            "merge_s": merge_s / len(streams),
            "merged_rank_error": float(np.mean(merged_errors))}
