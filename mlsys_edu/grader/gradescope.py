"""Gradescope: the autograder zip, and the conversion of our records to its ``results.json``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once when it builds the
image, then for each submission puts the student's files in ``/autograder/submission``, runs
``/autograder/run_autograder`` and reads ``/autograder/results/results.json``. Our
``run_autograder`` calls :func:`autograde`, which grades the one submission with the judge
(``grade_submission``, one sandboxed child) and writes the converted record. ``AUTOGRADER_ROOT``
replaces ``/autograder`` so the local emulator can run the same script in a temporary tree.

The zip is instructor-only: it holds every test, hidden ones included, and the reference.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import time
import traceback
import zipfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from mlsys_edu.lab.layout import LAB_DIR_RE, Lab

CONFIG_NAME = "mlsys_edu_autograder.json"
SCHEMA_PATH = Path(__file__).with_name("gradescope_results.schema.json")
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}


@dataclass(frozen=True)
class GradescopeConfig:
    """How the autograder installs itself and shows results.

    ``install`` is ``"bundle"`` (install the copy of the package inside the zip) or any pip
    requirement (``"mlsys-edu[grader]==0.1.0"``, ``"git+https://...@v1"``). ``extras`` are the
    package extras to install with it. ``hidden_visibility`` is the Gradescope visibility of
    hidden tests; their messages are withheld unless ``show_hidden_output``.
    ``grade_options`` sets the judge's ``GradeOptions`` fields (``cell_timeout_s``,
    ``memory_mb``, ``preload``...) inside the container. ``pin_versions`` constrains the
    package's dependencies to the versions installed here, so Gradescope grades with the
    library versions the lab was tested with (a new pandas can change a test's outcome).
    """

    install: str = "bundle"
    extras: tuple[str, ...] = ("grader", "labs")
    torch_cpu: bool = True
    hidden_visibility: str = "after_published"
    stdout_visibility: str = "hidden"
    show_hidden_output: bool = False
    python: str = "python3"
    grade_options: dict[str, Any] = field(default_factory=dict)  # GradeOptions fields
    pin_versions: bool = True

    def __post_init__(self) -> None:
        for name in ("hidden_visibility", "stdout_visibility"):
            if getattr(self, name) not in VISIBILITIES:
                raise ValueError(f"{name} must be one of {VISIBILITIES}, "
                                 f"got {getattr(self, name)!r}")
        if not self.install.strip():
            raise ValueError("install must be 'bundle' or a pip requirement, got an empty string")
        from mlsys_edu.grader.sandbox import GradeOptions

        known = {f.name for f in fields(GradeOptions)}
        unknown = sorted(set(self.grade_options) - known)
        if unknown:
            raise ValueError(f"grade_options {unknown} are not GradeOptions fields: "
                             f"{sorted(known)}")

    def judge_options(self) -> Any:
        """The ``GradeOptions`` the judge runs with (lists from JSON become tuples)."""
        from mlsys_edu.grader.sandbox import GradeOptions

        return GradeOptions(**{k: tuple(v) if isinstance(v, list) else v
                               for k, v in self.grade_options.items()})


# ----------------------------------------------------------------------------------------------
# The zip
# ----------------------------------------------------------------------------------------------
def _package_root() -> Path:
    """The folder holding ``mlsys_edu/`` and ``pyproject.toml`` of the running package."""
    import mlsys_edu

    root = Path(mlsys_edu.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"cannot bundle mlsys_edu: no pyproject.toml next to {root / 'mlsys_edu'} (the package "
            "is installed from a wheel); pass install='mlsys-edu==VERSION' (CLI: --install SPEC) "
            "or run from a source checkout"
        )
    return root


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder`` in a stable order, without caches and byte code."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not (_SKIP_PARTS & set(p.relative_to(folder).parts))
        and p.suffix not in (".pyc", ".pyo")
    )


def reference_source(lab: Lab) -> str | None:
    """The exported solution module's text: from the lab source, else the built module."""
    try:
        from mlsys_edu.lab.source import solution_module_source  # the lead's parser
    except ImportError:
        solution_module_source = None  # type: ignore[assignment]
    if solution_module_source is not None:
        return solution_module_source(lab.source)
    if lab.solution_module.is_file():
        return lab.solution_module.read_text(encoding="utf-8")
    return None


def pinned_constraints(extras: tuple[str, ...]) -> str:
    """``name==version`` for each dependency of ``mlsys-edu[extras]`` installed here.

    Local version labels are dropped (``torch==2.13.0`` matches ``2.13.0+cpu``).
    """
    from importlib import metadata

    from packaging.requirements import Requirement

    lines = []
    for text in metadata.requires("mlsys-edu") or []:
        req = Requirement(text)
        if req.name == "mlsys-edu":
            continue
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            continue
        lines.append(f"{req.name}=={version.split('+')[0]}")
    return "".join(f"{line}\n" for line in sorted(set(lines)))


def setup_script(config: GradescopeConfig) -> str:
    """``setup.sh``: a virtual environment at ``$AUTOGRADER_ROOT/venv`` with the package in it."""
    extras = f"[{','.join(config.extras)}]" if config.extras else ""
    bundle = config.install == "bundle"
    target = f'"$SRC/package{extras}"' if bundle else shlex.quote(config.install)
    pin = ' -c "$SRC/constraints.txt"' if config.pin_versions else ""
    torch = (f'"$VENV/bin/pip" install{pin} --index-url {TORCH_CPU_INDEX} torch\n'
             if config.torch_cpu and "labs" in config.extras else "")
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
SRC="$ROOT/source"
VENV="$ROOT/venv"
# mlsys-edu needs Python >= 3.11 (Ubuntu 22.04's python3 is 3.10: install python3.11 there)
PY=""
CHECK='import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 11))'
for candidate in {config.python} python3.13 python3.12 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "$CHECK" 2>/dev/null; then
        PY="$candidate"; break
    fi
done
if [ -z "$PY" ]; then
    apt-get update && apt-get install -y python3.11 python3.11-venv
    PY=python3.11
fi
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --upgrade pip
{torch}"$VENV/bin/pip" install{pin} {target}
if [ -f "$SRC/requirements.txt" ]; then "$VENV/bin/pip" install -r "$SRC/requirements.txt"; fi
chmod -R go-rwx "$SRC"   # the sandboxed child must not read the tests or the reference
"""


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; the working directory is /autograder.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
if [ -n "${AUTOGRADER_PYTHON:-}" ]; then PY="$AUTOGRADER_PYTHON"
elif [ -x "$ROOT/venv/bin/python" ]; then PY="$ROOT/venv/bin/python"
else PY=python3; fi
mkdir -p "$ROOT/results"
exec "$PY" -m mlsys_edu.grader.gradescope_cli autograde --root "$ROOT"
"""


def _add(zf: zipfile.ZipFile, name: str, data: bytes | str, executable: bool = False) -> None:
    """One zip entry with a fixed timestamp (reproducible zips) and Unix permissions."""
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16
    zf.writestr(info, data.encode("utf-8") if isinstance(data, str) else data)


def build_autograder_zip(lab: Lab, out_path: Path, config: GradescopeConfig | None = None) -> Path:
    """Write the Gradescope autograder zip for ``lab`` to ``out_path``.

    Layout (zip root = ``/autograder/source``): ``setup.sh``, ``run_autograder``,
    ``mlsys_edu_autograder.json``, ``labs/NN_slug/`` (lab source and every test),
    ``build/solutions/NN_slug.py`` (the reference) and, for ``install="bundle"``,
    ``package/`` (``mlsys_edu/`` + ``pyproject.toml``).
    """
    config = config or GradescopeConfig()
    if not lab.source.is_file() or not lab.tests_dir.is_dir():
        raise FileNotFoundError(f"{lab.dir} is not a lab: it needs lab.py and tests/")
    from mlsys_edu.lab.validate import validate_lab

    tests = validate_lab(lab)[1]  # a malformed lab fails here, with every problem listed
    if not tests:
        raise ValueError(f"{lab.tests_dir} has no @question tests: nothing to grade")
    reference = reference_source(lab)
    meta = {"format_version": 1, "lab": lab.name, **asdict(config),
            "reference_included": True,
            "tests": len(tests), "hidden_tests": sum(t.hidden for t in tests),
            "max_score": sum(t.points for t in tests)}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        _write_zip(tmp, lab, config, meta, reference)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out_path)
    return out_path


