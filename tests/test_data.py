"""mlsys_edu.data: the download cache and the YouTube spam loader. No network: downloads go
through ``file://`` URLs or a fake opener."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mlsys_edu.data import (DataUnavailableError, DataVerificationError, SpamSplits,
                            load_youtube_spam, youtube_spam)
from mlsys_edu.data import cache
from mlsys_edu.data.youtube_spam import EXPECTED_COUNTS

HEADER = "COMMENT_ID,AUTHOR,DATE,CONTENT,CLASS\n"


def _mirror() -> Path | None:
    root = os.environ.get("MLSYS_EDU_DATA")
    folder = Path(root) / "youtube_spam" if root else None
    return folder if folder and all((folder / n).is_file() for n in EXPECTED_COUNTS) else None


needs_mirror = pytest.mark.skipif(_mirror() is None,
                                  reason="set MLSYS_EDU_DATA to the offline data folder")


def _fake_csv(rows: int, spam: int, first_text: str = "hello") -> str:
    """A CSV with ``rows`` rows of which ``spam`` are spam; the first row's text is given."""
    lines = [HEADER]
    for i in range(rows):
        text = first_text if i == 0 else f"comment {i}"
        lines.append(f'id{i},"author {i}",2015-05-29T02:30:18,"{text}",{int(i < spam)}\n')
    return "".join(lines)


def _fake_folder(root: Path, overrides: dict[str, str] | None = None) -> Path:
    """``root/youtube_spam/*.csv`` with the published counts (or the given overrides)."""
    folder = root / "youtube_spam"
    folder.mkdir(parents=True)
    for name, (rows, spam) in EXPECTED_COUNTS.items():
        text = (overrides or {}).get(name) or _fake_csv(rows, spam)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No offline folder, an empty cache under tmp_path."""
    monkeypatch.delenv("MLSYS_EDU_DATA", raising=False)
    monkeypatch.setenv("MLSYS_EDU_CACHE", str(tmp_path / "cache"))
    return tmp_path


# ---------------------------------------------------------------- the real data (offline copy)
@needs_mirror
def test_counts_and_columns():
    data = load_youtube_spam()
    assert list(data.columns) == ["comment_id", "author", "date", "text", "label", "video"]
    assert len(data) == 1956
    for video, (name, (rows, spam)) in enumerate(EXPECTED_COUNTS.items(), start=1):
        part = data[data["video"] == video]
        assert (len(part), int(part["label"].sum())) == (rows, spam), name
    assert set(data["label"]) == {0, 1}


@needs_mirror
def test_text_is_clean():
    text = load_youtube_spam()["text"]
    assert not text.str.contains("\ufeff").any()
    assert not text.str.contains(r"&(?:amp|quot|#39|lt|gt);", regex=True).any()
    assert text.str.contains("&").any()  # the decoded entities are still there


@needs_mirror
def test_split_sizes_and_hidden_train_labels():
    splits = youtube_spam()
    assert isinstance(splits, SpamSplits)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (1586, 120, 250)
    assert set(splits.train["video"]) == {1, 2, 3, 4}
    assert (splits.train["label"] == -1).all()
    assert set(splits.valid["video"]) == set(splits.test["video"]) == {5}
    assert not set(splits.valid["comment_id"]) & set(splits.test["comment_id"])
    # stratified: both splits keep video 5's spam rate (174 / 370) to within a row
    assert abs(splits.test["label"].sum() - 250 * 174 / 370) <= 1
    assert abs(splits.valid["label"].sum() - 120 * 174 / 370) <= 1


@needs_mirror
def test_split_is_deterministic():
    first, second = youtube_spam(), youtube_spam()
    for split in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(getattr(first, split), getattr(second, split))


# ---------------------------------------------------------------- parsing and verification
def test_entities_and_bom_are_removed(isolated, monkeypatch):
    rows, spam = EXPECTED_COUNTS["Youtube01-Psy.csv"]
    odd = "\ufeff" + _fake_csv(rows, spam, first_text="Tom &amp; Jerry&#39;s song\ufeff")
    _fake_folder(isolated / "data", {"Youtube01-Psy.csv": odd})
    monkeypatch.setenv("MLSYS_EDU_DATA", str(isolated / "data"))
    data = load_youtube_spam()
    assert data.loc[0, "text"] == "Tom & Jerry's song"
    assert data.loc[0, "comment_id"] == "id0"  # the file's BOM did not stick to the header


def test_wrong_counts_name_the_file(isolated, monkeypatch):
    bad = _fake_csv(350, 170)
    _fake_folder(isolated / "data", {"Youtube02-KatyPerry.csv": bad})
    monkeypatch.setenv("MLSYS_EDU_DATA", str(isolated / "data"))
    with pytest.raises(DataVerificationError, match=r"Youtube02-KatyPerry\.csv.*170 spam.*175"):
        load_youtube_spam()


def _zip_of_fake_files(tmp_path: Path) -> Path:
    folder = _fake_folder(tmp_path / "zipsrc")
    archive = tmp_path / "spam.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in EXPECTED_COUNTS:
            zf.write(folder / name, arcname=name)
    return archive


def test_download_from_file_url_fills_the_cache(isolated):
    archive = _zip_of_fake_files(isolated)
    data = load_youtube_spam(url=archive.as_uri())
    assert len(data) == 1956
    cached = isolated / "cache" / "youtube_spam" / "youtube+spam+collection.zip"
    assert cached.read_bytes() == archive.read_bytes()
    archive.unlink()  # the second load needs no download
    assert len(load_youtube_spam(url=archive.as_uri())) == 1956


def test_missing_data_error_names_url_and_env_var(isolated):
    dead = (isolated / "nowhere" / "spam.zip").as_uri()
    with pytest.raises(DataUnavailableError) as info:
        load_youtube_spam(url=dead)
    assert dead in str(info.value) and "MLSYS_EDU_DATA" in str(info.value)
    leftovers = [p for p in (isolated / "cache").rglob("*") if p.is_file()]
    assert leftovers == []  # no partial download left behind


def test_failed_download_leaves_no_partial_file(tmp_path):
    class Broken(io.BytesIO):
        def read(self, *args):  # the connection drops after the first chunk
            if self.tell():
                raise ConnectionResetError("connection reset by peer")
            return super().read(*args)

        def __enter__(self):
            return self

    dest = tmp_path / "out" / "file.zip"
    with pytest.raises(DataUnavailableError, match="https://example.invalid/file.zip"):
        cache.download("https://example.invalid/file.zip", dest,
                       opener=lambda url, timeout: Broken(b"x" * 100_000))
    assert not dest.exists() and not list(dest.parent.iterdir())


def test_cache_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MLSYS_EDU_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path
    monkeypatch.delenv("MLSYS_EDU_CACHE")
    assert cache.cache_dir() == Path("~/.cache/mlsys_edu").expanduser()


def test_reads_are_recorded_for_the_build_cache(isolated, monkeypatch):
    folder = _fake_folder(isolated / "data")
    monkeypatch.setenv("MLSYS_EDU_DATA", str(isolated / "data"))
    log = isolated / "reads.log"
    monkeypatch.setenv("MLSYS_EDU_READS", str(log))
    load_youtube_spam()
    from mlsys_edu.data.reads import read_log, sha256_file
    entries = read_log(log)
    assert set(entries) == {str((folder / n).resolve()) for n in EXPECTED_COUNTS}
    assert entries[str((folder / "Youtube01-Psy.csv").resolve())] == sha256_file(
        folder / "Youtube01-Psy.csv")
