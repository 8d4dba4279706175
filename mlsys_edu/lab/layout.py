"""Where a lab's files are, and where its build outputs go.

A lab is a folder ``labs/NN_slug/`` holding ``lab.py`` (the single source) and ``tests/``.
Everything generated goes under ``build/`` (ignored by git).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

LAB_DIR_RE = re.compile(r"^(\d{2})_([a-z0-9_]+)$")


def project_root(start: Path | None = None) -> Path:
    """The course repository root: ``$MLSYS_EDU_ROOT``, else the nearest folder with ``labs/``."""
    if os.environ.get("MLSYS_EDU_ROOT"):
        return Path(os.environ["MLSYS_EDU_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "labs").is_dir() and (folder / "mkdocs.yml").is_file():
            return folder
    raise FileNotFoundError(
        f"no course repository (a folder with labs/ and mkdocs.yml) at or above {here}; "
        "run from the repository or set MLSYS_EDU_ROOT"
    )


@dataclass(frozen=True)
class Lab:
    """One lab's paths. ``number`` is the two-digit string, e.g. ``"00"``."""

    root: Path
    number: str
    slug: str

    @property
    def name(self) -> str:
        """``NN_slug``: the folder name and the stem of every build output."""
        return f"{self.number}_{self.slug}"

    @property
    def dir(self) -> Path:
        return self.root / "labs" / self.name

    @property
    def source(self) -> Path:
        return self.dir / "lab.py"

    @property
    def tests_dir(self) -> Path:
        return self.dir / "tests"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def student_notebook(self) -> Path:
        return self.build / "student" / f"{self.name}.ipynb"

    @property
    def solution_notebook(self) -> Path:
        return self.build / "solution" / f"{self.name}.ipynb"

    @property
    def solution_module(self) -> Path:
        return self.build / "solutions" / f"{self.name}.py"

    @property
    def autograder_zip(self) -> Path:
        return self.build / "autograder" / f"{self.name}.zip"


def find_labs(root: Path) -> list[Lab]:
    """Every ``labs/NN_slug`` folder with a ``lab.py``, in number order."""
    labs = []
    for folder in sorted((root / "labs").iterdir()):
        match = LAB_DIR_RE.match(folder.name)
        if match and (folder / "lab.py").is_file():
            labs.append(Lab(root, match.group(1), match.group(2)))
    return labs


def get_lab(root: Path, key: str) -> Lab:
    """A lab by number (``0``, ``00``), by folder name, or by a path to its folder."""
    path = Path(key)
    if path.is_dir() and LAB_DIR_RE.match(path.resolve().name):
        match = LAB_DIR_RE.match(path.resolve().name)
        assert match
        return Lab(path.resolve().parent.parent, match.group(1), match.group(2))
    labs = find_labs(root)
    for lab in labs:
        if key in (lab.name, lab.number) or (key.isdigit() and int(key) == int(lab.number)):
            return lab
    known = ", ".join(lab.name for lab in labs) or "none"
    raise LookupError(f"no lab {key!r} under {root / 'labs'}; labs here: {known}")