def _write_zip(tmp: Path, lab: Lab, config: GradescopeConfig, meta: dict[str, Any],
               reference: str) -> None:
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", setup_script(config), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add(zf, CONFIG_NAME, json.dumps(meta, indent=2) + "\n")
        if config.pin_versions:
            _add(zf, "constraints.txt", pinned_constraints(config.extras))
        for path in _walk(lab.dir):
            _add(zf, f"labs/{lab.name}/{path.relative_to(lab.dir).as_posix()}", path.read_bytes())
        _add(zf, f"build/solutions/{lab.name}.py", reference)
        if config.install == "bundle":
            root = _package_root()
            for path in _walk(root / "mlsys_edu"):
                _add(zf, f"package/{path.relative_to(root).as_posix()}", path.read_bytes())
            _add(zf, "package/pyproject.toml", (root / "pyproject.toml").read_bytes())
            readme = root / "README.md"
            _add(zf, "package/README.md",
                 readme.read_bytes() if readme.is_file() else b"# mlsys-edu\n")


# ----------------------------------------------------------------------------------------------
# Record -> results.json
# ----------------------------------------------------------------------------------------------
def _fmt(points: float) -> str:
    return f"{points:g}"


def _test_output(test: dict[str, Any], show_message: bool) -> str:
    status = test.get("status", "error")
    head = {"passed": "passed", "failed": "failed", "error": "error: the code raised an exception",
            "timeout": "timed out", "out-of-memory": "ran out of memory",
            "crashed": "crashed (the process running your code died)",
            "missing": "missing: a name the test uses is not defined in your notebook",
            "refused": "refused: the answer was too large or not data"}.get(status, status)
    message = (test.get("message") or "").strip()
    if status == "passed" or not message:
        return head
    if not show_message:
        return f"{head} (details are withheld for hidden tests)"
    return f"{head}\n\n{message}"


