"""The ``mlsys-edu`` command.

    mlsys-edu build [--lab NN]...      build notebooks, solutions and the site
    mlsys-edu serve [--port 8000]      preview the built site
    mlsys-edu new-lab NN slug          scaffold a lab that builds
    mlsys-edu check-labs               validate every lab source without executing it
    mlsys-edu links                    list the external URLs the pages cite
    mlsys-edu grade | regrade | similarity | late | export-grades   (the grader)
    mlsys-edu gradescope | selftest | bench | versions   (see each command's --help)
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

from mlsys_edu.lab.layout import find_labs, get_lab, project_root
from mlsys_edu.lab.source import LabSourceError
from mlsys_edu.lab.validate import relative, validate_all


def _root(args: argparse.Namespace) -> Path:
    return Path(args.root).resolve() if args.root else project_root()


def cmd_build(args: argparse.Namespace) -> int:
    from mlsys_edu.course.build import build

    root = _root(args)
    only = [get_lab(root, key) for key in args.lab] if args.lab else None
    report = build(root, only=only, execute=not args.no_execute, site=not args.no_site,
                   force=args.force)
    print(f"built in {report.seconds:.1f} s: executed {report.executed or 'nothing'}, "
          f"cached {report.cached or 'nothing'}")
    if report.site:
        print(f"open {report.site / 'index.html'}  (or run `mlsys-edu serve`)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    site = _root(args) / "build" / "site"
    if not (site / "index.html").is_file():
        print(f"no site at {site}; run `mlsys-edu build` first", file=sys.stderr)
        return 1
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer((args.host, args.port), handler) as server:
        print(f"serving {site} at http://{args.host}:{args.port}/ (Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def cmd_new_lab(args: argparse.Namespace) -> int:
    from mlsys_edu.course.scaffold import new_lab

    lab = new_lab(_root(args), args.number, args.slug)
    print(f"created {lab.source} and {lab.tests_dir}/test_q1.py; "
          f"next: mlsys-edu build --lab {lab.number}")
    return 0


def cmd_check_labs(args: argparse.Namespace) -> int:
    root = _root(args)
    labs = find_labs(root)
    problems = validate_all(labs)
    for problem in problems:
        print(relative(problem, root), file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in {len(labs)} lab(s)", file=sys.stderr)
        return 1
    print(f"{len(labs)} lab(s) OK: {', '.join(lab.name for lab in labs)}")
    return 0


def cmd_links(args: argparse.Namespace) -> int:
    from mlsys_edu.course.links import external_urls

    for file, line, url in external_urls(_root(args) / "lectures"):
        print(f"{file}:{line}: {url}")
    return 0


def _optional_commands(sub: argparse._SubParsersAction) -> None:
    """Commands that live with their package (grader, self-test, benchmarks)."""
    from mlsys_edu import selftest, versions
    from mlsys_edu.bench import cli as bench_cli
    from mlsys_edu.grader import cli as grade_cli
    from mlsys_edu.grader import gradescope_cli

    for module in (grade_cli, gradescope_cli, selftest, bench_cli, versions):
        module.add_parser(sub)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlsys-edu", description=__doc__.split("\n")[1])
    parser.add_argument("--root", help="course repository (default: found from the cwd)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build notebooks, solution modules and the site")
    p.add_argument("--lab", action="append", metavar="NN", help="only this lab (repeatable)")
    p.add_argument("--no-execute", action="store_true", help="skip executing the notebooks")
    p.add_argument("--no-site", action="store_true", help="skip the site")
    p.add_argument("--force", action="store_true", help="ignore the caches")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("serve", help="preview the built site locally")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("new-lab", help="scaffold labs/NN_slug with one exercise and a question")
    p.add_argument("number")
    p.add_argument("slug")
    p.set_defaults(func=cmd_new_lab)

    p = sub.add_parser("check-labs", help="validate every lab source without executing it")
    p.set_defaults(func=cmd_check_labs)

    p = sub.add_parser("links", help="list the external URLs cited by the lecture pages")
    p.set_defaults(func=cmd_links)

    _optional_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LabSourceError as err:
        root = Path(args.root).resolve() if args.root else Path.cwd()
        for problem in err.problems:
            print(relative(problem, root), file=sys.stderr)
        return 1
    except (LookupError, FileNotFoundError, FileExistsError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
