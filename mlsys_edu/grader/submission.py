"""Reading a submission: a notebook, or a zip from ``check.export()`` (notebook + manifest).

Only JSON is parsed here; nothing is executed or unpickled. A file that cannot be read raises
``Unreadable`` with a reason a student understands.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_NOTEBOOK_BYTES = 50 * 2**20


class Unreadable(ValueError):
    """The submission cannot be read; the message says why."""


@dataclass
class Submission:
    """The parts of a submission the judge needs."""

    student: str
    source: str
    cells: list[dict[str, Any]]  # code cells: index (in the notebook), source, tags
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _text(source: Any) -> str:
    if isinstance(source, list):
        return "".join(str(s) for s in source)
    return str(source or "")


def parse_notebook(data: bytes, name: str = "notebook") -> list[dict[str, Any]]:
    """The code cells of an ``.ipynb``'s bytes: ``[{index, source, tags}]``."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise Unreadable(f"{name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB; "
                         "clear the outputs (Kernel > Restart & Clear Output) and resubmit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                         "download it again from Jupyter/Colab as .ipynb") from None
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"{name} is not a valid notebook: its JSON is broken at line "
                         f"{exc.lineno} ({exc.msg}); download it again as .ipynb") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise Unreadable(f"{name} has no list of cells (was it edited by hand or truncated?); "
                         "download it again as .ipynb")
    out = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise Unreadable(f"{name}: cell {index} is not a cell object")
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        out.append({"index": index, "source": _text(cell.get("source")),
                    "tags": [str(t) for t in tags]})
    if not out:
        raise Unreadable(f"{name} has no code cells: it looks empty or its cells were lost")
    return out


def read_submission(path: Path) -> Submission:
    """Read ``path`` (``.ipynb`` or ``.zip``); raises ``Unreadable``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read {path.name}: {exc.strerror}") from None
    if path.suffix.lower() != ".zip":
        return Submission(path.stem, str(path), parse_notebook(data, path.name))
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = [n for n in zf.namelist() if n.endswith(".ipynb") and "/." not in f"/{n}"]
        if len(names) != 1:
            raise Unreadable(f"{path.name} should hold exactly one .ipynb, it holds {len(names)}; "
                             "make it with check.export()")
        nb_bytes = zf.read(names[0])
        manifest: dict[str, Any] = {}
        if "manifest.json" in zf.namelist():
            manifest = json.loads(zf.read("manifest.json").decode("utf-8"))
            if not isinstance(manifest, dict):
                manifest = {}
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
        raise Unreadable(f"{path.name} is not a readable submission zip ({exc}); "
                         "make it with check.export()") from None
    notes = []
    want = (manifest.get("files") or {}).get(names[0], {}).get("sha256")
    if want and want != hashlib.sha256(nb_bytes).hexdigest():
        notes.append("the notebook in the zip does not match the manifest's hash "
                     "(it was changed after export)")
    student = str(manifest.get("student") or path.stem)
    return Submission(student, str(path), parse_notebook(nb_bytes, names[0]), manifest, notes)


def find_submissions(paths: list[Path]) -> list[Path]:
    """Expand folders into their ``*.ipynb`` and ``*.zip`` files (sorted), keep files as given."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.suffix.lower() in (".ipynb", ".zip") and p.is_file())
        else:
            found.append(path)
    return found
