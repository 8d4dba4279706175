"""Execute a solution notebook with nbclient, cached by content.

The cache key covers the lab's source and tests, the toolkit's code and the course settings;
the data files the run read (recorded through ``MLSYS_EDU_READS``) are re-hashed on the next
build. An unchanged lab is not executed again. A failing cell fails the build with the lab,
the source line, the notebook cell number and the traceback (never ``allow_errors``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbformat import NotebookNode

import mlsys_edu
from mlsys_edu.data.reads import ENV as READS_ENV
from mlsys_edu.data.reads import read_log, sha256_file
from mlsys_edu.lab.layout import Lab

TOOLKIT = Path(mlsys_edu.__file__).parent


class NotebookExecutionError(RuntimeError):
    """A cell of a lab's solution notebook failed during the build."""


@dataclass(frozen=True)
class ExecutionResult:
    notebook: NotebookNode
    cached: bool
    seconds: float


def content_key(lab: Lab, notebook_text: str, extra: str = "") -> str:
    """sha256 over what decides a run's outputs: the notebook, tests, toolkit and Python."""
    digest = hashlib.sha256()
    digest.update(notebook_text.encode())
    for path in sorted(lab.tests_dir.glob("*.py")) + sorted(TOOLKIT.rglob("*.py")):
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    digest.update(f"{platform.python_version()}|{extra}".encode())
    return digest.hexdigest()


def _stamp_path(lab: Lab) -> Path:
    return lab.build / "cache" / f"{lab.name}.json"


def cache_hit(lab: Lab, key: str) -> bool:
    """Whether the executed notebook on disk came from this key and unchanged data."""
    stamp, target = _stamp_path(lab), lab.solution_notebook
    if not (stamp.is_file() and target.is_file()):
        return False
    record = json.loads(stamp.read_text())
    if record.get("key") != key:
        return False
    for path, sha in record.get("reads", {}).items():
        if not Path(path).is_file() or sha256_file(Path(path)) != sha:
            return False
    return True


def _source_line(nb: NotebookNode, index: int) -> str:
    meta = nb.cells[index].metadata.get("mlsys_edu", {})
    return f":{meta['line']}" if "line" in meta else ""


def _run(nb: NotebookNode, lab: Lab, workdir: Path, timeout_s: int, reads_log: Path) -> None:
    env_before = os.environ.get(READS_ENV)
    os.environ[READS_ENV] = str(reads_log)  # the kernel inherits it
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    try:
        with client.setup_kernel(cwd=str(workdir)):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except (CellExecutionError, CellTimeoutError) as err:
                    where = f"{lab.source.relative_to(lab.root)}{_source_line(nb, index)}"
                    raise NotebookExecutionError(
                        f"lab {lab.name}: cell {index + 1} of the solution notebook ({where}) "
                        f"failed:\n{err}"
                    ) from None
    finally:
        if env_before is None:
            os.environ.pop(READS_ENV, None)
        else:
            os.environ[READS_ENV] = env_before


def execute_cached(lab: Lab, nb: NotebookNode, timeout_s: int, force: bool = False) -> ExecutionResult:
    """Execute ``nb`` into ``lab.solution_notebook`` unless the cache says it is current."""
    text = nbformat.writes(nb)
    key = content_key(lab, text, extra=str(timeout_s))
    if not force and cache_hit(lab, key):
        return ExecutionResult(nbformat.read(lab.solution_notebook, as_version=4), True, 0.0)
    workdir = lab.build / "run" / lab.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    reads_log = workdir.parent / f"{lab.name}.reads"
    reads_log.unlink(missing_ok=True)
    start = time.perf_counter()
    _run(nb, lab, workdir, timeout_s, reads_log)
    seconds = time.perf_counter() - start
    lab.solution_notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, lab.solution_notebook)
    stamp = _stamp_path(lab)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"key": key, "reads": read_log(reads_log),
                                 "seconds": round(seconds, 2)}, indent=1))
    return ExecutionResult(nb, False, seconds)
