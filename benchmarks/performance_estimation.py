"""Accuracy without labels: lab 05's ConfidenceEstimator against NannyML's CBPE, same windows.

A binary classifier (logistic regression, trained in ``prepare`` on 5,000 rows) is scored on
a labelled reference of ``n_reference`` rows and on 20 production windows of ``window`` rows
each whose inputs drift (covariate shift: the mean of two of the four features moves from 0
to ``max_shift`` standard deviations, window by window; P(y | x) stays, and is not what the
logistic model assumes, so its scores are miscalibrated where the data moves). The labels of
the windows give the realized accuracy; each side estimates it from scores alone.

Ours: ``ConfidenceEstimator().calibrate(p_ref, y_ref).estimate(p_window)`` from the lab's reference
solution (isotonic calibration on the reference, expected accuracy). NannyML 0.13.1:
``CBPE(problem_type="classification_binary", metrics=["accuracy"], chunk_size=window)``
fitted on the reference, ``estimate`` on the windows. Measured: the mean and the largest
absolute error of the estimate against the realized accuracy over the windows, and seconds
(fit + estimate).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "nannyml"
TITLE = "Label-free accuracy estimate under covariate shift: ours vs NannyML CBPE"
SEED = 20240808
LAB = Path(__file__).resolve().parents[1] / "labs" / "05_monitoring" / "lab.py"
N_WINDOWS = 20


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"n_reference": 2_000, "window": 500, "max_shift": 1.0, "label": "toy"}]
    return [{"n_reference": 5_000, "window": 5_000, "max_shift": 1.5,
             "label": "ref 5k, 20 windows of 5k"},
            {"n_reference": 1_000, "window": 1_000, "max_shift": 1.5,
             "label": "ref 1k, 20 windows of 1k"}]


def _draw(rng: np.random.Generator, n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, 4))
    x[:, :2] += shift
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] + 0.8 * x[:, 0] ** 2 - 0.8 + 0.7 * x[:, 3] * x[:, 1]
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(SEED + case["window"])
    model = LogisticRegression().fit(*_draw(rng, 5_000, 0.0))
    x_ref, y_ref = _draw(rng, case["n_reference"], 0.0)
    windows = [_draw(rng, case["window"], case["max_shift"] * i / (N_WINDOWS - 1))
               for i in range(N_WINDOWS)]
    path = Path(workdir) / f"scores_{case['n_reference']}_{case['window']}.npz"
    np.savez(path, p_ref=model.predict_proba(x_ref)[:, 1], y_ref=y_ref,
             p_prod=np.concatenate([model.predict_proba(x)[:, 1] for x, _ in windows]),
             y_prod=np.concatenate([y for _, y in windows]))
    return {**case, "scores": str(path)}


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    with np.load(case["scores"], allow_pickle=False) as data:
        p_ref, y_ref, p_prod, y_prod = (data[k] for k in ("p_ref", "y_ref", "p_prod", "y_prod"))
    w = case["window"]
    realized = [float(((p_prod[i:i + w] >= 0.5) == y_prod[i:i + w]).mean())
                for i in range(0, len(p_prod), w)]
    if side == "ours":
        from mlsys_edu.lab.source import load_solution_module

        ConfidenceEstimator = load_solution_module(LAB).ConfidenceEstimator
        start = time.perf_counter()
        estimator = ConfidenceEstimator().calibrate(p_ref, y_ref)
        estimated = [estimator.estimate(p_prod[i:i + w]) for i in range(0, len(p_prod), w)]
        seconds = time.perf_counter() - start
    elif side == "anchor":
        import nannyml as nml
        import pandas as pd

        frame = lambda p, y: pd.DataFrame({"p": p, "pred": (p >= 0.5).astype(int), "y": y})
        start = time.perf_counter()
        cbpe = nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y", metrics=["accuracy"],
                        chunk_size=w, problem_type="classification_binary")
        cbpe.fit(frame(p_ref, y_ref))
        result = cbpe.estimate(frame(p_prod, y_prod).drop(columns="y"))
        seconds = time.perf_counter() - start
        table = result.filter(period="analysis").to_df()
        estimated = [float(v) for v in table[("accuracy", "value")]]
    else:
        raise ValueError(f"unknown side {side!r}")
    errors = np.abs(np.asarray(estimated[:len(realized)]) - np.asarray(realized))
    return {"seconds": seconds, "mean_abs_error": float(errors.mean()),
            "max_abs_error": float(errors.max()),
            "realized_range": float(max(realized) - min(realized))}
