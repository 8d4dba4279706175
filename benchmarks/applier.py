"""LF applier: lab 01's ``apply_lfs`` against Snorkel's ``PandasLFApplier``, same 10 LFs.

The ten LFs are written once, below, as data (keywords or a regular expression and a label);
``plain_lf`` turns each into a plain function of a row, which Snorkel's side wraps with
``labeling_function``. Ours builds the same LFs with the lab's ``keyword_lf`` / ``regex_lf``,
which add a vectorised form; the ``loop`` side runs our applier on the plain functions alone
(a Python loop over rows). Inputs: comments resampled from the YouTube spam collection.
Measured: rows per second of labelling; ``votes`` / ``spam_votes`` show that all sides
produced the same label matrix, and each side records the pandas and pyarrow it ran with
(``ours@colab`` is our side again under Colab's versions).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ANCHOR = "snorkel"
TITLE = "LF applier: 10 LFs over 100k comments, rows/s (ours vectorised vs Snorkel)"
# ours@colab: the same code under Colab's versions (pandas 2.2, pyarrow 18), in .venvs/colab
SIDES = ("ours", "ours@colab", "loop", "anchor")
ROOT = Path(__file__).resolve().parents[1]
LAB = "01_weak_supervision"
ABSTAIN, HAM, SPAM = -1, 0, 1

# name, kind, keywords or pattern, label
LF_SPECS: list[tuple[str, str, Any, int]] = [
    ("keyword_my", "keyword", ["my"], SPAM),
    ("keyword_subscribe", "keyword", ["subscribe"], SPAM),
    ("keyword_please", "keyword", ["please", "plz"], SPAM),
    ("keyword_song", "keyword", ["song"], HAM),
    ("keyword_love", "keyword", ["love", "best"], HAM),
    ("regex_check_out", "regex", r"check.*out", SPAM),
    ("regex_link", "regex", r"https?://|www\.|\.com\b", SPAM),
    ("regex_money", "regex", r"\b(?:money|earn|free|cash|\$\d)", SPAM),
    ("regex_number", "regex", r"\d{5}", SPAM),
    ("regex_views", "regex", r"\b\d+\s*(?:views|billion|million)\b", HAM),
]


def plain_lf(kind: str, arg: Any, label: int) -> Callable[[Any], int]:
    """The LF as a plain function of a row (``row.text``): what both loop-based sides run."""
    if kind == "keyword":
        words = [w.lower() for w in arg]
        return lambda x: label if any(w in x.text.lower() for w in words) else ABSTAIN
    pattern = re.compile(arg, re.IGNORECASE)
    return lambda x: label if pattern.search(x.text) else ABSTAIN


def cases(quick: bool) -> list[dict[str, Any]]:
    n = 2_000 if quick else 100_000
    return [{"n": n, "label": f"{n:,} comments x {len(LF_SPECS)} LFs"}]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Resample ``n`` comments (with replacement, seeded) into ``texts.npy``."""
    from mlsys_edu.data import load_youtube_spam

    texts = load_youtube_spam()["text"].to_numpy(dtype=str)
    sample = np.random.default_rng(0).choice(texts, size=case["n"], replace=True)
    path = Path(workdir) / f"texts_{case['n']}.npy"
    np.save(path, sample.astype(str))  # fixed-width unicode: loads without pickle
    return {**case, "texts": str(path)}


def _lab_exports(lab: str = LAB) -> dict[str, Any]:
    """The lab's reference solution (its export cells, solutions in place) as a namespace."""
    from mlsys_edu.lab.source import load_solution_module

    return vars(load_solution_module(ROOT / "labs" / lab / "lab.py"))


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    import pandas as pd

    df = pd.DataFrame({"text": np.load(case["texts"], allow_pickle=False)})
    if side in ("ours", "ours@colab", "loop"):
        lab = _lab_exports()
        if side != "loop":
            factory = {"keyword": lab["keyword_lf"], "regex": lab["regex_lf"]}
            lfs = [factory[kind](name, arg, label) for name, kind, arg, label in LF_SPECS]
        else:
            lfs = [lab["LabelingFunction"](name, plain_lf(kind, arg, label))
                   for name, kind, arg, label in LF_SPECS]
        start = time.perf_counter()
        L = lab["apply_lfs"](df, lfs, progress_min_rows=len(df) + 1)
        seconds = time.perf_counter() - start
    elif side == "anchor":
        from snorkel.labeling import PandasLFApplier, labeling_function

        lfs = [labeling_function(name=name)(plain_lf(kind, arg, label))
               for name, kind, arg, label in LF_SPECS]
        applier = PandasLFApplier(lfs)
        start = time.perf_counter()
        L = applier.apply(df, progress_bar=False)
        seconds = time.perf_counter() - start
    else:
        raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
    L = np.asarray(L)
    try:
        import pyarrow
    except ImportError:  # Snorkel's environment may have none
        pyarrow = None
    return {"seconds": seconds, "rows_per_s": len(df) / seconds,
            "votes": float((L != ABSTAIN).sum()), "spam_votes": float((L == SPAM).sum()),
            "pandas": pd.__version__, "pyarrow": getattr(pyarrow, "__version__", "none")}
