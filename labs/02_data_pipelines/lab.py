# %% [markdown]
# # Lab 02: Data pipelines
#
# In lab 01 the training data came out of a notebook. In a product it comes out of a
# **pipeline** (exports → cleaning → features → labeling functions → label model → training
# set) that many people change and that sees new data every week. Its failures are silent: a
# join drops rows, a cleaning step misses some, an exporter changes a unit; the model still
# trains, only worse (Sculley et al., NeurIPS 2015; Polyzotis et al., SIGMOD Record 2018).
#
# You will build a miniature pipeline system with the three tools that make such bugs visible:
# a **content-addressed pipeline** that skips what has not changed and records every run,
# artifact and row in SQLite (as DVC does for files); **row-level lineage**, which none of
# DVC, OpenLineage or TFX keeps; and **data validation** with an inferred, editable schema and
# training/serving skew (TFX Data Validation, Breck et al., SysML 2019; Deequ, Schelter et al.,
# VLDB 2018). Then you debug, and finally you **hunt three bugs** planted in the pipeline the
# spam team hands you. What comes from `mlsys_edu.labkit` is given plumbing.

# %% tags=["export"]
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from mlsys_edu.labkit import spam_pipeline as sp
from mlsys_edu.labkit.artifacts import (canonical_bytes, code_fingerprint, file_sha256,
                                        logical_type, read_frame, read_int_columns, sha256_hex)
from mlsys_edu.labkit.pipelines import (Anomaly, Constraint, DataError, Lineage, PipelineBase,
                                        Source, Step, StoreBase, TracedBase, anomaly_table,
                                        compose, ranges, read_csv_source, schema_to_json,
                                        union_lineage)
from mlsys_edu.labkit.weak_labels import OneCoinModel

# %% [markdown]
# ## Row-level lineage
#
# A pipeline step reads frames and writes one. We want every output row to know the input
# rows it came from. Write the lineage of a step as a **relation**: a set of edges
# $(r, i)$, "output row $r$ was made from input row $i$", stored as a $(2, E)$ integer array
# sorted by $r$. Each operator has a simple relation: a **map** keeps $r = i$; a **filter**
# keeping rows $k_0 < k_1 < \dots$ has edges $(r, k_r)$; a **join** has one edge per side,
# $(r, \ell_r)$ and $(r, \rho_r)$, with $\ell_r, \rho_r$ the left and right rows merged into
# $r$; an **aggregation** has an edge $(g, i)$ from group $g$ to each of its rows.
#
# A frame that went through several operators needs its lineage to the step's *inputs*, so
# operators **compose** relations: if $R$ links new rows to old rows and $S$ links old rows to
# input rows, then $S \circ R = \{(n, i) : (n, o) \in R, (o, i) \in S\}$. `compose` (given)
# does it with `np.searchsorted` on the sorted edges, without a Python loop over rows.
# `Traced` is a frame plus its relation to each input; `map` and `concat` are given.
#
# ## Exercise 2.1: lineage-aware filter, join and aggregate
#
# Write `Traced.filter(mask)`; `Traced.join(other, on, how="inner")`, with `pd.merge`'s
# semantics (hint: merge frames that carry each row's position in a helper column), or,
# with `on=None`, row $i$ beside row $i$ of a frame of the same length; and
# `Traced.aggregate(by, **aggregations)`: `frame.groupby(by, sort=True, dropna=True)
# .agg(**aggregations).reset_index()`, whose group rows come from all their rows
# (`groupby(...).ngroup()` numbers them; rows with a missing key belong to no group).
# Each returns a new `Traced` built with `self._derive(frame, link)` or `compose`.

