"""Pipeline plumbing for lab 02: declarations, the record schema, and data-quality value types.

* :class:`Source` and :class:`Step` declare a pipeline's nodes (a step is a plain function and
  the names of its inputs);
* :data:`RECORD_SQL` is the SQLite schema in which a pipeline records runs, artifacts and
  lineage;
* :class:`Constraint`, :class:`Anomaly` and :class:`DataError` are what validation works with;
* :func:`read_csv_source` reads a CSV export strictly (UTF-8, every cell a string);
* :class:`Lineage` holds the row-level lineage of a run, as arrays; :func:`compose` composes
  two relations;
* :class:`TracedBase`, :class:`StoreBase` and :class:`PipelineBase` are the parts of the lab's
  classes that are not its exercises (construction, reading back, bookkeeping).

None of this filters or joins with lineage, stores atomically, runs a pipeline, validates
data or answers a lineage query: the lab builds those.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlsys_edu.labkit.artifacts import (canonical_bytes, code_fingerprint, file_sha256,
                                        read_frame, read_int_columns, sha256_hex)


@dataclass(frozen=True)
class Source:
    """A pipeline input: a CSV file at ``path``, or an in-memory ``frame``."""

    name: str
    path: str | None = None
    frame: pd.DataFrame | None = field(default=None, compare=False, repr=False)
    schema: Sequence[Constraint] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.frame is None):
            raise ValueError(f"source {self.name!r}: give exactly one of path= or frame=")


@dataclass(frozen=True)
class Step:
    """A pipeline step: ``func(*inputs, **params)`` returns the step's output (a ``Traced``).

    ``inputs`` name sources or earlier steps; ``schema``, when given, is checked on the output
    before it is stored.
    """

    name: str
    func: Callable[..., Any] = field(repr=False)
    inputs: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    schema: Sequence[Constraint] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "params", dict(self.params))
        try:
            json.dumps(self.params, sort_keys=True)
        except TypeError as err:
            raise TypeError(f"step {self.name!r}: params must be JSON data (numbers, strings, "
                            f"lists, dicts) so that they can be hashed: {err}") from None


#: Where a pipeline records what it did. ``steps.key`` is the step's cache key; a row with
#: ``status`` 'ran' names the artifact the step produced (``output``); ``lineage`` maps a key
#: and one of its inputs to the artifact holding the row-level edges.
RECORD_SQL = """
CREATE TABLE IF NOT EXISTS artifacts (hash TEXT PRIMARY KEY, n_rows INTEGER, n_bytes INTEGER);
CREATE TABLE IF NOT EXISTS runs (run INTEGER PRIMARY KEY AUTOINCREMENT, started REAL,
                                 status TEXT);
CREATE TABLE IF NOT EXISTS steps (run INTEGER, step TEXT, key TEXT, status TEXT, output TEXT,
                                  seconds REAL, error TEXT, anomalies TEXT);
CREATE INDEX IF NOT EXISTS steps_by_key ON steps (key, status);
CREATE TABLE IF NOT EXISTS lineage (key TEXT, input TEXT, input_hash TEXT, edges TEXT,
                                    PRIMARY KEY (key, input));