def to_gradescope(record: dict[str, Any], config: GradescopeConfig | None = None) -> dict[str, Any]:
    """One judge record as Gradescope's ``results.json``.

    Each of our tests becomes one Gradescope test ``"qN test_name"`` numbered ``"k.j"`` (k-th
    question, j-th test in it), ``status`` = passed iff our status is passed. The top-level
    ``score`` is the record's score (the sum of the test scores).
    """
    config = config or GradescopeConfig()
    order: dict[str, int] = {}
    tests = []
    for test in record.get("tests", []):
        question = str(test.get("question", "?"))
        k = order.setdefault(question, len(order) + 1)
        j = sum(1 for t in tests if t["number"].startswith(f"{k}.")) + 1
        hidden = bool(test.get("hidden"))
        tests.append({
            "name": f"{question} {test.get('name', '?')}" + (" (hidden)" if hidden else ""),
            "number": f"{k}.{j}",
            "score": float(test.get("score", 0.0)),
            "max_score": float(test.get("points", 0.0)),
            "status": "passed" if test.get("status") == "passed" else "failed",
            "output": _test_output(test, show_message=not hidden or config.show_hidden_output),
            "visibility": config.hidden_visibility if hidden else "visible",
        })
    return {
        "score": float(record.get("score", 0.0)) if record.get("status") == "graded" else 0.0,
        "execution_time": int(math.ceil(max(0.0, float(record.get("duration_s", 0.0))))),
        "output": summary_text(record),
        "stdout_visibility": config.stdout_visibility,
        "tests": tests,
    }


def summary_text(record: dict[str, Any]) -> str:
    """The text shown above the tests: the score per question and any cell that failed."""
    name = Path(str(record.get("source", "?"))).name
    lines = [f"Lab {record.get('lab', '?')}, submission {name}"]
    if record.get("status") != "graded":
        reason = record.get("reason") or "no reason given"
        lines.append(f"Not graded ({record.get('status')}): {reason}")
        return "\n".join(lines)
    lines.append(f"Score: {_fmt(record.get('score', 0.0))} / {_fmt(record.get('max_score', 0.0))}")
    for name, q in record.get("questions", {}).items():
        lines.append(f"  {name}: {_fmt(q.get('score', 0.0))} / {_fmt(q.get('max_score', 0.0))}")
    bad = [c for c in record.get("cells", []) if c.get("status") not in ("ok", None)]
    if bad:
        lines.append("Cells that did not run cleanly (execution continued after each):")
        for cell in bad:
            message = (cell.get("message") or "").strip().splitlines()
            lines.append(f"  cell {cell.get('index')}: {cell.get('status')}"
                         + (f": {message[-1]}" if message else ""))
    return "\n".join(lines)


