"""Weak labels for the spam filter, ready-made: pattern LFs and a simple label model.

Labs after lab 01 need the spam filter's weak supervision as *given* plumbing (lab 02 runs it in
a pipeline, lab 03 registers the models it yields, lab 05 watches its LFs drift, lab 06 uses the
LFs as supervision sources). What lab 01 asks students to write (keyword and regex LF factories,
the applier, majority vote, the Dawid–Skene label model) is deliberately *not* here: these are
simpler, differently shaped tools, so that nothing here answers one of lab 01's exercises.

* :class:`PatternLF` is one LF as data: a regular expression and the label it votes.
* :data:`SPAM_PATTERN_LFS` are the spam filter's LFs in that form.
* :func:`label_matrix` applies pattern LFs to texts, one ``re.search`` per text and LF.
* :class:`OneCoinModel` combines votes with one accuracy per LF (the "one-coin" model):
  supervised from a few gold labels, or from agreement with the other LFs without any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mlsys_edu.labkit.label_matrix import ABSTAIN, validate_label_matrix

HAM, SPAM = 0, 1


@dataclass(frozen=True)
class PatternLF:
    """An LF as data: vote ``label`` where ``pattern`` matches (case-insensitive), else abstain."""

    name: str
    pattern: str
    label: int
    compiled: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern, re.IGNORECASE)
        except re.error as err:
            raise ValueError(f"LF {self.name!r}: {self.pattern!r} is not a valid regular "
                             f"expression ({err})") from None
        object.__setattr__(self, "compiled", compiled)

    def votes(self, texts: Sequence[str]) -> np.ndarray:
        """One vote per text (int8): ``label`` or -1. A missing text (None, NaN) abstains."""
        search, label = self.compiled.search, self.label
        return np.fromiter((label if isinstance(t, str) and search(t) else ABSTAIN
                            for t in texts), dtype=np.int8, count=len(texts))


#: The spam filter's LFs as patterns (lab 01 builds the same hypotheses with its own factories).
SPAM_PATTERN_LFS: tuple[PatternLF, ...] = (
    PatternLF("my", r"\bmy\b", SPAM),
    PatternLF("subscribe", r"subscri", SPAM),
    PatternLF("please", r"\bplease\b|\bplz\b", SPAM),
    PatternLF("song", r"\bsong\b", HAM),
    PatternLF("check_out", r"check.*out", SPAM),
    PatternLF("link", r"https?://|www\.|watch\?v=|\b\w+\.(?:com|net|org|ly|nl)\b", SPAM),
    PatternLF("money", r"\b(?:money|earn|free|cash|\$\d)", SPAM),
    PatternLF("long_number", r"\d{5}", SPAM),
    PatternLF("short_comment", r"^\W*(?:[\w']+\W*){1,5}$", HAM),
    PatternLF("love", r"\blove\b|\bbest\b|\bawesome\b", HAM),
)


def label_matrix(texts: Sequence[str], lfs: Sequence[PatternLF] = SPAM_PATTERN_LFS) -> np.ndarray:
    """The (n, m) int8 matrix of ``lfs``' votes on ``texts`` (-1 = abstain)."""
    texts = list(texts)
    if not lfs:
        raise ValueError("label_matrix needs at least one LF")
    L = np.empty((len(texts), len(lfs)), dtype=np.int8)
    for j, lf in enumerate(lfs):
        L[:, j] = lf.votes(texts)
    return L


class OneCoinModel:
    """Combine LF votes, trusting LF ``j`` with one accuracy ``a_j``.

    The model: the true label has prior ``pi``; LF ``j`` votes on a point independently of the
    label, and a vote is right with probability ``a_j``, otherwise one of the other ``k - 1``
    classes uniformly. Bayes' rule then gives, over the LFs that voted on point ``i``,

        log P(Y_i = y | L_i) = log pi_y + sum_j [L_ij = y] * log(a_j (k - 1) / (1 - a_j)) + c_i.

    ``fit_accuracies(L, y)`` estimates ``a_j`` from gold labels (smoothed: (right + 1) /
    (votes + 2)) and ``pi`` from ``y``; ``fit_accuracies(L)`` without labels estimates ``a_j``
    as LF j's agreement with the majority of the *other* LFs where both vote (a rough,
    label-free heuristic) and keeps ``pi`` uniform unless ``class_balance`` is given.
    """

    def __init__(self, cardinality: int = 2, min_accuracy: float = 0.05,
                 max_accuracy: float = 0.95) -> None:
        if cardinality < 2:
            raise ValueError(f"cardinality must be at least 2, got {cardinality}")
        self.cardinality, self.min_accuracy, self.max_accuracy = (
            cardinality, min_accuracy, max_accuracy)

    def fit_accuracies(self, L: np.ndarray, y: np.ndarray | None = None,
            class_balance: Sequence[float] | None = None) -> "OneCoinModel":
        """Estimate ``accuracies_`` (m,) and ``class_balance_`` (k,); see the class docstring."""
        k = self.cardinality
        L = validate_label_matrix(L, k)
        voted = L != ABSTAIN
        if y is not None:
            y = np.asarray(y)
            if y.shape != (L.shape[0],):
                raise ValueError(f"y has shape {y.shape}; expected ({L.shape[0]},), one gold "
                                 "label per row of L")
            right, counted = (voted & (L == y[:, None])).sum(axis=0), voted.sum(axis=0)
            balance = np.bincount(y, minlength=k) + 1.0
        else:
            right, counted = self._agreements(L)
            balance = np.ones(k)
        accuracies = (right + 1.0) / (counted + 2.0)
        self.accuracies_ = np.clip(accuracies, self.min_accuracy, self.max_accuracy)
        if class_balance is not None:
            balance = np.asarray(class_balance, dtype=float)
            if balance.shape != (k,) or (balance <= 0).any():
                raise ValueError(f"class_balance must be {k} positive numbers, got {balance}")
        self.class_balance_ = balance / balance.sum()
        return self

    def _agreements(self, L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per LF: how often it agrees with the plurality of the *other* LFs (a tie shares
        the credit), and on how many of its votes another LF voted too."""
        k = self.cardinality
        onehot = np.stack([(L == c) for c in range(k)], axis=2).astype(np.int32)  # (n, m, k)
        others = onehot.sum(axis=1, keepdims=True) - onehot  # (n, m, k): the other LFs' votes
        top = others.max(axis=2, keepdims=True)
        winners = (others == top) & (top > 0)
        share = winners / np.maximum(winners.sum(axis=2, keepdims=True), 1)
        agree = (share * onehot).sum(axis=(0, 2))
        counted = ((L != ABSTAIN) & (top[:, :, 0] > 0)).sum(axis=0)
        return agree, counted

    def predict_proba(self, L: np.ndarray) -> np.ndarray:
        """``P(Y = y | L_i)`` for every row, shape (n, k)."""
        if not hasattr(self, "accuracies_"):
            raise RuntimeError("call fit_accuracies(L) (or with y) before predict_proba(L)")
        k = self.cardinality
        L = validate_label_matrix(L, k)
        if L.shape[1] != len(self.accuracies_):
            raise ValueError(f"L has {L.shape[1]} LFs; the model was fitted with "
                             f"{len(self.accuracies_)}")
        a = self.accuracies_
        weights = np.log(a * (k - 1) / (1 - a))  # (m,): what a vote for y adds to y's log-odds
        scores = np.log(self.class_balance_) + np.stack(
            [(L == c) @ weights for c in range(k)], axis=1)  # (n, k)
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, L: np.ndarray) -> np.ndarray:
        """The most probable label per row."""
        return np.argmax(self.predict_proba(L), axis=1)