"""

SEVERITIES = ("error", "warning")
CONSTRAINT_KINDS = ("type", "max_null_fraction", "range", "domain", "length", "unique",
                    "regex", "not_regex")


@dataclass
class Constraint:
    """One expectation about one column, as data a person can read, edit and save.

    ``kind`` and ``value``: ``type`` (a logical type name), ``max_null_fraction`` (a float),
    ``range`` ([low, high], inclusive; numbers, or ISO strings for datetimes), ``domain``
    (allowed values), ``length`` ([low, high] characters), ``unique`` (None), ``regex`` /
    ``not_regex`` (every value must / no value may contain a match).
    """

    column: str
    kind: str
    value: Any = None
    severity: str = "error"

    def __post_init__(self) -> None:
        if self.kind not in CONSTRAINT_KINDS:
            raise ValueError(f"constraint on {self.column!r}: unknown kind {self.kind!r}; "
                             f"use one of {CONSTRAINT_KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"constraint on {self.column!r}: severity must be one of "
                             f"{SEVERITIES}, got {self.severity!r}")


def schema_to_json(schema: Sequence[Constraint]) -> str:
    """The schema as JSON, one constraint per line, for review and version control."""
    return "[\n" + ",\n".join(json.dumps(asdict(c), default=str) for c in schema) + "\n]\n"


def schema_from_json(text: str) -> list[Constraint]:
    return [Constraint(**item) for item in json.loads(text)]


@dataclass
class Anomaly:
    """A validation finding: what is wrong with which column, how bad, and the offending row
    positions (empty when the finding is about the batch as a whole, e.g. a null fraction)."""

    column: str
    kind: str
    severity: str
    message: str
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def anomaly_table(anomalies: Sequence[Anomaly], max_rows_shown: int = 5) -> pd.DataFrame:
    """The anomalies as a table: one line each, with the count and the first offending rows."""
    return pd.DataFrame([{"column": a.column, "kind": a.kind, "severity": a.severity,
                          "rows": len(a.rows), "first rows": list(map(int, a.rows[:max_rows_shown])),
                          "message": a.message} for a in anomalies],
                        columns=["column", "kind", "severity", "rows", "first rows", "message"])


class DataError(ValueError):
    """Data that must not go further; ``anomalies`` says what is wrong and where."""

    def __init__(self, where: str, anomalies: Sequence[Anomaly]) -> None:
        self.anomalies = list(anomalies)
        lines = "; ".join(f"{a.column}: {a.message}" for a in self.anomalies[:5])
        super().__init__(f"{where}: {len(self.anomalies)} anomalies ({lines})")


def read_csv_source(data: bytes, name: str = "source") -> pd.DataFrame:
    """A CSV export as strings (no type guessing: validation decides), decoded strictly.

    Broken UTF-8 or a malformed CSV raises :class:`DataError` naming the byte, line and fix.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise DataError(name, [Anomaly("*", "encoding", "error",
                                       f"not UTF-8: byte {err.start} (line {line}) is "
                                       f"{data[err.start:err.start + 1]!r}; re-export the file "
                                       "as UTF-8", np.array([max(line - 2, 0)]))]) from None
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataError(name, [Anomaly("*", "format", "error", f"not a readable CSV ({err}); "
                                       "check the delimiter and the quoting")]) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.astype(object) if len(frame.columns) else frame


