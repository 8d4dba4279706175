"""Grading past one machine: one Dask task per submission on an existing cluster.

``mlsys-edu grade LAB SUBS... --scheduler tcp://host:8786`` calls :func:`grade_with_dask`.
Workers need not share a file system with the client: each task carries the lab's files and
the submission's bytes, writes them into a private temporary folder on the worker, and calls
``grade_submission`` there (so each worker runs the same judge and sandbox as a local run).
Records come back as JSON text, parsed with ``json.loads`` -- never unpickled student data.
A task that fails or a worker that dies still yields a record (status ``internal-error``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mlsys_edu.lab.layout import LAB_DIR_RE, Lab

_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
MAX_LAB_BYTES = 64 * 2**20  # a lab folder larger than this is a mistake (data belongs elsewhere)


def lab_payload(lab: Lab) -> dict[str, Any]:
    """The lab as data a worker can rebuild: its name and every file's bytes (the reference
    is made from its lab.py there)."""
    files: dict[str, bytes] = {}
    for path in sorted(lab.dir.rglob("*")):
        rel = path.relative_to(lab.dir)
        if path.is_file() and not (_SKIP_PARTS & set(rel.parts)) and path.suffix != ".pyc":
            files[rel.as_posix()] = path.read_bytes()
    size = sum(map(len, files.values()))
    if size > MAX_LAB_BYTES:
        raise ValueError(f"{lab.dir} holds {size / 2**20:.0f} MiB; the Dask backend ships the lab "
                         f"folder to every task and allows {MAX_LAB_BYTES / 2**20:.0f} MiB")
    return {"name": lab.name, "files": files}


def _materialize(payload: dict[str, Any], root: Path) -> Lab:
    """Write a lab payload under ``root`` (``labs/NN_slug/...``) and return its ``Lab``."""
    match = LAB_DIR_RE.match(payload["name"])
    if not match:
        raise ValueError(f"bad lab name {payload['name']!r}")
    lab = Lab(root, match.group(1), match.group(2))
    for rel, data in payload["files"].items():
        target = (lab.dir / rel).resolve()
        if not target.is_relative_to(lab.dir.resolve()):
            raise ValueError(f"lab file {rel!r} escapes the lab folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return lab


def grade_bytes(payload: dict[str, Any], filename: str, data: bytes,
                options: Any = None) -> str:
    """Run on a worker: grade one submission given as bytes; the record as JSON text."""
    from mlsys_edu.grader import grade_submission

    workdir = Path(tempfile.mkdtemp(prefix="mlsys-dask-"))
    try:
        lab = _materialize(payload, workdir / "course")
        subdir = workdir / "submission"
        subdir.mkdir()
        path = subdir / Path(filename).name  # the stem is the student id
        path.write_bytes(data)
        record = grade_submission(lab, path, options=options)  # the sandbox claims its own uid
        return json.dumps(record)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _error_record(lab: Lab, submission: Path, reason: str) -> dict[str, Any]:
    return {"student": submission.stem, "source": str(submission), "lab": lab.name,
            "status": "internal-error", "reason": reason, "score": 0.0, "max_score": 0.0,
            "duration_s": 0.0, "cells": [], "tests": [], "questions": {}}


def grade_with_dask(lab: Lab, submissions: list[Path], address: str, *,
                    options: Any = None, retries: int = 1,
                    progress: bool = True) -> list[dict[str, Any]]:
    """Grade ``submissions`` on the Dask cluster at ``address``; records in input order.

    Each task is independent and impure (``pure=False``: the same bytes twice are graded
    twice); a task lost with its worker is retried ``retries`` times, then recorded as an
    internal error with the reason, so every submission gets exactly one record.
    """
    from distributed import Client, as_completed

    submissions = [Path(s) for s in submissions]
    payload = lab_payload(lab)
    records: list[dict[str, Any] | None] = [None] * len(submissions)
    with Client(address, timeout="30s") as client:
        lab_future = client.scatter(payload, broadcast=False, hash=False)
        futures = {}
        for i, sub in enumerate(submissions):
            try:
                data = sub.read_bytes()
            except OSError as exc:
                records[i] = _error_record(lab, sub, f"cannot read the submission: {exc}")
                continue
            future = client.submit(grade_bytes, lab_future, sub.name, data, options,
                                   key=f"grade-{lab.name}-{i}-{sub.stem}-{time.time_ns()}",
                                   pure=False, retries=retries)
            futures[future] = i
        bar = _progress(len(futures), progress)
        for future in as_completed(list(futures)):
            i = futures[future]
            try:
                record = json.loads(future.result())
                record["source"] = str(submissions[i])  # the client's path, not the worker's
                records[i] = record
            except Exception as exc:  # noqa: BLE001 - a lost task still gets a row
                records[i] = _error_record(lab, submissions[i],
                                           f"grading task failed on the cluster: {exc!r}")
            bar.update(1)
        bar.close()
    return [r for r in records if r is not None]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="grading on dask", unit="sub", disable=not enabled)