# %% tags=["export"]
class Traced(TracedBase):
    """A frame plus ``lineage[input]``, its (2, E) relation to each input (``TracedBase``,
    given: ``source``, ``map``, ``concat`` and ``_derive(frame, link)``, which composes our
    lineage with ``link``, the relation (new row, our row))."""

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
            frame = pd.concat([self.frame, other.frame], axis=1)
            left = right = np.arange(len(self))
        else:
            merged = self.frame.assign(_left_row=np.arange(len(self))).merge(
                other.frame.assign(_right_row=np.arange(len(other))), on=on, how=how)
            left = merged.pop("_left_row").fillna(-1).to_numpy(dtype=np.int64)
            right = merged.pop("_right_row").fillna(-1).to_numpy(dtype=np.int64)
            frame = merged
        rows = np.arange(len(frame))
        mine = self._derive(frame, np.stack([rows[left >= 0], left[left >= 0]]))
        theirs = other._derive(frame, np.stack([rows[right >= 0], right[right >= 0]]))
        return Traced(frame, union_lineage(mine.lineage, theirs.lineage))
        # END SOLUTION

    def aggregate(self, by: str | list[str], **aggregations: tuple[str, str]) -> "Traced":
        """One row per group of ``by``; each group row comes from all of its rows."""
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
# ## A content-addressed store and cache keys
#
# Every artifact is stored under the hash of its bytes: `canonical_bytes(frame)` (given)
# writes a frame as one Arrow IPC stream with a fixed type per column and no pandas metadata,
# so the same data has the same bytes on pandas 2.2 and 3, pyarrow 18 and 26. A step is then
# named by what determines its output (session 03):
#
# $$\text{key} = \text{SHA-256}\big(\text{code} \,\|\, \text{params} \,\|\, h(\text{input}_1)
#   \,\|\, \dots \,\|\, h(\text{input}_k)\big),$$
#
# where the code is `code_fingerprint(func)` (given: its bytecode, constants and the helpers
# it calls). Equal keys mean the output can be reused; a changed LF changes the keys of every
# step downstream of it, and only those.
#
# ## Exercise 2.2: the store and the key
#
# Write `ArtifactStore.put(data)`: store bytes under `objects/<first 2 hex>/<rest>` of their
# SHA-256 and return the hex digest. It must be **atomic**: a reader (or a crash) never sees
# a half-written file. Write to a temporary file in the same folder, then `os.replace` it
# into place (one rename, atomic on POSIX); remove the temporary file if anything fails.
# Write `step_key(fingerprint, params, input_hashes)`: the SHA-256 hex of an *unambiguous*
# encoding of the three (`("ab", "c")` and `("a", "bc")` must differ; the order of the keys
# in `params` must not matter; the order of the inputs must).

