"""Reliability diagrams: are predicted probabilities calibrated?"""

from __future__ import annotations

import numpy as np


def reliability(p: np.ndarray, y: np.ndarray, n_bins: int = 5) -> tuple[np.ndarray, ...]:
    """Per non-empty bin of the predicted probability ``p`` of the positive class: the mean
    of ``p``, the observed rate of ``y == 1`` and the bin's size.

    Bins split [0, 1] into ``n_bins`` equal widths; ``p == 1`` falls in the last one. A
    calibrated model has mean ``p`` equal to the observed rate in every bin.
    """
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"p {p.shape} and y {y.shape} must be 1-D and of the same length")
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    size = np.bincount(bins, minlength=n_bins)
    mean_p = np.bincount(bins, p, n_bins) / np.maximum(size, 1)
    rate = np.bincount(bins, y, n_bins) / np.maximum(size, 1)
    return mean_p[size > 0], rate[size > 0], size[size > 0]


def plot_reliability(probabilities: dict[str, np.ndarray], y: np.ndarray, n_bins: int = 5,
                     ax: object = None) -> object:
    """A reliability diagram: one line per named model's P(y = 1), against the diagonal
    of perfect calibration. Returns the matplotlib axes."""
    import matplotlib.pyplot as plt  # only here: the rest of the module needs no plotting

    if ax is None:
        ax = plt.subplots(figsize=(4.5, 4.5))[1]
    # a marker and a line style per model as well as a colour: legible without colour vision
    styles = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":")]
    for i, (name, p) in enumerate(probabilities.items()):
        mean_p, rate, _ = reliability(p, y, n_bins)
        marker, line = styles[i % len(styles)]
        ax.plot(mean_p, rate, marker=marker, linestyle=line, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=(0, (1, 3)), linewidth=1, label="calibrated")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed rate")
    ax.legend()
    return ax
