"""The UCI YouTube Spam Collection: 1,956 comments on five music videos, labelled spam/ham.

T. C. Alberto, J. V. Lochter, T. A. Almeida, "TubeSpam: Comment Spam Filtering on YouTube",
ICMLA 2015. UCI Machine Learning Repository, dataset 380. License: CC BY 4.0.

Five CSV files, one per video, with columns ``COMMENT_ID, AUTHOR, DATE, CONTENT, CLASS``.
Offline, put them in ``$MLSYS_EDU_DATA/youtube_spam/``; otherwise the archive is downloaded
from UCI into the cache (see :mod:`mlsys_edu.data.cache`). Either way the files are verified
by content: each file's row and spam counts must match the published ones.
"""

from __future__ import annotations

import html
import io
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlsys_edu.data.cache import DATA_ENV, Opener, cached_download, offline_dir
from mlsys_edu.data.reads import record_read

DATASET = "youtube_spam"
URL = "https://archive.ics.uci.edu/static/public/380/youtube+spam+collection.zip"

# file name -> (rows, spam rows), in video order 1..5.
EXPECTED_COUNTS: dict[str, tuple[int, int]] = {
    "Youtube01-Psy.csv": (350, 175),
    "Youtube02-KatyPerry.csv": (350, 175),
    "Youtube03-LMFAO.csv": (438, 236),
    "Youtube04-Eminem.csv": (448, 245),
    "Youtube05-Shakira.csv": (370, 174),
}
COLUMNS = ["comment_id", "author", "date", "text", "label", "video"]
SPLIT_SEED = 123  # the Snorkel spam tutorial's random_state


class DataVerificationError(ValueError):
    """A dataset file's content does not match the published counts."""


