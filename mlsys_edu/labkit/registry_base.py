"""Lab 03's given plumbing for the model registry: the schema, the artifact store's and the
registry's base classes (opening, reading, users, the audit log). What students write (storing
and verifying artifacts, registering, aliases, reviews, search, diff, the model card, verify)
is in the lab; these classes only hold what the exercises build on.

Everything here is data in and data out (dicts, lists, strings, numbers), so the registry also
answers the autograder's calls across processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from mlsys_edu.labkit.registry_db import Database, connect, create_schema

SHA256_RE = re.compile(r"[0-9a-f]{64}")
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ALIAS_RE = re.compile(r"[a-z][a-z0-9_-]*")  # never a number: "3" is a version, never an alias
ROLES = ("author", "reviewer", "operator")

#: One schema for SQLite and PostgreSQL; ``{serial}`` is a key the database numbers itself.
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (seq {serial}, at TEXT NOT NULL, actor TEXT NOT NULL,
  action TEXT NOT NULL, model TEXT, version INTEGER, alias TEXT, detail TEXT NOT NULL,
  prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, roles TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, description TEXT NOT NULL,
  created_by TEXT NOT NULL REFERENCES users (name), created_at TEXT NOT NULL,
  last_version INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS versions (model TEXT NOT NULL REFERENCES models (name),
  version INTEGER NOT NULL, artifact TEXT NOT NULL, artifact_bytes BIGINT NOT NULL,
  code TEXT NOT NULL, params TEXT NOT NULL, parent INTEGER,
  created_by TEXT NOT NULL REFERENCES users (name), created_at TEXT NOT NULL,
  PRIMARY KEY (model, version),
  FOREIGN KEY (model, parent) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS datasets (model TEXT, version INTEGER, name TEXT,
  sha256 TEXT NOT NULL, PRIMARY KEY (model, version, name),
  FOREIGN KEY (model, version) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS metrics (model TEXT, version INTEGER, name TEXT,
  value DOUBLE PRECISION NOT NULL, PRIMARY KEY (model, version, name),
  FOREIGN KEY (model, version) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS tags (model TEXT, version INTEGER, key TEXT, value TEXT NOT NULL,
  PRIMARY KEY (model, version, key),
  FOREIGN KEY (model, version) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS aliases (model TEXT, alias TEXT, version INTEGER NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS reviews (id {serial}, model TEXT NOT NULL, version INTEGER NOT NULL,
  alias TEXT NOT NULL, requested_by TEXT NOT NULL, decided_by TEXT, note TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
  FOREIGN KEY (model, version) REFERENCES versions (model, version));
CREATE TABLE IF NOT EXISTS comments (id {serial}, model TEXT NOT NULL, version INTEGER NOT NULL,
  author TEXT NOT NULL, body TEXT NOT NULL, at TEXT NOT NULL,
  FOREIGN KEY (model, version) REFERENCES versions (model, version))
"""


def add_to_class(cls: type) -> Any:
    """Decorator (d2l's idiom): add the function below to ``cls`` as a method, so that a class
    grows cell by cell in a notebook."""
    def add(method: Any) -> Any:
        setattr(cls, method.__name__, method)
        return method
    return add


def scratch_dir() -> str:
    """A fresh temporary folder (tests and demos build their registries in these), removed
    when the process that made it exits (not when a fork of it does: under the autograder
    each cell runs in a fork that must leave the folder to the next cell)."""
    import atexit
    import shutil
    import tempfile

    path, owner = tempfile.mkdtemp(prefix="lab03-"), os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def utc_now() -> str:
    """The time as ISO 8601 text in UTC, to the microsecond (sorts as text)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> str:
    """One text per value (sorted keys, no spaces): equal values hash equal."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------- artifacts
class ArtifactError(OSError):
    """A stored artifact cannot be used; the message names its digest and its path."""


class ArtifactMissing(ArtifactError):
    """No file where the artifact should be."""


class ArtifactCorrupt(ArtifactError):
    """The file's bytes do not hash to the artifact's name."""


class AliasConflict(RuntimeError):
    """An alias moved since the caller last looked: a compare-and-set failed."""


