# %% [markdown]
# # Lab 02: Data pipelines
#
# In a product the training data comes out of a **pipeline** (exports → cleaning → features →
# LFs → label model → training set) that many people change and that sees new data weekly.
# Its failures are silent: a join drops rows, an exporter changes a unit, and the model just
# gets worse (Sculley et al., NeurIPS 2015). You build a **content-addressed pipeline** that
# skips what has not changed and records runs, artifacts and lineage in SQLite (as DVC does
# for files), **row-level lineage** (which DVC, OpenLineage and TFX lack), **data validation**
# with an inferred, editable schema and training/serving skew (TFDV, Breck et al., SysML
# 2019; Deequ, Schelter et al., VLDB 2018), slices and error attribution; then **hunt three
# bugs** planted in the spam team's pipeline (`mlsys_edu.labkit` holds the given plumbing).

# %% tags=["export"]
import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mlsys_edu.data.youtube_spam import raw_youtube_spam
from mlsys_edu.labkit import spam_pipeline as sp
from mlsys_edu.labkit.artifacts import canonical_bytes, logical_type, sha256_hex
from mlsys_edu.labkit.pipelines import (Anomaly, Constraint, DataError, Lineage, PipelineBase,
                                        Source, Step, StoreBase, TracedBase, anomaly_table,
                                        quantile_histograms, ranges, read_csv_source,
                                        skew_report, union_lineage)
from mlsys_edu.labkit.text_search import search_texts
from mlsys_edu.labkit.weak_labels import OneCoinModel

# %% [markdown]
# ## Row-level lineage
#
# A step's lineage is a **relation**: edges $(r, i)$, "output row $r$ was made from input row $i$",
# a $(2, E)$ integer array sorted by $r$. A **map** has $r = i$; a **filter** keeping rows $k_0 <
# k_1 < \dots$ has $(r, k_r)$; a **join** one edge per side; an **aggregation** links group $g$ to
# each of its rows. Operators **compose**: with $R$ from new to old rows and $S$ from old to input
# rows, $S \circ R = \{(n, i) : (n, o) \in R, (o, i) \in S\}$ (`compose`, given, via
# `np.searchsorted`). A `Traced` is a frame plus its relation to each input of its step.
#
# ## Exercise 2.1: lineage-aware filter, join and aggregate
#
# Write `Traced.filter(mask)`; `Traced.join(other, on, how="inner")` with `pd.merge`'s
# semantics (hint: merge frames carrying each row's position in a helper column), or with
# `on=None` row $i$ beside row $i$ (same lengths, distinct columns); `Traced.aggregate(by,
# **aggregations)` = `frame.groupby(by, sort=True, dropna=True).agg(**aggregations)
# .reset_index()`, a group's row coming from all its rows (`ngroup()` numbers them; a missing
# key is in no group). Build each with `self._derive(frame, link)`, link = (new row, our row).

# %% tags=["export"]
class Traced(TracedBase):
    """A frame and its lineage (given in ``TracedBase``: ``source``, ``map``, ``concat``)."""

    def filter(self, mask: np.ndarray) -> "Traced":
        """The rows where ``mask`` is True."""
        # BEGIN SOLUTION 2.1
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"mask has shape {mask.shape}; expected ({len(self)},), one "
                             "boolean per row")
        kept = np.flatnonzero(mask)
        return self._derive(self.frame.iloc[kept], np.stack([np.arange(len(kept)), kept]))
        # END SOLUTION

    def join(self, other: "Traced", on: str | list[str] | None, how: str = "inner") -> "Traced":
        """``pd.merge(self.frame, other.frame, on=on, how=how)``; ``on=None``: side by side."""
        # BEGIN SOLUTION 2.1
        if on is None:
            if len(other) != len(self) or set(self.frame.columns) & set(other.frame.columns):
                raise ValueError("on=None puts two frames side by side: they need the same "
                                 "length and distinct column names")
            frame, left = pd.concat([self.frame, other.frame], axis=1), np.arange(len(self))
            right = left  # row i beside row i
        else:
            frame = self.frame.assign(_left_row=np.arange(len(self))).merge(
                other.frame.assign(_right_row=np.arange(len(other))), on=on, how=how)
            left = frame.pop("_left_row").fillna(-1).to_numpy(dtype=np.int64)
            right = frame.pop("_right_row").fillna(-1).to_numpy(dtype=np.int64)
        rows = np.arange(len(frame))
        mine = self._derive(frame, np.stack([rows[left >= 0], left[left >= 0]]))
        theirs = other._derive(frame, np.stack([rows[right >= 0], right[right >= 0]]))
        return Traced(frame, union_lineage(mine.lineage, theirs.lineage))
        # END SOLUTION

    def aggregate(self, by: str | list[str], **aggregations: tuple[str, str]) -> "Traced":
        """One row per group of ``by``; each group's row comes from all of its rows."""
        # BEGIN SOLUTION 2.1
        grouped = self.frame.groupby(by, sort=True, dropna=True)
        frame = grouped.agg(**aggregations).reset_index()
        group = grouped.ngroup().to_numpy(dtype=float, na_value=np.nan)
        member = np.flatnonzero(~np.isnan(group) & (group >= 0))
        return self._derive(frame, np.stack([group[member].astype(np.int64), member]))
        # END SOLUTION


