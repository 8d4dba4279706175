"""``batch.json``: what a graded folder must remember so that it can be regraded later.

Written beside ``results.json`` by every batch: the lab, when, the judge's options, whether
feedback shows hidden messages, a content hash of each question's tests and of the reference,
and each submission's file with its SHA-256 (a regrade refuses a file that changed since).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

MANIFEST = "batch.json"
RESULTS = "results.json"


def now_iso() -> str:
    """The current time, ISO 8601 in UTC to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256, or None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _test_text(case: Any) -> str:
    """The text a test's behaviour depends on: its whole file (helpers included), else its
    own source."""
    try:
        return Path(case.file).read_text(encoding="utf-8")
    except (OSError, TypeError, ValueError):
        try:
            return inspect.getsource(case.func)
        except (OSError, TypeError):
            return repr(getattr(case.func, "__code__", case.name))


def question_hashes(tests: list[Any]) -> dict[str, str]:
    """SHA-256 per question over its tests' names, marks (points, hidden, limits) and the text
    of the files that define them: any edit to a question's tests changes its hash."""
    parts: dict[str, list[str]] = {}
    for case in tests:
        marks = json.dumps([case.name, case.points, case.hidden, case.timeout_s, case.memory_mb])
        text_sha = hashlib.sha256(_test_text(case).encode("utf-8")).hexdigest()
        parts.setdefault(case.question, []).append(f"{marks}:{text_sha}")
    return {q: hashlib.sha256("\n".join(sorted(p)).encode()).hexdigest()
            for q, p in parts.items()}


def reference_sha256(lab: Any) -> str | None:
    """SHA-256 of the reference module's source (the hidden tests compare against it)."""
    from mlsys_edu.grader.judge import reference_source

    try:
        return hashlib.sha256(reference_source(lab).encode("utf-8")).hexdigest()
    except Exception:  # noqa: BLE001 - a lab whose reference fails to build still gets graded
        return None


def describe_questions(tests: list[Any]) -> dict[str, dict[str, Any]]:
    """Per question: its tests' hash, its points and its tests' names."""
    from mlsys_edu.lab.questions import points_by_question

    hashes, points = question_hashes(tests), points_by_question(tests)
    return {q: {"sha256": hashes[q], "max_score": points[q],
                "tests": [c.name for c in tests if c.question == q]} for q in points}


def build_manifest(lab: Any, material: Any, options: Any, show_hidden: bool,
                   records: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest of one batch (see the module docstring)."""
    tests = material.tests if material is not None else []
    return {"lab": lab.name, "graded_at": now_iso(), "options": asdict(options),
            "show_hidden": bool(show_hidden), "reference_sha256": reference_sha256(lab),
            "questions": describe_questions(tests),
            "submissions": [{"student": r.get("student", ""), "source": r.get("source", ""),
                             "sha256": file_sha256(Path(r.get("source", "")))}
                            for r in records],
            "regrades": []}


def write_manifest(out_dir: Path, lab: Any, material: Any, options: Any, show_hidden: bool,
                   records: list[dict[str, Any]]) -> Path:
    """Write ``batch.json`` into ``out_dir``; return its path."""
    path = Path(out_dir) / MANIFEST
    path.write_text(json.dumps(build_manifest(lab, material, options, show_hidden, records),
                               indent=1), encoding="utf-8")
    return path


def read_graded_dir(graded_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The records (``results.json``) and the manifest (``batch.json``, None for a folder
    graded before manifests existed) of a graded folder; a clear error when it is not one."""
    graded_dir = Path(graded_dir)
    results = graded_dir / RESULTS
    if not results.is_file():
        raise FileNotFoundError(f"{graded_dir} has no {RESULTS}: pass the folder that "
                                "`mlsys-edu grade ... -o FOLDER` wrote")
    try:
        records = json.loads(results.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{results} is not valid JSON ({exc}); restore it from a backup or "
                         "grade the batch again") from None
    if not isinstance(records, list):
        raise ValueError(f"{results} should hold a list of records; grade the batch again")
    manifest = None
    if (graded_dir / MANIFEST).is_file():
        manifest = json.loads((graded_dir / MANIFEST).read_text(encoding="utf-8"))
    return records, manifest