def failure_results(reason: str, elapsed_s: float = 0.0) -> dict[str, Any]:
    """``results.json`` when grading itself broke: score 0 with a reason (never no file)."""
    return {"score": 0.0, "execution_time": int(math.ceil(elapsed_s)),
            "output": f"The autograder could not grade this submission: {reason}",
            "stdout_visibility": "hidden", "tests": []}


# ----------------------------------------------------------------------------------------------
# Inside the container: run_autograder -> autograde()
# ----------------------------------------------------------------------------------------------
def find_submission(folder: Path, lab_name: str) -> Path:
    """The file to grade in ``/autograder/submission``: an export zip or a notebook.

    An export zip (``check.export()``) wins over a bare notebook; among several candidates, one
    whose name contains the lab's name, else the largest.
    """
    files = [p for p in _walk(folder) if p.suffix.lower() in (".zip", ".ipynb")
             and not p.name.startswith(".")]
    if not files:
        found = ", ".join(p.name for p in _walk(folder)[:10]) or "nothing"
        raise FileNotFoundError(
            f"no notebook (.ipynb) or export (.zip from check.export()) in your submission "
            f"(found: {found}); upload the lab notebook {lab_name}.ipynb or its export zip")
    zips = [p for p in files if p.suffix.lower() == ".zip"]
    pool = zips or files
    named = [p for p in pool if lab_name in p.name]
    return max(named or pool, key=lambda p: p.stat().st_size)


def autograde(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` against ``root/source``; write ``root/results/results.json``.

    Always writes a results file: a failure of the grader itself gives score 0 and the reason.
    """
    start = time.monotonic()
    root = Path(root)
    results_path = root / "results" / "results.json"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        meta = json.loads((root / "source" / CONFIG_NAME).read_text(encoding="utf-8"))
        known = GradescopeConfig.__dataclass_fields__
        config = GradescopeConfig(**{k: (tuple(v) if k == "extras" else v)
                                     for k, v in meta.items() if k in known})
        match = LAB_DIR_RE.match(meta["lab"])
        if not match:
            raise ValueError(f"bad lab name {meta['lab']!r} in {CONFIG_NAME}")
        lab = Lab((root / "source").resolve(), match.group(1), match.group(2))
        submission = find_submission(root / "submission", lab.name)
        print(f"grading {submission.name} against {lab.name}", flush=True)
        from mlsys_edu.grader import grade_submission

        record = grade_submission(lab, submission, options=config.judge_options())
        results = to_gradescope(record, config)
        print(json.dumps({k: record.get(k) for k in ("status", "score", "max_score", "reason")}),
              flush=True)
    except FileNotFoundError as exc:
        results = failure_results(str(exc), time.monotonic() - start)
    except Exception:  # noqa: BLE001 - whatever broke, the student gets a file with the reason
        traceback.print_exc()
        results = failure_results("internal error in the grader; the course staff have the log",
                                  time.monotonic() - start)
    results_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


def load_schema() -> dict[str, Any]:
    """The JSON Schema of Gradescope's ``results.json``."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_results(results: dict[str, Any]) -> list[str]:
    """Every way ``results`` breaks Gradescope's specification (empty when it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
            for e in sorted(validator.iter_errors(results), key=lambda e: list(e.absolute_path))]


def env_for(root: Path, python: str | None = None) -> dict[str, str]:
    """The environment for ``run_autograder`` in an emulated tree at ``root``."""
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    if python:
        env["AUTOGRADER_PYTHON"] = python
    return env


__all__ = ["GradescopeConfig", "autograde", "build_autograder_zip", "failure_results",
           "find_submission", "load_schema", "to_gradescope", "validate_results"]