@dataclass(frozen=True)
class SpamSplits:
    """The Snorkel spam tutorial's split: ``train`` (videos 1-4, labels hidden as -1),
    ``valid`` (120 rows of video 5) and ``test`` (250 rows of video 5)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def _clean_text(values: pd.Series) -> pd.Series:
    """Decode HTML entities (``&amp;`` -> ``&``, ``&#39;`` -> ``'``), drop byte-order marks."""
    return values.fillna("").astype(str).map(lambda s: html.unescape(s).replace("\ufeff", "")
                                             .strip())


def _zip_member(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """The bytes of the member whose base name is ``name``, searching nested zips too."""
    for info in archive.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if base == name and not info.filename.startswith("__MACOSX"):
            return archive.read(info)
    for info in archive.infolist():
        if info.filename.lower().endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(archive.read(info))) as inner:
                found = _zip_member(inner, name)
                if found is not None:
                    return found
    return None


def _raw_files(url: str, opener: Opener | None) -> tuple[dict[str, bytes], str]:
    """Each CSV's bytes, and where they came from (for error messages)."""
    folder = offline_dir(DATASET)
    if folder is not None and all((folder / name).is_file() for name in EXPECTED_COUNTS):
        for name in EXPECTED_COUNTS:
            record_read(folder / name)  # the course build caches executions by these hashes
        return {name: (folder / name).read_bytes() for name in EXPECTED_COUNTS}, str(folder)
    archive_path = cached_download(DATASET, url, "youtube+spam+collection.zip", opener=opener)
    record_read(archive_path)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            files = {name: _zip_member(archive, name) for name in EXPECTED_COUNTS}
    except zipfile.BadZipFile as exc:
        raise DataVerificationError(
            f"{archive_path} is not a valid zip archive; delete it and retry, or set "
            f"${DATA_ENV} to a folder holding youtube_spam/*.csv") from exc
    missing = [name for name, data in files.items() if data is None]
    if missing:
        raise DataVerificationError(
            f"{archive_path} (from {url}) lacks {missing}; delete it and retry, or set "
            f"${DATA_ENV} to a folder holding youtube_spam/*.csv")
    return {name: data for name, data in files.items() if data is not None}, str(archive_path)


def _parse(name: str, data: bytes, video: int, source: str) -> pd.DataFrame:
    """One CSV as a clean DataFrame, verified against ``EXPECTED_COUNTS``."""
    raw = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    raw.columns = [c.strip().lstrip("\ufeff").upper() for c in raw.columns]
    needed = ["COMMENT_ID", "AUTHOR", "DATE", "CONTENT", "CLASS"]
    if any(c not in raw.columns for c in needed):
        raise DataVerificationError(
            f"{name} in {source}: expected columns {needed}, found {list(raw.columns)}")
    labels = pd.to_numeric(raw["CLASS"], errors="coerce")
    rows, spam = len(raw), int((labels == 1).sum())
    want_rows, want_spam = EXPECTED_COUNTS[name]
    if (rows, spam) != (want_rows, want_spam) or labels.isin([0, 1]).sum() != rows:
        raise DataVerificationError(
            f"{name} in {source} has {rows} rows and {spam} spam; expected {want_rows} rows "
            f"and {want_spam} spam (labels must be 0 or 1). The file is corrupt or a different "
            "version: delete it and download again from " + URL)
    return pd.DataFrame({
        "comment_id": raw["COMMENT_ID"].str.strip(),
        "author": _clean_text(raw["AUTHOR"]),
        "date": pd.to_datetime(raw["DATE"].replace("", None), errors="coerce",
                               format="ISO8601"),
        "text": _clean_text(raw["CONTENT"]),
        "label": labels.astype(np.int64),
        "video": np.full(rows, video, dtype=np.int64),
    })


def load_youtube_spam(*, url: str = URL, opener: Opener | None = None) -> pd.DataFrame:
    """All 1,956 comments, in file order, with columns
    ``comment_id, author, date, text, label, video`` (label 0 ham / 1 spam, video 1..5).

    Text has HTML entities decoded and byte-order marks removed.
    """
    files, source = _raw_files(url, opener)
    frames = [_parse(name, files[name], video, source)
              for video, name in enumerate(EXPECTED_COUNTS, start=1)]
    return pd.concat(frames, ignore_index=True)


def raw_youtube_spam(*, url: str = URL, opener: Opener | None = None) -> dict[str, bytes]:
    """The five CSV files' bytes as published (HTML entities and all), by file name; verified
    by content like :func:`load_youtube_spam`. For labs whose pipelines start from raw files."""
    files, source = _raw_files(url, opener)
    for video, name in enumerate(EXPECTED_COUNTS, start=1):
        _parse(name, files[name], video, source)
    return {name: files[name] for name in EXPECTED_COUNTS}


def youtube_spam(*, url: str = URL, opener: Opener | None = None) -> SpamSplits:
    """The Snorkel spam tutorial's split, so results compare with its published numbers.

    Each video's rows are shuffled with ``random_state=123``. ``train`` = videos 1-4 (1,586
    rows) with its ``label`` column set to -1: weak supervision assumes no training labels.
    Video 5 is split with ``train_test_split(test_size=250, stratify=label, random_state=123)``
    into ``valid`` (120 rows) and ``test`` (250 rows), both with true labels.
    """
    from sklearn.model_selection import train_test_split

    data = load_youtube_spam(url=url, opener=opener)
    videos = [data[data["video"] == v].sample(frac=1, random_state=SPLIT_SEED)
              for v in range(1, len(EXPECTED_COUNTS) + 1)]
    train = pd.concat(videos[:4], ignore_index=True)
    train["label"] = -1
    valid, test = train_test_split(videos[4], test_size=250, random_state=SPLIT_SEED,
                                   stratify=videos[4]["label"])
    return SpamSplits(train=train, valid=valid.reset_index(drop=True),
                      test=test.reset_index(drop=True))


__all__ = ["COLUMNS", "DataVerificationError", "EXPECTED_COUNTS", "SpamSplits", "URL",
           "load_youtube_spam", "raw_youtube_spam", "youtube_spam"]

