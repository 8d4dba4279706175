"""The grader's commands: ``grade`` and what comes after the deadline.

    mlsys-edu grade LAB SUBMISSIONS... -o OUT [--workers N] [--show-hidden]
    mlsys-edu regrade LAB GRADED_DIR --question q3 [--reason "..."]
    mlsys-edu similarity LAB GRADED_DIR|SUBMISSIONS... [-o OUT]
    mlsys-edu late GRADED_DIR --times times.csv --deadline ISO [--per-day 10 --cap 50 ...]
    mlsys-edu export-grades GRADED_DIR [--canvas-assignment "Lab 01 (123)" --canvas-roster CSV]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any



def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``grade`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser("grade", help="grade submissions in a sandbox (batch)",
                              description="Grade notebooks or check.export() zips of one lab.")
    p.add_argument("lab", help="lab number, NN_slug, or path to the lab folder")
    p.add_argument("submissions", nargs="+", type=Path,
                   help="submission files (.ipynb/.zip) or folders holding them")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="submissions graded at once (default: the number of cores)")
    p.add_argument("--show-hidden", action="store_true",
                   help="show hidden tests' failure messages in the feedback")
    p.add_argument("--scheduler", default=None, help="a Dask scheduler address (optional)")
    p.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per notebook cell")
    p.add_argument("--test-timeout", type=float, default=None,
                   help="cap on every test's seconds (default: each test's own timeout_s)")
    p.add_argument("--memory-mb", type=int, default=4096,
                   help="address-space limit of a submission in MiB (0: none, e.g. for CUDA)")
    p.add_argument("--preload", default=None,
                   help="modules each warm worker imports once, comma-separated "
                        "(default: numpy, pandas, pyarrow and what the lab imports)")
    p.set_defaults(func=run_grade)
    _add_after_deadline(subparsers)
    return p


def _lab(key: str) -> Any:
    from mlsys_edu.lab.layout import get_lab, project_root

    try:
        root = project_root()
    except FileNotFoundError:
        root = Path.cwd()
    return get_lab(root, str(key))


def _add_after_deadline(subparsers: Any) -> None:
    """``regrade``, ``similarity``, ``late`` and ``export-grades``."""
    p = subparsers.add_parser("regrade", help="re-run one question's tests on a graded batch",
                              description="Regrade one question (after fixing its tests) on "
                              "every submission of a batch; keeps the history.")
    p.add_argument("lab", help="lab number, NN_slug, or path to the lab folder")
    p.add_argument("graded_dir", type=Path, help="the folder `grade -o` wrote")
    p.add_argument("--question", required=True, help="the question to regrade, e.g. q3")
    p.add_argument("--reason", default="", help="why (kept in history.jsonl)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--force", action="store_true",
                   help="regrade even when the question's tests are unchanged")
    p.set_defaults(func=run_regrade)

    p = subparsers.add_parser("similarity", help="flag submissions whose code is alike",
                              description="Winnowed fingerprints (MOSS) over normalised tokens, "
                              "starter code excluded. It flags; it changes no grade.")
    p.add_argument("lab", help="lab number, NN_slug, or path to the lab folder")
    p.add_argument("submissions", nargs="+", type=Path,
                   help="a graded folder (its results.json), or submission files/folders")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="output folder (default: the graded folder)")
    p.add_argument("--k", type=int, default=None, help="k-gram length in tokens (default 12)")
    p.add_argument("--window", type=int, default=None, help="winnowing window (default 8)")
    p.add_argument("--max-docs", type=int, default=None,
                   help="ignore code found in more submissions than this "
                        "(default: max(10, 10%% of them))")
    p.add_argument("--top", type=int, default=50, help="pairs listed")
    p.set_defaults(func=run_similarity)

    p = subparsers.add_parser("late", help="apply a late policy from submission times you give",
                              description="Times come from your CSV (an LMS export: student, "
                              "submitted_at in ISO 8601 with a time zone, optional deadline), "
                              "never from the submission.")
    p.add_argument("graded_dir", type=Path)
    p.add_argument("--times", type=Path, required=True, help="CSV: student,submitted_at[,deadline]")
    p.add_argument("--deadline", required=True, help="ISO 8601 with a time zone")
    p.add_argument("--per-day", type=float, default=10.0, help="percent off per late day")
    p.add_argument("--grace-days", type=int, default=0, help="late days forgiven")
    p.add_argument("--grace-minutes", type=float, default=0.0, help="slack after the deadline")
    p.add_argument("--cap", type=float, default=100.0, help="the most percent taken off")
    p.add_argument("--basis", choices=("max_score", "score"), default="max_score",
                   help="the percent is of the maximum score (default) or of the earned score")
    p.set_defaults(func=run_late)

    p = subparsers.add_parser("export-grades", help="Canvas import CSV and a plain CSV",
                              description="Write grades.csv (keyed by student id) and, with "
                              "--canvas-assignment, canvas.csv for Canvas's gradebook import.")
    p.add_argument("graded_dir", type=Path)
    p.add_argument("-o", "--out", type=Path, default=None, help="default: the graded folder")
    p.add_argument("--canvas-assignment", default=None,
                   help="the assignment's Canvas column, e.g. 'Lab 01 (12345)'")
    p.add_argument("--canvas-roster", type=Path, default=None,
                   help="the course's Canvas gradebook export (its students and ids)")
    p.add_argument("--match", default="SIS Login ID",
                   choices=("ID", "SIS User ID", "SIS Login ID"),
                   help="the roster column that holds our student ids")
    p.add_argument("--missing", choices=("blank", "zero"), default="blank",
                   help="roster students without a submission: blank (Canvas keeps its "
                        "value) or 0")
    p.set_defaults(func=run_export_grades)


def run_regrade(args: argparse.Namespace) -> int:
    """Handle ``regrade``: print what changed."""
    from mlsys_edu.grader.regrade import regrade_question

    report = regrade_question(_lab(args.lab), args.graded_dir, args.question, args.reason,
                              workers=args.workers, force=args.force)
    print(report.summary())
    return 0


def _similarity_inputs(paths: list[Path]) -> tuple[list[Path], Path | None]:
    """Submission files from graded folders (their results.json) or folders/files."""
    from mlsys_edu.grader.manifest import read_graded_dir
    from mlsys_edu.grader.submission import find_submissions

    files: list[Path] = []
    graded = None
    for path in paths:
        if path.is_dir() and (path / "results.json").is_file():
            records, _ = read_graded_dir(path)
            files += [Path(r["source"]) for r in records if r.get("source")]
            graded = graded or path
        else:
            files += find_submissions([path])
    return files, graded


def run_similarity(args: argparse.Namespace) -> int:
    """Handle ``similarity``: write the report, print the top pairs."""
    from mlsys_edu.grader.similarity import K_TOKENS, WINDOW, compare_submissions

    files, graded = _similarity_inputs(args.submissions)
    out = args.out or graded
    if out is None:
        raise ValueError("pass -o OUT (where the report goes) when the inputs are not a "
                         "graded folder")
    report = compare_submissions(_lab(args.lab).source, files, out, k=args.k or K_TOKENS,
                                 w=args.window or WINDOW, max_docs=args.max_docs, top=args.top)
    flagged = [p for p in report.pairs if p.flagged]
    print(f"compared {len(report.documents)} submissions: {len(flagged)} pair(s) flagged; "
          f"report: {Path(out) / 'similarity.md'} (side by side: similarity.html)")
    for pair in report.pairs[:5]:
        print(f"  {pair.similarity:4.0%}  {pair.a} ~ {pair.b} ({pair.shared} fingerprints)")
    return 0


def run_late(args: argparse.Namespace) -> int:
    """Handle ``late``: apply the policy, rewrite the gradebook and feedback."""
    from mlsys_edu.grader.late import LatePolicy, apply_to_graded_dir

    policy = LatePolicy(args.deadline, args.per_day, args.grace_days, args.grace_minutes,
                        args.cap, args.basis)
    records, unknown = apply_to_graded_dir(args.graded_dir, policy, args.times)
    late = [r for r in records if (r.get("late") or {}).get("days_late")]
    unchecked = [r["student"] for r in records if (r.get("late") or {}).get("note")]
    print(f"late policy ({policy.describe()}): {len(late)} of {len(records)} submissions late; "
          f"gradebook: {args.graded_dir / 'gradebook.csv'}")
    if unchecked:
        print(f"  no submission time for {len(unchecked)}: {', '.join(unchecked[:10])}")
    if unknown:
        print(f"  times for students with no submission here: {', '.join(unknown[:10])}")
    return 0


def run_export_grades(args: argparse.Namespace) -> int:
    """Handle ``export-grades``: grades.csv, and canvas.csv when an assignment is named."""
    from mlsys_edu.grader.lms import write_canvas_csv, write_plain_csv
    from mlsys_edu.grader.manifest import read_graded_dir

    records, _ = read_graded_dir(args.graded_dir)
    out = Path(args.out or args.graded_dir)
    out.mkdir(parents=True, exist_ok=True)
    duplicates = write_plain_csv(records, out / "grades.csv")
    print(f"wrote {out / 'grades.csv'}")
    if duplicates:
        print(f"  graded more than once (the best kept): {', '.join(duplicates[:10])}")
    if args.canvas_assignment:
        unmatched = write_canvas_csv(records, out / "canvas.csv", args.canvas_assignment,
                                     roster=args.canvas_roster, match=args.match,
                                     missing=args.missing)
        print(f"wrote {out / 'canvas.csv'} (Canvas: Grades > Import)")
        if unmatched:
            (out / "canvas_unmatched.txt").write_text("\n".join(unmatched) + "\n",
                                                      encoding="utf-8")
            print(f"  {len(unmatched)} graded student(s) not on the roster, listed in "
                  f"{out / 'canvas_unmatched.txt'}: {', '.join(unmatched[:10])}")
    return 0


def run_grade(args: argparse.Namespace) -> int:
    """Handle ``grade``: grade everything, print a summary, return the exit code."""
    from mlsys_edu.grader.judge import grade_batch
    from mlsys_edu.grader.sandbox import GradeOptions
    from mlsys_edu.lab.layout import get_lab, project_root

    try:
        root = project_root()
    except FileNotFoundError:
        root = Path.cwd()
    lab = get_lab(root, str(args.lab))
    options = GradeOptions(cell_timeout_s=args.cell_timeout, memory_mb=args.memory_mb,
                           max_test_timeout_s=args.test_timeout,
                           preload=(tuple(m for m in args.preload.split(",") if m)
                                    if args.preload is not None else None))
    records = grade_batch(lab, args.submissions, args.out, args.workers,
                          scheduler=args.scheduler, show_hidden=args.show_hidden,
                          options=options)
    from mlsys_edu.grader.item_analysis import analyse

    graded = sum(r["status"] == "graded" for r in records)
    print(f"graded {graded} of {len(records)} submissions; gradebook: "
          f"{Path(args.out) / 'gradebook.csv'}")
    flagged = analyse(records).flagged
    print(f"item analysis: {Path(args.out) / 'item_analysis.md'}"
          + (f" ({len(flagged)} test(s) look broken: "
             f"{', '.join(t.name for t in flagged[:5])})" if flagged else ""))
    return 0
