"""Shared fixtures: the repository root and one build of the course in a temporary copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory) -> Path:
    """A copy of the course sources (labs, lectures, mkdocs.yml) to build into."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "labs", root / "labs",
                    ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    if (REPO / "lectures").is_dir():
        shutil.copytree(REPO / "lectures", root / "lectures")
    return root


@pytest.fixture(scope="session")
def offline_data() -> None:
    """Point MLSYS_EDU_DATA at ../shared/data when it is unset and that folder exists."""
    if not os.environ.get("MLSYS_EDU_DATA") and (REPO.parent / "shared" / "data").is_dir():
        os.environ["MLSYS_EDU_DATA"] = str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def built_course(course_copy, offline_data):
    """Lab 00 built and executed, the other labs' pages from their sources, the site built;
    then the same build again. Returns (root, first report, second report)."""
    from mlsys_edu.course.build import build
    from mlsys_edu.lab.layout import get_lab

    lab00 = get_lab(course_copy, "00")
    first = build(course_copy, only=[lab00], log=lambda _: None)
    second = build(course_copy, only=[lab00], log=lambda _: None)
    return course_copy, first, second


@pytest.fixture(scope="session")
def executed_course(tmp_path_factory, offline_data) -> Path:
    """Every lab built and executed, and the site built, in a copy of the course: what
    `make course` publishes. (The costly fixture: each lab's notebook runs once.)"""
    from mlsys_edu.course.build import build

    root = tmp_path_factory.mktemp("executed-course")
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    for folder in ("labs", "lectures", "benchmarks"):
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, root / folder,
                            ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    build(root, log=lambda _: None)
    return root
