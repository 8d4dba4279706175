"""``mlsys-edu gradescope``: write the autograder zip, or run one locally before uploading it.

    mlsys-edu gradescope LAB [-o autograder.zip] [--install SPEC] [--hidden-visibility V]
    mlsys-edu gradescope run autograder.zip SUBMISSION [--setup] [--keep]

The emulator unpacks the zip into a temporary ``/autograder``-shaped tree (``source/``,
``submission/``, ``results/``), runs ``setup.sh`` only with ``--setup`` (otherwise the current
Python environment grades), runs ``run_autograder`` with ``AUTOGRADER_ROOT`` pointing at the
tree, prints the score table and checks ``results.json`` against Gradescope's specification.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsys_edu.grader.gradescope import (
    VISIBILITIES,
    GradescopeConfig,
    autograde,
    build_autograder_zip,
    env_for,
    validate_results,
)
from mlsys_edu.lab.layout import Lab, get_lab, project_root

REQUIRED_FILES = ("setup.sh", "run_autograder")


@dataclass
class EmulatorRun:
    """What one emulated Gradescope run produced."""

    root: Path  # the /autograder-shaped tree (removed afterwards unless kept)
    returncode: int  # run_autograder's exit status
    results: dict[str, Any] | None  # results/results.json, None when it was not written
    schema_errors: list[str]  # how results.json breaks the specification; empty when it conforms
    stdout: str  # run_autograder's output, as Gradescope keeps it in results/stdout

    @property
    def ok(self) -> bool:
        return self.results is not None and not self.schema_errors


def _extract(zip_path: Path, dest: Path) -> None:
    """Unpack keeping the Unix permissions stored in the zip (``zipfile`` drops them)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        missing = [f for f in REQUIRED_FILES if f not in names]
        if missing:
            raise ValueError(
                f"{zip_path} lacks {missing} at the root of the archive; Gradescope requires "
                "setup.sh and run_autograder there (zip the files, not the folder holding them)")
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise ValueError(f"{zip_path}: entry {info.filename!r} escapes the archive")
            zf.extract(info, dest)
            mode = (info.external_attr >> 16) & 0o777
            if mode and not info.is_dir():
                target.chmod(mode)


def emulate(zip_path: Path, submission: Path, *, setup: bool = False,
            workdir: Path | None = None, keep: bool = False,
            timeout_s: float | None = None) -> EmulatorRun:
    """Run the autograder zip on one submission (a file, or a folder of files) like Gradescope.

    Without ``setup`` the current interpreter runs the grader (``AUTOGRADER_PYTHON``); with it,
    ``setup.sh`` builds ``venv/`` in the tree and ``run_autograder`` uses that.
    """
    zip_path, submission = Path(zip_path), Path(submission)
    if not submission.exists():
        raise FileNotFoundError(f"no submission at {submission}")
    root = Path(tempfile.mkdtemp(prefix="autograder-", dir=workdir))
    root.chmod(0o711)  # traversable (the sandboxed child may need venv/), not listable
    try:
        (root / "source").mkdir()
        _extract(zip_path, root / "source")
        (root / "source").chmod(0o700)
        (root / "submission").mkdir()
        if submission.is_dir():
            shutil.copytree(submission, root / "submission", dirs_exist_ok=True)
        else:
            shutil.copy2(submission, root / "submission" / submission.name)
        (root / "results").mkdir()
        runner = root / "run_autograder"  # Gradescope copies it to /autograder/run_autograder
        shutil.copy2(root / "source" / "run_autograder", runner)
        runner.chmod(runner.stat().st_mode | stat.S_IXUSR)
        env = env_for(root, python=None if setup else sys.executable)
        if setup:
            done = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source",
                                  env=env, capture_output=True, text=True, timeout=timeout_s)
            if done.returncode != 0:
                raise RuntimeError(f"setup.sh failed with exit status {done.returncode}:\n"
                                   f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
        done = subprocess.run([str(runner)], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout_s)
        (root / "results" / "stdout").write_text(done.stdout, encoding="utf-8")
        results_path = root / "results" / "results.json"
        results = (json.loads(results_path.read_text(encoding="utf-8"))
                   if results_path.is_file() else None)
        errors = (validate_results(results) if results is not None
                  else ["run_autograder wrote no results/results.json"])
        return EmulatorRun(root, done.returncode, results, errors, done.stdout)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def score_table(results: dict[str, Any]) -> str:
    """A plain-text table of Gradescope's view: one row per test, then the total."""
    rows = [("#", "test", "score", "status", "visibility")]
    for test in results.get("tests", []):
        rows.append((test.get("number", ""), test.get("name", ""),
                     f"{test.get('score', 0):g}/{test.get('max_score', 0):g}",
                     test.get("status", ""), test.get("visibility", "visible")))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(t.get("max_score", 0) for t in results.get("tests", []))
    lines.append(f"total: {results.get('score', 0):g}/{total:g}   "
                 f"execution_time: {results.get('execution_time', '?')} s")
    return "\n".join(lines)


def resolve_lab(key: str, root: str | None = None) -> Lab:
    """A lab from a number, a name, or a path to its folder (``root``: the course repository)."""
    if Path(key).is_dir():
        return get_lab(Path.cwd(), key)
    return get_lab(Path(root).resolve() if root else project_root(), key)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``gradescope`` on the ``mlsys-edu`` command's subparsers."""
    parser = subparsers.add_parser(
        "gradescope", help="write a lab's Gradescope autograder zip, or run one locally",
        usage="mlsys-edu gradescope LAB [-o ZIP] [options]\n"
              "       mlsys-edu gradescope run ZIP SUBMISSION [--setup] [--keep]",
        description="Write a lab's Gradescope autograder zip (all tests, hidden included: "
                    "keep it private), or run a zip on one submission like Gradescope does.")
    parser.add_argument("target", nargs="+", metavar="ARG",
                        help="a lab (number, name or folder), or 'run' with a zip and a submission")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="where to write the zip (default: build/autograder/NN_slug.zip)")
    parser.add_argument("--install", default="bundle",
                        help="'bundle' (the package copied into the zip, the default) or a pip "
                             "requirement such as 'mlsys-edu[grader]==0.1.0'")
    parser.add_argument("--extras", default="grader,labs",
                        help="package extras setup.sh installs (comma-separated)")
    parser.add_argument("--no-torch-cpu", action="store_true",
                        help="let pip choose torch's build instead of the CPU wheel index")
    parser.add_argument("--no-pin", action="store_true",
                        help="let pip pick dependency versions (default: pin them to this "
                             "environment's, so Gradescope grades like your machine)")
    parser.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                        help="when students see hidden tests' results (default: after_published)")
    parser.add_argument("--stdout-visibility", choices=VISIBILITIES, default="hidden")
    parser.add_argument("--show-hidden-output", action="store_true",
                        help="show hidden tests' failure messages, not only pass/fail")
    parser.add_argument("--setup", action="store_true",
                        help="run: execute setup.sh first (default: grade with this Python)")
    parser.add_argument("--keep", action="store_true",
                        help="run: keep the temporary /autograder tree and print where it is")
    parser.set_defaults(func=handle_gradescope)
    return parser


