"""Labeling functions: named heuristics that vote a class or abstain (-1) on a data point."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_edu.labkit.label_matrix import ABSTAIN


@dataclass(frozen=True)
class LabelingFunction:
    """A named heuristic: ``f(row) -> label`` and an optional ``vectorized(df) -> labels``.

    ``row`` is a ``pd.Series`` or a named tuple (``df.itertuples``) with the data's columns
    as attributes; ``vectorized`` labels a whole DataFrame at once and must agree with ``f``.
    """

    name: str
    f: Callable[[object], int]
    vectorized: Callable[[pd.DataFrame], np.ndarray] | None = None

    def __call__(self, row: object) -> int:
        return self.f(row)


def heuristic_lf(name: str, condition: Callable, label: int) -> LabelingFunction:
    """An LF voting ``label`` where ``condition`` holds, for a condition written with
    operators that work on a row's values and on a DataFrame's columns alike
    (``lambda x: x.n_words <= 5``)."""
    return LabelingFunction(name, lambda row: label if condition(row) else ABSTAIN,
                            lambda df: np.where(condition(df), label, ABSTAIN))
