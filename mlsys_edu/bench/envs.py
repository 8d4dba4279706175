"""Side environments: one virtual environment per anchor tool, under ``.bench-envs/<name>/``.

An anchor (snorkel, mlflow, otter, ...) never enters the project's own dependencies: it gets
its own ``python -m venv`` with only its requirements. A stamp file records the requirement
list it was built with, so an unchanged environment is reused and a changed one is rebuilt.
An anchor that cannot be installed is reported as missing with pip's last lines of output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

#: The requirements of each side environment. Pins are the versions the comparisons were
#: written against; torch stays at the release that lies on the development machines' disk.
ANCHOR_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "snorkel": ("snorkel==0.10.0", "torch==2.13.0"),
    "mlflow": ("mlflow==3.17.2",),
    "evidently": ("evidently==0.7.23", "pandas<3"),
    "otter": ("otter-grader==7.0.0", "ipykernel"),
    "litserve": ("litserve==0.2.19", "torch==2.13.0"),
    "copydetect": ("copydetect==0.5.0",),
    "pandera": ("pandera[pandas]==0.35.0", "pyarrow==26.0.1"),
    "great_expectations": ("great_expectations==1.24.1", "pyarrow==26.0.1"),
    "dvc": ("dvc==3.67.1",),
}

STAMP_NAME = "bench-stamp.json"
#: What every side environment also gets: the worker entry needs numpy.
BASE_REQUIREMENTS: tuple[str, ...] = ("numpy",)
ERROR_TAIL_LINES = 15


class InstallError(RuntimeError):
    """pip (or venv) failed; ``tail`` holds the last lines of its output."""

    def __init__(self, message: str, tail: str = "") -> None:
        super().__init__(message)
        self.tail = tail


#: An installer makes ``env_dir`` a working environment with ``requirements`` installed and
#: returns the path of its Python interpreter, or raises :class:`InstallError`.
Installer = Callable[[Path, Sequence[str]], Path]


@dataclass(frozen=True)
class SideEnv:
    """The outcome of :func:`ensure_env`: an interpreter, or why there is none."""

    name: str
    requirements: tuple[str, ...]
    python: Path | None
    reused: bool = False
    error: str = ""

    @property
    def missing(self) -> bool:
        return self.python is None


def env_python(env_dir: Path) -> Path:
    """The interpreter of a venv (POSIX and Windows layouts)."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def _tail(text: str, lines: int = ERROR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def pip_installer(env_dir: Path, requirements: Sequence[str]) -> Path:
    """Create ``env_dir`` with ``python -m venv`` and ``pip install`` the requirements."""
    made = subprocess.run([sys.executable, "-m", "venv", str(env_dir)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise InstallError(f"python -m venv {env_dir} failed", _tail(made.stdout + made.stderr))
    python = env_python(env_dir)
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check",
           "--progress-bar", "off", *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise InstallError(f"pip install {' '.join(requirements)} failed",
                           _tail(done.stdout + done.stderr))
    return python


def read_stamp(env_dir: Path) -> list[str] | None:
    """The requirement list an environment was built with, or None (no or broken stamp)."""
    try:
        data = json.loads((env_dir / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    reqs = data.get("requirements") if isinstance(data, dict) else None
    return list(reqs) if isinstance(reqs, list) else None


def write_stamp(env_dir: Path, requirements: Sequence[str], python: Path) -> None:
    """Record what ``env_dir`` holds; written last, so a half-built env has no stamp."""
    stamp = {"requirements": list(requirements), "python": str(python),
             "built_with": sys.version.split()[0]}
    (env_dir / STAMP_NAME).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")


def requirements_for(name: str) -> tuple[str, ...]:
    """The full requirement list of side environment ``name``."""
    if name not in ANCHOR_REQUIREMENTS:
        known = ", ".join(sorted(ANCHOR_REQUIREMENTS))
        raise KeyError(f"no side environment {name!r}; known: {known} "
                       "(add it to mlsys_edu.bench.envs.ANCHOR_REQUIREMENTS)")
    return (*ANCHOR_REQUIREMENTS[name], *BASE_REQUIREMENTS)


def ensure_env(name: str, envs_root: Path, installer: Installer = pip_installer,
               requirements: Sequence[str] | None = None) -> SideEnv:
    """Return side environment ``name``, building it only when its stamp does not match.

    The stamp must equal the requirement list exactly (order included) and the interpreter
    must still exist; otherwise the folder is wiped and rebuilt. A failed build leaves no
    stamp, so the next call tries again.
    """
    reqs = tuple(requirements) if requirements is not None else requirements_for(name)
    env_dir = Path(envs_root) / name
    python = env_python(env_dir)
    if read_stamp(env_dir) == list(reqs) and python.exists():
        return SideEnv(name, reqs, python, reused=True)
    if env_dir.exists():
        shutil.rmtree(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        python = installer(env_dir, reqs)
    except InstallError as err:
        return SideEnv(name, reqs, None, error=f"{err}\n{err.tail}".strip())
    write_stamp(env_dir, reqs, python)
    return SideEnv(name, reqs, python)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlsys_edu.bench.envs [NAME...]``: build (or reuse) side environments."""
    import argparse

    from mlsys_edu.bench.discover import repo_root

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("names", nargs="*", help="environments (default: all)")
    parser.add_argument("--root", type=Path, default=None, help="default: <repo>/.bench-envs")
    args = parser.parse_args(argv)
    root = args.root or repo_root() / ".bench-envs"
    status = 0
    for name in args.names or sorted(ANCHOR_REQUIREMENTS):
        env = ensure_env(name, root)
        state = "MISSING" if env.missing else ("reused" if env.reused else "built")
        print(f"{name}: {state} {env.python or ''}\n{env.error}".rstrip(), flush=True)
        status |= int(env.missing)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