# %% tags=["export"]
class ArtifactStore(StoreBase):
    """Content-addressed files (``StoreBase``, given: ``path(digest)``, ``has``, ``get``,
    ``listing``)."""

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically; return its SHA-256 hex digest."""
        # BEGIN SOLUTION 2.2
        digest = sha256_hex(data)
        final = self.path(digest)
        if final.is_file():
            return digest  # content-addressed: the same bytes are already there
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=final.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return digest
        # END SOLUTION


def step_key(fingerprint: str, params: dict, input_hashes: Sequence[str]) -> str:
    """SHA-256 hex of (code fingerprint, params, input hashes), unambiguously encoded."""
    # BEGIN SOLUTION 2.2
    payload = json.dumps({"code": fingerprint, "params": params,
                          "inputs": list(input_hashes)}, sort_keys=True)
    return sha256_hex(payload.encode())
    # END SOLUTION


# %%
check("q2")

# %% [markdown]
# ## Exercise 2.3: the pipeline
#
# A `Pipeline` holds `Source`s (a CSV file or an in-memory frame) and `Step`s (a plain
# function, the names of its inputs, JSON params and an optional schema), in an order where
# inputs come first. Its record is a SQLite file (`RECORD_SQL`, given: tables `runs`,
# `steps`, `artifacts`, `lineage`). Write `reproduce()`: insert a `runs` row, then for every
# node, in order:
#
# 1. if an input has no artifact this run: status `skipped`;
# 2. else compute its key: a source's from its content (`file_sha256(path)`, or the frame's
#    canonical bytes) and `step_key("source", {}, [digest])`; a step's from
#    `step_key(code_fingerprint(func), params, input hashes)`;
# 3. a `steps` row with that key and status `ran` whose artifact is in the store: reuse it,
#    status `cached`; otherwise call `self._compute(node, input_hashes)` (given: runs the
#    function on `Traced` inputs, checks the schema, returns the output and its lineage),
#    store the canonical bytes of the output and of each lineage relation (as a frame with
#    columns `out`, `in`), and record the artifacts, the lineage rows and the `steps` row in
#    **one transaction** (`with self._db() as db, db:`), status `ran`;
# 4. an exception: status `failed` with `"<Type>: <message>"` as error and, for a
#    `DataError`, its anomalies (`json.dumps` of `anomaly_table(...).to_dict("records")`).
#
# Record every node's `steps` row (run, step, key, status, output, seconds, error, anomalies)
# and return one report row per node: `step`, `status`, `rows`, `seconds`, `error`. Finish
# the run row with status `ok` or `failed`. A failed step must leave nothing behind: no
# artifact, no `ran` row, no temporary file.

# %% tags=["export"]
class Pipeline(PipelineBase):
    """Sources and steps, run with a content-addressed cache and recorded in SQLite
    (``PipelineBase``, given: ``nodes``, ``store``, ``_db()``, ``_compute``, ``_cached(key)``,
    ``_rows``, ``output(name)``, ``lineage()``)."""

    traced, store_class = Traced, ArtifactStore

    def check(self, frame: pd.DataFrame, schema: Sequence[Constraint]) -> list[Anomaly]:
        return validate(frame, schema)

    def _key(self, node: Source | Step, input_hashes: list[str]) -> str:
        """The node's cache key (step 2)."""
        # BEGIN SOLUTION 2.3
        if isinstance(node, Source):
            digest = file_sha256(node.path) if node.path else sha256_hex(canonical_bytes(node.frame))
            return step_key("source", {}, [digest])
        return step_key(code_fingerprint(node.func), node.params, input_hashes)
        # END SOLUTION

    def _store(self, run: int, node: Source | Step, key: str, hashes: dict[str, str]) -> str:
        """Compute the node, store its output and lineage, record it all at once (step 3)."""
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
                db.execute("INSERT OR IGNORE INTO artifacts VALUES (?, ?, ?)",
                           (digest, out.lineage[name].shape[1], len(edges[name])))
                db.execute("INSERT OR REPLACE INTO lineage VALUES (?, ?, ?, ?)",
                           (key, name, hashes[name], digest))
            db.execute("INSERT INTO steps VALUES (?, ?, ?, 'ran', ?, ?, '', '[]')",
                       (run, node.name, key, output, time.perf_counter() - start))
        return output
        # END SOLUTION

    def reproduce(self) -> pd.DataFrame:
        """Run every node, reusing unchanged ones; one report row per node."""
        # BEGIN SOLUTION 2.3
        with self._db() as db, db:
            run = db.execute("INSERT INTO runs (started, status) VALUES (?, 'running')",
                             (time.time(),)).lastrowid
        hashes, report = {}, []
        for node in self.nodes:
            start, key, output, error, anomalies = time.perf_counter(), None, None, "", "[]"
            try:
                if any(i not in hashes for i in getattr(node, "inputs", ())):
                    status, error = "skipped", "an input has no artifact in this run"
                else:
                    key = self._key(node, [hashes[i] for i in getattr(node, "inputs", ())])
                    output = self._cached(key)
                    status = "cached" if output else "ran"
                    output = output or self._store(run, node, key, hashes)
            except Exception as err:  # noqa: BLE001 - recorded, and the run goes on
                status, output, error = "failed", None, f"{type(err).__name__}: {err}"
                if isinstance(err, DataError):
                    anomalies = json.dumps(anomaly_table(err.anomalies).to_dict("records"))
            seconds = time.perf_counter() - start
            if status != "ran":  # _store recorded the 'ran' row in its transaction
                with self._db() as db, db:
                    db.execute("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (run, node.name, key, status, output, seconds, error, anomalies))
            if output:
                hashes[node.name] = output
            report.append({"step": node.name, "status": status, "rows": self._rows(output),
                           "seconds": seconds, "error": error})
        ok = all(r["status"] in ("ran", "cached") for r in report)
        with self._db() as db, db:
            db.execute("UPDATE runs SET status = ? WHERE run = ?", ("ok" if ok else "failed", run))
        return pd.DataFrame(report)
        # END SOLUTION


# %%
check("q3")

# %% [markdown]
# A toy run shows the cache. The second run recomputes nothing; changing a parameter re-runs
# that step, and a step whose inputs came out *byte-identical* is still cached: content
# addressing stops the cascade ("early cut-off"), which a timestamp-based tool cannot do.

# %%
def keep_long(t: Traced, min_chars: int) -> Traced:
    return t.filter(t.frame["text"].str.len().to_numpy() >= min_chars)


def shout(t: Traced) -> Traced:
    return t.map(t.frame.assign(text=t.frame["text"].str.upper()))


toy_text = pd.DataFrame({"text": ["hi", "hello there", "check my channel", "ok"]})
toy = lambda n: [Source("comments", frame=toy_text),
                 Step("long", keep_long, ["comments"], {"min_chars": n}),
                 Step("loud", shout, ["long"])]
toy_root = tempfile.mkdtemp(prefix="toy-")
for n in (3, 3, 4, 10):
    print(n, Pipeline(toy(n), toy_root).reproduce()["status"].tolist())

# %% [markdown]
# ## Exercise 2.4: lineage queries
#
# `Pipeline.lineage()` (given) loads the latest run's lineage as a `Lineage`: `edges[name]
# [input]`, the (2, E) relation of each step to each input, in run order, and `n_rows`. Write
#
# - `trace_back(lineage, name, rows)`: for rows of artifact `name`, the rows of every
#   **source** they were made from, `{source: sorted unique rows}` (sources that contribute
#   nothing are left out). Walk the steps in reverse run order. With few rows, find their
#   edges with `np.searchsorted` on the sorted first row (and `ranges`), not a full scan.
# - `trace_forward(lineage, name, rows, to)`: the sorted rows of artifact `to` made, directly or
#   not, from `rows` of artifact `name` (`None`: all of them). Walk in run order carrying a
#   boolean mask per artifact: a row is hit when one of its edges leads to a hit row. Where
#   `lineage.dense[a][i]` (every row has exactly one edge, in order) the mask is one gather.
#
# "Which training rows came from export Y" is `trace_forward(lin, Y, None, "training_set")`;
# "which depend on LF Z" starts from the votes where Z did not abstain.

# %% tags=["export"]
def trace_back(lineage: Lineage, name: str, rows: Sequence[int]) -> dict[str, np.ndarray]:
    """The source rows that rows ``rows`` of artifact ``name`` come from, per source."""
    # BEGIN SOLUTION 2.4
    wanted = {name: np.unique(np.asarray(rows, dtype=np.int64))}
    for artifact in reversed(list(lineage.edges)):
        if artifact not in wanted:
            continue
        mine = wanted.pop(artifact)
        for source, (out, into) in lineage.edges[artifact].items():
            start = np.searchsorted(out, mine, "left")
            stop = np.searchsorted(out, mine, "right")
            found = into[ranges(start, stop)]
            wanted[source] = np.union1d(wanted.get(source, found[:0]), found)
    return {s: r for s, r in wanted.items() if len(r) and s not in lineage.edges}
    # END SOLUTION


def trace_forward(lineage: Lineage, name: str, rows: Sequence[int] | None,
                  to: str) -> np.ndarray:
    """The rows of artifact ``to`` made (directly or not) from ``rows`` of ``name``."""
    # BEGIN SOLUTION 2.4
    start = np.zeros(lineage.n_rows[name], dtype=bool)
    start[np.arange(len(start)) if rows is None else np.asarray(rows, dtype=np.int64)] = True
    masks = {name: start}
    for artifact, inputs in lineage.edges.items():
        hit = np.zeros(lineage.n_rows[artifact], dtype=bool)
        for source, (out, into) in inputs.items():
            if source not in masks:
                continue
            if lineage.dense[artifact][source]:
                hit |= masks[source][into]
            else:
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
# Writing a schema for every feature is work nobody does, so TFDV *infers* one from a
# reference batch and asks a person to review and edit it. Write `infer_schema(reference,
# max_domain_size=20)`, returning a list of `Constraint`s (given: `column`, `kind`, `value`,
# `severity`), per column, in this order:
#
# - `type`: `logical_type(column)` (given), severity `error`;
# - `max_null_fraction`: the observed fraction of missing values, `warning`;
# - `range` for `int`, `float` and `datetime` columns: `[min, max]` of the non-missing values
#   (datetimes as ISO strings, `Timestamp.isoformat()`), `warning`;
# - `length` for `string` columns: `[min, max]` of `str.len()`, `warning`;
# - `domain` for `string`, `int` and `bool` columns with at most `max_domain_size` distinct
#   values: their sorted list (plain Python values), `warning`;
# - `unique` (value `None`) when the non-missing values are all distinct and more than
#   `max_domain_size`, `error` (an id column).
#
# Constraints are data: print them, edit them, save them (`schema_to_json`, given).

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
            bounds = [low.isoformat(), high.isoformat()] if kind == "datetime" else \
                [low.item(), high.item()]
            schema.append(Constraint(column, "range", bounds, "warning"))
        if kind == "string" and len(values):
            lengths = values.astype(str).str.len()
            schema.append(Constraint(column, "length", [int(lengths.min()), int(lengths.max())],
                                     "warning"))
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
# Write `validate(batch, schema)`: a list of `Anomaly`s (given: `column`, `kind`, `severity`,
# `message`, `rows`), at most one per constraint, each with the **positions** of the offending
# rows (sorted; empty for a batch-level finding) and a message that says what was expected,
# what was found and an example. A column the schema names but the batch lacks gives one
# `missing_column` anomaly (severity `error`) and no others for it. The checks, with missing
# values never offending except under `max_null_fraction`:
#
# - `type`: the logical type differs (offending: every non-missing row);
# - `max_null_fraction`: more missing than allowed (offending: the missing rows);
# - `range` / `length`: the value / its length outside `[low, high]` (inclusive);
# - `domain`: a value not in the list; `unique`: every row of a repeated value;
# - `regex` / `not_regex`: `str.contains(pattern)` fails / succeeds.
#
# Speed matters: one vectorised numpy or pandas operation per check, no loop over rows.
# A schema can then gate a step: `Step(..., schema=...)` stores nothing on an `error`.

# %% tags=["export"]
def _offending(series: pd.Series, c: Constraint) -> np.ndarray:
    """Boolean mask of the rows of ``series`` that break constraint ``c``."""
    present = series.notna().to_numpy()
    if c.kind == "type":
        return present if logical_type(series) != c.value else np.zeros(len(series), bool)
    if c.kind == "max_null_fraction":
        return ~present if (~present).mean() > c.value + 1e-12 else np.zeros(len(series), bool)
    if c.kind in ("range", "length"):
        if c.kind == "length":
            values = series.astype(str).str.len().to_numpy(dtype=float, na_value=np.nan)
        elif logical_type(series) == "datetime":
            values = series.to_numpy(dtype="datetime64[ns]")
            low, high = (np.datetime64(pd.Timestamp(v).to_datetime64(), "ns") for v in c.value)
            return present & ((values < low) | (values > high))
        else:
            values = series.to_numpy(dtype=float, na_value=np.nan)
        return present & ((values < c.value[0]) | (values > c.value[1]))
    if c.kind == "domain":
        return present & ~series.isin(c.value).to_numpy()
    if c.kind == "unique":
        return present & series.duplicated(keep=False).to_numpy()
    hit = series.astype(str).str.contains(c.value, regex=True).to_numpy(dtype=bool)
    return present & (~hit if c.kind == "regex" else hit)


def validate(batch: pd.DataFrame, schema: Sequence[Constraint]) -> list[Anomaly]:
    """The anomalies of ``batch`` against ``schema``, with their offending rows."""
    # BEGIN SOLUTION 2.6
    anomalies, missing = [], set()
    for c in schema:
        if c.column not in batch.columns:
            if c.column not in missing:
                missing.add(c.column)
                anomalies.append(Anomaly(c.column, "missing_column", "error",
                                         f"column {c.column!r} is missing; the batch has "
                                         f"{list(batch.columns)}"))
            continue
        series = batch[c.column].reset_index(drop=True)
        if c.kind != "type" and logical_type(series) == "object":
            continue
        rows = np.flatnonzero(_offending(series, c))
        if len(rows):
            example = series.iloc[rows[0]]
            anomalies.append(Anomaly(c.column, c.kind, c.severity,
                                     f"{len(rows)} of {len(series)} rows break {c.kind} "
                                     f"{c.value!r} (found {logical_type(series)}), e.g. "
                                     f"row {rows[0]}: {str(example)[:60]!r}", rows))
    return anomalies
    # END SOLUTION


# %%
check("q6")

# %% [markdown]
# ## Exercise 2.7: training/serving skew
#
# **Skew** is a difference between the data a model trains on and the data it serves on
# that comes from the system, e.g. a feature computed by two code paths. TFDV compares
# per-feature distributions with two distances. For a categorical feature with empirical
# distributions $p, q$ over the union of their values, the **$L_\infty$ distance**
# $d_\infty(p, q) = \max_v |p(v) - q(v)|$. For a numeric one, the **Jensen–Shannon
# divergence** of their histograms, with $m = \tfrac12(p + q)$ and logarithms in base 2 so
# that it lies in $[0, 1]$:
# $$\mathrm{JS}(p, q) = \tfrac12 \sum_b p_b \log_2 \frac{p_b}{m_b}
#   + \tfrac12 \sum_b q_b \log_2 \frac{q_b}{m_b}.$$
# The bins: edges at the `np.unique` of the reference's quantiles
# `np.linspace(0, 1, bins + 1)`, inner bins $[e_k, e_{k+1})$ with the last closed, plus one
# bin below $e_0$ and one above the last edge; missing values are ignored.
# Write `linf_distance(reference, other)`, `js_divergence(reference, other, bins=10)` and
# `skew_report(train, serving, threshold=0.1)`: one row per common column with `feature`,
# `distance` (`"L-inf"` for `string` and `bool` columns, else `"JS"`), `value` and `skewed`
# (value above the threshold).

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
    ref, oth = (np.asarray(x, dtype=float) for x in (reference, other))
    ref, oth = ref[~np.isnan(ref)], oth[~np.isnan(oth)]
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    inner = max(len(edges) - 1, 1)

    def histogram(x: np.ndarray) -> np.ndarray:
        b = 1 + np.clip(np.searchsorted(edges, x, "right") - 1, 0, inner - 1)
        b = np.where(x < edges[0], 0, np.where(x > edges[-1], inner + 1, b))
        return np.bincount(b, minlength=inner + 2) / max(len(x), 1)

    p, q = histogram(ref), histogram(oth)
    m = (p + q) / 2
    kl = lambda a: float(np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0])))
    return 0.5 * kl(p) + 0.5 * kl(q)
    # END SOLUTION


