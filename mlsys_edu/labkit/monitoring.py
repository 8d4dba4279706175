"""Plumbing for lab 05's monitor: what the drift tests and alert rules plug into.

Nothing here is one of the lab's exercises (the sketches, the tests, the estimator and the
alert rule are the student's). These are the parts around them:

* :func:`comment_features` turns comments into the columns the monitor watches;
* :class:`SpamFilter` is the model being monitored: character n-grams and a logistic
  regression trained on weak labels (:mod:`mlsys_edu.labkit.weak_labels`);
* :class:`TextEmbedder` maps comments to dense vectors (TF-IDF, then truncated SVD, fitted on
  the reference: no model download) for the MMD test;
* :func:`column_kind`, :func:`column_issues` and :func:`binned_proportions` prepare columns for
  the tests and say, in words, what is wrong with a column that cannot be tested;
  :func:`numeric_sample` and :func:`ecdf_gap` prepare samples for the numeric tests;
* :func:`drift_report` runs the lab's tests (a :class:`DriftTests`) on every column, corrects
  the p-values and reports bad input as a status with a sentence, never a crash;
* :func:`inject_drift` makes drift with a known ground truth; :func:`time_windows` cuts a
  stream into windows; :func:`score_comments` computes a stream's columns once;
  :func:`run_monitor` feeds windows to a measure and to alert rules;
* :class:`Alert` is what an alert says; :class:`AlertState` holds an alert rule's settings
  and state (the lab writes its ``update``);
* :func:`plot_pvalues` and :func:`plot_accuracy` draw the lab's two kinds of figure.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mlsys_edu.labkit.profiles import CATEGORICAL, NUMERIC
from mlsys_edu.labkit.weak_labels import SPAM_PATTERN_LFS, OneCoinModel, PatternLF, label_matrix
#: A numeric column with at most this many distinct values is tested as categorical
#: (Evidently's rule too): the KS test's p-value is far too conservative on a few values.
MAX_NUMERIC_CATEGORIES = 5
LINK_PATTERN = r"https?://|www\.|\.com\b|watch\?v="


def comment_features(comments: pd.DataFrame) -> pd.DataFrame:
    """The columns the monitor watches, one row per comment.

    ``n_chars``, ``n_words``, ``caps_share`` (upper-case share of letters), ``digit_share``,
    ``punct_share`` are numeric; ``has_link`` (0/1) and ``video`` are categorical.
    """
    if "text" not in comments.columns:
        raise ValueError(f"comment_features needs a 'text' column; got {list(comments.columns)}")
    text = comments["text"].astype(object).fillna("").astype(str)
    n_chars = text.str.len().to_numpy()
    letters = text.str.count(r"[A-Za-z]").to_numpy()
    out = pd.DataFrame({
        "n_chars": n_chars.astype(float),
        "n_words": text.str.split().str.len().fillna(0).to_numpy(dtype=float),
        "caps_share": text.str.count(r"[A-Z]").to_numpy() / np.maximum(letters, 1),
        "digit_share": text.str.count(r"\d").to_numpy() / np.maximum(n_chars, 1),
        "punct_share": text.str.count(r"[!?.,:;]").to_numpy() / np.maximum(n_chars, 1),
        "has_link": text.str.contains(LINK_PATTERN, case=False, regex=True).astype(int).to_numpy(),
    }, index=comments.index)
    if "video" in comments.columns:
        out["video"] = comments["video"].astype(int).to_numpy()
    return out


class SpamFilter:
    """The model under watch: char 2-5-gram TF-IDF and a logistic regression.

    ``train(texts, labelled_texts, labelled_y)`` learns from weak labels: each LF's accuracy is
    estimated on a small hand-labelled sample (a supervised :class:`OneCoinModel`), the LFs'
    votes on ``texts`` are combined with those accuracies, and a comment no LF votes on counts
    as ham (the LFs are mostly spam detectors). ``train(texts, y=gold)`` uses gold labels.
    """

    def __init__(self, lfs: Sequence[PatternLF] = SPAM_PATTERN_LFS, C: float = 3.0) -> None:
        self.lfs, self.C = tuple(lfs), C

    def train(self, texts: Sequence[str], labelled_texts: Sequence[str] | None = None,
              labelled_y: np.ndarray | None = None, y: np.ndarray | None = None) -> "SpamFilter":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts = [str(t) for t in texts]
        if y is None:
            if labelled_texts is None or labelled_y is None:
                raise ValueError("give gold labels y, or a labelled sample (labelled_texts, "
                                 "labelled_y) to estimate the LFs' accuracies on")
            label_model = OneCoinModel().fit_accuracies(label_matrix(labelled_texts, self.lfs),
                                                        np.asarray(labelled_y))
            L = label_matrix(texts, self.lfs)
            y = np.where((L != -1).any(axis=1), label_model.predict(L), 0)
        self.vectorizer_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                           sublinear_tf=True)
        X = self.vectorizer_.fit_transform(texts)
        self.model_ = LogisticRegression(C=self.C, max_iter=2000).fit(X, np.asarray(y))
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """P(spam) per text, shape (n,)."""
        X = self.vectorizer_.transform([str(t) for t in texts])
        return self.model_.predict_proba(X)[:, 1]


class TextEmbedder:
    """Comments as dense unit vectors: char 2-4-gram TF-IDF, then truncated SVD (LSA).

    Learned from ``reference_texts`` only, so production text is seen through the
    reference's lens (no model download).
    """

    def __init__(self, reference_texts: Sequence[str], dim: int = 24, seed: int = 0) -> None:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.tfidf_ = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2,
                                      sublinear_tf=True)
        X = self.tfidf_.fit_transform([str(t) for t in reference_texts])
        self.svd_ = TruncatedSVD(min(dim, X.shape[1] - 1), random_state=seed).fit(X)

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        Z = self.svd_.transform(self.tfidf_.transform([str(t) for t in texts]))
        return Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)


def column_kind(values: pd.Series) -> str:
    """``"numeric"`` for a numeric column with more than 5 distinct values, else
    ``"categorical"`` (strings, booleans, codes, flags)."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return CATEGORICAL
    return NUMERIC if values.nunique(dropna=True) > MAX_NUMERIC_CATEGORIES else CATEGORICAL


