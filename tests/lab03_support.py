"""Shared by lab 03's suite tests: the lab's reference solution and a registry per backend.

Backends: SQLite (always) and PostgreSQL at ``MLSYS_EDU_TEST_POSTGRES_URL`` (``.ci/run``
sources ``.ci/postgres.sh``, which starts one). Without that variable the PostgreSQL cases
skip, saying how to get a server, except under ``CI=true``, where they fail: CI must test both.
Each PostgreSQL case gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import types
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB_SOURCE = REPO / "labs" / "03_model_management" / "lab.py"
POSTGRES_ENV = "MLSYS_EDU_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def under_ci() -> bool:
    """CI sets ``CI`` (GitHub Actions and .ci/run: ``true``); there a missing server fails."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@functools.lru_cache(maxsize=1)
def load_reference() -> types.ModuleType:
    """The lab's reference solution (its export cells), loaded once per test session."""
    from mlsys_edu.lab.source import load_solution_module

    return load_solution_module(LAB_SOURCE)


def postgres_admin_url() -> str:
    """The server to test on, or skip (fail under CI=true) with what to do."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        why = (f"{POSTGRES_ENV} is unset: start a throw-away server with `source "
               ".ci/postgres.sh` (Debian's postgresql package, loopback only)")
        if under_ci():
            pytest.fail(f"CI is set but {why}; .ci/run does this before make test")
        pytest.skip(why)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        if under_ci():
            pytest.fail("psycopg2 is missing: pip install -e '.[dev]' installs psycopg2-binary")
        pytest.skip("psycopg2 is not installed (pip install psycopg2-binary)")
    return url


@contextlib.contextmanager
def fresh_database_url(backend: str, folder: Path) -> Iterator[str]:
    """A URL for an empty database: a new SQLite file in ``folder``, or a new PostgreSQL
    database on the test server (dropped on exit)."""
    if backend == "sqlite":
        yield f"sqlite:///{folder}/registry.db"
        return
    import psycopg2

    admin_url = postgres_admin_url()
    name = f"lab03_{secrets.token_hex(6)}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with contextlib.suppress(Exception), admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def make_registry(ref: types.ModuleType, url: str, store: Path, users=(("alice", ["author"]),),
                  models=("spam",)):
    registry = ref.Registry(url, str(store))
    for name, roles in users:
        registry.add_user(name, list(roles))
    for model in models:
        registry.create_model(model, by=users[0][0])
    return registry
