"""What a batch run writes: ``gradebook.csv``, ``feedback/<student>.md|.html``, ``results.json``
and the item analysis (``item_analysis.md|.png|.json``).

Hidden tests appear in feedback with their status and points only: never their message (the
assertion text, what the test or the student's code raised or printed with hidden data), nor
their source, unless the instructor passes ``show_hidden``. The page says so.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


def safe_name(student: str) -> str:
    """A file name for a student id (no path separators, no dot files)."""
    return _SAFE.sub("_", student).lstrip(".") or "student"


HIDDEN_NOTE = ("Hidden tests show their status and points only: their inputs, source and "
               "messages stay with the grader, so that they keep checking your code on cases "
               "you have not seen.")
LATE_COLUMNS = ("submitted_at", "days_late", "late_penalty", "final_score")


def question_names(records: list[dict[str, Any]]) -> list[str]:
    """Every question of the records, in first-seen order."""
    questions: list[str] = []
    for record in records:
        for q in record.get("questions", {}):
            if q not in questions:
                questions.append(q)
    return questions


def write_gradebook(records: list[dict[str, Any]], path: Path) -> None:
    """One row per submission: student, score, max_score, one column per question, status.

    Where a late policy was applied (records carry ``late``), its columns stand beside the
    raw score: ``submitted_at, days_late, late_penalty, final_score``."""
    questions = question_names(records)
    late = any("late" in r for r in records)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "score", "max_score", *(LATE_COLUMNS if late else ()),
                         *questions, "status", "reason"])
        for r in records:
            qs = r.get("questions", {})
            info = r.get("late") or {}
            late_cells = ([info.get("submitted_at") or "", info.get("days_late", ""),
                           info.get("penalty", ""), info.get("final_score", r.get("score", 0.0))]
                          if late else [])
            reason = "; ".join(filter(None, [r.get("reason", ""), info.get("note", "")]))
            writer.writerow([r.get("student", ""), r.get("score", 0.0), r.get("max_score", 0.0),
                             *late_cells, *[qs.get(q, {}).get("score", 0.0) for q in questions],
                             r.get("status", ""), reason])


def regrade_lines(record: dict[str, Any]) -> list[str]:
    """One sentence per regrade of this record (question, date, points, reason)."""
    return [f"Question {g['question']} was regraded on {g['at'][:10]}: {g['old_score']:g} -> "
            f"{g['new_score']:g} points" + (f" ({g['reason']})." if g.get("reason") else ".")
            for g in record.get("regrades", [])]


def late_line(record: dict[str, Any]) -> str:
    """The late policy's effect on this record in one sentence ('' when none applies)."""
    info = record.get("late")
    if not info:
        return ""
    if info.get("note") and not info.get("days_late"):
        return f"Late policy: {info['note']}."
    if not info.get("days_late"):
        return "Submitted on time."
    return (f"Submitted {info['submitted_at']}, {info['days_late']} day(s) after the deadline "
            f"({info['deadline']}): {info['penalty']:g} point(s) off; final score "
            f"{info['final_score']:g} / {record['max_score']:g}.")


def feedback_markdown(record: dict[str, Any], show_hidden: bool = False) -> str:
    """A student's feedback page in Markdown."""
    lines = [f"# {record['lab']}: feedback for {record['student']}", "",
             f"**Score: {record['score']:g} / {record['max_score']:g}**", ""]
    if late_line(record):
        lines += [late_line(record), ""]
    for line in regrade_lines(record):
        lines += [line, ""]
    if record.get("status") != "graded":
        lines += [f"Your submission could not be graded ({record['status']}): "
                  f"{record.get('reason', '')}", ""]
    elif record.get("reason"):
        lines += [f"Note: {record['reason']}", ""]
    lines += ["| question | test | status | points |", "| --- | --- | --- | --- |"]
    for t in record.get("tests", []):
        name = t["name"] + (" (hidden)" if t["hidden"] else "")
        lines.append(f"| {t['question']} | {name} | {t['status']} | "
                     f"{t['score']:g} / {t['points']:g} |")
    if not show_hidden and any(t["hidden"] for t in record.get("tests", [])):
        lines += ["", HIDDEN_NOTE]
    for t in record.get("tests", []):
        if t["status"] == "passed" or (t["hidden"] and not show_hidden) or not t["message"]:
            continue
        lines += ["", f"## {t['question']} {t['name']}: {t['status']}", "", "```",
                  t["message"].replace("```", "'''"), "```"]
        if t.get("output"):
            lines += ["", "The test printed:", "", "```", t["output"].replace("```", "'''"),
                      "```"]
    problems = [c for c in record.get("cells", []) if c["status"] != "ok"]
    if problems:
        lines += ["", "## Cells that did not run cleanly", ""]
        for c in problems:
            first = (c["message"].strip().splitlines() or [""])[-1]
            lines.append(f"- cell {c['index']}: {c['status']}: {first}")
    return "\n".join(lines) + "\n"


def feedback_html(record: dict[str, Any], show_hidden: bool = False) -> str:
    """The same feedback as a standalone HTML page (text escaped)."""
    rows = "".join(
        f"<tr><td>{html.escape(t['question'])}</td><td>{html.escape(t['name'])}"
        f"{' (hidden)' if t['hidden'] else ''}</td>"
        f"<td class='{html.escape(t['status'])}'>{html.escape(t['status'])}</td>"
        f"<td>{t['score']:g} / {t['points']:g}</td></tr>" for t in record.get("tests", []))
    details = "".join(
        f"<h3>{html.escape(t['question'])} {html.escape(t['name'])}: "
        f"{html.escape(t['status'])}</h3><pre>{html.escape(t['message'])}</pre>"
        for t in record.get("tests", [])
        if t["status"] != "passed" and t["message"] and (show_hidden or not t["hidden"]))
    note = ""
    if record.get("reason"):
        note = f"<p><b>{html.escape(record['status'])}</b>: {html.escape(record['reason'])}</p>"
    for line in filter(None, [late_line(record), *regrade_lines(record)]):
        note += f"<p>{html.escape(line)}</p>"
    if not show_hidden and any(t["hidden"] for t in record.get("tests", [])):
        details = f"<p>{html.escape(HIDDEN_NOTE)}</p>{details}"
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(record['lab'])}</title>"
            "<style>td{padding:2px 8px}.passed{color:#080}.failed,.error,.crashed,.timeout,"
            ".missing,.refused,.out-of-memory{color:#b00}</style>"
            f"<h1>{html.escape(record['lab'])}: {html.escape(record['student'])}</h1>"
            f"<p><b>Score: {record['score']:g} / {record['max_score']:g}</b></p>{note}"
            f"<table><tr><th>question</th><th>test</th><th>status</th><th>points</th></tr>"
            f"{rows}</table>{details}\n")


def write_outputs(records: list[dict[str, Any]], out_dir: Path, show_hidden: bool = False) -> None:
    """Write the gradebook, every feedback page, ``results.json`` and the item analysis."""
    from mlsys_edu.grader.item_analysis import write_item_analysis

    out_dir = Path(out_dir)
    (out_dir / "feedback").mkdir(parents=True, exist_ok=True)
    write_gradebook(records, out_dir / "gradebook.csv")
    seen: dict[str, int] = {}
    for record in records:
        name = safe_name(record["student"])
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}-{seen[name]}"
        (out_dir / "feedback" / f"{name}.md").write_text(
            feedback_markdown(record, show_hidden), encoding="utf-8")
        (out_dir / "feedback" / f"{name}.html").write_text(
            feedback_html(record, show_hidden), encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    write_item_analysis(records, out_dir)
