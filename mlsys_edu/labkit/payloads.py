"""Lab 06's payloads as tensors, its slices run with checks, and the report's table and figure.

:class:`Featurizer` turns a DataFrame into the tensors the payloads' encoders read (a text as
a bag of n-grams in ``EmbeddingBag``'s ids/offsets/weights form, a category as an id, 0 for
unknown; a date as six features), with vocabularies fitted on training data only.
:func:`slice_membership` runs a schema's slices and names the slice whose function fails.
The schema itself (what these read) is :mod:`mlsys_edu.labkit.declarative`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlsys_edu.labkit.declarative import DATE_FEATURES, Payload, Schema, SliceFunctionError
from mlsys_edu.labkit.text_search import search_texts


# ------------------------------------------------------------------------------ featurizing
def _column(frame: pd.DataFrame, payload: Payload) -> pd.Series:
    if payload.column not in frame.columns:
        raise KeyError(f"payload {payload.name!r} reads column {payload.column!r}, which the "
                       f"data does not have; columns: {', '.join(map(str, frame.columns))}")
    return frame[payload.column]


def _texts(values: pd.Series) -> list[str]:
    """Plain Python strings (missing values become ""), the same under pandas 2 and 3."""
    return ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in values.astype(object)]


class Featurizer:
    """Fitted on training rows, turns a frame into one tensor input per payload.

    * ``sequence``: ``nn.EmbeddingBag``'s input, ``{"ids": (N,), "offsets": (n,),
      "weights": (N,)}``: the n-gram ids of every row one after the other (ids from 1; 0 is
      left free for padding), where each row starts, and TF-IDF weights $w_{it}$ (sublinear
      tf, l2-normalised per row), so that an encoder computes $h_i = \\sum_t w_{it}
      E_{x_{it}}$; at most ``max_tokens`` n-grams per row, those of highest weight;
    * ``category``: ``(n,)`` int64 with 0 for a category seen fewer than ``min_count``
      times in training (the "unknown" category), 1.. for the others;
    * ``date``: ``(n, 6)`` float32, the :data:`DATE_FEATURES`;
    * ``singleton``: nothing of its own (it combines its base payloads' encodings).

    ``sizes[name]`` is what an encoder needs: vocabulary size (with the padding or unknown id
    0) or number of features.
    """

    def __init__(self, schema: Schema):
        self.schema = schema
        self.sizes: dict[str, int] = {}
        self._vectorizers: dict[str, list] = {}
        self._categories: dict[str, dict[str, int]] = {}

    def fit_vocabularies(self, frame: pd.DataFrame) -> "Featurizer":
        """Learn the vocabularies from ``frame`` (the training rows only)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        for p in self.schema.payloads:
            if p.type == "sequence":
                texts = _texts(_column(frame, p))
                vecs = []
                if p.word_ngrams:
                    vecs.append(TfidfVectorizer(ngram_range=p.word_ngrams, min_df=p.min_count,
                                                token_pattern=r"[a-z0-9']+",
                                                sublinear_tf=True, norm=None))
                if p.char_ngrams:
                    vecs.append(TfidfVectorizer(analyzer="char_wb", ngram_range=p.char_ngrams,
                                                min_df=p.min_count, sublinear_tf=True,
                                                norm=None))
                for v in vecs:
                    try:
                        v.fit(texts)
                    except ValueError:  # no n-gram reaches min_count: an empty vocabulary
                        v.vocabulary_ = {}
                self._vectorizers[p.name] = vecs
                self.sizes[p.name] = 1 + sum(len(v.vocabulary_) for v in vecs)
            elif p.type == "category":
                counts = pd.Series(_texts(_column(frame, p))).value_counts()
                kept = sorted(counts[counts >= p.min_count].index)
                self._categories[p.name] = {c: i + 1 for i, c in enumerate(kept)}
                self.sizes[p.name] = 1 + len(kept)
            elif p.type == "date":
                self.sizes[p.name] = len(DATE_FEATURES)
        return self

    def transform(self, frame: pd.DataFrame) -> dict[str, Any]:
        """The tensors of every non-singleton payload, keyed by payload name."""
        import torch

        if not self.sizes and self.schema.payloads:
            raise RuntimeError("call fit_vocabularies(train_frame) before transform(frame)")
        out: dict[str, Any] = {}
        for p in self.schema.payloads:
            if p.type == "sequence":
                ids, offsets, weights = self._bag(p, _texts(_column(frame, p)))
                out[p.name] = {"ids": torch.from_numpy(ids), "offsets": torch.from_numpy(offsets),
                               "weights": torch.from_numpy(weights)}
            elif p.type == "category":
                index = self._categories[p.name]
                codes = [index.get(c, 0) for c in _texts(_column(frame, p))]
                out[p.name] = torch.tensor(codes, dtype=torch.int64)
            elif p.type == "date":
                out[p.name] = torch.from_numpy(date_features(_column(frame, p)))
        return out

    def _bag(self, p: Payload, texts: list[str]) -> tuple[np.ndarray, ...]:
        """Rows' n-gram ids (from 1), where each row starts, and l2-normalised weights."""
        from scipy import sparse

        parts = [v.transform(texts) if v.vocabulary_ and texts else sparse.csr_matrix((len(texts), 0))
                 for v in self._vectorizers[p.name]]
        X = sparse.hstack(parts, format="csr") if parts else sparse.csr_matrix((len(texts), 0))
        X.sort_indices()
        ids, weights, lengths = [], [], np.zeros(len(texts), dtype=np.int64)
        for i in range(len(texts)):
            cols, vals = X.indices[X.indptr[i]:X.indptr[i + 1]], X.data[X.indptr[i]:X.indptr[i + 1]]
            if len(cols) > p.max_tokens:  # keep the highest weights; ties by id (determinism)
                keep = np.sort(np.lexsort((cols, -vals))[:p.max_tokens])
                cols, vals = cols[keep], vals[keep]
            norm = np.sqrt(np.sum(vals.astype(np.float64) ** 2))
            ids.append(cols + 1)  # id 0 is kept free: the padding id of an encoder
            weights.append(vals / norm if norm > 0 else vals)
            lengths[i] = len(cols)
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        flat_ids = np.concatenate(ids).astype(np.int64) if ids else np.zeros(0, np.int64)
        flat_w = np.concatenate(weights).astype(np.float32) if weights else np.zeros(0, np.float32)
        return flat_ids, offsets[:len(texts)], flat_w


def date_features(values: pd.Series) -> np.ndarray:
    """The :data:`DATE_FEATURES` of each timestamp, (n, 6) float32; a missing date is all
    zeros but the last feature, 1."""
    when = pd.to_datetime(pd.Series(values).reset_index(drop=True), errors="coerce")
    missing = when.isna().to_numpy()
    years = ((when - pd.Timestamp("2013-01-01")).dt.total_seconds() / (365.25 * 86400))
    hour = (when.dt.hour + when.dt.minute / 60) * (2 * np.pi / 24)
    weekday = when.dt.day_of_week * (2 * np.pi / 7)
    columns = [years, np.sin(hour), np.cos(hour), np.sin(weekday), np.cos(weekday)]
    out = np.column_stack([np.asarray(c, dtype=np.float64) for c in columns] +
                          [missing.astype(np.float64)])
    out[missing, :-1] = 0.0
    return np.nan_to_num(out).astype(np.float32)


def take(batch: Mapping[str, Any], rows: Any) -> dict[str, Any]:
    """The same batch restricted to ``rows`` (indices or a boolean mask), for every payload."""
    import torch

    rows = torch.as_tensor(np.asarray(rows))
    if rows.dtype == torch.bool:
        rows = torch.nonzero(rows).ravel()
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Mapping) and "offsets" in value:  # a bag: rows of unequal length
            ids, offsets = value["ids"], value["offsets"]
            ends = torch.cat([offsets[1:], torch.tensor([len(ids)])])
            starts, lengths = offsets[rows], (ends - offsets)[rows]
            new_offsets = torch.cumsum(lengths, 0) - lengths
            where = (torch.arange(int(lengths.sum())) - torch.repeat_interleave(new_offsets, lengths)
                     + torch.repeat_interleave(starts, lengths))
            out[key] = {"ids": ids[where], "offsets": new_offsets, "weights": value["weights"][where]}
        elif isinstance(value, Mapping):
            out[key] = take(value, rows)
        else:
            out[key] = value[rows]
    return out


