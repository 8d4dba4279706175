"""Helpers for lab questions: random inputs drawn from known models.

Test files are executed from their source text (not imported from their folder), so helpers
they share live here and are imported as ``from mlsys_edu.lab.testing import ...``.
"""

from __future__ import annotations

import numpy as np


def random_weak_labels(
    rng: np.random.Generator,
    n: int,
    m: int,
    k: int = 2,
    *,
    accuracies: np.ndarray | None = None,
    propensities: np.ndarray | None = None,
    class_balance: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A label matrix and its true labels, drawn from the conditionally independent model.

    ``y_i ~ Categorical(class_balance)``; LF ``j`` votes on a point with probability
    ``propensities[j]``, independently of everything else; a vote is ``y_i`` with probability
    ``accuracies[j]`` and otherwise one of the other ``k - 1`` classes uniformly. Defaults:
    accuracies uniform in [0.6, 0.9], propensities in [0.2, 0.7], balance uniform over classes.
    Returns ``(L, y)`` with ``L`` int8 of shape (n, m), -1 = abstain.
    """
    if n < 0 or m < 1 or k < 2:
        raise ValueError(f"need n >= 0, m >= 1, k >= 2; got n={n}, m={m}, k={k}")
    acc = rng.uniform(0.6, 0.9, m) if accuracies is None else np.broadcast_to(accuracies, (m,))
    prop = rng.uniform(0.2, 0.7, m) if propensities is None else np.broadcast_to(
        propensities, (m,))
    balance = np.full(k, 1 / k) if class_balance is None else np.asarray(class_balance, float)
    y = rng.choice(k, size=n, p=balance / balance.sum())
    # A wrong vote is y + offset (mod k) with offset uniform in 1..k-1.
    wrong = (y[:, None] + rng.integers(1, k, size=(n, m))) % k
    votes = np.where(rng.random((n, m)) < acc, y[:, None], wrong)
    L = np.where(rng.random((n, m)) < prop, votes, -1).astype(np.int8)
    return L, y


def random_label_matrix(rng: np.random.Generator, n: int, m: int, k: int = 2,
                        **model: np.ndarray | None) -> np.ndarray:
    """Just the label matrix of :func:`random_weak_labels`."""
    return random_weak_labels(rng, n, m, k, **model)[0]


def assert_names_position(message: object, value: object, row: int, column: int) -> None:
    """Assert that an error message names a bad ``value`` and says "row R" and "column C"."""
    text = str(message).lower()
    wanted = [str(value).lower(), f"row {row}", f"column {column}"]
    missing = [w for w in wanted if w not in text]
    assert not missing, (f"the error {str(message)!r} should name the bad value {value!r} and "
                         f"its position (row {row}, column {column}); "
                         "validate_label_matrix does that for you")