# %%
check("q1")

# %% [markdown]
# ## Exercise 2.2: a content-addressed store, and cache keys
#
# An artifact is stored under the hash of its bytes, `canonical_bytes(frame)` (given: one
# Arrow IPC stream, a fixed type per column, no pandas metadata; equal on pandas 2.2 and 3,
# pyarrow 18 and 26). A step is named by what determines its output (session 03):
# $\text{key} = \text{SHA-256}(\text{code} \,\|\, \text{params} \,\|\, h(\text{input}_1)
# \,\|\, \dots \,\|\, h(\text{input}_k))$, the code being `code_fingerprint(func)` (given).
# Write `ArtifactStore.put(data)`: store the bytes at `self.path(digest)` of their SHA-256 hex
# digest and return it, **atomically** (no reader or crash sees half a file): write a
# temporary file in the same folder, `os.replace` it into place, and remove it if anything
# fails. Write `step_key(fingerprint, params, input_hashes)`: the SHA-256 hex of an
# *unambiguous* encoding (`("ab", "c")` and `("a", "bc")` differ; `params`' key order does not
# matter, the inputs' order does).

# %% tags=["export"]
class ArtifactStore(StoreBase):
    """Content-addressed files (``StoreBase``, given: ``path``, ``has``, ``read``, ``listing``)."""

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically; return its SHA-256 hex digest."""
        # BEGIN SOLUTION 2.2
        final = self.path(digest := sha256_hex(data))
        if final.is_file():
            return digest  # content-addressed: the same bytes are already there
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(temporary, final)  # one rename: the file appears whole or not at all
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest
        # END SOLUTION


def step_key(fingerprint: str, params: dict, input_hashes: Sequence[str]) -> str:
    """SHA-256 hex of (code fingerprint, params, input hashes), unambiguously encoded."""
    # BEGIN SOLUTION 2.2
    return sha256_hex(json.dumps({"code": fingerprint, "params": params,
                                  "inputs": list(input_hashes)}, sort_keys=True).encode())
    # END SOLUTION


# %%
check("q2")

# %% [markdown]
# ## Exercise 2.3: the pipeline
#
# A `Pipeline` holds `Source`s (a CSV file or a frame) and `Step`s (a function, its inputs, JSON
# params, an optional schema), inputs first, recorded in SQLite (`RECORD_SQL`). Write `reproduce()`:
# `run = self._start_run()`; per node: `skipped` if an input has no artifact in this run; else
# `cached` if `self._cached(self._key(node, input_hashes))` (given) finds one; else `_store`:
# `self._compute(node, input_hashes)` (given: runs the step, checks its schema), `put` the canonical
# bytes of the output and of each lineage relation (columns `out`, `in`), and record the output
# artifact, the lineage rows and the `steps` row (`ran`) in **one transaction** (`with self._db() as
# db, db:`). An exception: `failed`, error `"<Type>: <message>"`, a `DataError`'s anomalies as
# `json.dumps(anomaly_table(...).to_dict("records"))`. Other statuses get their row from
# `self._record(...)`; return `step`, `status`, `rows`, `seconds`, `error` per node, after
# `self._finish_run(run, ok)`. A failure leaves no artifact, `ran` row or temporary file.

# %% tags=["export"]
class Pipeline(PipelineBase):
    """Steps with a content-addressed cache, recorded in SQLite (``PipelineBase``, given:
    ``_db``, ``_key``, ``_cached``, ``_compute``, ``_record``, ``output``, ``lineage``)."""

    traced, store_class = Traced, ArtifactStore
    check = staticmethod(lambda frame, schema: validate(frame, schema))
    key = staticmethod(lambda fingerprint, params, inputs: step_key(fingerprint, params, inputs))

    def _store(self, run: int, node: Source | Step, key: str, hashes: dict[str, str]) -> str:
        """Compute the node, store its output and lineage, and record it all at once."""
        # BEGIN SOLUTION 2.3
        start = time.perf_counter()
        out = self._compute(node, [hashes[i] for i in getattr(node, "inputs", ())])
        data = canonical_bytes(out.frame)  # raises on a frame that cannot be stored
        edges = {name: canonical_bytes(pd.DataFrame({"out": e[0], "in": e[1]}))
                 for name, e in out.lineage.items()}
        output = self.store.put(data)
        edge_hashes = {name: self.store.put(b) for name, b in edges.items()}
        with self._db() as db, db:  # one transaction: all of it is recorded, or none
            db.execute("INSERT OR IGNORE INTO artifacts VALUES (?, ?, ?)",
                       (output, len(out.frame), len(data)))
            for name, digest in edge_hashes.items():
                db.execute("INSERT OR REPLACE INTO lineage VALUES (?, ?, ?, ?)",
                           (key, name, hashes[name], digest))
            db.execute("INSERT INTO steps VALUES (?, ?, ?, 'ran', ?, ?, '', '[]')",
                       (run, node.name, key, output, time.perf_counter() - start))
        return output
        # END SOLUTION

    def reproduce(self) -> pd.DataFrame:
        """Run every node, reusing unchanged ones; one report row per node."""
        # BEGIN SOLUTION 2.3
        run, hashes, report = self._start_run(), {}, []
        for node in self.nodes:
            start, key, output, error, anomalies = time.perf_counter(), None, None, "", "[]"
            inputs = getattr(node, "inputs", ())
            try:
                if any(i not in hashes for i in inputs):
                    status, error = "skipped", "an input has no artifact in this run"
                else:
                    key = self._key(node, [hashes[i] for i in inputs])
                    output = self._cached(key)
                    status = "cached" if output else "ran"
                    output = output or self._store(run, node, key, hashes)
            except Exception as err:  # noqa: BLE001 - recorded, and the run goes on
                status, output, error = "failed", None, f"{type(err).__name__}: {err}"
                if isinstance(err, DataError):
                    anomalies = json.dumps(anomaly_table(err.anomalies).to_dict("records"))
            seconds = time.perf_counter() - start
            if status != "ran":  # _store recorded the 'ran' row in its transaction
                self._record(run, node.name, key, status, output, seconds, error, anomalies)
            if output:
                hashes[node.name] = output
            report.append({"step": node.name, "status": status, "rows": self._rows(output),
                           "seconds": seconds, "error": error})
        self._finish_run(run, all(r["status"] in ("ran", "cached") for r in report))
        return pd.DataFrame(report)
        # END SOLUTION


# %%
check("q3")

# %% [markdown]
# ## Exercise 2.4: lineage queries
#
# `Pipeline.lineage()` (given) returns a `Lineage`: `edges[name][input]` in run order, and
# `n_rows`. Write `trace_back(lineage, name, rows)`: `{source: sorted unique rows}` that rows
# `rows` of artifact `name` come from (no empty entries), walking the steps in reverse and
# finding rows' edges with `np.searchsorted` and `ranges` (no full scan); and
# `trace_forward(lineage, name, rows, to)`: the sorted rows of `to` made, directly or not, from
# `rows` of `name` (`None`: all), walking in run order with a boolean mask per artifact; where
# `lineage.dense[a][i]` (one edge per row, in order) either walk is a single gather.

# %% tags=["export"]
def trace_back(lineage: Lineage, name: str, rows: Sequence[int]) -> dict[str, np.ndarray]:
    """The source rows that rows ``rows`` of artifact ``name`` come from, per source."""
    # BEGIN SOLUTION 2.4
    wanted = {name: np.unique(np.asarray(rows, dtype=np.int64))}
    for artifact in reversed(list(lineage.edges)):
        mine = wanted.pop(artifact, None)
        for source, (out, into) in lineage.edges[artifact].items() if mine is not None else ():
            if lineage.dense[artifact][source]:  # out == arange(n): row r's edge is column r
                found = into[mine]
            else:
                found = into[ranges(np.searchsorted(out, mine), np.searchsorted(out, mine, "right"))]
            wanted[source] = np.union1d(wanted.get(source, found[:0]), found)
    return {source: rows for source, rows in wanted.items() if len(rows)}
    # END SOLUTION


def trace_forward(lineage: Lineage, name: str, rows: Sequence[int] | None,
                  to: str) -> np.ndarray:
    """The rows of artifact ``to`` made (directly or not) from ``rows`` of ``name``."""
    # BEGIN SOLUTION 2.4
    masks = {name: np.zeros(lineage.n_rows[name], dtype=bool)}
    masks[name][slice(None) if rows is None else np.asarray(rows, dtype=np.int64)] = True
    for artifact, inputs in lineage.edges.items():
        hit = np.zeros(lineage.n_rows[artifact], dtype=bool)
        for source, (out, into) in inputs.items():
            if source in masks and lineage.dense[artifact][source]:
                hit |= masks[source][into]
            elif source in masks:
                hit[out[masks[source][into]]] = True
        if artifact != name and hit.any():
            masks[artifact] = hit
    return np.flatnonzero(masks.get(to, np.zeros(0, dtype=bool)))
    # END SOLUTION


# %%
check("q4")

# %% [markdown]
# ## Exercise 2.5: schema inference
#
# TFDV *infers* a schema from a reference batch for a person to review. Write
# `infer_schema(reference, max_domain_size=20)`: `Constraint(column, kind, value, severity)`s
# (given), per column in this order: `type` (`logical_type`, given; `error`);
# `max_null_fraction` (observed); `range` for `int`, `float`, `datetime` (`[min, max]` of the
# non-missing values, datetimes `.isoformat()`); `length` for `string` (`[min, max]` of
# `str.len()`); `domain` for `string`, `int`, `bool` with at most `max_domain_size` distinct
# values (sorted plain Python values); all `warning`; and `unique` (value `None`, `error`)
# when the non-missing values are all distinct and more than `max_domain_size`.

# %% tags=["export"]
def infer_schema(reference: pd.DataFrame, max_domain_size: int = 20) -> list[Constraint]:
    """Constraints that the reference batch satisfies, for a person to review."""
    # BEGIN SOLUTION 2.5
    schema = []
    for column in reference.columns:
        series, kind = reference[column], logical_type(reference[column])
        values = series.dropna()
        schema += [Constraint(column, "type", kind),
                   Constraint(column, "max_null_fraction", float(series.isna().mean()), "warning")]
        if kind in ("int", "float", "datetime") and len(values):
            low, high = values.min(), values.max()
            bounds = [x.isoformat() if kind == "datetime" else x.item() for x in (low, high)]
            schema.append(Constraint(column, "range", bounds, "warning"))
        if kind == "string" and len(values):
            n = values.astype(str).str.len()
            schema.append(Constraint(column, "length", [int(n.min()), int(n.max())], "warning"))
        distinct = values.nunique()
        if kind in ("string", "int", "bool") and 0 < distinct <= max_domain_size:
            domain = sorted(v.item() if hasattr(v, "item") else v for v in values.unique())
            schema.append(Constraint(column, "domain", domain, "warning"))
        if distinct == len(values) > max_domain_size:
            schema.append(Constraint(column, "unique", None, "error"))
    return schema
    # END SOLUTION


# %%
check("q5")

# %% [markdown]
# ## Exercise 2.6: validation
#
# Write `validate(batch, schema)`: an `Anomaly(column, kind, severity, message, rows)` (given)
# per broken constraint, `rows` the sorted offending positions, the message saying what was
# expected and found, with an example; a missing column gives one `missing_column` (`error`)
# and nothing else. Missing values offend only `max_null_fraction` (too many: the missing
# rows). `type`: another logical type (all non-missing rows); `range` / `length`: value /
# length outside `[low, high]`; `domain`: not listed; `unique`: every row of a repeated value;
# `regex` / `not_regex`: `search_texts(series, pattern, ignore_case=False)` (given) false /
# true. One vectorised operation per check, and the checks on a thread pool (they are
# independent, and numpy and Arrow release the GIL): keep up with a million rows per second.

# %% tags=["export"]
def offending_rows(series: pd.Series, c: Constraint) -> np.ndarray:
    """Boolean mask of the rows of ``series`` that break constraint ``c``."""
    # BEGIN SOLUTION 2.6
    if c.kind == "type":  # the column's dtype: no row needs a look when it matches
        same = logical_type(series) == c.value
        return np.zeros(len(series), bool) if same else series.notna().to_numpy()
    present = series.notna().to_numpy()
    if c.kind == "max_null_fraction":
        return ~present & ((~present).mean() > c.value + 1e-12)
    if c.kind == "domain":
        return present & ~series.isin(c.value).to_numpy()
    if c.kind == "unique":
        if logical_type(series) == "int" and len(series) and present.all():
            offset = (values := series.to_numpy(dtype=np.int64)) - values.min()
            if offset.max() < 4 * len(values):  # dense ids: count them, O(n), no hashing
                return np.bincount(offset)[offset] > 1
        return present & series.duplicated(keep=False).to_numpy()
    if c.kind in ("regex", "not_regex"):
        hit = search_texts(series.astype(str), c.value, ignore_case=False)  # re, any pandas
        return present & (hit == (c.kind == "not_regex"))
    low, high = c.value
    if c.kind == "length":
        values = series.astype(str).str.len().to_numpy(dtype=float)
    elif logical_type(series) == "datetime":
        values = series.to_numpy(dtype="datetime64[ns]")
        low, high = (pd.Timestamp(v).to_datetime64() for v in c.value)
    else:
        values = series.to_numpy(dtype=float, na_value=np.nan)
    return present & ((values < low) | (values > high))
    # END SOLUTION


def validate(batch: pd.DataFrame, schema: Sequence[Constraint]) -> list[Anomaly]:
    """The anomalies of ``batch`` against ``schema``, with their offending rows."""
    # BEGIN SOLUTION 2.6
    names = dict.fromkeys(c.column for c in schema if c.column not in batch.columns)
    anomalies = [Anomaly(name, "missing_column", "error", f"column {name!r} is missing; found "
                         f"{list(batch.columns)}") for name in names]
    wanted = dict.fromkeys(c.column for c in schema if c.column in batch.columns)
    columns = {n: (batch[n].reset_index(drop=True), logical_type(batch[n])) for n in wanted}
    checks = [c for c in schema if c.column in columns  # mixed objects: only the type check
              and (c.kind == "type" or columns[c.column][1] != "object")]
    with ThreadPoolExecutor() as pool:  # checks are independent; numpy and Arrow free the GIL
        found_rows = pool.map(lambda c: np.flatnonzero(offending_rows(columns[c.column][0], c)),
                              checks)
    for c, rows in zip(checks, found_rows):
        series, found = columns[c.column]  # each column and its type, found once
        if len(rows):
            anomalies.append(Anomaly(c.column, c.kind, c.severity, f"{len(rows)} of {len(series)} "
                                     f"rows break {c.kind} {c.value!r} (found {found}), e.g. row "
                                     f"{rows[0]}: {str(series.iloc[rows[0]])[:60]!r}", rows))
    return anomalies
    # END SOLUTION


# %%
check("q6")

# %% [markdown]
# ## Exercise 2.7: training/serving skew
#
# **Skew** is a train/serving difference made by the system (two code paths for a feature).
# TFDV's distances: for a categorical feature the **$L_\infty$ distance** $\max_v |p(v) -
# q(v)|$ of the value frequencies; for a numeric one the **Jensen–Shannon divergence** of
# histograms, $\mathrm{JS}(p, q) = \frac12 \sum_b p_b \log_2 \frac{p_b}{m_b} + \frac12
# \sum_b q_b \log_2 \frac{q_b}{m_b}$ with $m = \frac12(p + q)$, in $[0, 1]$, on the bins of
# `quantile_histograms(reference, other, bins)` (given). Write `linf_distance(reference,
# other)` and `js_divergence(reference, other, bins=10)`.

# %% tags=["export"]
def linf_distance(reference: Sequence, other: Sequence) -> float:
    """max_v |p(v) - q(v)| between the two samples' value frequencies."""
    # BEGIN SOLUTION 2.7
    p = pd.Series(reference).value_counts(normalize=True)
    q = pd.Series(other).value_counts(normalize=True)
    return float(p.sub(q, fill_value=0.0).abs().max())
    # END SOLUTION


