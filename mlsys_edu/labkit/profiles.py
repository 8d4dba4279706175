"""Plumbing for mergeable data profiles (lab 05): stable hashes, frequent items, map-reduce.

Lab 05 asks students to write the quantile sketch (KLL) and the distinct-count sketch
(HyperLogLog); these are the pieces around them that the lab does not teach:

* :class:`CompactorStack` and :class:`Registers` hold those sketches' state (levels and their
  capacities; registers), so the lab's classes only add the algorithms;
* :func:`hash64` gives every value a 64-bit hash that is the same in every process, run and
  pandas version (Python's ``hash`` of a string is salted per process, useless for sketches
  that are merged across machines);
* :class:`FrequentItems` is the Misra–Gries summary of the most frequent values, mergeable
  (Agarwal et al., "Mergeable Summaries", PODS 2012);
* :class:`ColumnProfile` combines counts, nulls, invalid values, frequent items and the lab's
  own sketches into one mergeable summary of a column; :func:`profile_frame` and
  :func:`merge_profiles` do that for every column of a frame;
* :func:`tree_reduce` and :func:`profile_partitions` profile a dataset partition by partition
  and merge the partial profiles pairwise: locally, or on Dask when a Dask collection is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def hash64(values: Iterable[object] | np.ndarray | pd.Series) -> np.ndarray:
    """A stable uint64 hash per value: the same in every process, run and pandas version.

    Numeric arrays are hashed by their float64 value (so ``1`` and ``1.0`` agree), anything
    else by each value's ``str``. pandas' ``hash_array`` (SipHash, fixed key) does the work in C.
    """
    array = (values.to_numpy() if isinstance(values, pd.Series) else np.asarray(values)).ravel()
    if array.dtype.kind in "biuf":
        return pd.util.hash_array(array.astype(np.float64)).astype(np.uint64)
    return pd.util.hash_array(array.astype(str).astype(object), categorize=False).astype(np.uint64)


class FrequentItems:
    """The Misra–Gries summary: at most ``capacity`` counters, mergeable.

    After ``n`` values, every value's true count ``f`` satisfies
    ``estimate <= f <= estimate + error`` with ``error <= n / (capacity + 1)`` (a value not
    kept has estimate 0), so every value more frequent than ``n / (capacity + 1)`` is kept. ``add`` takes a batch; ``combine``
    adds the counters and subtracts the (capacity+1)-th largest, which keeps the same bound for
    the union (Agarwal et al., 2012).
    """

    def __init__(self, capacity: int = 32) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.counts: dict[object, int] = {}
        self.n = 0
        self.error = 0  # the most any count may be under-estimated by

    def _prune(self, counts: dict[object, int]) -> None:
        if len(counts) > self.capacity:
            cut = sorted(counts.values(), reverse=True)[self.capacity]
            counts = {v: c - cut for v, c in counts.items() if c > cut}
            self.error += cut
        self.counts = counts

    def add(self, values: Iterable[object]) -> "FrequentItems":
        """Count a batch of values (nulls count as the value ``None``).

        The batch's exact counts are cut to their own Misra–Gries summary first (subtract the
        (capacity+1)-th largest count), so a batch of a million distinct values costs one
        ``value_counts``, not a million dictionary updates.
        """
        series = pd.Series(values if isinstance(values, (pd.Series, np.ndarray))
                           else list(values), dtype=object)
        batch = series.where(series.notna(), None).value_counts(dropna=False)
        self.n += len(series)
        if len(batch) > self.capacity:
            cut = int(batch.iloc[self.capacity])
            batch = batch[batch > cut] - cut
            self.error += cut
        counts = dict(self.counts)
        for value, count in zip(batch.index, batch.to_numpy()):
            counts[value] = counts.get(value, 0) + int(count)
        self._prune(counts)
        return self

    def combine(self, other: "FrequentItems") -> "FrequentItems":
        """A new summary of both streams (neither input changes)."""
        out = FrequentItems(max(self.capacity, other.capacity))
        counts = dict(self.counts)
        for value, count in other.counts.items():
            counts[value] = counts.get(value, 0) + count
        out.n, out.error = self.n + other.n, self.error + other.error
        out._prune(counts)
        return out

    def top(self, n: int = 10) -> list[tuple[object, int]]:
        """The ``n`` values with the largest counts (lower bounds), largest first."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]

    def __repr__(self) -> str:
        return f"FrequentItems(n={self.n}, top={self.top(3)}, error<={self.error})"


class CompactorStack:
    """The state of a KLL sketch (the lab writes its algorithm): ``levels[h]`` holds items of
    weight ``2**h``, ``n`` values were added, ``capacity(h)`` is level h's budget of
    ``max(2, ceil(k * (2/3) ** (H - 1 - h)))`` items of ``H`` levels, ``retained`` the items held.
    """

    def __init__(self, k: int = 200, seed: int = 0) -> None:
        if k < 8:
            raise ValueError(f"k must be at least 8, got {k}")
        self.k, self.seed, self.n = k, seed, 0
        self.levels: list[np.ndarray] = [np.empty(0)]
        self._rng = np.random.default_rng(seed)

    def capacity(self, h: int) -> int:
        return max(2, math.ceil(self.k * (2 / 3) ** (len(self.levels) - 1 - h)))

    @property
    def retained(self) -> int:
        """Items held in all levels: the sketch's memory, in floats."""
        return sum(len(level) for level in self.levels)