# ------------------------------------------------------------------------------ slices
SlicingFunction = Callable[[pd.DataFrame], Any]


def slice_membership(schema: Schema, frame: pd.DataFrame,
                     functions: Mapping[str, SlicingFunction] | None = None) -> np.ndarray:
    """``members[i, s]``: row ``i`` is in the schema's slice ``s``, (n, S) bool.

    A pattern slice searches its column with Python's ``re`` semantics, case-sensitive as
    written (start the pattern with ``(?i)`` to ignore case); a function
    slice calls ``functions[name](frame)``, which must return one boolean per row. A function
    that is missing, raises, or returns anything else is refused with the slice's name.
    """
    functions = dict(functions or {})
    members = np.zeros((len(frame), len(schema.slices)), dtype=bool)
    for s, sl in enumerate(schema.slices):
        where = f"slices[{s}] {sl.name!r}"
        if sl.pattern is not None:
            if sl.column not in frame.columns:
                raise SliceFunctionError(f"{where}: the data has no column {sl.column!r}; "
                                         f"columns: {', '.join(map(str, frame.columns))}")
            members[:, s] = search_texts(_texts(frame[sl.column]), sl.pattern, ignore_case=False)
            continue
        if sl.function not in functions:
            raise SliceFunctionError(f"{where}: no slicing function named {sl.function!r}; "
                                     f"given: {', '.join(functions) or 'none'}")
        try:
            result = functions[sl.function](frame)
        except Exception as err:  # noqa: BLE001 - the author's code: say which slice broke
            raise SliceFunctionError(f"{where}: the slicing function raised "
                                     f"{type(err).__name__}: {err}; it takes the DataFrame and "
                                     "returns one boolean per row") from err
        members[:, s] = _booleans(result, len(frame), where)
    return members


