"""Version sets: the package versions a lab must be right under, each in a venv of its own.

A lab is right when it is right where students run it. ``versions/`` holds the sets:

* ``colab``: Colab's runtime as its maintainers publish it (``versions/colab.txt``, their
  ``pip freeze``), used as pip *constraints*: whatever the kit installs gets Colab's version.
* ``minimum``: the floors ``pyproject.toml`` declares (``versions/minimum.txt``), pinned
  exactly, so the floors are claims CI checks.

The development set is what ``requirements-dev.txt`` resolves to today (``./.venv``). Each set
gets ``.venvs/<name>/`` (ignored by git), rebuilt only when its file or ``pyproject.toml``
changes. torch is the exception: only 2.13.0 (CPU) is installable on the course machines, so
every set shares the development venv's copy through a ``.pth`` file instead of a second
800 MB install.

    mlsys-edu versions                      # the sets and their key versions
    mlsys-edu versions build colab minimum  # make or reuse their venvs
    mlsys-edu versions check 01 --set colab # run lab 01's solution notebook under Colab's set
    mlsys-edu selftest 01 --versions colab  # the self-test, its judge running under that set
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from mlsys_edu.bench.envs import InstallError, ensure_env, env_python
from mlsys_edu.lab.layout import Lab, get_lab, project_root

#: What every set's venv gets: the kit with the extras labs and their tests use, and what the
#: version checks need to execute notebooks (all of it ships on Colab).
EXTRAS = "labs,serving"
TOOLS = ("nbclient", "nbformat", "ipykernel", "pyyaml", "jsonschema")
TORCH = "torch==2.13.0"
#: Lines of a constraints file that cannot apply here: torch and its CUDA stack (torch is
#: shared, see above), the packaging tools (torch 2.13 needs a newer setuptools than Colab's,
#: which pairs with its torch 2.11), and packages pinned to URLs or local files.
_UNUSABLE = re.compile(r"^(torch|torchvision|torchaudio|torchcodec|triton|nvidia-|setuptools=|"
                       r"pip=|wheel=)|\s@\s", re.I)
KEY_PACKAGES = ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "matplotlib", "torch",
                "ipython", "ipykernel", "jupyter_client", "fastapi", "uvicorn", "httpx")

Log = Callable[[str], None]


@dataclass(frozen=True)
class VersionSet:
    """One set: its file and how pip reads it (``constraints`` or exact ``pins``)."""

    name: str
    file: str
    mode: str
    about: str

    def path(self, root: Path) -> Path:
        return root / self.file


SETS: dict[str, VersionSet] = {
    "colab": VersionSet("colab", "versions/colab.txt", "constraints",
                        "Colab's CPU runtime as published (googlecolab/backend-info)"),
    "minimum": VersionSet("minimum", "versions/minimum.txt", "pins",
                          "the floors pyproject.toml declares, pinned exactly"),
}


def get_set(name: str) -> VersionSet:
    if name not in SETS:
        raise LookupError(f"no version set {name!r}; sets: {', '.join(SETS)} (see versions/)")
    return SETS[name]


def usable_lines(text: str) -> list[str]:
    """The requirement lines of a set file that pip can apply here."""
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not _UNUSABLE.search(line):
            lines.append(line)
    return lines


def pinned_versions(text: str) -> dict[str, str]:
    """``{normalised name: version}`` of a set file's ``name==version`` lines."""
    found = {}
    for line in usable_lines(text):
        name, sep, version = line.partition("==")
        if sep:
            found[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return found


def _stamp(root: Path, vset: VersionSet) -> list[str]:
    """What a set's venv is built from: a change to any of it rebuilds the venv."""
    digest = hashlib.sha256()
    for path in (vset.path(root), root / "pyproject.toml"):
        digest.update(path.read_bytes())
    digest.update(f"{EXTRAS}|{TOOLS}|{TORCH}|{sys.version_info[:2]}".encode())
    return [f"set={vset.name}", f"sha256={digest.hexdigest()}"]


def _shared_torch(envs_root: Path) -> tuple[Path, list[str]] | None:
    """A folder exposing this interpreter's torch (and its metadata) to other venvs, and
    torch's own requirements; None when torch here is not the pinned release."""
    try:
        dist = metadata.distribution("torch")
    except metadata.PackageNotFoundError:
        return None
    if dist.version.split("+")[0] != TORCH.split("==")[1]:
        return None
    site = Path(dist.locate_file(""))
    folder = envs_root / "_shared-torch"
    folder.mkdir(parents=True, exist_ok=True)
    tops = (dist.read_text("top_level.txt") or "torch").split()
    meta = next(f for f in dist.files or [] if f.name == "METADATA")
    for name in [*tops, Path(dist.locate_file(meta)).parent.name]:
        link, target = folder / name, site / name
        if target.exists() and not link.exists():
            link.symlink_to(target, target_is_directory=target.is_dir())
    requires = [r for r in (dist.requires or []) if "extra ==" not in r]  # pip reads markers
    return folder, requires


def _installer(root: Path, vset: VersionSet, log: Log) -> Callable[[Path, Any], Path]:
    def install(env_dir: Path, _stamp_lines: Any) -> Path:
        def run(cmd: list[str]) -> None:
            log("  $ " + " ".join(cmd[:8]) + (" ..." if len(cmd) > 8 else ""))
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise InstallError(f"{' '.join(cmd[:6])} ... failed",
                                   "\n".join((done.stdout + done.stderr).splitlines()[-20:]))

        run([sys.executable, "-m", "venv", str(env_dir)])
        python = env_python(env_dir)
        run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
        lines = usable_lines(vset.path(root).read_text(encoding="utf-8"))
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
            handle.write("\n".join(lines) + "\n")
        args = ["-c" if vset.mode == "constraints" else "-r", handle.name]
        shared = _shared_torch(env_dir.parent)
        packages = [f"{root}[{EXTRAS}]", *TOOLS]
        if shared is None:
            packages.insert(0, TORCH)
        else:
            folder, torch_requires = shared
            site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig."
                                        "get_paths()['purelib'])"], capture_output=True,
                                       text=True, check=True).stdout.strip())
            (site / "mlsys_edu_shared_torch.pth").write_text(f"{folder}\n")
            packages += torch_requires
        try:
            run([str(python), "-m", "pip", "install", "-q", *args, "-e", *packages])
        finally:
            os.unlink(handle.name)
        return python

    return install