@dataclass
class Lineage:
    """Row-level lineage of one run, as arrays.

    ``edges[name][input]`` is a (2, E) int64 array: column e says that row ``edges[0, e]`` of
    artifact ``name`` was made from row ``edges[1, e]`` of artifact ``input``; sorted by the
    first row. ``n_rows[name]`` is every artifact's length (sources have no ``edges`` entry).
    Names in ``edges`` come in the order the pipeline ran them (a topological order).
    ``dense[name][input]`` is True when every row of ``name`` has exactly one edge into
    ``input``, in row order (``edges[0] == arange(n)``): a map, a filter or a join side.
    """

    edges: dict[str, dict[str, np.ndarray]]
    n_rows: dict[str, int]
    dense: dict[str, dict[str, bool]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.dense = {}
        for name, inputs in self.edges.items():
            self.dense[name] = {}
            for source, e in inputs.items():
                e = np.asarray(e, dtype=np.int64)
                if e.ndim != 2 or e.shape[0] != 2:
                    raise ValueError(f"lineage of {name!r} from {source!r}: edges must have "
                                     f"shape (2, E), got {e.shape}")
                inputs[source] = e
                n = self.n_rows[name]
                self.dense[name][source] = e.shape[1] == n and bool(
                    np.array_equal(e[0], np.arange(n)))


# ----------------------------------------------------------------------------- row lineage
def ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(start[k], stop[k])`` for every k, without a loop."""
    start, stop = np.asarray(start, dtype=np.int64), np.asarray(stop, dtype=np.int64)
    counts = stop - start
    return np.repeat(start - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())


def compose(edges: np.ndarray, link: np.ndarray) -> np.ndarray:
    """The relation ``{(n, i) : (n, o) in link, (o, i) in edges}``, sorted by n.

    Both are (2, E) int64 arrays; ``edges`` is sorted by its first row, so the edges of each
    old row ``o`` are one contiguous range found by ``np.searchsorted``.
    """
    new, old = np.asarray(link, dtype=np.int64)
    start = np.searchsorted(edges[0], old, "left")
    counts = np.searchsorted(edges[0], old, "right") - start
    result = np.stack([np.repeat(new, counts), edges[1][ranges(start, start + counts)]])
    if len(new) > 1 and (np.diff(new) < 0).any():
        result = result[:, np.argsort(result[0], kind="stable")]
    return result


def union_lineage(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Both relations: edges to an input named in both are merged (and kept sorted)."""
    out = dict(a)
    for name, e in b.items():
        if name in out:
            both = np.concatenate([out[name], e], axis=1)
            e = both[:, np.argsort(both[0], kind="stable")]
        out[name] = e
    return out


class TracedBase:
    """A DataFrame (with a ``RangeIndex``) whose rows know their origin.

    ``lineage[input]`` is the (2, E) relation (row here, row of ``input``), sorted by the
    first row. The lab's ``Traced`` subclass adds ``filter``, ``join`` and ``aggregate``.
    """

    def __init__(self, frame: pd.DataFrame, lineage: dict[str, np.ndarray]) -> None:
        self.frame, self.lineage = frame.reset_index(drop=True), lineage

    @classmethod
    def source(cls, frame: pd.DataFrame, name: str) -> "TracedBase":
        """A step's input: row r comes from row r of the artifact ``name``."""
        rows = np.arange(len(frame))
        return cls(frame, {name: np.stack([rows, rows])})

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        inputs = {name: e.shape[1] for name, e in self.lineage.items()}
        return f"<{type(self).__name__}: {len(self)} rows, edges to {inputs}>"

    def _derive(self, frame: pd.DataFrame, link: np.ndarray) -> "TracedBase":
        """New rows made from ours through ``link`` = (2, K) (new row, our row)."""
        return type(self)(frame, {name: compose(e, link) for name, e in self.lineage.items()})

    def map(self, frame: pd.DataFrame) -> "TracedBase":
        """New columns, the same rows: row r comes from our row r."""
        if len(frame) != len(self):
            raise ValueError(f"map must keep the {len(self)} rows, got {len(frame)}; "
                             "use filter to drop rows")
        return type(self)(frame, self.lineage)

    @classmethod
    def concat(cls, parts: Sequence["TracedBase"]) -> "TracedBase":
        """The rows of every part, in order (a union)."""
        lineage: dict[str, np.ndarray] = {}
        offset = 0
        for part in parts:
            shifted = {n: e + np.array([[offset], [0]]) for n, e in part.lineage.items()}
            lineage, offset = union_lineage(lineage, shifted), offset + len(part)
        return cls(pd.concat([p.frame for p in parts], ignore_index=True), lineage)


# ----------------------------------------------------------------------------- the record
class StoreBase:
    """Content-addressed files: the bytes with SHA-256 ``h`` live at ``objects/h[:2]/h[2:]``.
    The lab's ``ArtifactStore`` adds ``put``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        (self.root / "objects").mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / "objects" / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        if not self.has(digest):
            raise KeyError(f"no artifact {digest[:12]}... in {self.root}; run the pipeline "
                           "again to rebuild it")
        return self.path(digest).read_bytes()

    def listing(self) -> list[str]:
        """Every file under ``objects/``, relative to the root (to look for strays)."""
        return sorted(p.relative_to(self.root).as_posix()
                      for p in (self.root / "objects").rglob("*") if p.is_file())


class PipelineBase:
    """What a pipeline has besides running: its nodes, its store, its SQLite record, and
    reading back outputs and lineage. The lab's ``Pipeline`` adds ``reproduce`` (running)
    and sets ``traced`` (its Traced class), ``store_class``, ``check`` (validation) and
    ``key`` (cache keys)."""

    traced: type = TracedBase
    store_class: type = StoreBase

    def __init__(self, nodes: Sequence[Source | Step], root: str | Path | None = None) -> None:
        self.nodes, names = list(nodes), set()
        for node in self.nodes:
            missing = [i for i in getattr(node, "inputs", ()) if i not in names]
            if missing or node.name in names:
                raise ValueError(f"node {node.name!r}: its inputs {missing} must come before "
                                 "it, and names must be unique")
            names.add(node.name)
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="pipe-"))
        self.store = self.store_class(self.root)
        with self._db() as db:
            db.executescript(RECORD_SQL)

    def _db(self) -> nullcontext:
        """This process's connection to the record (``with self._db() as db, db:`` is one
        transaction). A forked process (notebook cells and graders fork) opens its own: a
        connection must never cross a fork. Write-ahead logging with ``synchronous=NORMAL``:
        a commit is atomic and survives a crash of the program without waiting for the disk
        (a power cut may lose the last commits, never corrupt the file)."""
        pid, db = getattr(self, "_connection", (None, None))
        if pid != os.getpid():
            db = sqlite3.connect(self.root / "record.sqlite", timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._connection = (os.getpid(), db)
        return nullcontext(db)

    def check(self, frame: pd.DataFrame, schema: Sequence[Constraint]) -> list[Anomaly]:
        raise NotImplementedError("the lab's Pipeline validates with its validate()")

    def _load(self, name: str, digest: str) -> TracedBase:
        return self.traced.source(read_frame(self.store.path(digest)), name)

    def _compute(self, node: Source | Step, input_hashes: Sequence[str]) -> TracedBase:
        """Run one node on its inputs (a source: read it), then check its schema."""
        if isinstance(node, Source):
            frame = node.frame if node.frame is not None else read_csv_source(
                Path(node.path).read_bytes(), node.name)
            out = self.traced(frame, {})
        else:
            out = node.func(*map(self._load, node.inputs, input_hashes), **node.params)
            if not isinstance(out, self.traced):
                raise TypeError(f"step {node.name!r} returned {type(out).__name__}; a step "
                                f"returns a {self.traced.__name__} (use .map, .filter, .join "
                                "or .aggregate on its inputs)")
        errors = [a for a in self.check(out.frame, node.schema) if a.severity == "error"] \
            if node.schema is not None else []
        if errors:
            raise DataError(node.name, errors)
        return out

    def _key(self, node: Source | Step, input_hashes: Sequence[str]) -> str:
        """A node's cache key: a source's from its content (the file's bytes, or the frame's
        canonical bytes), a step's from its code, its params and its inputs' hashes."""
        if isinstance(node, Source):
            digest = file_sha256(node.path) if node.path else sha256_hex(
                canonical_bytes(node.frame))
            return self.key("source", {}, [digest])
        return self.key(code_fingerprint(node.func), node.params, list(input_hashes))

    def key(self, fingerprint: str, params: dict, input_hashes: Sequence[str]) -> str:
        raise NotImplementedError("the lab's Pipeline computes keys with its step_key()")

    def _start_run(self) -> int:
        with self._db() as db, db:
            return db.execute("INSERT INTO runs (started, status) VALUES (?, 'running')",
                              (time.time(),)).lastrowid

    def _finish_run(self, run: int, ok: bool) -> None:
        with self._db() as db, db:
            db.execute("UPDATE runs SET status = ? WHERE run = ?", ("ok" if ok else "failed", run))

    def _record(self, run: int, step: str, key: str | None, status: str, output: str | None,
                seconds: float, error: str = "", anomalies: str = "[]") -> None:
        """One ``steps`` row, in its own transaction (a ``ran`` row belongs with its artifact
        and lineage rows in theirs)."""
        with self._db() as db, db:
            db.execute("INSERT INTO steps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (run, step, key, status, output, seconds, error, anomalies))

    def _cached(self, key: str) -> str | None:
        """The artifact a step with this key produced before, if it is still in the store."""
        with self._db() as db:
            row = db.execute("SELECT output FROM steps WHERE key = ? AND status = 'ran' "
                             "ORDER BY rowid DESC LIMIT 1", (key,)).fetchone()
        return row[0] if row and self.store.has(row[0]) else None

    def _rows(self, digest: str | None) -> int | None:
        with self._db() as db:
            row = db.execute("SELECT n_rows FROM artifacts WHERE hash = ?", (digest,)).fetchone()
        return row[0] if row else None

    def _latest(self) -> list[tuple]:
        """(step, key, output, status, error) of every node of the latest run, in order."""
        with self._db() as db:
            return db.execute("SELECT step, key, output, status, error FROM steps WHERE run = "
                              "(SELECT MAX(run) FROM runs) ORDER BY rowid").fetchall()

    def record(self) -> pd.DataFrame:
        """The latest run's rows of the ``steps`` table, and the run's status."""
        with self._db() as db:
            rows = db.execute("SELECT s.step, s.key, s.status, s.output, s.seconds, s.error, "
                              "s.anomalies, r.status FROM steps s JOIN runs r ON s.run = r.run "
                              "WHERE s.run = (SELECT MAX(run) FROM runs) ORDER BY s.rowid")
            return pd.DataFrame(rows.fetchall(), columns=["step", "key", "status", "output",
                                                          "seconds", "error", "anomalies",
                                                          "run_status"])

    def output(self, name: str) -> pd.DataFrame:
        """The artifact of node ``name`` in the latest run."""
        for step, _, output, status, error in self._latest():
            if step == name:
                if output is None:
                    raise LookupError(f"{name!r} has no output in the latest run ({status}: "
                                      f"{error}); fix it and run the pipeline again")
                return read_frame(self.store.path(output))
        raise LookupError(f"no node {name!r} in the latest run; run the pipeline first")

    def lineage(self) -> Lineage:
        """The row-level lineage of the latest run (edge arrays read from memory maps)."""
        edges, n_rows = {}, {}
        with self._db() as db:
            for step, key, output, _, _ in self._latest():
                if output is None:
                    continue
                n_rows[step] = self._rows(output)
                found = db.execute("SELECT input, edges FROM lineage WHERE key = ?",
                                   (key,)).fetchall()
                if found:
                    columns = {i: read_int_columns(self.store.path(h)) for i, h in found}
                    edges[step] = {i: np.stack([c["out"], c["in"]]) for i, c in columns.items()}
        return Lineage(edges, n_rows)


# ----------------------------------------------------------------------------- skew
def skew_report(train: pd.DataFrame, serving: pd.DataFrame,
                linf_distance: Callable[[Any, Any], float],
                js_divergence: Callable[[Any, Any], float],
                threshold: float = 0.1) -> pd.DataFrame:
    """TFDV's comparison, one row per shared column: the L-infinity distance for ``string``
    and ``bool`` features, the Jensen-Shannon divergence for numbers, and whether it passes
    ``threshold`` (the distances are the lab's)."""
    from mlsys_edu.labkit.artifacts import logical_type

    rows = []
    for column in [c for c in train.columns if c in serving.columns]:
        categorical = logical_type(train[column]) in ("string", "bool")
        distance = linf_distance if categorical else js_divergence
        value = float(distance(train[column], serving[column]))
        rows.append({"feature": column, "distance": "L-inf" if categorical else "JS",
                     "value": value, "skewed": value > threshold})
    return pd.DataFrame(rows, columns=["feature", "distance", "value", "skewed"])


def quantile_histograms(reference: Any, other: Any, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Both samples' histograms (as fractions) on the reference's quantile bins, TFDV style.

    Edges ``e`` = the distinct quantiles of the reference at ``linspace(0, 1, bins + 1)``;
    bins: one below ``e[0]``, the inner ``[e_k, e_{k+1})`` (the last one closed), one above
    ``e[-1]``. NaNs are dropped; an empty sample gives zeros.
    """
    ref, oth = (np.asarray(x, dtype=float) for x in (reference, other))
    ref, oth = ref[~np.isnan(ref)], oth[~np.isnan(oth)]
    if not len(ref):
        raise ValueError("the reference sample has no value to bin")
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    inner = max(len(edges) - 1, 1)

    def histogram(x: np.ndarray) -> np.ndarray:
        b = 1 + np.clip(np.searchsorted(edges, x, "right") - 1, 0, inner - 1)
        b = np.where(x < edges[0], 0, np.where(x > edges[-1], inner + 1, b))
        return np.bincount(b, minlength=inner + 2) / max(len(x), 1)

    return histogram(ref), histogram(oth)