def _booleans(result: Any, n: int, where: str) -> np.ndarray:
    if isinstance(result, (pd.Series, pd.Index)):
        if result.isna().any():
            raise SliceFunctionError(f"{where}: the slicing function returned missing values "
                                     f"(row {int(np.flatnonzero(result.isna().to_numpy())[0])}); "
                                     "return True or False for every row")
        result = result.to_numpy()
    values = np.asarray(result)
    if values.dtype != bool:
        sample = ", ".join(repr(v) for v in values.ravel()[:3].tolist())
        raise SliceFunctionError(f"{where}: the slicing function returned {values.dtype} values "
                                 f"({sample}, ...); return booleans, one per row "
                                 "(e.g. df.text.str.len() < 20)")
    if values.shape != (n,):
        raise SliceFunctionError(f"{where}: the slicing function returned shape {values.shape} "
                                 f"for {n} rows; return one boolean per row")
    return values


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub-flavoured Markdown table (floats to ``digits`` places)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return "" if math.isnan(v) else f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    header = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    columns = [frame[c].tolist() for c in frame.columns]  # per column: ints stay ints
    for i, index in enumerate(frame.index):
        lines.append("| " + " | ".join([cell(index)] + [cell(col[i]) for col in columns]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ figures
def plot_slice_comparison(reports: Mapping[str, pd.DataFrame], comparison: pd.DataFrame,
                          title: str = "") -> Any:
    """One figure, two panels: each model's accuracy per slice with its 95% interval (left;
    one marker per model, tab10 colours), and the paired difference of the last model minus
    the first with its interval (right; a dashed line at 0). Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = list(next(iter(reports.values())).index)
    counts = next(iter(reports.values()))["count"]
    y_pos = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(names) + 1.6),
                                      sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    step = 0.3 / max(len(reports) - 1, 1)
    for i, ((label, report), marker) in enumerate(zip(reports.items(), "osD^v")):
        acc = report["accuracy"].to_numpy(float)
        err = [acc - report["acc_low"].to_numpy(float), report["acc_high"].to_numpy(float) - acc]
        left.errorbar(acc, y_pos - 0.15 + i * step, xerr=err, fmt=marker, capsize=3,
                      label=label)
    left.set_yticks(y_pos, [f"{n} (n={int(c)})" for n, c in zip(names, counts)])
    left.invert_yaxis()
    left.set(xlabel="test accuracy (95% bootstrap interval)")
    left.legend(ncol=len(reports), loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    delta = comparison["delta"].to_numpy(float)
    right.errorbar(delta, y_pos, fmt="D", color="tab:purple", capsize=3,
                   xerr=[delta - comparison["delta_low"].to_numpy(float),
                         comparison["delta_high"].to_numpy(float) - delta])
    right.axvline(0, color="grey", linestyle="--", linewidth=1)
    labels = list(reports)
    right.xaxis.set_major_locator(MaxNLocator(5))
    right.set(xlabel=f"accuracy, {labels[-1]} − {labels[0]} (paired 95% interval)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