def handle_gradescope(args: argparse.Namespace) -> int:
    """Build the zip, or (``run``) emulate Gradescope on one submission."""
    if args.target[0] == "run":
        if len(args.target) != 3:
            print("usage: mlsys-edu gradescope run AUTOGRADER.zip SUBMISSION", file=sys.stderr)
            return 2
        return _handle_run(Path(args.target[1]), Path(args.target[2]), args)
    if len(args.target) != 1:
        print(f"one lab expected, got {args.target}; to emulate a run: "
              "mlsys-edu gradescope run AUTOGRADER.zip SUBMISSION", file=sys.stderr)
        return 2
    lab = resolve_lab(args.target[0], getattr(args, "root", None))
    config = GradescopeConfig(
        install=args.install, extras=tuple(e for e in args.extras.split(",") if e),
        torch_cpu=not args.no_torch_cpu, pin_versions=not args.no_pin,
        hidden_visibility=args.hidden_visibility,
        stdout_visibility=args.stdout_visibility, show_hidden_output=args.show_hidden_output)
    out = build_autograder_zip(lab, args.output or lab.autograder_zip, config)
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("mlsys_edu_autograder.json"))
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB): {meta['tests']} tests "
          f"({meta['hidden_tests']} hidden), {meta['max_score']:g} points; "
          f"reference {'included' if meta['reference_included'] else 'NOT included'}")
    print("upload it as the assignment's autograder; it holds the hidden tests, keep it private")
    return 0


def _handle_run(zip_path: Path, submission: Path, args: argparse.Namespace) -> int:
    run = emulate(zip_path, submission, setup=args.setup, keep=args.keep)
    if run.results is not None:
        print(score_table(run.results))
        print("\n" + run.results.get("output", ""))
    if run.returncode != 0:
        print(f"\nrun_autograder exited with status {run.returncode}; its output:\n"
              f"{run.stdout[-4000:]}", file=sys.stderr)
    if run.schema_errors:
        print("\nresults.json does not follow Gradescope's specification:", file=sys.stderr)
        for error in run.schema_errors:
            print(f"  {error}", file=sys.stderr)
    else:
        print("results.json follows Gradescope's specification")
    if args.keep:
        print(f"tree kept at {run.root}")
    return 0 if run.ok and run.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """``python -m mlsys_edu.grader.gradescope_cli``: the gradescope command, plus the
    ``autograde --root ROOT`` entry that ``run_autograder`` calls inside the container."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["autograde"]:
        parser = argparse.ArgumentParser(prog="autograde")
        parser.add_argument("--root", type=Path,
                            default=Path(os.environ.get("AUTOGRADER_ROOT", "/autograder")))
        autograde(parser.parse_args(argv[1:]).root)
        return 0  # a results file is always written; Gradescope reads it, not the status
    top = argparse.ArgumentParser(prog="python -m mlsys_edu.grader.gradescope_cli")
    add_parser(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(["gradescope", *argv])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
