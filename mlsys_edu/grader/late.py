"""A late policy applied from submission times the instructor provides (an LMS export).

Times come from the instructor's CSV, never from the submission itself (a student writes the
manifest of their own zip). The CSV has a header with a student column (``student``,
``student_id`` or ``id``), a ``submitted_at`` column in ISO 8601 *with* a time zone
(``2026-10-01T23:59:00-07:00`` or ``...Z``) and optionally a per-student ``deadline`` (an
extension). For a submission ``t`` against deadline ``d``:

    days_late = ceil((t - d - grace_minutes) / 1 day)  (0 when on time)
    charged   = max(0, days_late - grace_days)
    penalty   = min(per_day_pct * charged, cap_pct) / 100 * basis,   basis = max score or score
    final     = max(0, score - penalty)

The gradebook shows ``submitted_at, days_late, late_penalty, final_score`` beside the raw
score; ``late.json`` in the graded folder keeps the policy and the times so that a regrade
applies them again.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

LATE_FILE = "late.json"
STUDENT_COLUMNS = ("student", "student_id", "student id", "id")
TIME_COLUMNS = ("submitted_at", "submitted at", "submitted")
BASES = ("max_score", "score")


def parse_time(text: str, where: str) -> dt.datetime:
    """An ISO 8601 time with a time zone; a clear error otherwise (a naive time is ambiguous)."""
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not an ISO 8601 time; write it like "
                         "2026-10-01T23:59:00-07:00 or 2026-10-02T06:59:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{where}: {text!r} has no time zone, so it is ambiguous; add the "
                         "offset (2026-10-01T23:59:00-07:00) or Z for UTC")
    return parsed


@dataclass(frozen=True)
class LatePolicy:
    """Deadline, penalty per late day (percent of ``basis``), forgiven days and a cap."""

    deadline: str  # ISO 8601 with a time zone
    per_day_pct: float = 10.0
    grace_days: int = 0
    grace_minutes: float = 0.0
    cap_pct: float = 100.0
    basis: str = "max_score"  # a percent of the maximum score, or of the student's own score

    def __post_init__(self) -> None:
        parse_time(self.deadline, "the deadline")
        if self.per_day_pct < 0 or self.grace_days < 0 or self.grace_minutes < 0:
            raise ValueError("the penalty per day, grace days and grace minutes must be >= 0")
        if not 0 <= self.cap_pct <= 100:
            raise ValueError(f"the cap is a percent from 0 to 100, got {self.cap_pct:g}")
        if self.basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {self.basis!r}")

    def describe(self) -> str:
        """The policy in one sentence (shown in the gradebook's notes and the guide)."""
        grace = (f", the first {self.grace_days} late day(s) free" if self.grace_days else "")
        minutes = f", {self.grace_minutes:g} min of slack" if self.grace_minutes else ""
        return (f"deadline {self.deadline}; {self.per_day_pct:g}% of the "
                f"{'maximum' if self.basis == 'max_score' else 'earned'} score per late day "
                f"(a started day counts){grace}{minutes}; at most {self.cap_pct:g}%")


def days_late(submitted: dt.datetime, deadline: dt.datetime, grace_minutes: float = 0.0) -> int:
    """Whole days after the deadline, a started day counting as one (0 when on time)."""
    late_s = (submitted - deadline).total_seconds() - 60.0 * grace_minutes
    return 0 if late_s <= 0 else math.ceil(late_s / 86400.0)


def late_result(policy: LatePolicy, score: float, max_score: float, submitted_at: str | None,
                deadline: str | None = None) -> dict[str, Any]:
    """The ``late`` entry of one record (see the module docstring for the formula)."""
    due = deadline or policy.deadline
    if submitted_at is None:
        return {"submitted_at": None, "deadline": due, "days_late": 0, "charged_days": 0,
                "penalty": 0.0, "final_score": score,
                "note": "no submission time in the instructor's list: lateness not checked"}
    days = days_late(parse_time(submitted_at, "submitted_at"), parse_time(due, "deadline"),
                     policy.grace_minutes)
    charged = max(0, days - policy.grace_days)
    basis = max_score if policy.basis == "max_score" else score
    penalty = min(policy.per_day_pct * charged, policy.cap_pct) / 100.0 * basis
    final = max(0.0, score - penalty)
    return {"submitted_at": submitted_at, "deadline": due, "days_late": days,
            "charged_days": charged, "penalty": round(score - final, 6),
            "final_score": round(final, 6), "note": ""}


def read_submission_times(path: Path) -> dict[str, dict[str, str | None]]:
    """``student -> {submitted_at, deadline}`` from the instructor's CSV (the latest time when
    a student appears twice); errors name the row and say how to fix it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise FileNotFoundError(f"cannot read the submission times {path}: {exc.strerror}")
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ValueError(f"{path} has no rows; it needs a header (student,submitted_at) and "
                         "one row per submission")
    columns = {c.strip().lower(): c for c in rows[0] if c}
    student = next((columns[c] for c in STUDENT_COLUMNS if c in columns), None)
    when = next((columns[c] for c in TIME_COLUMNS if c in columns), None)
    if student is None or when is None:
        raise ValueError(f"{path} has columns {list(rows[0])}; it needs a student column "
                         f"({' or '.join(STUDENT_COLUMNS)}) and a time column "
                         f"({' or '.join(TIME_COLUMNS)})")
    deadline = columns.get("deadline")
    times: dict[str, dict[str, str | None]] = {}
    for number, row in enumerate(rows, start=2):
        who = (row.get(student) or "").strip()
        if not who:
            raise ValueError(f"{path}, row {number}: the student column is empty")
        submitted = parse_time(row.get(when) or "", f"{path}, row {number}").isoformat()
        own = (row.get(deadline) or "").strip() if deadline else ""
        own_deadline = parse_time(own, f"{path}, row {number}").isoformat() if own else None
        previous = times.get(who)
        if previous is None or dt.datetime.fromisoformat(submitted) > dt.datetime.fromisoformat(
                str(previous["submitted_at"])):
            times[who] = {"submitted_at": submitted, "deadline": own_deadline}
    return times


def apply_late_policy(records: list[dict[str, Any]], policy: LatePolicy,
                      times: dict[str, dict[str, str | None]]) -> list[str]:
    """Set every record's ``late`` entry; return the students of ``times`` with no record."""
    for record in records:
        when = times.get(str(record.get("student", "")), {})
        record["late"] = late_result(policy, float(record.get("score", 0.0)),
                                     float(record.get("max_score", 0.0)),
                                     when.get("submitted_at"), when.get("deadline"))
    students = {str(r.get("student", "")) for r in records}
    return sorted(set(times) - students)


def save_policy(graded_dir: Path, policy: LatePolicy, times: dict[str, Any], source: str) -> Path:
    """Keep the policy and the times in ``late.json`` (a regrade applies them again)."""
    path = Path(graded_dir) / LATE_FILE
    path.write_text(json.dumps({"policy": asdict(policy), "times_from": source,
                                "times": times}, indent=1), encoding="utf-8")
    return path


def refresh_late(records: list[dict[str, Any]], graded_dir: Path) -> None:
    """Apply the saved policy again (after a regrade changed scores); nothing without one."""
    path = Path(graded_dir) / LATE_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        apply_late_policy(records, LatePolicy(**saved["policy"]), saved["times"])


def apply_to_graded_dir(graded_dir: Path, policy: LatePolicy, times_csv: Path
                        ) -> tuple[list[dict[str, Any]], list[str]]:
    """Apply ``policy`` with the times of ``times_csv`` to a graded folder and rewrite its
    gradebook and feedback; the records and the listed students that have no submission."""
    from mlsys_edu.grader.manifest import read_graded_dir
    from mlsys_edu.grader.report import write_outputs

    records, manifest = read_graded_dir(graded_dir)
    times = read_submission_times(times_csv)
    unknown = apply_late_policy(records, policy, times)
    save_policy(graded_dir, policy, times, str(times_csv))
    write_outputs(records, Path(graded_dir), bool((manifest or {}).get("show_hidden", False)))
    return records, unknown