def fsync_dir(path: str) -> None:
    """Make a folder's entries (new names, renames) durable: ``fsync`` on the folder itself."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flip_byte(path: str, offset: int = 0) -> None:
    """Invert one byte of a file in place (``offset`` from the start; negative: from the end),
    the way a failing disk or a stray write corrupts a file without changing its size."""
    with open(path, "r+b") as f:
        f.seek(offset, os.SEEK_SET if offset >= 0 else os.SEEK_END)
        where = f.tell()
        byte = f.read(1)
        if not byte:
            raise ValueError(f"{path} has no byte at offset {offset}")
        f.seek(where)
        f.write(bytes([byte[0] ^ 0xFF]))


class StoreBase:
    """The layout of a content-addressed store: ``root/objects/ab/cdef...`` (the first two
    hex digits name one of 256 sub-folders, as in git, so that no folder grows huge) and
    ``root/tmp`` for writes in progress. All folders exist, durably, once this returns."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.objects = os.path.join(self.root, "objects")
        self.tmp = os.path.join(self.root, "tmp")
        if not os.path.isdir(os.path.join(self.objects, "ff")):  # the last one made
            for folder in [self.tmp] + [os.path.join(self.objects, f"{i:02x}") for i in range(256)]:
                os.makedirs(folder, exist_ok=True)
            for folder in (self.objects, self.root, os.path.dirname(self.root)):
                fsync_dir(folder)

    def path(self, digest: str) -> str:
        """Where the artifact named ``digest`` lives (whether or not it exists)."""
        if not isinstance(digest, str) or not SHA256_RE.fullmatch(digest):
            raise ValueError(f"{digest!r} is not a SHA-256 digest (64 lower-case hex digits)")
        return os.path.join(self.objects, digest[:2], digest[2:])

    def digests(self) -> list[str]:
        """Every stored digest, sorted."""
        return sorted(sub + name for sub in os.listdir(self.objects)
                      for name in os.listdir(os.path.join(self.objects, sub)))

    def partial_files(self) -> list[str]:
        """Files in ``tmp/``: writes in progress, or left by a process that died mid-write."""
        return sorted(os.path.join(self.tmp, name) for name in os.listdir(self.tmp))


# ---------------------------------------------------------------------- registry
def audit_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """``h_k = SHA256(h_{k-1} || entry_k)`` over the entry's fields as canonical JSON."""
    fields = [entry[k] for k in ("at", "actor", "action", "model", "version", "alias", "detail")]
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode()).hexdigest()


