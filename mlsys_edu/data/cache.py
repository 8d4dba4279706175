"""Where datasets come from: an offline folder, else a download cache.

Lookup order for a dataset file:

1. the offline folder ``$MLSYS_EDU_DATA/<dataset>/`` (a mirror for machines without internet:
   CI, offline classrooms);
2. the cache ``$MLSYS_EDU_CACHE/<dataset>/`` (default ``~/.cache/mlsys_edu``), filled by a
   download from the dataset's canonical URL.

Downloads are atomic: bytes go to a temporary file in the same folder, which is renamed into
place only when complete, so an interrupted download never leaves a half file behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Callable

DATA_ENV = "MLSYS_EDU_DATA"
CACHE_ENV = "MLSYS_EDU_CACHE"
DEFAULT_CACHE = Path("~/.cache/mlsys_edu")

# ``opener(url, timeout=...)`` returns a file-like response; tests swap it for a fake.
Opener = Callable[..., Any]


class DataUnavailableError(RuntimeError):
    """A dataset is neither in the offline folder nor in the cache, and the download failed."""


def cache_dir() -> Path:
    """The download cache: ``$MLSYS_EDU_CACHE``, else ``~/.cache/mlsys_edu``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def offline_dir(dataset: str) -> Path | None:
    """``$MLSYS_EDU_DATA/<dataset>`` when the variable is set and that folder exists."""
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / dataset
    return folder if folder.is_dir() else None


def download(url: str, dest: Path, *, opener: Opener | None = None,
             timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically (temporary file, then ``os.replace``).

    Raises :class:`DataUnavailableError` naming the URL and ``$MLSYS_EDU_DATA`` on failure.
    """
    open_url = opener or urllib.request.urlopen
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, open_url(url, timeout=timeout_s) as response:
            shutil.copyfileobj(response, out)
        os.replace(tmp_name, dest)
    except Exception as exc:  # noqa: BLE001 - any failure becomes one clear message
        Path(tmp_name).unlink(missing_ok=True)
        raise DataUnavailableError(
            f"could not download {url} ({type(exc).__name__}: {exc}). Without internet, "
            f"download it elsewhere and point ${DATA_ENV} at a folder holding the dataset's "
            f"files (see the dataset's docstring), or put the file at {dest}."
        ) from exc
    return dest


def cached_download(dataset: str, url: str, filename: str | None = None, *,
                    opener: Opener | None = None) -> Path:
    """The cached copy of ``url`` under ``cache_dir()/<dataset>/``, downloading it if absent."""
    dest = cache_dir() / dataset / (filename or url.rstrip("/").rsplit("/", 1)[-1])
    if dest.is_file():
        return dest
    return download(url, dest, opener=opener)