def ensure_set_env(name: str, root: Path | None = None, log: Log = print) -> Path:
    """The interpreter of set ``name``'s venv, built (minutes) or reused (instant)."""
    root = root or project_root()
    vset = get_set(name)
    log(f"version set {name}: {vset.about}")
    env = ensure_env(name, root / ".venvs", _installer(root, vset, log), _stamp(root, vset))
    if env.python is None:
        raise RuntimeError(f"could not build the {name} venv:\n{env.error}")
    log(f"  {'reused' if env.reused else 'built'} {env.python}")
    return env.python


def installed_versions(python: Path) -> dict[str, str]:
    """The key packages' versions in a venv (``-`` where one is missing)."""
    code = ("import json; from importlib import metadata as m\n"
            f"names = {list(KEY_PACKAGES)!r}\n"
            "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n"
            "        return '-'\n"
            "print(json.dumps({n: v(n) for n in names}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


# ----------------------------------------------------------------------------------------------
# Running a lab's solution notebook under a set, as a student would
# ----------------------------------------------------------------------------------------------
def run_solution_notebook(lab: Lab, out_dir: Path, timeout_s: int = 600) -> dict[str, Any]:
    """In *this* interpreter's kernel: execute the lab's solution notebook top to bottom with
    the check log on, save it, then ``check.export()`` it as a student's submission zip.

    Returns ``{"checks": [...], "failures": [...], "submission": path, "versions": {...}}``.
    """
    import nbformat
    from nbclient import NotebookClient

    from mlsys_edu.lab.checklog import ENV, failed_checks, read_check_log
    from mlsys_edu.selftest import lab_notebooks

    out_dir.mkdir(parents=True, exist_ok=True)
    _, nb = lab_notebooks(lab)
    checks_log, executed = out_dir / "checks.jsonl", out_dir / f"{lab.name}.ipynb"
    checks_log.unlink(missing_ok=True)
    os.environ[ENV] = str(checks_log)
    client = NotebookClient(nb, timeout=timeout_s, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    with client.setup_kernel(cwd=str(out_dir)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        nbformat.write(nb, executed)  # what a student saves before exporting
        submission = out_dir / "submission.zip"
        export = nbformat.v4.new_code_cell(
            f"check.export({str(submission)!r}, notebook={str(executed)!r}, student='solution')")
        nb.cells.append(export)
        client.execute_cell(export, len(nb.cells) - 1)
    checks = read_check_log(checks_log)
    return {"checks": checks, "failures": failed_checks(checks), "submission": str(submission),
            "versions": installed_versions(Path(sys.executable))}


def check_lab(lab: Lab, set_name: str, out_dir: Path, log: Log = print) -> dict[str, Any]:
    """Run the solution notebook in set ``set_name``'s kernel, then grade the zip it exported
    with this (the instructor's) judge. Both must give full marks."""
    from mlsys_edu.grader import grade_submission

    python = ensure_set_env(set_name, lab.root, log)
    result_file = out_dir / "result.json"
    proc = subprocess.run([str(python), "-m", "mlsys_edu.versions", "_run-notebook",
                           str(lab.dir), str(out_dir), str(result_file)],
                          capture_output=True, text=True, cwd=lab.root)
    if proc.returncode != 0 or not result_file.is_file():
        raise RuntimeError(f"lab {lab.name} under the {set_name} set: the solution notebook "
                           f"failed to run:\n{(proc.stderr or proc.stdout)[-4000:]}")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    record = grade_submission(lab, Path(result["submission"]))
    result["graded"] = {"status": record["status"], "score": record["score"],
                        "max_score": record["max_score"], "reason": record["reason"],
                        "lost": [f"{t['name']} {t['status']}" for t in record["tests"]
                                 if t["status"] != "passed"]}
    return result


def describe_check(lab: Lab, set_name: str, result: dict[str, Any]) -> str:
    """A few lines for a person: the versions, the checks, the grade of the export."""
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v != "-")
    public = sum(c["score"] for c in result["checks"]), sum(c["max_score"] for c in result["checks"])
    graded = result["graded"]
    lines = [f"{lab.name} under the {set_name} set ({versions}):",
             f"  public checks in the notebook: {public[0]:g} / {public[1]:g} "
             f"({len(result['checks'])} checks)",
             f"  the exported zip, batch-graded: {graded['score']:g} / {graded['max_score']:g} "
             f"({graded['status']})"]
    lines += [f"  - {line}" for line in result["failures"]]
    lines += [f"  - lost in grading: {line}" for line in graded["lost"]]
    return "\n".join(lines)


def check_passed(result: dict[str, Any]) -> bool:
    graded = result["graded"]
    return (not result["failures"] and bool(result["checks"]) and graded["status"] == "graded"
            and graded["score"] >= graded["max_score"] - 1e-9)


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``versions`` on the ``mlsys-edu`` command's subparsers."""
    parser = subparsers.add_parser("versions", help="the version sets labs are checked under "
                                                    "(Colab's, the minimum)")
    sub = parser.add_subparsers(dest="action")
    build = sub.add_parser("build", help="make or reuse the sets' venvs under .venvs/")
    build.add_argument("names", nargs="*", default=list(SETS), help="sets (default: all)")
    check = sub.add_parser("check", help="run a lab's solution notebook under a set and grade "
                                         "what it exports")
    check.add_argument("lab", help="lab number, name or folder")
    check.add_argument("--set", default="colab", dest="set_name", choices=list(SETS))
    parser.set_defaults(func=handle_versions)
    return parser


def handle_versions(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve() if getattr(args, "root", None) else project_root()
    if args.action == "build":
        for name in args.names:
            ensure_set_env(name, root)
        return 0
    if args.action == "check":
        lab = get_lab(root, args.lab)
        with tempfile.TemporaryDirectory(prefix=f"versions-{lab.name}-") as tmp:
            result = check_lab(lab, args.set_name, Path(tmp))
        print(describe_check(lab, args.set_name, result))
        return 0 if check_passed(result) else 1
    for vset in SETS.values():
        pins = pinned_versions(vset.path(root).read_text(encoding="utf-8"))
        key = ", ".join(f"{k} {pins[k]}" for k in KEY_PACKAGES if k in pins)
        built = (root / ".venvs" / vset.name).is_dir()
        print(f"{vset.name}: {vset.about} [{vset.file}; venv {'built' if built else 'not built'}]"
              f"\n  {key}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m mlsys_edu.versions _run-notebook LAB_DIR OUT_DIR RESULT_JSON`` (internal)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 4 and argv[0] == "_run-notebook":
        lab = get_lab(Path.cwd(), argv[1])
        result = run_solution_notebook(lab, Path(argv[2]))
        Path(argv[3]).write_text(json.dumps(result), encoding="utf-8")
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
