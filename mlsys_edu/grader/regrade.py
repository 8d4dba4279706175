"""Regrade one question of a graded batch, after the instructor fixed its tests.

``mlsys-edu regrade NN GRADED_DIR --question q3 --reason "..."`` re-runs only q3's tests on
every graded submission of the batch (the judge still executes each notebook's cells: the
tests need the student's namespace), merges the new q3 results into each record without
touching any other question's, appends what changed to ``history.jsonl`` (old and new scores
per student, when, why, the tests' content hash before and after) and rewrites the gradebook,
the feedback, ``results.json`` and the item analysis.

A question whose tests and reference are unchanged since the batch (same content hashes in
``batch.json``) is not regraded at all, so it changes nothing; ``force`` re-runs it anyway
(e.g. after editing a helper module the hash does not cover). A submission whose file is gone
or changed since grading keeps its old scores, and the history says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mlsys_edu.grader.manifest import (MANIFEST, describe_questions, file_sha256, now_iso,
                                       read_graded_dir, reference_sha256)

HISTORY = "history.jsonl"


@dataclass
class StudentChange:
    """One submission's question score before and after (``status``: regraded or kept)."""

    student: str
    old_score: float
    new_score: float
    old_total: float
    new_total: float
    status: str = "regraded"
    why: str = ""


@dataclass
class RegradeReport:
    """What a regrade did; ``ran`` is False when the question was unchanged."""

    question: str
    ran: bool
    message: str
    old_sha256: str | None = None
    new_sha256: str | None = None
    changes: list[StudentChange] = field(default_factory=list)

    @property
    def changed(self) -> list[StudentChange]:
        return [c for c in self.changes if c.status == "regraded" and
                (abs(c.new_score - c.old_score) > 1e-9 or abs(c.new_total - c.old_total) > 1e-9)]

    @property
    def kept(self) -> list[StudentChange]:
        return [c for c in self.changes if c.status != "regraded"]

    def summary(self) -> str:
        """A few lines for the terminal."""
        if not self.ran:
            return self.message
        lines = [self.message]
        for c in self.changed[:20]:
            lines.append(f"  {c.student}: {self.question} {c.old_score:g} -> {c.new_score:g} "
                         f"(total {c.old_total:g} -> {c.new_total:g})")
        if len(self.changed) > 20:
            lines.append(f"  ... and {len(self.changed) - 20} more (see {HISTORY})")
        for c in self.kept[:20]:
            lines.append(f"  {c.student}: kept its old {self.question} score ({c.why})")
        return "\n".join(lines)


def options_from_manifest(manifest: dict[str, Any] | None, workers: int | None = None) -> Any:
    """The ``GradeOptions`` the batch was graded with (lists from JSON become tuples)."""
    from mlsys_edu.grader.sandbox import GradeOptions

    known = {f.name for f in fields(GradeOptions)}
    saved = (manifest or {}).get("options", {})
    return GradeOptions(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in saved.items() if k in known})


def merge_question(record: dict[str, Any], question: str, new_tests: list[dict[str, Any]],
                   max_score: float) -> None:
    """Put ``new_tests`` in place of ``record``'s tests of ``question``; every other test and
    question stays exactly as it was. Totals are recomputed from the tests."""
    merged, inserted = [], False
    for t in record.get("tests", []):
        if t["question"] != question:
            merged.append(t)
        elif not inserted:
            merged += new_tests
            inserted = True
    if not inserted:
        merged += new_tests
    record["tests"] = merged
    record.setdefault("questions", {})[question] = {
        "score": float(sum(t["score"] for t in new_tests)), "max_score": float(max_score)}
    record["score"] = float(sum(t["score"] for t in merged))
    record["max_score"] = float(sum(q["max_score"] for q in record["questions"].values()))


def _why_not_regradable(record: dict[str, Any], saved: dict[str, Any] | None) -> str:
    """Why this submission cannot be regraded ('' when it can)."""
    if record.get("status") != "graded":
        return f"it was not graded ({record.get('status')})"
    source = Path(str(record.get("source", "")))
    if not source.is_file():
        return f"its file {source} is gone"
    want = (saved or {}).get("sha256")
    if want and file_sha256(source) != want:
        return f"its file {source.name} changed since it was graded"
    return ""


