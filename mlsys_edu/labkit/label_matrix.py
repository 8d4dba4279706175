"""Label matrices: checking them, and finding their distinct rows fast.

A label matrix ``L`` (n points x m labeling functions) holds ``L[i, j]``, LF j's vote on
point i: a class in 0..k-1, or -1 when the LF abstains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ABSTAIN = -1


def validate_label_matrix(L: np.ndarray, cardinality: int | None = None) -> np.ndarray:
    """Check that ``L`` is a non-empty 2-D integer matrix with values in -1..k-1.

    Raises ``ValueError`` naming the first bad value and its (row, column).
    """
    L = np.asarray(L)
    if L.ndim != 2 or L.size == 0:
        raise ValueError(f"a label matrix must be 2-D and non-empty, got shape {L.shape}")
    if L.dtype.kind == "f" and np.isnan(L).any():
        i, j = np.argwhere(np.isnan(L))[0]
        raise ValueError(f"label matrix holds NaN at row {i}, column {j}; use -1 to abstain")
    if L.dtype.kind not in "iu":
        raise ValueError(f"a label matrix must hold integers, got dtype {L.dtype}; "
                         "convert it with L.astype(np.int8) once its values are integral")
    high = (cardinality - 1) if cardinality is not None else np.iinfo(np.int64).max
    bad = (L < -1) | (L > high)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        allowed = f"-1..{high}" if cardinality is not None else "-1 and above"
        raise ValueError(f"label matrix value {L[i, j]} at row {i}, column {j} is outside "
                         f"{allowed} (-1 = abstain)")
    return L


def unique_rows(L: np.ndarray, cardinality: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rows of ``L``, the index of each row's distinct row, and their counts.

    ``rows[inverse] == L`` and ``counts[u]`` is how many rows of ``L`` equal ``rows[u]``.
    Each row becomes one base-(k+1) integer, and those are hashed: O(n m), no sort.
    """
    L = validate_label_matrix(L, cardinality)
    base, (n, m) = cardinality + 1, L.shape
    if m * np.log(base) >= np.log(2.0**53):  # codes would not be exact: sort rows instead
        rows, inverse, counts = np.unique(L, axis=0, return_inverse=True, return_counts=True)
        return rows, inverse.reshape(-1), counts
    # code_i = sum_j (L_ij + 1) base^j: exact in float64 below 2^53, and a matrix-vector
    # product runs in BLAS; chunks of 32k rows keep the float copy in cache.
    weights, codes = float(base) ** np.arange(m), np.empty(n)
    for start in range(0, n, 1 << 15):
        np.matmul(L[start:start + (1 << 15)], weights, out=codes[start:start + (1 << 15)])
    inverse, _ = pd.factorize((codes + weights.sum()).astype(np.int64))  # hashing beats sorting
    first = np.empty(inverse.max() + 1, dtype=np.int64)
    first[inverse[::-1]] = np.arange(n)[::-1]  # each distinct row's first occurrence
    return L[first], inverse, np.bincount(inverse, minlength=len(first))


def fast_strings(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text columns as Arrow-backed strings (when pyarrow is installed), so
    that ``Series.str`` methods run in C++ instead of a Python loop: 10-30x faster."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return df
    text = [c for c in df.columns if pd.api.types.infer_dtype(df[c], skipna=True) == "string"]
    return df.astype({c: "string[pyarrow]" for c in text}) if text else df


def vote_counts(L: np.ndarray, cardinality: int) -> np.ndarray:
    """``counts[i, y]`` = number of LFs voting ``y`` on point ``i``, shape (n, k).

    One ``np.bincount`` over the flat index ``i * k + L[i, j]`` of every non-abstain vote.
    """
    L = validate_label_matrix(L, cardinality)
    rows = np.broadcast_to(np.arange(L.shape[0])[:, None], L.shape)
    voted = L != ABSTAIN
    flat = rows[voted] * cardinality + L[voted]
    return np.bincount(flat, minlength=L.shape[0] * cardinality).reshape(-1, cardinality)
