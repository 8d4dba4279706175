"""``mlsys-edu bench [NAME...] [--quick] [--repeats N] [--out build/bench]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from mlsys_edu.bench.discover import discover, repo_root
from mlsys_edu.bench.envs import Installer, SideEnv, pip_installer
from mlsys_edu.bench.machine import machine_info
from mlsys_edu.bench.report import RESULTS_JSON, write_all
from mlsys_edu.bench.runner import DEFAULT_REPEATS, SIDE_TIMEOUT_S, WORKER_NAME, run_comparison

HELP = "compare our implementations with today's tools, side by side"


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="comparisons to run (benchmarks/NAME.py; default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="toy sizes, our side only, no side environments (a smoke test)")
    parser.add_argument("--repeats", type=int, default=None,
                        help=f"alternating rounds after the warm-up (default {DEFAULT_REPEATS}, "
                             "1 with --quick)")
    parser.add_argument("--out", type=Path, default=None, help="default: <repo>/build/bench")
    parser.add_argument("--bench-dir", type=Path, default=None,
                        help="where the comparisons are (default: <repo>/benchmarks)")
    parser.add_argument("--envs", type=Path, default=None,
                        help="side environments folder (default: <repo>/.bench-envs)")
    parser.add_argument("--timeout", type=float, default=SIDE_TIMEOUT_S,
                        help="seconds one run of one side may take")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite results.md and the figures from OUT/results.json")
    parser.add_argument("--record", action="store_true",
                        help="also keep this full run in benchmarks/results/ (committed; the "
                             "site's Performance page shows it); with --render: record OUT's")
    parser.set_defaults(func=run)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on the ``mlsys-edu`` command's subparsers."""
    return configure(subparsers.add_parser("bench", help=HELP, description=HELP))


def run(args: argparse.Namespace, installer: Installer = pip_installer) -> int:
    """Run the comparisons, write the results; exit 1 if any comparison or case failed."""
    root = repo_root()
    bench_dir = Path(args.bench_dir or root / "benchmarks").resolve()
    out = Path(args.out or root / "build" / "bench").resolve()
    envs_root = Path(args.envs or root / ".bench-envs").resolve()
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else DEFAULT_REPEATS)
    if repeats < 1:
        print("error: --repeats must be at least 1", file=sys.stderr)
        return 2
    if args.render:
        try:
            results = json.loads((out / RESULTS_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            print(f"error: cannot read {out / RESULTS_JSON} ({err}); run the benchmarks first",
                  file=sys.stderr)
            return 2
        print("wrote " + ", ".join(str(p) for p in write_all(results, out)), file=sys.stderr)
        return _record(results, out, root) if args.record else 0
    try:
        comparisons = discover(bench_dir, args.names or None)
    except (LookupError, ImportError, TypeError, SyntaxError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    worker = bench_dir / WORKER_NAME
    if not worker.is_file():
        print(f"error: {worker} is missing; it runs one side in its own interpreter",
              file=sys.stderr)
        return 2
    results: dict[str, Any] = {"machine": machine_info(), "quick": bool(args.quick),
                               "repeats": repeats, "comparisons": []}
    env_cache: dict[str, SideEnv] = {}
    for comparison in comparisons:
        print(f"{comparison.name}: {comparison.title}", file=sys.stderr, flush=True)
        results["comparisons"].append(run_comparison(
            comparison, quick=args.quick, repeats=repeats, workdir=out / "work",
            envs_root=envs_root, worker=worker, cwd=root, installer=installer,
            env_cache=env_cache, timeout_s=args.timeout))
    written = write_all(results, out)
    print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    failed = any(r["status"] != "ok" or any("error" in c for c in r["cases"]) or
                 any(s.get("status") == "error" for c in r["cases"] for s in c["sides"].values())
                 for r in results["comparisons"])
    if args.record and not failed:
        return _record(results, out, root)
    if args.record:
        print("not recorded: a comparison or a case failed (the record keeps the last good "
              "run)", file=sys.stderr)
    return 1 if failed else 0


def _record(results: dict[str, Any], out: Path, root: Path) -> int:
    """Merge a full run into benchmarks/results/ (see ``record.py``)."""
    from mlsys_edu.bench.record import record_run

    try:
        written = record_run(results, out, root)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("recorded " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = configure(argparse.ArgumentParser(prog="mlsys-edu bench", description=HELP))
    args = parser.parse_args(argv)
    return args.func(args)