def default_store(url: str) -> str:
    """The artifact folder beside a SQLite file: ``registry.db`` -> ``registry-artifacts``."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"give store=, a folder for the artifacts of {url}")
    return os.path.splitext(url[len("sqlite:///"):])[0] + "-artifacts"


class RegistryBase:
    """Opens the database (creating the schema once) and reads it; writes go through
    ``_write()`` and each appends one entry to the audit log with ``_audit()``."""

    ROLES = ROLES
    PROTECTED_ALIASES = ("champion",)  # moving these needs an approved review

    def __init__(self, url: str = "sqlite:///registry.db", read_only: bool = False) -> None:
        self.url, self.db = url, connect(url, read_only=read_only)
        if not read_only:
            create_schema(self.db, SCHEMA, append_only=["audit_log"])

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _write(self) -> Iterator[Database]:
        """One write transaction, serialised with every other writer of the registry.

        SQLite: ``BEGIN IMMEDIATE`` takes the database's only write lock. PostgreSQL: ``BEGIN``
        locks nothing by itself, so the first statement locks the audit log against other
        writers (``EXCLUSIVE`` mode still lets readers in). Every registry change appends to
        the audit log anyway, so its lock is the registry's write lock. Nested calls join.
        """
        outermost = not self.db.in_transaction
        with self.db.transaction():
            if outermost and self.db.dialect == "postgresql":
                self.db.execute("LOCK TABLE audit_log IN EXCLUSIVE MODE")
            yield self.db

    def _audit(self, actor: str, action: str, model: str | None = None,
               version: int | None = None, alias: str | None = None, **detail: Any) -> None:
        """Append one entry to the hash-chained audit log, inside the caller's ``_write()``."""
        if not self.db.in_transaction:
            raise RuntimeError("_audit() belongs inside `with self._write():`, with the change")
        entry = {"at": utc_now(), "actor": actor, "action": action, "model": model,
                 "version": version, "alias": alias, "detail": canonical_json(detail)}
        prev = self.db.value("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1", (), "")
        self.db.execute("INSERT INTO audit_log (at, actor, action, model, version, alias, detail,"
                        " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (*entry.values(), prev, audit_hash(prev, entry)))

    def add_user(self, name: str, roles: list[str] | tuple[str, ...], by: str = "admin") -> None:
        """Add a user with some of the roles author, reviewer, operator."""
        roles = list(roles)
        if not roles or set(roles) - set(self.ROLES):
            raise ValueError(f"roles must be some of {self.ROLES}, got {roles}")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a user name is a non-empty string, got {name!r}")
        with self._write():
            if self.db.value("SELECT 1 FROM users WHERE name = ?", (name,)) is not None:
                raise ValueError(f"user {name!r} exists already")
            self.db.execute("INSERT INTO users (name, roles) VALUES (?, ?)",
                            (name, ",".join(roles)))
            self._audit(by, "add_user", user=name, roles=roles)

    def create_model(self, name: str, by: str, description: str = "") -> None:
        """An author creates the registered model ``name``; its versions start at 1."""
        if not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name):
            raise ValueError(f"model name {name!r} must match {MODEL_NAME_RE.pattern}")
        with self._write():
            self._require(by, "author")
            if self.db.value("SELECT 1 FROM models WHERE name = ?", (name,)) is not None:
                raise ValueError(f"a model {name!r} exists already; register versions of it")
            self.db.execute("INSERT INTO models (name, description, created_by, created_at) "
                            "VALUES (?, ?, ?, ?)", (name, description, by, utc_now()))
            self._audit(by, "create_model", name)

    def request_review(self, model: str, version: int, by: str, alias: str = "champion",
                       note: str = "") -> int:
        """An author asks for ``version`` to be approved for ``alias``; the review's id."""
        with self._write():
            self._require(by, "author")
            self.version(model, version)  # LookupError when there is no such version
            review_id = self.db.value(
                "INSERT INTO reviews (model, version, alias, requested_by, note, state) "
                "VALUES (?, ?, ?, ?, ?, 'pending') RETURNING id",
                (model, version, alias, by, note))
            self._audit(by, "request_review", model, version, alias, review=review_id,
                        note=note)
        return review_id

    def _require(self, user: str, role: str | None = None) -> None:
        """PermissionError unless ``user`` exists (and has ``role``)."""
        roles = self.db.value("SELECT roles FROM users WHERE name = ?", (user,))
        if roles is None:
            raise PermissionError(f"unknown user {user!r}; add them first with add_user()")
        if role is not None and role not in roles.split(","):
            raise PermissionError(f"{user} is not {'an' if role[0] in 'aeiou' else 'a'} {role} "
                                  f"(roles: {roles}); ask someone who is, or for the role")

    # ------------------------------------------------------------------ reading
    def version(self, model: str, version: int) -> dict[str, Any]:
        """One version: its row of ``versions`` plus ``datasets``, ``metrics``, ``tags``
        (dicts) and ``aliases`` (a sorted list)."""
        row = self.db.row("SELECT * FROM versions WHERE model = ? AND version = ?",
                          (model, version))
        if row is None:
            raise LookupError(f"{model!r} has no version {version!r}")
        key = (model, version)
        where = "WHERE model = ? AND version = ?"
        row["params"] = json.loads(row["params"])
        for part, sql in (("datasets", f"SELECT name, sha256 FROM datasets {where}"),
                          ("metrics", f"SELECT name, value FROM metrics {where}"),
                          ("tags", f"SELECT key, value FROM tags {where}")):
            row[part] = dict(sorted(tuple(r.values()) for r in self.db.rows(sql, key)))
        row["aliases"] = sorted(r["alias"] for r in self.db.rows(
            f"SELECT alias FROM aliases {where}", key))
        return row

    def versions(self, model: str) -> list[dict[str, Any]]:
        """Every version of ``model``, oldest first."""
        rows = self.db.rows("SELECT version FROM versions WHERE model = ?", (model,))
        return [self.version(model, v) for v in sorted(r["version"] for r in rows)]

    def models(self) -> list[dict[str, Any]]:
        """Every registered model's row, by name."""
        return sorted(self.db.rows("SELECT * FROM models"), key=lambda r: r["name"])

    def aliases(self, model: str) -> dict[str, int]:
        """``{alias: version}`` for ``model``."""
        rows = self.db.rows("SELECT alias, version FROM aliases WHERE model = ?", (model,))
        return {r["alias"]: r["version"] for r in sorted(rows, key=lambda r: r["alias"])}

    def resolve(self, model: str, alias: str) -> int:
        """The version ``alias`` points at."""
        version = self.db.value("SELECT version FROM aliases WHERE model = ? AND alias = ?",
                                (model, alias))
        if version is None:
            raise LookupError(f"{model!r} has no alias {alias!r}; it has {self.aliases(model)}")
        return version

    def reviews(self, model: str, version: int | None = None) -> list[dict[str, Any]]:
        """Reviews of ``model`` (of one version), oldest first."""
        sql = "SELECT * FROM reviews WHERE model = ?" + (" AND version = ?" if version else "")
        rows = self.db.rows(sql, (model, version) if version else (model,))
        return sorted(rows, key=lambda r: r["id"])

    def comment(self, model: str, version: int, body: str, by: str) -> None:
        """Attach a comment to a version (any user may)."""
        with self._write():
            self._require(by)
            self.version(model, version)
            self.db.execute("INSERT INTO comments (model, version, author, body, at) VALUES "
                            "(?, ?, ?, ?, ?)", (model, version, by, body, utc_now()))
            self._audit(by, "comment", model, version, body=body)

    def comments(self, model: str, version: int) -> list[dict[str, Any]]:
        rows = self.db.rows("SELECT * FROM comments WHERE model = ? AND version = ?",
                            (model, version))
        return sorted(rows, key=lambda r: r["id"])

    def audit_log(self, model: str | None = None) -> list[dict[str, Any]]:
        """Audit entries (of one model), in the order they were appended."""
        sql = "SELECT * FROM audit_log" + (" WHERE model = ?" if model else "")
        return sorted(self.db.rows(sql, (model,) if model else ()), key=lambda r: r["seq"])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "RegistryBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