def regrade_question(lab: Any, graded_dir: Path, question: str, reason: str = "", *,
                     workers: int | None = None, force: bool = False,
                     progress: bool = True) -> RegradeReport:
    """Regrade ``question`` on the batch in ``graded_dir`` (see the module docstring)."""
    import os

    from mlsys_edu.grader.judge import LabMaterial, grade_paths, load_material
    from mlsys_edu.grader.manifest import question_hashes
    from mlsys_edu.grader.report import write_outputs

    graded_dir = Path(graded_dir)
    records, manifest = read_graded_dir(graded_dir)
    if manifest and manifest.get("lab") != lab.name:
        raise ValueError(f"{graded_dir} holds a batch of {manifest.get('lab')}, not {lab.name}")
    material = load_material(lab)
    cases = [c for c in material.tests if c.question == question]
    if not cases:
        known = sorted({c.question for c in material.tests})
        raise LookupError(f"{lab.name} has no tests for question {question!r}; its questions "
                          f"are {', '.join(known)}")
    old_q = ((manifest or {}).get("questions") or {}).get(question, {})
    new_sha, ref_sha = question_hashes(cases)[question], reference_sha256(lab)
    old_ref = old_q.get("reference_sha256", (manifest or {}).get("reference_sha256"))
    if not force and old_q.get("sha256") == new_sha and old_ref == ref_sha:
        return RegradeReport(question, False, f"{question}'s tests and the reference are "
                             f"unchanged since the batch (sha256 {new_sha[:12]}): nothing to "
                             "regrade (pass --force to re-run them anyway)", new_sha, new_sha)

    saved = (manifest or {}).get("submissions") or [None] * len(records)
    todo, changes = [], {}
    for i, record in enumerate(records):
        why = _why_not_regradable(record, saved[i] if i < len(saved) else None)
        if why:
            old = float(record.get("questions", {}).get(question, {}).get("score", 0.0))
            changes[i] = StudentChange(record.get("student", ""), old, old,
                                       float(record.get("score", 0.0)),
                                       float(record.get("score", 0.0)), "kept", why)
        else:
            todo.append(i)
    options = options_from_manifest(manifest)
    subset = LabMaterial(lab, cases, material.ref, material.ref_error)
    max_score = float(sum(c.points for c in cases))
    fresh = grade_paths(lab, [Path(records[i]["source"]) for i in todo], subset, options,
                        workers or os.cpu_count() or 1, out_dir=graded_dir, progress=progress,
                        desc=f"regrading {lab.name} {question}")
    when = now_iso()
    for i, new in zip(todo, fresh):
        record = records[i]
        old_q_score = float(record.get("questions", {}).get(question, {}).get("score", 0.0))
        old_total = float(record.get("score", 0.0))
        if new.get("status") != "graded":
            changes[i] = StudentChange(record.get("student", ""), old_q_score, old_q_score,
                                       old_total, old_total, "kept",
                                       f"regrading failed ({new.get('status')}: "
                                       f"{new.get('reason', '')})")
            continue
        merge_question(record, question, new["tests"], max_score)
        record.setdefault("regrades", []).append(
            {"question": question, "at": when, "reason": reason, "old_score": old_q_score,
             "new_score": record["questions"][question]["score"]})
        changes[i] = StudentChange(record.get("student", ""), old_q_score,
                                   record["questions"][question]["score"], old_total,
                                   record["score"])
    for i, record in enumerate(records):  # not graded: the question's points may have moved
        if record.get("status") != "graded" and question in record.get("questions", {}):
            record["questions"][question]["max_score"] = max_score
            record["max_score"] = float(sum(q["max_score"]
                                            for q in record["questions"].values()))
    report = RegradeReport(question, True, "", old_q.get("sha256"), new_sha,
                           [changes[i] for i in range(len(records))])
    report.message = (f"regraded {question} on {len(todo)} of {len(records)} submissions: "
                      f"{len(report.changed)} changed, {len(report.kept)} kept their old score")
    _write_history(graded_dir, report, reason, when, force, old_ref, ref_sha)
    if manifest is not None:
        entry = describe_questions(cases)[question]
        manifest["questions"][question] = dict(entry, reference_sha256=ref_sha)
        manifest.setdefault("regrades", []).append(
            {"at": when, "question": question, "reason": reason, "sha256": new_sha})
        (graded_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    from mlsys_edu.grader.late import refresh_late

    refresh_late(records, graded_dir)
    write_outputs(records, graded_dir, bool((manifest or {}).get("show_hidden", False)))
    return report


def _write_history(graded_dir: Path, report: RegradeReport, reason: str, when: str,
                   force: bool, old_ref: str | None, new_ref: str | None) -> None:
    """Append one line per regrade to ``history.jsonl``: when, why, hashes, every student."""
    line = {"at": when, "question": report.question, "reason": reason, "forced": force,
            "tests_sha256": {"old": report.old_sha256, "new": report.new_sha256},
            "reference_sha256": {"old": old_ref, "new": new_ref},
            "students": [{"student": c.student, "old_score": c.old_score,
                          "new_score": c.new_score, "old_total": c.old_total,
                          "new_total": c.new_total, "status": c.status,
                          **({"why": c.why} if c.why else {})} for c in report.changes]}
    with open(graded_dir / HISTORY, "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")


def read_history(graded_dir: Path) -> list[dict[str, Any]]:
    """Every regrade of a graded folder, oldest first."""
    path = Path(graded_dir) / HISTORY
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