def skew_report(train: pd.DataFrame, serving: pd.DataFrame, threshold: float = 0.1,
                bins: int = 10) -> pd.DataFrame:
    """One row per shared column: the TFDV distance between train and serving."""
    # BEGIN SOLUTION 2.7
    rows = []
    for column in [c for c in train.columns if c in serving.columns]:
        categorical = logical_type(train[column]) in ("string", "bool")
        value = linf_distance(train[column], serving[column]) if categorical else \
            js_divergence(train[column], serving[column], bins)
        rows.append({"feature": column, "distance": "L-inf" if categorical else "JS",
                     "value": value, "skewed": value > threshold})
    return pd.DataFrame(rows, columns=["feature", "distance", "value", "skewed"])
    # END SOLUTION


# %%
check("q7")

# %% [markdown]
# ## Exercise 2.8: slices
#
# An average hides where a model fails. A **slicing function** marks a subset of the data
# (as Snorkel's `slicing_function` does; Chen et al., NeurIPS 2019): here a function of a
# frame that returns a boolean mask, or the mask itself. Write `slice_report(frame, slices,
# correct)`: one row per slice, then one named `"all"`, with `slice`, `n`, `errors`,
# `error_rate`, the 95% **Wilson interval** `low`, `high` of the error rate ($z = 1.96$,
# $\hat p$ = errors / n):
# $$\frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}
#   {1 + \frac{z^2}{n}},$$
# and `lift` = error rate / overall error rate; an empty slice has `n = 0` and NaN rates.

