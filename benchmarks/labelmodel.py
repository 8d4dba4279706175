"""Label model: lab 01's Dawid-Skene (EM over unique rows) against Snorkel's LabelModel.

Inputs are synthetic label matrices drawn from a known generative model (class balance,
per-LF accuracy and propensity; ``mlsys_edu.lab.testing.random_weak_labels``), so accuracy
against the true labels is measurable. Ours: ``DawidSkene(cardinality=2).fit(L)`` then
``predict(L)``. Snorkel 0.10.0: ``LabelModel(cardinality=2)`` with defaults,
``fit(L, n_epochs=100)``, then ``predict(L)`` (ties abstain, counted as wrong).
Measured: fit seconds, predict seconds (``seconds`` = both), accuracy vs the true labels.

The model: class balance 35/65, LF accuracies uniform in [0.55, 0.9], propensities (coverage)
uniform in [0.02, 0.3], like real LFs (the lab's spam LFs cover 4-44%). Our cost grows with
the number of distinct rows (about 211k of 1M here) and the number of votes; Snorkel's
fit works on m x m statistics and does not care.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "snorkel"
TITLE = "Label model: ours (Dawid-Skene, EM) vs Snorkel LabelModel, fit + predict"
ROOT = Path(__file__).resolve().parents[1]
LAB = "01_weak_supervision"
SEED = 20240501


def cases(quick: bool) -> list[dict[str, Any]]:
    """Label-matrix sizes; quick: one toy matrix."""
    sizes = [(2_000, 10)] if quick else [(10_000, 10), (100_000, 20), (1_000_000, 20)]
    return [{"n": n, "m": m, "k": 2, "label": f"{n:,} x {m}"} for n, m in sizes]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Draw L and y from a known model into ``workdir`` (project env)."""
    from mlsys_edu.lab.testing import random_weak_labels

    rng = np.random.default_rng(SEED + case["n"] + case["m"])
    m = case["m"]
    L, y = random_weak_labels(rng, case["n"], m, case["k"],
                              accuracies=rng.uniform(0.55, 0.9, m),
                              propensities=rng.uniform(0.02, 0.3, m),
                              class_balance=np.array([0.35, 0.65]))
    stem = Path(workdir) / f"L_{case['n']}x{m}"
    np.save(f"{stem}.npy", L)
    np.save(f"{stem}_y.npy", y)
    return {**case, "L": f"{stem}.npy", "y": f"{stem}_y.npy"}


def load_lab_exports(lab: str = LAB) -> dict[str, Any]:
    """The lab's reference solution (its export cells, solutions in place) as a namespace."""
    from mlsys_edu.lab.source import load_solution_module

    return vars(load_solution_module(ROOT / "labs" / lab / "lab.py"))


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    L = np.load(case["L"], allow_pickle=False)
    y = np.load(case["y"], allow_pickle=False)
    if side == "ours":
        DawidSkene = load_lab_exports()["DawidSkene"]
        start = time.perf_counter()
        model = DawidSkene(cardinality=case["k"]).fit(L)
        fitted = time.perf_counter()
        predictions = model.predict(L)
        done = time.perf_counter()
    elif side == "anchor":
        from snorkel.labeling.model import LabelModel

        L = L.astype(np.int64)
        start = time.perf_counter()
        model = LabelModel(cardinality=case["k"], verbose=False)
        model.fit(L, n_epochs=100)
        fitted = time.perf_counter()
        predictions = model.predict(L)
        done = time.perf_counter()
    else:
        raise ValueError(f"unknown side {side!r}; expected 'ours' or 'anchor'")
    return {"seconds": done - start, "fit_s": fitted - start, "predict_s": done - fitted,
            "accuracy": float((np.asarray(predictions) == y).mean())}
