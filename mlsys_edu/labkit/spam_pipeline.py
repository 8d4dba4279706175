"""The spam filter's training-data pipeline, as lab 02 receives it (bugs included).

Five CSV exports of YouTube comments, one per video, go through ingestion, cleaning,
deduplication, features, a per-day volume join, a split into a hand-labelled validation part
and an unlabelled training part, the spam LFs of :mod:`mlsys_edu.labkit.weak_labels` and a
one-coin label model. The steps are plain functions of ``Traced`` frames (the lab's class:
``.frame``, ``.map``, ``.filter``, ``.join``, ``.aggregate``, ``concat``), so the lab's pipeline
records their row-level lineage. The code looks like code that ships; the lab's hunt is to
find, with the tools the lab builds, what is wrong with it and with this week's exports.
"""

from __future__ import annotations

import html
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlsys_edu.labkit.label_matrix import ABSTAIN
from mlsys_edu.labkit.pipelines import Source, Step
from mlsys_edu.labkit.weak_labels import SPAM, SPAM_PATTERN_LFS, OneCoinModel, label_matrix

EXPORTS = ("Youtube01-Psy", "Youtube02-KatyPerry", "Youtube03-LMFAO", "Youtube04-Eminem",
           "Youtube05-Shakira")
RAW_COLUMNS = ("COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS")
VOTE_COLUMNS = tuple(f"lf_{lf.name}" for lf in SPAM_PATTERN_LFS)
NEW_EXPORTER = "Youtube05-Shakira"  # this week's export came from the new API client