def js_divergence(reference: Sequence, other: Sequence, bins: int = 10) -> float:
    """Jensen-Shannon divergence (base 2) of histograms on the reference's quantile bins."""
    # BEGIN SOLUTION 2.7
    p, q = quantile_histograms(reference, other, bins)
    m = (p + q) / 2
    return sum(0.5 * float(np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0]))) for a in (p, q))
    # END SOLUTION


# %%
check("q7")

# %% [markdown]
# ## Exercise 2.8: slices and error attribution
#
# A **slicing function** marks a subset where a model may fail (Chen et al., NeurIPS 2019):
# here a frame's boolean mask, or a function returning it. Write `slice_report(frame, slices,
# correct)`: per slice, then `"all"`: `slice`, `n`, `errors`, `error_rate`, the 95% **Wilson
# interval** `low`, `high` $= \big(\hat p + \frac{z^2}{2n} \pm z\sqrt{\hat p(1-\hat p)/n +
# z^2/4n^2}\big) / (1 + z^2/n)$ ($z = 1.96$) and `lift` (rate / overall rate); NaN if empty.
# On hand-labelled rows a **label error** (label model ≠ gold) is blamed on the LFs that voted
# wrong there, shared equally. Write `attribute_errors(votes, gold, predicted)`: per votes
# column (index), sorted by `blame` (descending, stable): `votes` (non-abstains), `wrong`,
# `accuracy` (1 − wrong / votes), `on_errors` (wrong votes on errors), `blame`.