def _type_name(values: pd.Series) -> str:
    return "numbers" if pd.api.types.is_numeric_dtype(values) else f"{values.dtype} values"


def column_issues(reference: pd.DataFrame, current: pd.DataFrame,
                  kinds: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Why a column cannot be tested as it is: ``{column: (status, message)}``.

    Statuses: ``"empty"`` (the window has no rows, or no values in this column),
    ``"missing"`` (with the likely new name: a close spelling, or the one new column of the
    same type), ``"type_changed"`` (a numeric
    column now holds text that does not parse as numbers), ``"new"`` (in the window, not in
    the reference). Columns that can be tested are not in the answer.
    """
    issues: dict[str, tuple[str, str]] = {}
    extra = [c for c in current.columns if c not in reference.columns]
    for column in reference.columns:
        if column not in current.columns:
            guess = difflib.get_close_matches(str(column), [str(c) for c in extra], n=1,
                                              cutoff=0.6)
            same_type = [c for c in extra if pd.api.types.is_numeric_dtype(current[c])
                         == pd.api.types.is_numeric_dtype(reference[column])]
            guess = guess or (same_type if len(same_type) == 1 else [])
            hint = (f"; the window has {guess[0]!r}, was it renamed? Map it back upstream "
                    "or in the monitor's column mapping") if guess else "; check the upstream feed"
            issues[column] = ("missing", f"column {column!r} is missing from the window{hint}")
        elif len(current) == 0:
            issues[column] = ("empty", "the window has no rows: nothing was tested; check that "
                              "the stream is still arriving")
        elif current[column].isna().all():
            issues[column] = ("empty", f"column {column!r} is null in all {len(current)} rows of "
                              "the window: is the upstream feature broken?")
        elif kinds.get(column) == NUMERIC and not pd.api.types.is_numeric_dtype(current[column]):
            values = current[column].dropna()
            parsed = pd.to_numeric(values, errors="coerce")
            bad = values[parsed.isna()]
            if len(bad):
                issues[column] = ("type_changed", f"column {column!r} held numbers in the "
                                  f"reference and now holds {_type_name(current[column])} "
                                  f"(e.g. {bad.iloc[0]!r}, {len(bad)} of {len(values)} rows do "
                                  "not parse as numbers): fix the upstream cast")
    for column in extra:
        issues[column] = ("new", f"column {column!r} is not in the reference; add it to the "
                          "reference to monitor it")
    return issues


def binned_proportions(reference: pd.Series, current: pd.Series, kind: str,
                       n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The two samples' shares over shared bins, for PSI and Jensen–Shannon.

    Numeric: ``n_bins`` bins between the reference's quantiles (the outer ones open-ended, so
    every current value lands in one). Categorical: one bin per category of either sample
    (unseen ones included); a null is the category ``"<null>"``. Numeric nulls are dropped.
    """
    if kind == NUMERIC:
        ref = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(float)
        cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy(float)
        inner = np.unique(np.quantile(ref, np.linspace(0, 1, n_bins + 1)[1:-1]))
        counts_ref = np.bincount(np.searchsorted(inner, ref, side="right"), minlength=len(inner) + 1)
        counts_cur = np.bincount(np.searchsorted(inner, cur, side="right"), minlength=len(inner) + 1)
        labels = [f"<= {v:.3g}" for v in inner] + [f"> {inner[-1]:.3g}" if len(inner) else "all"]
    else:
        codes, labels_index = pd.factorize(pd.concat([reference, current], ignore_index=True),
                                           use_na_sentinel=False)
        k = len(labels_index)
        counts_ref = np.bincount(codes[:len(reference)], minlength=k)
        counts_cur = np.bincount(codes[len(reference):], minlength=k)
        labels = ["<null>" if pd.isna(v) else str(v) for v in labels_index]
    return (counts_ref / max(counts_ref.sum(), 1), counts_cur / max(counts_cur.sum(), 1), labels)


def inject_drift(comments: pd.DataFrame, kind: str, rng: np.random.Generator,
                 strength: float = 1.0) -> pd.DataFrame:
    """A copy of ``comments`` with one kind of drift whose ground truth is known.

    Shifts subsample without replacement (a resample with duplicates would itself look like
    drift to a sensitive test):

    * ``"covariate"``: P(x) changes, P(y | x) does not: comments shorter than the median are
      kept with probability ``1 / (1 + 3 * strength)``;
    * ``"label"``: P(y) changes, P(x | y) does not: ham is kept with probability
      ``1 / (1 + 3 * strength)``, so spam's share grows;
    * ``"concept"``: P(y | x) changes: comments that mention a song, music or love become spam
      (a campaign hiding behind fan talk) with probability ``strength``;
    * ``"broken_feature"``: an upstream bug truncates every text to 20 characters.
    """
    n = len(comments)
    if n == 0:
        raise ValueError("inject_drift needs a non-empty frame")
    out = comments.copy()
    keep = 1 / (1 + 3 * strength)
    if kind == "covariate":
        length = out["text"].astype(str).str.len().to_numpy(float)
        out = out[(length >= np.median(length)) | (rng.random(n) < keep)]
    elif kind == "label":
        out = out[(out["label"].to_numpy() == 1) | (rng.random(n) < keep)]
    elif kind == "concept":
        song = out["text"].astype(str).str.contains(r"\bsong|\bmusic\b|\blove\b", case=False)
        out.loc[song.to_numpy() & (rng.random(n) < strength), "label"] = 1
    elif kind == "broken_feature":
        out["text"] = out["text"].astype(str).str.slice(0, 20)
    else:
        raise ValueError(f"unknown drift kind {kind!r}; expected 'covariate', 'label', "
                         "'concept' or 'broken_feature'")
    return out.reset_index(drop=True)


def time_windows(stream: pd.DataFrame, rows_per_window: int) -> list[pd.DataFrame]:
    """Consecutive windows of ``rows_per_window`` rows (in the stream's order); a last window
    of fewer than half that many rows joins the one before it."""
    if rows_per_window < 1:
        raise ValueError(f"rows_per_window must be at least 1, got {rows_per_window}")
    starts = list(range(0, len(stream), rows_per_window))
    if len(starts) > 1 and len(stream) - starts[-1] < rows_per_window / 2:
        starts.pop()
    ends = starts[1:] + [len(stream)]
    return [stream.iloc[a:b] for a, b in zip(starts, ends)]


def run_monitor(windows: Iterable[pd.DataFrame],
                measure: Callable[[pd.DataFrame], dict[str, dict[str, float]]],
                rules: Sequence[Any], times: Sequence[object] | None = None,
                progress: bool = False) -> tuple[pd.DataFrame, list[Any]]:
    """Measure every window, feed each rule its metric, collect what the rules raise.

    ``measure(window)`` returns ``{metric: {key: value}}`` (a key is usually a column). Each
    rule has ``metric`` and ``update(window_index, values, when) -> list of new alerts``.
    Returns the long table of measurements (window, time, metric, key, value) and the alerts
    in the order they fired.
    """
    windows = list(windows)
    if progress:  # imported only when asked: tqdm.auto warns in kernels without ipywidgets
        from tqdm.auto import tqdm

        windows = tqdm(windows, desc="windows")
    rows, alerts = [], []
    for i, window in enumerate(windows):
        when = times[i] if times is not None else i
        measured = measure(window)
        for metric, values in measured.items():
            rows += [(i, when, metric, key, float(v)) for key, v in values.items()]
        for rule in rules:
            alerts += rule.update(i, measured.get(rule.metric, {}), when)
    table = pd.DataFrame(rows, columns=["window", "time", "metric", "key", "value"])
    return table, alerts


@dataclass(frozen=True)
class DriftTests:
    """The tests a drift report runs (the lab's own functions are plugged in here)."""

    numeric: Callable[[Any, Any], tuple[float, float]]       # (statistic, p-value), e.g. KS
    categorical: Callable[[Any, Any], tuple[float, float]]   # e.g. chi-square
    psi: Callable[[np.ndarray, np.ndarray], float]
    js: Callable[[np.ndarray, np.ndarray], float]
    wasserstein: Callable[[Any, Any], float]
    correct: Callable[[np.ndarray], np.ndarray]               # adjusted p-values, e.g. BH


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, tests: DriftTests,
                 alpha: float = 0.05, max_null_rise: float = 0.05) -> pd.DataFrame:
    """One row per column: ``kind, test, statistic, p_value, p_adjusted, psi, js,
    wasserstein, drifted, status, detail``.

    Numeric columns get ``tests.numeric`` and the Wasserstein distance, categorical ones
    ``tests.categorical``; both get PSI and Jensen–Shannon over :func:`binned_proportions`.
    P-values are adjusted across the tested columns with ``tests.correct``; ``drifted`` is
    ``p_adjusted < alpha`` or a ``status`` other than ``"ok"``: a column that cannot be tested
    (:func:`column_issues`), or whose share of nulls rose by more than ``max_null_rise``
    (``"nulls"``), counts as drifted and says why in ``detail``. Unseen categories are named.
    """
    if not isinstance(reference, pd.DataFrame) or not isinstance(current, pd.DataFrame):
        raise TypeError(f"drift_report compares two DataFrames; got {type(reference).__name__} "
                        f"and {type(current).__name__}")
    if len(reference) == 0:
        raise ValueError("the reference is empty: a drift report needs a baseline sample")
    kinds = {c: column_kind(reference[c]) for c in reference.columns}
    issues = column_issues(reference, current, kinds)
    rows = []
    for column in [*reference.columns, *[c for c in current.columns if c not in kinds]]:
        status, detail = issues.get(column, ("ok", ""))
        kind = kinds.get(column, "")
        row = {"column": column, "kind": kind, "test": "", "statistic": np.nan,
               "p_value": np.nan, "psi": np.nan, "js": np.nan, "wasserstein": np.nan}
        if status == "ok":
            ref, cur = reference[column], current[column]
            test = tests.numeric if kind == NUMERIC else tests.categorical
            row["test"] = getattr(test, "__name__", "test")
            row["statistic"], row["p_value"] = test(ref, cur)
            r, c, bins = binned_proportions(ref, cur, kind)
            row["psi"], row["js"] = tests.psi(r, c), tests.js(r, c)
            if kind == NUMERIC:
                row["wasserstein"] = tests.wasserstein(ref, cur)
                null_ref, null_cur = ref.isna().mean(), cur.isna().mean()
                if null_cur - null_ref > max_null_rise:
                    status, detail = "nulls", (f"nulls rose from {null_ref:.1%} to "
                                               f"{null_cur:.1%} of rows: is a feed broken?")
            else:
                unseen = [f"{b!r} ({share:.0%})" for b, old, share in zip(bins, r, c)
                          if old == 0 < share]
                if unseen:
                    detail = f"unseen categories: {', '.join(unseen[:5])}"
        rows.append({**row, "status": status, "detail": detail})
    report = pd.DataFrame(rows).set_index("column")
    p = report["p_value"].to_numpy(dtype=float)
    report["p_adjusted"] = tests.correct(p) if (~np.isnan(p)).any() else p
    report["drifted"] = (report["p_adjusted"] < alpha) | (report["status"] != "ok")
    return report