class Registers:
    """The state of a HyperLogLog sketch (the lab writes its algorithm): ``2**p`` one-byte
    ``registers``; ``add(values)`` hashes values with :func:`hash64` into ``add_hashes``."""

    def __init__(self, p: int = 12) -> None:
        if not 4 <= p <= 16:
            raise ValueError(f"p must be between 4 and 16, got {p}")
        self.p, self.registers = p, np.zeros(1 << p, dtype=np.uint8)

    def add(self, values: object) -> Any:
        return self.add_hashes(hash64(values))  # the subclass's own method


NUMERIC, CATEGORICAL = "numeric", "categorical"


@dataclass
class ColumnProfile:
    """A mergeable summary of one column.

    ``count`` rows (nulls included), ``nulls``, ``invalid`` (values of a numeric column that do
    not parse as numbers: a type change upstream shows here instead of vanishing),
    ``frequent`` values (:class:`FrequentItems`), ``distinct`` (a distinct-count sketch with
    ``add(values)``, ``merge`` and ``estimate()``, e.g. the lab's HyperLogLog) and, for a
    numeric column, ``quantiles`` (a quantile sketch with ``update(array)`` and ``merge``,
    e.g. the lab's KLL sketch) over the non-null numbers.
    """

    kind: str
    distinct: Any
    quantiles: Any = None
    count: int = 0
    nulls: int = 0
    invalid: int = 0
    frequent: FrequentItems = field(default_factory=FrequentItems)

    def __post_init__(self) -> None:
        if self.kind not in (NUMERIC, CATEGORICAL):
            raise ValueError(f"kind must be {NUMERIC!r} or {CATEGORICAL!r}, got {self.kind!r}")
        if self.kind == NUMERIC and self.quantiles is None:
            raise ValueError("a numeric column's profile needs a quantile sketch")

    def add(self, values: object) -> "ColumnProfile":
        """Add one batch of values; returns ``self``."""
        series = pd.Series(values).reset_index(drop=True)
        null = series.isna().to_numpy()
        present = series[~null]
        self.count, self.nulls = self.count + len(series), self.nulls + int(null.sum())
        if self.kind == NUMERIC:
            numbers = pd.to_numeric(present, errors="coerce")
            self.invalid += int(numbers.isna().sum())
            present = numbers.dropna().astype(float)
            self.quantiles.update(present.to_numpy())
        self.frequent.add(present)
        self.distinct.add(present.to_numpy())
        return self

    def combine(self, other: "ColumnProfile") -> "ColumnProfile":
        """A new profile of both; neither input changes."""
        if other.kind != self.kind:
            raise ValueError(f"cannot merge a {self.kind} profile with a {other.kind} one: "
                             "did the column's type change between batches?")
        quantiles = self.quantiles.merge(other.quantiles) if self.kind == NUMERIC else None
        return ColumnProfile(self.kind, self.distinct.merge(other.distinct), quantiles,
                             self.count + other.count, self.nulls + other.nulls,
                             self.invalid + other.invalid, self.frequent.combine(other.frequent))


def profile_frame(frame: pd.DataFrame, new_profile: Callable[[str], ColumnProfile],
                  kinds: dict[str, str]) -> dict[str, ColumnProfile]:
    """``{column: new_profile(kind).add(values)}`` for the columns named in ``kinds``."""
    return {c: new_profile(kinds[c]).add(frame[c]) for c in frame.columns if c in kinds}


def merge_profiles(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Column-wise ``a[c].combine(b[c])``; a column only one side has is kept as it is."""
    return {c: a[c].combine(b[c]) if c in a and c in b else (a[c] if c in a else b[c])
            for c in dict.fromkeys([*a, *b])}


def tree_reduce(items: Sequence[T], merge: Callable[[T, T], T]) -> T:
    """Merge ``items`` pairwise, level by level (depth log2 n), like a distributed reduce."""
    level = list(items)
    if not level:
        raise ValueError("nothing to reduce: no partitions (is the dataset empty?)")
    while len(level) > 1:
        pairs = [merge(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = pairs + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def profile_partitions(frame: Any, profile: Callable[[pd.DataFrame], T],
                       merge: Callable[[T, T], T]) -> T:
    """Profile each partition with ``profile`` and merge the results with ``merge``.

    ``frame`` is a Dask DataFrame (each partition is profiled where it lives, on whatever
    scheduler is active: threads, or a ``distributed`` cluster when a ``Client`` exists), or
    any iterable of pandas DataFrames (profiled here, one at a time: constant memory).
    """
    if hasattr(frame, "to_delayed") and hasattr(frame, "npartitions"):
        import dask

        parts = [dask.delayed(profile)(part) for part in frame.to_delayed()]
        while len(parts) > 1:  # the same pairwise tree, as a task graph
            pairs = [dask.delayed(merge)(parts[i], parts[i + 1])
                     for i in range(0, len(parts) - 1, 2)]
            parts = pairs + ([parts[-1]] if len(parts) % 2 else [])
        return parts[0].compute()
    return tree_reduce([profile(part) for part in frame], merge)
