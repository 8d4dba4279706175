"""Execute a solution notebook with nbclient, cached by content.

A run's inputs are the notebook itself (which embeds the lab's public tests), the lab's test
files, the toolkit modules the kernel imported and the data files it read (recorded through
``MLSYS_EDU_READS``). Their hashes are stored next to the executed notebook; the next build
re-hashes them, and an unchanged lab is not executed again. A failing cell fails the build with
the lab, the source line, the notebook cell number and the traceback (never ``allow_errors``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbformat import NotebookNode

from mlsys_edu.data.reads import ENV as READS_ENV
from mlsys_edu.data.reads import read_log, sha256_file
from mlsys_edu.lab.checklog import ENV as CHECK_LOG_ENV
from mlsys_edu.lab.figures import alt_texts
from mlsys_edu.lab.checklog import failed_checks, read_check_log
from mlsys_edu.lab.layout import Lab

ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in IPython tracebacks
# Run after the last cell: which toolkit modules did the notebook load?
IMPORTED_MODULES = (
    "import json, sys\n"
    "print(json.dumps(sorted({m.__file__ for n, m in list(sys.modules.items())\n"
    "    if n.split('.')[0] == 'mlsys_edu' and getattr(m, '__file__', None)})))"
)


class NotebookExecutionError(RuntimeError):
    """A cell of a lab's solution notebook failed during the build."""


@dataclass(frozen=True)
class ExecutionResult:
    notebook: NotebookNode
    cached: bool
    seconds: float


def content_key(lab: Lab, notebook_text: str, extra: str = "") -> str:
    """sha256 over the notebook, the lab's test files, the Python version and settings."""
    digest = hashlib.sha256(notebook_text.encode())
    for path in sorted(lab.tests_dir.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{platform.python_version()}|{extra}".encode())
    return digest.hexdigest()


def _stamp_path(lab: Lab) -> Path:
    return lab.build / "cache" / f"{lab.name}.json"


def cache_hit(lab: Lab, key: str) -> bool:
    """Whether the executed notebook on disk came from this key with unchanged inputs."""
    stamp, target = _stamp_path(lab), lab.solution_notebook
    if not (stamp.is_file() and target.is_file()):
        return False
    record = json.loads(stamp.read_text())
    if record.get("key") != key:
        return False
    return all(Path(path).is_file() and sha256_file(Path(path)) == sha
               for path, sha in record.get("inputs", {}).items())


def label_figures(nb: NotebookNode) -> None:
    """Give each PNG output the text alternative of its cell's ``# alt:`` line, in order, as
    ``metadata["image/png"]["alt"]`` (what nbconvert, nbsphinx and IPython's Image use)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        alts = iter(alt_texts(cell.source.splitlines()))
        for output in cell.get("outputs", []):
            if "image/png" in output.get("data", {}):
                alt = next(alts, None)
                if alt:
                    output.setdefault("metadata", {}).setdefault("image/png", {})["alt"] = alt


def _source_line(nb: NotebookNode, index: int) -> str:
    meta = nb.cells[index].metadata.get("mlsys_edu", {})
    return f":{meta['line']}" if "line" in meta else ""


def _imported_toolkit(client: NotebookClient, nb: NotebookNode) -> list[str]:
    """Files of the ``mlsys_edu`` modules loaded in the kernel (a cell run, then dropped)."""
    probe = nbformat.v4.new_code_cell(IMPORTED_MODULES)
    nb.cells.append(probe)
    try:
        client.execute_cell(probe, len(nb.cells) - 1)
    finally:
        nb.cells.pop()
    text = "".join(o.get("text", "") for o in probe.outputs if o.get("name") == "stdout")
    return json.loads(text or "[]")


def _run(nb: NotebookNode, lab: Lab, workdir: Path, timeout_s: int, reads_log: Path) -> dict:
    """Execute every code cell in order; return ``{input file: sha256}`` of what it used.

    Every ``check("qN")`` must give the solution full marks: a solution that fails its own
    public tests fails the build, with the tests that failed.
    """
    checks_log = reads_log.with_suffix(".checks")
    checks_log.unlink(missing_ok=True)
    saved = {name: os.environ.get(name) for name in (READS_ENV, CHECK_LOG_ENV)}
    os.environ[READS_ENV] = str(reads_log)  # the kernel inherits both
    os.environ[CHECK_LOG_ENV] = str(checks_log)
    # The kernel listens on loopback only; its start-up warning about unencrypted TCP is
    # noise in an instructor's build log, so only its errors are shown.
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
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
                        f"failed:\n{ANSI.sub('', str(err))}"
                    ) from None
            modules = _imported_toolkit(client, nb)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    failures = failed_checks(read_check_log(checks_log))
    if failures:
        raise NotebookExecutionError(f"lab {lab.name}: the solution notebook does not pass its "
                                     "own public checks:\n  " + "\n  ".join(failures))
    inputs = {path: sha256_file(Path(path)) for path in modules}
    inputs.update(read_log(reads_log))
    return inputs


def execute_cached(lab: Lab, nb: NotebookNode, timeout_s: int, force: bool = False) -> ExecutionResult:
    """Execute ``nb`` into ``lab.solution_notebook`` unless the cache says it is current."""
    key = content_key(lab, nbformat.writes(nb), extra=str(timeout_s))
    if not force and cache_hit(lab, key):
        return ExecutionResult(nbformat.read(lab.solution_notebook, as_version=4), True, 0.0)
    workdir = lab.build / "run" / lab.name
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    reads_log = workdir.parent / f"{lab.name}.reads"
    reads_log.unlink(missing_ok=True)
    start = time.perf_counter()
    inputs = _run(nb, lab, workdir, timeout_s, reads_log)
    seconds = time.perf_counter() - start
    label_figures(nb)
    lab.solution_notebook.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, lab.solution_notebook)
    stamp = _stamp_path(lab)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"key": key, "inputs": inputs, "seconds": round(seconds, 2)},
                                indent=1))
    return ExecutionResult(nb, False, seconds)