# %% tags=["export"]
def slice_report(frame: pd.DataFrame, slices: dict[str, Callable | np.ndarray],
                 correct: np.ndarray, z: float = 1.96) -> pd.DataFrame:
    """Error rate, its Wilson interval and its lift, per slice and overall."""
    # BEGIN SOLUTION 2.8
    wrong = ~np.asarray(correct, dtype=bool)
    masks = {name: np.asarray(s(frame) if callable(s) else s, dtype=bool)
             for name, s in slices.items()} | {"all": np.ones(len(wrong), dtype=bool)}
    n = np.array([m.sum() for m in masks.values()], dtype=float)
    errors = np.array([(wrong & m).sum() for m in masks.values()], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = errors / n
        center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return pd.DataFrame({"slice": list(masks), "n": n.astype(int), "errors": errors.astype(int),
                         "error_rate": p, "low": center - half, "high": center + half,
                         "lift": p / p[-1]})
    # END SOLUTION


def attribute_errors(votes: pd.DataFrame, gold: np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """Each label error blamed on the LFs that voted wrong on it, shared equally."""
    # BEGIN SOLUTION 2.8
    L, gold = votes.to_numpy(dtype=np.int64), np.asarray(gold)
    error, voted = np.asarray(predicted) != gold, L != -1
    wrong = voted & (L != gold[:, None])
    share = np.where(error[:, None] & wrong, 1.0 / np.maximum(wrong.sum(1, keepdims=True), 1), 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = 1 - wrong.sum(0) / voted.sum(0)
    table = pd.DataFrame({"votes": voted.sum(0), "wrong": wrong.sum(0), "accuracy": accuracy,
                          "on_errors": (wrong & error[:, None]).sum(0), "blame": share.sum(0)},
                         index=list(votes.columns))
    return table.sort_values("blame", ascending=False, kind="stable")
    # END SOLUTION


# %%
check("q8")

# %% [markdown]
# ## Exercise 2.9: the hunt
#
# The spam team's pipeline (`sp.spam_pipeline`, given: `ingest → clean → dedupe → features →
# daily_volume → with_volume → valid / train → votes → training_set`) ran last week; this
# week's exports are in. Three bugs hide in its code and data: run your tools, note each bug
# in `FINDINGS`, then fix them. Below: both weeks and an unchanged re-run; **validation**
# against last week's schema plus a constraint inference cannot know (cleaned text holds no
# HTML tag, entity or byte-order mark); **lineage**: the share of each export's rows reaching
# each step, what lost rows have in common, and the product's questions.

# %%
raw = raw_youtube_spam()  # the five CSV files as published
last_week = Pipeline(sp.spam_pipeline(sp.write_exports("exports/last_week", raw, False)))
last_week.reproduce()
pipe = Pipeline(sp.spam_pipeline(sp.write_exports("exports/this_week", raw)))
print(pipe.reproduce()[["step", "status", "rows"]].T.to_string(header=False))
start, statuses = time.perf_counter(), set(pipe.reproduce()["status"])
print(f"unchanged re-run: {1e3 * (time.perf_counter() - start):.1f} ms, statuses {statuses}")

# %%
# alt: Left, comment date against row per export: all of export 05's dates sit in January 1970, the others' in 2013-2015. Right, rows still holding HTML markup after cleaning by position in ingest's output: all but one sit at position 1500 or later
schema = infer_schema(last_week.output("features"))
schema.append(Constraint("text", "not_regex", r"&#?\w+;|<[a-zA-Z/]|\ufeff", "error"))
features, lin = pipe.output("features"), pipe.lineage()
anomalies = validate(features, schema)
origins = [trace_back(lin, "features", a.rows) for a in anomalies]
markup = next(o for a, o in zip(anomalies, origins) if a.kind == "not_regex")
sp.plot_dates_and_positions(features, markup, lin.n_rows)
anomaly_table(anomalies)[["column", "kind", "severity", "rows"]].assign(
    exports=[{s[7:9]: len(r) for s, r in o.items()} for o in origins])

# %%
# alt: Share of each export's rows contributing to each step, directly or through the daily volume; export 04 falls to 45% at daily_volume and stays there, the others stay above 60%
reach = {a: trace_back(lin, a, np.arange(lin.n_rows[a])) for a in lin.edges}
share = pd.DataFrame({a: {s[7:9]: len(r) / lin.n_rows[s] for s, r in o.items()}
                      for a, o in reach.items()}).sort_index()
share.T.plot(style=["o-", "s--", "^-.", "v:", "D-"], figsize=(9, 3.2), rot=25, ylim=(0, 1.05),
             xticks=range(len(share.T)), ylabel="share of the export's rows",
             title="rows of each export contributing (directly or via an aggregate) to each step")
plt.show()
lost = read_csv_source(Path(pipe.nodes[3].path).read_bytes()).iloc[np.setdiff1d(
    reach["features"][sp.EXPORTS[3]], reach["with_volume"][sp.EXPORTS[3]])]
print(f"{len(lost)} rows of export 04 lost at with_volume: {(lost['DATE'] == '').mean():.0%}"
      f" without DATE, {(lost['CLASS'] == '1').mean():.0%} spam")
link = np.flatnonzero(pipe.output("votes")["lf_link"] != -1)
print("training rows from export 05:", len(trace_forward(lin, sp.EXPORTS[4], None, "training_set")),
      "| that LF link voted on:", len(trace_forward(lin, "votes", link, "training_set")),
      "| row 0 from:", {s: r.tolist() for s, r in trace_back(lin, "training_set", [0]).items()})

# %% [markdown]
# Write each bug in `FINDINGS` (where it is, what showed it, why), then `clean_fixed` and
# `add_volume_fixed`, drop-in replacements for `sp.clean` and `sp.add_volume` (keep every
# comment; 0 for a day without volume), and `fix_pipeline(nodes)`: the nodes with those two
# steps replaced and what `ingest` needs changed in its params. The last cell runs the fixed
# pipeline (from the cache where it can), asks on the hand-labelled `valid` rows where the
# label model errs and which LFs cause it, and whether serving computes features as training.

# %% tags=["export"]
# BEGIN SOLUTION 2.9
FINDINGS = {"unit change": "export 05: DATE in seconds read as ms; range check, 1970 dates",
            "partial cleaning": "clean's chunk loop skips the last chunk; not_regex, rows 1500+",
            "dropped rows": "groupby drops NaT days: the inner join loses export 04's undated spam"}
# END SOLUTION


def clean_fixed(comments: Traced, chunk_rows: int = 500) -> Traced:
    # BEGIN SOLUTION 2.9
    frame = comments.frame
    cleaned = comments.map(frame.assign(**{c: [sp.clean_text(t) for t in frame[c].astype(str)]
                                           for c in ("text", "author")}))
    return cleaned.filter(cleaned.frame["text"].str.len().to_numpy() > 0)
    # END SOLUTION


def add_volume_fixed(comments: Traced, volume: Traced) -> Traced:
    # BEGIN SOLUTION 2.9
    joined = comments.join(volume, on=["video", "day"], how="left")
    return joined.map(joined.frame.fillna({"comments_that_day": 0}))
    # END SOLUTION


def fix_pipeline(nodes: Sequence[Source | Step]) -> list[Source | Step]:
    # BEGIN SOLUTION 2.9
    new = {"clean": clean_fixed, "with_volume": add_volume_fixed}
    return [Step(n.name, new.get(n.name, n.func), n.inputs,
                 {**n.params, "epoch_unit": "s"} if n.name == "ingest" else n.params)
            if n.name in (*new, "ingest") else n for n in nodes]
    # END SOLUTION


# %%
check("q9")

# %%
# alt: Left, label-model error rate per slice of the validation rows with 95% Wilson intervals: non-ASCII comments err most (9%), against 7% overall. Right, training/serving skew per feature: has_link's L-inf distance (0.15) passes the 0.1 threshold, n_chars and n_words stay under 0.02
fixed = Pipeline(fix_pipeline(pipe.nodes), pipe.root)
print(fixed.reproduce()[["step", "status", "rows"]].T.to_string(header=False))
print("errors left:", [(a.column, a.kind, len(a.rows)) for a in
                       validate(fixed.output("features"), schema) if a.severity == "error"])
valid = fixed.output("valid")
L_valid = sp.label_matrix(valid["text"].tolist())
votes = fixed.output("votes")[list(sp.VOTE_COLUMNS)].to_numpy(np.int8)
model = OneCoinModel().fit_accuracies(votes)
slices = {"has link": valid["has_link"], "short (< 5 words)": valid["n_words"] < 5,
          "long (> 30 words)": valid["n_words"] > 30, "export 05": valid["video"] == 5,
          "non-ASCII": lambda f: ~f["text"].map(str.isascii)}
report = slice_report(valid, slices, model.predict(L_valid) == valid["label"].to_numpy())
raw = pd.concat([read_csv_source(Path(n.path).read_bytes()) for n in fixed.nodes[:5]])
skew = skew_report(fixed.output("training_set")[["n_chars", "n_words", "has_link"]],
                   sp.serving_features(raw["CONTENT"]), linf_distance, js_divergence)
sp.plot_slices_and_skew(report, skew, threshold=0.1)
attribute_errors(pd.DataFrame(L_valid, columns=sp.VOTE_COLUMNS), valid["label"].to_numpy(),
                 model.predict(L_valid)).round(3).head(4)

# %% [markdown]
# **Going further.** Give the sources a schema (`sp.spam_pipeline(paths, source_schema=...)`)
# and feed it an export with a missing column, a `CLASS` of `spam`, Latin-1 bytes: what then?