# %% tags=["export"]
def slice_report(frame: pd.DataFrame, slices: dict[str, Callable | np.ndarray],
                 correct: np.ndarray, z: float = 1.96) -> pd.DataFrame:
    """Error rate, its Wilson interval and its lift, per slice and overall."""
    # BEGIN SOLUTION 2.8
    wrong = ~np.asarray(correct, dtype=bool)
    masks = {name: np.asarray(s(frame) if callable(s) else s, dtype=bool)
             for name, s in slices.items()}
    masks["all"] = np.ones(len(wrong), dtype=bool)
    n = np.array([m.sum() for m in masks.values()], dtype=float)
    errors = np.array([(wrong & m).sum() for m in masks.values()], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = errors / n
        center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
        lift = p / p[-1]
    return pd.DataFrame({"slice": list(masks), "n": n.astype(int), "errors": errors.astype(int),
                         "error_rate": p, "low": center - half, "high": center + half,
                         "lift": lift})
    # END SOLUTION


# %%
check("q8")

# %% [markdown]
# ## Exercise 2.9: which LFs and which exports cause the label errors
#
# On the hand-labelled validation part we know the truth, so each **label error** (label
# model ≠ gold) can be blamed on the LFs that voted for the wrong class on that row, shared
# equally among them. Write `attribute_errors(votes, gold, predicted, sources)` returning two
# frames. `lfs`, one row per votes column (index: the column name), sorted by `blame`
# (descending, stable): `votes` (non-abstains), `wrong` (votes ≠ gold), `accuracy`
# (1 − wrong / votes, NaN without votes), `on_errors` (wrong votes on error rows) and
# `blame` (the sum over error rows of 1 / number of wrong voters there). `sources`, one row
# per source (index, sorted): `n`, `errors`, `error_rate`.

# %% tags=["export"]
def attribute_errors(votes: pd.DataFrame, gold: np.ndarray, predicted: np.ndarray,
                     sources: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label errors blamed on LFs (shared among wrong voters) and counted per source."""
    # BEGIN SOLUTION 2.9
    L, gold = votes.to_numpy(dtype=np.int64), np.asarray(gold)
    error = np.asarray(predicted) != gold
    voted = L != -1
    wrong = voted & (L != gold[:, None])
    share = np.where(error[:, None] & wrong, 1.0 / np.maximum(wrong.sum(1, keepdims=True), 1), 0)
    n_votes = voted.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n_votes > 0, 1 - wrong.sum(0) / n_votes, np.nan)
    lfs = pd.DataFrame({"votes": n_votes, "wrong": wrong.sum(0), "accuracy": accuracy,
                        "on_errors": (wrong & error[:, None]).sum(0), "blame": share.sum(0)},
                       index=list(votes.columns))
    by_source = pd.DataFrame({"source": np.asarray(sources), "error": error}).groupby("source")
    per_source = by_source["error"].agg(n="size", errors="sum")
    per_source["error_rate"] = per_source["errors"] / per_source["n"]
    return lfs.sort_values("blame", ascending=False, kind="stable"), per_source.sort_index()
    # END SOLUTION


# %%
check("q9")

# %% [markdown]
# ## The hunt
#
# The spam team's pipeline (`sp.spam_pipeline`, given) turns five weekly CSV exports into a
# training set: `ingest → clean → dedupe → features → daily_volume → with_volume → train /
# valid → votes → training_set`. It ran fine last week; this week's exports have arrived.
# Three bugs hide in its code and data. We run both weeks, time an unchanged re-run, and go
# looking with the tools above.

# %%
last_week = Pipeline(sp.spam_pipeline(sp.write_exports("exports/last_week", this_week=False)))
last_week.reproduce()
pipe = Pipeline(sp.spam_pipeline(sp.write_exports("exports/this_week")))
print(pipe.reproduce()[["step", "status", "rows"]].T.to_string(header=False))
start = time.perf_counter()
again = pipe.reproduce()
print(f"unchanged re-run: {1e3 * (time.perf_counter() - start):.1f} ms, "
      f"statuses {sorted(set(again['status']))}")

# %% [markdown]
# **Validation.** Infer a schema from last week's features, review it, and add what we know
# and inference cannot: cleaned text holds no HTML tags, entities or byte-order marks.

# %%
schema = infer_schema(last_week.output("features"))
schema.append(Constraint("text", "not_regex", r"&#?\w+;|<[a-zA-Z/]|\ufeff", "error"))
print(schema_to_json([c for c in schema if c.column in ("date", "text")]))
features = pipe.output("features")
anomalies = validate(features, schema)
lin = pipe.lineage()
table = anomaly_table(anomalies)
table["from exports"] = [{s[9:]: len(r) for s, r in trace_back(lin, "features", a.rows).items()}
                         for a in anomalies]
table[["column", "kind", "severity", "rows", "from exports"]]

# %%
# alt: Comment dates per export against row number; export 05's dates all sit in January 1970, the others in 2013-2015
# alt: Rows that still hold HTML markup after cleaning, by their position in ingest's output; every one is at position 1500 or later
by_kind = {a.kind: a for a in anomalies if a.column in ("date", "text")}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
for k, (video, part) in enumerate(features.groupby("video")):
    axes[0].plot(part.index, part["date"], linestyle="none", color=f"C{k}", marker="os^vD"[k],
                 ms=3, label=f"export {video:02d}")
axes[0].set(xlabel="row of features", ylabel="comment date", title="date by export")
axes[0].legend(fontsize=7)
sizes = np.cumsum([0] + [lin.n_rows[s] for s in sp.EXPORTS])
origin = trace_back(lin, "features", by_kind["not_regex"].rows)
position = np.concatenate([sizes[sp.EXPORTS.index(s)] + r for s, r in origin.items()])
axes[1].hist(position, bins=np.arange(0, sizes[-1] + 50, 50), color="C1", hatch="//")
axes[1].set(xlabel="row of ingest's output", ylabel="rows with markup",
            title="uncleaned rows, by position")
plt.tight_layout()
plt.show()

# %% [markdown]
# Bug 1, a **unit change** in one export: export 05 comes from the new client, which writes
# DATE as Unix *seconds*, and `parse_date` reads numbers as milliseconds: every date lands in
# January 1970. Bug 2, **cleaning applied to part of the data**: markup survives in every
# row from position 1,500 on; `clean` works in chunks of 500 and its loop,
# `range(0, len(frame) - chunk_rows, chunk_rows)`, never reaches the last partial chunk.
#
# **Lineage.** Where do each export's rows go? `trace_back` from every artifact counts the
# source rows that reach it.

# %%
# alt: Share of each export's rows that reach each pipeline step; export 04 falls to 45% at the with_volume join, the others stay above 90%
reach = pd.DataFrame({a: {s: len(r) / lin.n_rows[s] for s, r in
                          trace_back(lin, a, np.arange(lin.n_rows[a])).items()}
                      for a in lin.edges}).loc[list(sp.EXPORTS)]
ax = reach.T.plot(style=["o-", "s--", "^-.", "v:", "D-"], figsize=(9, 3.4), rot=20)
ax.set(ylabel="share of the export's rows", title="rows reaching each step", ylim=(0, 1.05))
plt.show()
export04 = "Youtube04-Eminem"
reached = trace_back(lin, "with_volume", np.arange(lin.n_rows["with_volume"]))[export04]
before = trace_back(lin, "features", np.arange(lin.n_rows["features"]))[export04]
lost = np.setdiff1d(before, reached)
raw04 = read_csv_source(Path(pipe.nodes[3].path).read_bytes())
print(f"{len(lost)} rows of {export04} vanish at with_volume; DATE empty in "
      f"{(raw04['DATE'].iloc[lost] == '').mean():.0%}, spam in "
      f"{(raw04['CLASS'].iloc[lost] == '1').mean():.0%} of them")

# %% [markdown]
# Bug 3, a **join that silently drops rows**: `daily_volume` groups by (video, day), and
# `groupby` drops missing keys by default; export 04 has no date on 245 comments (all of them
# spam), so they have no group, and the inner join in `add_volume` drops them: the training
# set loses a quarter of a video's spam. Lineage also answers the product questions:

# %%
votes = pipe.output("votes")
print("training rows from export 05:", len(trace_forward(lin, sp.EXPORTS[4], None, "training_set")),
      "| depending on LF link:", len(trace_forward(
          lin, "votes", np.flatnonzero(votes["lf_link"] != -1), "training_set")),
      "| training row 0 comes from", {s: r.tolist() for s, r in
                                       trace_back(lin, "training_set", [0]).items()})

# %% [markdown]
# **The fixes**, and what the cache does with them: the sources are reused, and only the
# steps downstream of a change run again.

# %%
def clean_fixed(comments: Traced, chunk_rows: int = 500) -> Traced:
    frame = comments.frame
    text, author = (frame[c].to_numpy(dtype=object).copy() for c in ("text", "author"))
    for start in range(0, len(frame), chunk_rows):  # the last, partial chunk too
        chunk = slice(start, start + chunk_rows)
        text[chunk] = [sp.clean_text(t) for t in text[chunk]]
        author[chunk] = [sp.clean_text(a) for a in author[chunk]]
    cleaned = comments.map(frame.assign(text=text.astype(str), author=author.astype(str)))
    return cleaned.filter(cleaned.frame["text"].str.len().to_numpy() > 0)


def add_volume_fixed(comments: Traced, volume: Traced) -> Traced:
    joined = comments.join(volume, on=["video", "day"], how="left")  # keep undated comments
    return joined.map(joined.frame.fillna({"comments_that_day": 0}))


fixed_nodes = [Step(n.name, clean_fixed, n.inputs) if n.name == "clean" else
               Step(n.name, add_volume_fixed, n.inputs) if n.name == "with_volume" else
               Step(n.name, n.func, n.inputs, {**n.params, "epoch_unit": "s"})
               if n.name == "ingest" else n for n in pipe.nodes]
fixed = Pipeline(fixed_nodes, pipe.root)
print(fixed.reproduce()[["step", "status", "rows"]].T.to_string(header=False))
print("anomalies left:", [(a.column, a.kind, len(a.rows)) for a in
                          validate(fixed.output("features"), schema) if a.severity == "error"])

# %% [markdown]
# ## Debugging labels: slices and attribution
#
# On the hand-labelled validation rows, fit the label model on the training votes and ask
# where it errs, and which LFs and exports the errors come from.

# %%
# alt: Label-model error rate per slice of the validation rows with 95% Wilson intervals; comments with a link or under five words err most
valid = fixed.output("valid")
L_train = fixed.output("votes")[list(sp.VOTE_COLUMNS)].to_numpy(np.int8)
L_valid = sp.label_matrix(valid["text"].tolist())
predicted = OneCoinModel().fit(L_train).predict(L_valid)
slices = {"has link": lambda f: f["has_link"], "short (<5 words)": lambda f: f["n_words"] < 5,
          "long (>30 words)": lambda f: f["n_words"] > 30,
          "non-ASCII": lambda f: f["text"].map(lambda t: not t.isascii()),
          "export 05": lambda f: f["video"] == 5}
report = slice_report(valid, slices, predicted == valid["label"].to_numpy())
ax = report.plot.barh(x="slice", y="error_rate", xerr=[report["error_rate"] - report["low"],
                      report["high"] - report["error_rate"]], color="C0", legend=False,
                      figsize=(7, 3))
ax.set(xlabel="label-model error rate (validation)", ylabel="")
plt.show()
origin = trace_back(fixed.lineage(), "valid", np.arange(len(valid)))  # each row's export
source_of = np.empty(len(valid), dtype=object)
for s in origin:
    source_of[trace_forward(fixed.lineage(), s, None, "valid")] = s[7:9]
lfs, per_export = attribute_errors(pd.DataFrame(L_valid, columns=sp.VOTE_COLUMNS),
                                   valid["label"].to_numpy(), predicted, source_of)
print(per_export.round(3).T.to_string())
lfs.round(3).head(5)

# %% [markdown]
# **Skew.** The request handler computes the same features with its own code. Compare the
# training set with what serving computes for the same comments:

# %%
# alt: TFDV skew distances per feature between training and serving with the 0.1 threshold; n_chars and n_words exceed it
training = fixed.output("training_set")
serving = sp.serving_features(training["text"])
skew = skew_report(training[["n_chars", "n_words", "has_link"]], serving)
ax = skew.plot.bar(x="feature", y="value", color=["C3" if s else "C0" for s in skew["skewed"]],
                   legend=False, figsize=(5, 3), rot=0)
ax.axhline(0.1, color="grey", linestyle="--")
ax.set(ylabel="L-inf (has_link) or JS distance")
plt.show()
skew

# %% [markdown]
# ## Going further
#
# - Bad input: write an export with a missing column, one with `CLASS` = `spam` and one in
#   Latin-1, give the sources a schema (`sp.spam_pipeline(paths, source_schema=...)`) and
#   check that the run reports each anomaly and stores nothing.
# - `code_fingerprint` does not see a change inside a class method. How would you track it?
# - A model is an aggregate of every training row: what should its row-level lineage be?