@dataclass
class Alert:
    """What drifted (``rule`` on ``key``), by how much (``value``, ``worst``), since when."""

    rule: str
    key: str
    threshold: float
    since_window: int
    since: object
    value: float
    worst: float
    last_window: int
    resolved_window: int | None = None

    def message(self) -> str:
        state = ("open" if self.resolved_window is None
                 else f"resolved at window {self.resolved_window}")
        return (f"[{self.rule}] {self.key}: {self.value:.3g} (threshold {self.threshold:.3g}, "
                f"worst {self.worst:.3g}) since window {self.since_window} ({self.since}); "
                f"{state}")


def score_comments(stream: pd.DataFrame, model: SpamFilter, embedder: TextEmbedder) -> pd.DataFrame:
    """Per comment: :func:`comment_features`, the embedding (columns ``e0, e1, ...``) and
    ``p_spam``, computed once for a whole stream so that windows are just slices of it."""
    emb = embedder.transform(stream["text"])
    columns = [f"e{i}" for i in range(emb.shape[1])]
    return pd.concat([comment_features(stream), pd.DataFrame(emb, stream.index, columns)],
                     axis=1).assign(p_spam=model.predict_proba(stream["text"]))


def plot_pvalues(pvalues: pd.DataFrame, xlabels: Sequence[str], xlabel: str, ax: Any = None) -> Any:
    """Heat map of log10 p-values: one row per test (index), one column per window."""
    import matplotlib.pyplot as plt

    if ax is None:
        ax = plt.subplots(figsize=(9, 3.6))[1]
    image = ax.imshow(np.log10(pvalues.to_numpy(float).clip(1e-10)), cmap="viridis",
                      aspect="auto")
    ax.set(xticks=range(len(xlabels)), xticklabels=list(xlabels), yticks=range(len(pvalues)),
           yticklabels=list(pvalues.index), xlabel=xlabel)
    ax.figure.colorbar(image, ax=ax, label="log10 p-value")
    return ax


