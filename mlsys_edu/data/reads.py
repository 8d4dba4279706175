"""Record which data files a run reads, so the course build can cache by their content.

When ``MLSYS_EDU_READS`` names a file, every dataset file a loader reads is appended to it as
``path<TAB>sha256``. The build sets it while executing a notebook and re-hashes those files next
time: an unchanged lab whose data is unchanged is not executed again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ENV = "MLSYS_EDU_READS"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_read(path: Path, sha256: str | None = None) -> None:
    """Note that ``path`` was read (a no-op unless ``MLSYS_EDU_READS`` is set)."""
    log = os.environ.get(ENV)
    if not log:
        return
    path = Path(path).resolve()
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{path}\t{sha256 or sha256_file(path)}\n")


def read_log(log: Path) -> dict[str, str]:
    """``{path: sha256}`` from a reads log (empty when nothing was read)."""
    if not log.is_file():
        return {}
    entries = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        path, _, sha = line.partition("\t")
        if path and sha:
            entries[path] = sha
    return entries