def _epoch_seconds(dates: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(dates.where(dates != ""), format="ISO8601")
    seconds = (parsed - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    return seconds.map(lambda s: "" if pd.isna(s) else str(int(s)))


def write_exports(folder: str | Path, raw: dict[str, bytes], this_week: bool = True
                  ) -> dict[str, Path]:
    """Write the exports into ``folder`` from ``raw`` (file name -> the published CSV bytes,
    ``mlsys_edu.data.youtube_spam.raw_youtube_spam()``); return name -> path.

    ``this_week=False`` writes last week's files (as published). ``this_week=True`` writes
    this week's, where one export comes from a new client that writes DATE as Unix time.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in EXPORTS:
        data = raw[f"{name}.csv"]
        if this_week and name == NEW_EXPORTER:
            frame = pd.read_csv(pd.io.common.BytesIO(data), dtype=str, keep_default_na=False,
                                encoding="utf-8-sig")
            frame["DATE"] = _epoch_seconds(frame["DATE"])
            data = frame.to_csv(index=False).encode("utf-8")
        paths[name] = folder / f"{name}.csv"
        paths[name].write_bytes(data)
    return paths


# ----------------------------------------------------------------------------- the steps
def parse_date(raw: pd.Series, epoch_unit: str = "ms") -> pd.Series:
    """ISO 8601 text, or Unix time in ``epoch_unit`` (the mobile exporter writes ms); '' is
    missing."""
    raw = raw.astype(str).str.strip()
    epoch = raw.str.fullmatch(r"\d+").to_numpy(dtype=bool)
    iso = ~epoch & (raw != "").to_numpy(dtype=bool)
    out = np.full(len(raw), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[iso] = pd.to_datetime(raw[iso], format="ISO8601").to_numpy(dtype="datetime64[ns]")
    out[epoch] = pd.to_datetime(raw[epoch].astype("int64"), unit=epoch_unit).to_numpy(
        dtype="datetime64[ns]")
    return pd.Series(out, index=raw.index)


def ingest(*exports: Any, videos: list[int], epoch_unit: str = "ms") -> Any:
    """Typed comments from the raw exports (strings): one frame, in export order."""
    parts = []
    for export, video in zip(exports, videos, strict=True):
        raw = export.frame
        parts.append(export.map(pd.DataFrame({
            "comment_id": raw["COMMENT_ID"].astype(str).str.strip(),
            "author": raw["AUTHOR"].astype(str),
            "date": parse_date(raw["DATE"], epoch_unit),
            "text": raw["CONTENT"].astype(str),
            "label": pd.to_numeric(raw["CLASS"]).astype(np.int64),
            "video": np.full(len(raw), video, dtype=np.int64)})))
    return type(exports[0]).concat(parts)


MARKUP_RE = re.compile(r"<[^>]+>|\ufeff")
SPACES_RE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Drop HTML tags and byte-order marks, decode entities (``&#39;`` -> '), squeeze spaces."""
    return SPACES_RE.sub(" ", html.unescape(MARKUP_RE.sub(" ", text))).strip()


def clean(comments: Any, chunk_rows: int = 500) -> Any:
    """Clean author and text, in chunks of ``chunk_rows`` (big exports), then drop empty texts."""
    frame = comments.frame
    text = frame["text"].to_numpy(dtype=object).copy()
    author = frame["author"].to_numpy(dtype=object).copy()
    for start in range(0, len(frame) - chunk_rows, chunk_rows):
        chunk = slice(start, start + chunk_rows)
        text[chunk] = [clean_text(t) for t in text[chunk]]
        author[chunk] = [clean_text(a) for a in author[chunk]]
    cleaned = comments.map(frame.assign(text=text.astype(str), author=author.astype(str)))
    return cleaned.filter(cleaned.frame["text"].str.len().to_numpy() > 0)


def dedupe(comments: Any) -> Any:
    """Drop repeated (author, text) pairs: a bot posting one pitch ten times counts once."""
    return comments.filter(~comments.frame.duplicated(["author", "text"]).to_numpy())


WORD_RE = re.compile(r"[A-Za-z0-9']+")  # ASCII classes: Python's re and Arrow's RE2 agree
LINK_RE = re.compile(r"https?://|www\.|\.com\b", re.IGNORECASE)


def features(comments: Any) -> Any:
    """Features the model and the monitoring use; ``day`` keys the volume join."""
    frame = comments.frame
    text = frame["text"].astype(str)
    return comments.map(frame.assign(
        day=frame["date"].dt.floor("D"),
        hour=frame["date"].dt.hour.astype("float64"),
        n_chars=text.str.len().astype(np.int64),
        n_words=text.str.count(WORD_RE.pattern).astype(np.int64),
        has_link=text.str.contains(LINK_RE.pattern, case=False, regex=True).astype(bool)))


def daily_volume(comments: Any) -> Any:
    """Comments per video and day: spam comes in bursts."""
    return comments.aggregate(["video", "day"], comments_that_day=("comment_id", "size"))


def add_volume(comments: Any, volume: Any) -> Any:
    """Each comment with its video's comment count that day."""
    return comments.join(volume, on=["video", "day"])


def _in_valid(comment_ids: pd.Series, one_in: int) -> np.ndarray:
    """A stable hash of the comment id decides who was hand-labelled: one comment in ``one_in``."""
    return np.array([zlib.crc32(c.encode()) % one_in == 0 for c in comment_ids], dtype=bool)


def valid_split(comments: Any, one_in: int = 4) -> Any:
    """The hand-labelled validation part (labels kept)."""
    return comments.filter(_in_valid(comments.frame["comment_id"], one_in))


def train_split(comments: Any, one_in: int = 4) -> Any:
    """The training part: weak supervision assumes no labels, so ``label`` becomes -1."""
    train = comments.filter(~_in_valid(comments.frame["comment_id"], one_in))
    return train.map(train.frame.assign(label=np.int64(ABSTAIN)))


def lf_votes(comments: Any) -> Any:
    """The spam LFs' votes, one ``lf_<name>`` column each (-1 = abstain)."""
    L = label_matrix(comments.frame["text"].tolist())
    return comments.map(pd.DataFrame(L.astype(np.int64), columns=list(VOTE_COLUMNS)))


def training_set(comments: Any, votes: Any) -> Any:
    """Comments some LF voted on, with the one-coin label model's P(spam) and label."""
    L = votes.frame[list(VOTE_COLUMNS)].to_numpy(dtype=np.int8)
    p_spam = OneCoinModel(cardinality=2).fit_accuracies(L).predict_proba(L)[:, SPAM]
    joined = comments.join(votes, on=None)
    labelled = joined.map(joined.frame.assign(p_spam=p_spam,
                                              label=(p_spam > 0.5).astype(np.int64)))
    return labelled.filter((L != ABSTAIN).any(axis=1))


def spam_pipeline(exports: dict[str, Path], source_schema: Any = None) -> list[Source | Step]:
    """The pipeline's declaration: the exports, then every step with its inputs."""
    sources = [Source(name, path=str(path), schema=source_schema)
               for name, path in exports.items()]
    names = [s.name for s in sources]
    return sources + [
        Step("ingest", ingest, names, {"videos": [int(n[7:9]) for n in names]}),
        Step("clean", clean, ["ingest"]),
        Step("dedupe", dedupe, ["clean"]),
        Step("features", features, ["dedupe"]),
        Step("daily_volume", daily_volume, ["features"]),
        Step("with_volume", add_volume, ["features", "daily_volume"]),
        Step("valid", valid_split, ["with_volume"]),
        Step("train", train_split, ["with_volume"]),
        Step("votes", lf_votes, ["train"]),
        Step("training_set", training_set, ["train", "votes"]),
    ]


URL_RE = re.compile(r"https?://\S+|www\.\S+")


def serving_features(texts: pd.Series) -> pd.DataFrame:
    """The request handler's features for raw comments: a second code path. Its privacy filter
    scrubs URLs from a comment before anything else reads it."""
    text = texts.astype(str).str.replace(URL_RE.pattern, " ", regex=True)
    return pd.DataFrame({
        "n_chars": text.map(lambda t: len(t.encode("utf-8"))).astype(np.int64),
        "n_words": text.str.split().str.len().astype(np.int64),
        "has_link": text.str.contains("http", regex=False).astype(bool)})


def plot_dates_and_positions(features: pd.DataFrame, source_rows: dict[str, np.ndarray],
                             n_rows: dict[str, int]) -> None:
    """Two panels for the hunt: each export's comment dates against their row, and where in
    ingest's output (the exports one after the other) the ``source_rows`` lie."""
    import matplotlib.pyplot as plt

    offsets = dict(zip(EXPORTS, np.cumsum([0] + [n_rows[s] for s in EXPORTS])))
    positions = np.concatenate([offsets[s] + r for s, r in source_rows.items()])
    total = sum(n_rows[s] for s in EXPORTS)

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    for k, (video, part) in enumerate(features.groupby("video")):
        axes[0].plot(part.index, part["date"], linestyle="none", marker="os^vD"[k % 5], ms=3,
                     color=f"C{k}", label=f"export {video:02d}")
    axes[0].set(xlabel="row of features", ylabel="comment date", title="dates by export")
    axes[0].legend(fontsize=7)
    axes[1].hist(positions, bins=np.arange(0, total + 50, 50), color="C1", hatch="//")
    axes[1].set(xlabel="row of ingest's output", ylabel="rows", title="rows with markup left")
    plt.tight_layout()
    plt.show()