def plot_accuracy(ax: Any, labels: Sequence[str], realized: Sequence[float],
                  estimated: Sequence[float], bars: bool = False, name: str = "",
                  marker: str = "o") -> Any:
    """Realized against estimated accuracy per window (lines) or per case (``bars``)."""
    x = np.arange(len(labels))
    prefix = f"{name}: " if name else ""
    if bars:
        ax.bar(x - 0.2, realized, 0.4, label=f"{prefix}realized")
        ax.bar(x + 0.2, estimated, 0.4, hatch="//", label=f"{prefix}estimated (CBPE)")
    else:
        ax.plot(x, realized, marker + "-", label=f"{prefix}realized")
        ax.plot(x, estimated, marker + ":", label=f"{prefix}estimated (CBPE)")
    ax.set(xticks=x, xticklabels=list(labels), ylabel="accuracy", ylim=(0.5, 1))
    ax.legend(loc="lower left", fontsize=8)
    return ax


def numeric_sample(values: object, name: str) -> np.ndarray:
    """The numbers of a sample as a float array, NaN (and what does not parse) dropped; an
    empty result is a ``ValueError`` that names the sample."""
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    if np.isnan(x).all():
        raise ValueError(f"the {name} sample has no numbers: nothing to compare")
    return x[~np.isnan(x)]


