"""Grades out: a Canvas gradebook import CSV and a plain CSV keyed by student id.

Canvas imports a CSV whose columns are ``Student, ID, SIS User ID, SIS Login ID, Section``
followed by one column per assignment, named ``Assignment name (assignment id)`` for an
existing assignment (a column without an id creates a new one); a second row ``Points
Possible`` gives each assignment's maximum. Canvas finds each student by ``ID``, ``SIS User
ID`` or ``SIS Login ID``, so the best input is the course's own gradebook export (*Grades >
Export*): given as ``roster``, its rows are kept and our score goes into the assignment's
column, matching our student id against the ``match`` column. Without a roster our student id
fills ``match`` and the other identity columns stay empty.

The score exported is the late-adjusted ``final_score`` where a late policy was applied, else
the raw score. A submission that could not be graded exports 0 (its gradebook row says why);
a roster student without a submission is left blank (Canvas keeps what it has) unless
``missing="zero"``. Students we graded who are not on the roster are returned, never dropped
silently.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
PLAIN_COLUMNS = ("student_id", "score", "late_penalty", "final_score", "max_score", "percent",
                 "status")


def final_score(record: dict[str, Any]) -> float:
    """The score to report: late-adjusted when a policy was applied; 0 when not graded."""
    if record.get("status") != "graded":
        return 0.0
    late = record.get("late") or {}
    return float(late.get("final_score", record.get("score", 0.0)))


def by_student(records: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One record per student id (the highest final score when a student has several) and
    the ids that had more than one."""
    best: dict[str, dict[str, Any]] = {}
    duplicates = set()
    for record in records:
        sid = str(record.get("student", ""))
        if sid in best:
            duplicates.add(sid)
            if final_score(record) <= final_score(best[sid]):
                continue
        best[sid] = record
    return best, sorted(duplicates)


def write_plain_csv(records: list[dict[str, Any]], path: Path) -> list[str]:
    """``grades.csv``: one row per student id; returns the ids graded more than once."""
    best, duplicates = by_student(records)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(PLAIN_COLUMNS)
        for sid in sorted(best):
            r = best[sid]
            final, max_score = final_score(r), float(r.get("max_score", 0.0))
            writer.writerow([sid, r.get("score", 0.0), (r.get("late") or {}).get("penalty", 0.0),
                             final, max_score,
                             round(100 * final / max_score, 2) if max_score else 0.0,
                             r.get("status", "")])
    return duplicates


def read_canvas_roster(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the student rows of a Canvas gradebook export (its ``Points Possible``
    and muted/test-student rows dropped); a clear error when it is not one."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0]) if rows else []
    missing = [c for c in ("Student", "ID", "SIS Login ID") if c not in header]
    if missing:
        raise ValueError(f"{path} does not look like a Canvas gradebook export: it lacks the "
                         f"columns {missing} (Canvas: Grades > Export > Export Entire Gradebook)")
    students = [r for r in rows if (r.get("Student") or "").strip() not in
                ("Points Possible", "Student, Test", "")]
    return header, students


def write_canvas_csv(records: list[dict[str, Any]], path: Path, assignment: str, *,
                     roster: Path | None = None, match: str = "SIS Login ID",
                     missing: str = "blank") -> list[str]:
    """Write Canvas's import CSV for ``assignment`` (see the module docstring); return our
    student ids that are not on the roster (empty without a roster)."""
    if match not in CANVAS_IDENTITY[1:4]:
        raise ValueError(f"match must be one of {CANVAS_IDENTITY[1:4]}, got {match!r}")
    if missing not in ("blank", "zero"):
        raise ValueError(f"missing must be 'blank' or 'zero', got {missing!r}")
    if not assignment.strip():
        raise ValueError("give the Canvas assignment's column name, e.g. 'Lab 01 (12345)'")
    best, _ = by_student(records)
    max_score = max((float(r.get("max_score", 0.0)) for r in records), default=0.0)
    rows: list[list[Any]] = []
    unmatched: list[str] = []
    if roster is None:
        for sid in sorted(best):
            identity = {c: "" for c in CANVAS_IDENTITY}
            identity.update({"Student": sid, match: sid})
            rows.append([identity[c] for c in CANVAS_IDENTITY] + [final_score(best[sid])])
    else:
        _, students = read_canvas_roster(roster)
        ours = {sid.strip().lower(): sid for sid in best}
        on_roster = set()
        for s in students:
            sid = ours.get(s.get(match, "").strip().lower())
            if sid is not None:
                on_roster.add(sid)
            score: Any = (final_score(best[sid]) if sid is not None
                          else (0.0 if missing == "zero" else ""))
            rows.append([s.get(c, "") for c in CANVAS_IDENTITY] + [score])
        unmatched = sorted(set(best) - on_roster)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow([*CANVAS_IDENTITY, assignment])
        writer.writerow(["Points Possible", "", "", "", "", f"{max_score:g}"])
        writer.writerows(rows)
    return unmatched
