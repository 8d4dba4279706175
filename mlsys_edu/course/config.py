"""The course's settings, kept in one place: ``extra.mlsys_edu`` in ``mkdocs.yml``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_INSTALL = "mlsys-edu[labs]"
DEFAULT_COLAB = "https://colab.research.google.com/github/OWNER/REPO/blob/gh-pages/notebooks/{name}.ipynb"


class _TolerantLoader(yaml.SafeLoader):
    """Reads mkdocs.yml safely: ``!!python/name:`` tags become their text, never code."""


_TolerantLoader.add_multi_constructor(
    "tag:yaml.org,2002:python/", lambda loader, suffix, node: f"!!python/{suffix}"
)
_TolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: f"!{suffix}")


@dataclass(frozen=True)
class CourseConfig:
    """What the notebook build needs to know about where the course is published."""

    install: str = DEFAULT_INSTALL
    colab_url: str = DEFAULT_COLAB
    cell_timeout_s: int = 600

    def colab_link(self, name: str) -> str:
        return self.colab_url.format(name=name)


def load_config(root: Path) -> CourseConfig:
    """Read ``extra.mlsys_edu`` from ``root/mkdocs.yml`` (defaults where it is silent)."""
    path = root / "mkdocs.yml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader) or {}
    section = (data.get("extra") or {}).get("mlsys_edu") or {}
    unknown = set(section) - {"install", "colab_url", "cell_timeout_s"}
    if unknown:
        raise ValueError(f"{path}: unknown keys under extra.mlsys_edu: {sorted(unknown)}; "
                         "known: install, colab_url, cell_timeout_s")
    return CourseConfig(
        install=str(section.get("install", DEFAULT_INSTALL)),
        colab_url=str(section.get("colab_url", DEFAULT_COLAB)),
        cell_timeout_s=int(section.get("cell_timeout_s", 600)),
    )