def ecdf_gap(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pooled sorted values ``z`` and ``F_x - F_y`` just after each of them.

    One stable sort merges the two sorted samples in linear time; where values tie, only the
    gap after the last of them is a value of ``F_x - F_y``.
    """
    z = np.concatenate([np.sort(x), np.sort(y)])
    order = np.argsort(z, kind="stable")
    return z[order], np.cumsum(np.where(order < len(x), 1 / len(x), -1 / len(y)))


class AlertState:
    """The state of an alert rule (the lab writes its ``update``): its settings, the open
    alerts by key, every alert fired (``history``), and per key the current run of breaching
    windows (``_run``: count, first window, its time, worst value) and of calm ones (``_calm``).
    ``sign`` is +1 when higher values are worse, -1 when lower ones are (p-values, accuracy).
    """

    def __init__(self, name: str, metric: str, threshold: float,
                 clear_threshold: float | None = None, fire_after: int = 2,
                 clear_after: int = 2, higher_is_worse: bool = True) -> None:
        if fire_after < 1 or clear_after < 1:
            raise ValueError(f"fire_after and clear_after must be at least 1; got "
                             f"{fire_after}, {clear_after}")
        self.name, self.metric, self.threshold = name, metric, threshold
        self.clear_threshold = threshold if clear_threshold is None else clear_threshold
        self.fire_after, self.clear_after = fire_after, clear_after
        self.sign = 1.0 if higher_is_worse else -1.0
        self.open: dict[str, Alert] = {}
        self.history: list[Alert] = []
        self._run: dict[str, tuple] = {}
        self._calm: dict[str, int] = {}
