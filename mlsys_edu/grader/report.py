"""What a batch run writes: ``gradebook.csv``, ``feedback/<student>.md|.html``, ``results.json``.

Hidden tests appear in feedback as pass/fail only (no message) unless ``show_hidden``.
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


def write_gradebook(records: list[dict[str, Any]], path: Path) -> None:
    """One row per submission: student, score, max_score, one column per question, status."""
    questions: list[str] = []
    for record in records:
        for q in record.get("questions", {}):
            if q not in questions:
                questions.append(q)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "score", "max_score", *questions, "status", "reason"])
        for r in records:
            qs = r.get("questions", {})
            writer.writerow([r.get("student", ""), r.get("score", 0.0), r.get("max_score", 0.0),
                             *[qs.get(q, {}).get("score", 0.0) for q in questions],
                             r.get("status", ""), r.get("reason", "")])


def feedback_markdown(record: dict[str, Any], show_hidden: bool = False) -> str:
    """A student's feedback page in Markdown."""
    lines = [f"# {record['lab']}: feedback for {record['student']}", "",
             f"**Score: {record['score']:g} / {record['max_score']:g}**", ""]
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
    for t in record.get("tests", []):
        if t["status"] == "passed" or (t["hidden"] and not show_hidden) or not t["message"]:
            continue
        lines += ["", f"## {t['question']} {t['name']}: {t['status']}", "", "```",
                  t["message"].replace("```", "'''"), "```"]
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
    return (f"<!doctype html><meta charset='utf-8'><title>{html.escape(record['lab'])}</title>"
            "<style>td{padding:2px 8px}.passed{color:#080}.failed,.error,.crashed,.timeout,"
            ".missing,.refused,.out-of-memory{color:#b00}</style>"
            f"<h1>{html.escape(record['lab'])}: {html.escape(record['student'])}</h1>"
            f"<p><b>Score: {record['score']:g} / {record['max_score']:g}</b></p>{note}"
            f"<table><tr><th>question</th><th>test</th><th>status</th><th>points</th></tr>"
            f"{rows}</table>{details}\n")


def write_outputs(records: list[dict[str, Any]], out_dir: Path, show_hidden: bool = False) -> None:
    """Write the gradebook, every feedback page and ``results.json`` under ``out_dir``."""
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
