"""``mlsys-edu grade LAB SUBMISSIONS... -o OUT [--workers N] [--show-hidden]``."""

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
    return p


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
    graded = sum(r["status"] == "graded" for r in records)
    print(f"graded {graded} of {len(records)} submissions; gradebook: "
          f"{Path(args.out) / 'gradebook.csv'}")
    return 0
