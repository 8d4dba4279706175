"""Find and load comparison modules ``benchmarks/*.py`` by path."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

DEFAULT_SIDES: tuple[str, ...] = ("ours", "anchor")


def repo_root() -> Path:
    """The repository holding ``benchmarks/``: ``$MLSYS_EDU_ROOT``, else this package's checkout,
    else the current directory."""
    if os.environ.get("MLSYS_EDU_ROOT"):
        return Path(os.environ["MLSYS_EDU_ROOT"]).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "benchmarks").is_dir():
        return checkout
    return Path.cwd().resolve()


@dataclass(frozen=True)
class Comparison:
    """One loaded ``benchmarks/<name>.py``."""

    name: str
    path: Path
    module: ModuleType

    @property
    def anchor(self) -> str | None:
        return getattr(self.module, "ANCHOR", None)

    @property
    def title(self) -> str:
        return str(getattr(self.module, "TITLE", self.name))

    @property
    def sides(self) -> tuple[str, ...]:
        """Sides in run order; ``ours`` is always first and every other side is compared to it."""
        sides = tuple(getattr(self.module, "SIDES", DEFAULT_SIDES))
        if not sides or sides[0] != "ours":
            raise ValueError(f"{self.path}: SIDES must start with 'ours', got {sides}")
        return sides


def load_module(path: Path) -> ModuleType:
    """Import a comparison file by path (the folder is not a package)."""
    path = Path(path).resolve()
    spec = importlib.util.spec_from_file_location(f"mlsys_bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover(bench_dir: Path, names: list[str] | None = None) -> list[Comparison]:
    """The comparisons in ``bench_dir`` (files not starting with ``_``), optionally by name."""
    paths = sorted(p for p in Path(bench_dir).glob("*.py") if not p.name.startswith("_"))
    found = {p.stem: p for p in paths}
    if names:
        unknown = [n for n in names if n not in found]
        if unknown:
            raise LookupError(f"no comparison {unknown} in {bench_dir}; "
                              f"there: {', '.join(found) or 'none'}")
        paths = [found[n] for n in names]
    comparisons = []
    for path in paths:
        module = load_module(path)
        for attr in ("cases", "prepare", "run"):
            if not callable(getattr(module, attr, None)):
                raise TypeError(f"{path}: a comparison must define {attr}() "
                                "(see benchmarks/README.md)")
        comparisons.append(Comparison(path.stem, path.resolve(), module))
    return comparisons
