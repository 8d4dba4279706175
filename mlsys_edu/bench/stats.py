"""Statistics of paired timings.

With samples taken in alternating pairs ``(ours_i, other_i)``, the ratio of pair ``i`` is
``r_i = ours_i / other_i`` and the reported ratio is ``median_i(r_i)``: a slow moment of the
machine hits both members of a pair, so pairing cancels drift that separate medians keep.
The speed-up is ``median_i(other_i / ours_i)`` (ours is that many times faster).
"""

from __future__ import annotations

import statistics
from typing import Sequence


def summary(samples_s: Sequence[float]) -> dict[str, float]:
    """``{"median", "min", "max"}`` of a non-empty list of seconds."""
    if not samples_s:
        raise ValueError("summary of no samples")
    return {"median": float(statistics.median(samples_s)),
            "min": float(min(samples_s)), "max": float(max(samples_s))}


def pair_ratios(ours_s: Sequence[float], other_s: Sequence[float]) -> list[float]:
    """``[ours_i / other_i]`` for each pair; the lists must have equal, non-zero length."""
    if len(ours_s) != len(other_s) or not ours_s:
        raise ValueError(f"need equal non-empty sample lists, got {len(ours_s)} and {len(other_s)}")
    if any(o <= 0 for o in other_s) or any(o <= 0 for o in ours_s):
        raise ValueError("timings must be positive to form ratios")
    return [float(a) / float(b) for a, b in zip(ours_s, other_s)]


def paired_comparison(ours_s: Sequence[float], other_s: Sequence[float]) -> dict[str, float]:
    """Median pairwise ratio ours/other, and the speed-up other/ours (median of pair inverses)."""
    ratios = pair_ratios(ours_s, other_s)
    return {"ratio": float(statistics.median(ratios)),
            "ratio_min": min(ratios), "ratio_max": max(ratios),
            "speedup": float(statistics.median([1.0 / r for r in ratios]))}
