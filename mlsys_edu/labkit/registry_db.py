"""One small database interface over SQLite and PostgreSQL, from a URL (lab 03's registry).

The registry writes its SQL once, with ``?`` placeholders and portable types, and runs on

* SQLite, the default: ``sqlite:///registry.db`` (a path relative to the working directory)
  or ``sqlite:////abs/path/registry.db``; the standard library's ``sqlite3``;
* PostgreSQL: ``postgresql://user:password@host:port/dbname``, through ``psycopg2`` (Colab
  ships it; ``pip install psycopg2-binary`` elsewhere).

``with db.transaction():`` is where the two differ, and the lab explains why:

* SQLite allows one writer per database file. ``BEGIN IMMEDIATE`` takes that write lock when
  the transaction *starts*, so every read inside it sees the data no one else can change until
  ``COMMIT``; a second writer waits (up to ``timeout_s``) at its own ``BEGIN IMMEDIATE``. A plain
  (deferred) ``BEGIN`` would take the lock only at the first write, and two transactions that
  both read first can then deadlock, one failing with "database is locked". SQLite's own
  waiting polls with sleeps that grow to 100 ms, so under contention an unlucky writer can
  wait for seconds while others come and go; writers therefore first queue on an OS file lock
  beside the database (``<file>.lock``), re-tried every few hundred microseconds.
* PostgreSQL lets many writers run at once (MVCC, READ COMMITTED by default). A transaction
  locks only the rows it changes (``UPDATE``, ``SELECT ... FOR UPDATE``) or what it locks
  explicitly (``LOCK TABLE``), so ``SELECT max(version) + 1`` in two transactions at once gives
  both the same number; code must lock what it reads before it writes.

Reads outside a transaction run in autocommit mode, one statement at a time, on both.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

#: The dialect-specific part of a table's integer key that the database numbers itself.
SERIAL_KEY = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
              "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}


class DatabaseError(RuntimeError):
    """The database refused a statement; the message names the statement and the reason."""


class IntegrityError(DatabaseError):
    """A constraint refused a change: a unique or foreign key, a CHECK, or a trigger."""


def _driver_errors(dialect: str) -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(integrity errors, all errors) of the dialect's driver."""
    if dialect == "sqlite":
        return (sqlite3.IntegrityError,), (sqlite3.Error,)
    import psycopg2

    return (psycopg2.IntegrityError,), (psycopg2.Error,)


class Database:
    """A connection and the few calls the registry needs: ``execute`` (a row count), ``rows``
    (dicts), ``row``, ``value`` and ``transaction``. Open one per process (and per thread):
    connections must not cross ``fork``."""

    def __init__(self, url: str, connection: Any, dialect: str, read_only: bool,
                 timeout_s: float = 30.0, lock_path: str | None = None) -> None:
        self.url, self.dialect, self.read_only = url, dialect, read_only
        self.timeout_s, self._lock_path, self._lock_fd = timeout_s, lock_path, -1
        self._conn = connection
        self._depth = 0  # nested transaction() calls join the outermost one
        self._integrity, self._errors = _driver_errors(dialect)

    # ------------------------------------------------------------------ statements
    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        if self._conn is None:
            raise DatabaseError(f"the connection to {self.url} is closed; open a new one")
        if self.dialect == "postgresql":  # psycopg2 uses %s; a literal % must be doubled
            sql = sql.replace("%", "%%").replace("?", "%s")
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, tuple(params))
        except self._integrity as err:
            raise IntegrityError(f"{_first_line(err)} (in: {_short(sql)})") from None
        except self._errors as err:
            hint = ""
            if "locked" in str(err):
                hint = ("; another process held the write lock for longer than the timeout: "
                        "keep transactions short, or raise timeout_s")
            raise DatabaseError(f"{_first_line(err)}{hint} (in: {_short(sql)})") from None
        return cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed (-1 when not known)."""
        return self._run(sql, params).rowcount

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query, as dicts keyed by column name."""
        cursor = self._run(sql, params)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def row(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row of a query, or None."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def value(self, sql: str, params: Sequence[Any] = (), default: Any = None) -> Any:
        """The first column of the first row (e.g. of ``UPDATE ... RETURNING``), or default."""
        cursor = self._run(sql, params)
        first = cursor.fetchone() if cursor.description else None
        return default if first is None else first[0]

    # ------------------------------------------------------------------ transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator["Database"]:
        """All statements inside commit together or not at all (see the module docstring
        for how SQLite and PostgreSQL serialise writers). Nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._queue()
        try:
            self.execute("BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN")
            self._depth = 1
            try:
                yield self
                self._commit()
            except BaseException:
                with contextlib.suppress(Exception):
                    self._conn.cursor().execute("ROLLBACK")
                raise
        finally:
            self._depth = 0
            if self._lock_fd >= 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _queue(self) -> None:
        """SQLite writers: take the file lock beside the database, trying every 0.2-2 ms
        (SQLite's busy handler sleeps up to 100 ms between tries and lets writers starve)."""
        if self._lock_path is None:
            return
        if self._lock_fd < 0:
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline, pause_s = time.monotonic() + self.timeout_s, 0.0002
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DatabaseError(f"another writer of {self.url} held the write lock for "
                                        f"more than {self.timeout_s:g} s; keep transactions "
                                        "short, or raise timeout_s") from None
                time.sleep(pause_s)
                pause_s = min(2 * pause_s, 0.002)

    def _commit(self) -> None:
        """COMMIT, as its own method: lab 03's crash tests stop a process right here."""
        self.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url!r}{', read-only' if self.read_only else ''})"


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _short(sql: str, limit: int = 80) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///`` URL (three slashes: relative; four: absolute)."""
    if not url.startswith("sqlite:///") or url == "sqlite:///":
        raise ValueError(f"{url!r} is not a SQLite URL; write sqlite:///relative/path.db or "
                         "sqlite:////absolute/path.db")
    path = unquote(url[len("sqlite:///"):].split("?", 1)[0])
    if path in (":memory:", ""):
        raise ValueError("an in-memory SQLite database cannot be shared between processes "
                         "or with the artifact store; give a file: sqlite:///registry.db")
    return path


def connect(url: str, read_only: bool = False, timeout_s: float = 30.0) -> Database:
    """Open ``url`` (``sqlite:///...`` or ``postgresql://...``).

    SQLite: write-ahead logging (readers do not block the writer), ``synchronous=FULL`` (a
    commit is on disk when COMMIT returns), foreign keys on, writers wait up to ``timeout_s``
    for the lock. ``read_only`` opens SQLite with ``mode=ro`` and PostgreSQL sessions as read
    only, so that a viewer cannot change anything even through a bug.
    """
    scheme = urlparse(url).scheme.split("+", 1)[0]
    if scheme == "sqlite":
        path = sqlite_path(url)
        if read_only:
            if not os.path.exists(path):
                raise FileNotFoundError(f"no registry database at {path}; create it first "
                                        f"(open {url} once without read_only)")
            conn = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True,
                                   timeout=timeout_s, isolation_level=None)
        else:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        lock = None if read_only else os.path.abspath(path) + ".lock"
        return Database(url, conn, "sqlite", read_only, timeout_s, lock)
    if scheme in ("postgresql", "postgres"):
        try:
            import psycopg2
        except ImportError:
            raise ImportError("a postgresql:// URL needs the psycopg2 driver: pip install "
                              "psycopg2-binary (Colab has psycopg2 already)") from None
        try:
            conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"),
                                    connect_timeout=max(1, int(timeout_s)))
        except psycopg2.OperationalError as err:
            raise DatabaseError(f"cannot connect to {_redact(url)}: {_first_line(err)}; is the "
                                "server running, and are host, port and database right?") from None
        conn.autocommit = True  # transactions are explicit: transaction() sends BEGIN/COMMIT
        db = Database(url, conn, "postgresql", read_only, timeout_s)
        db.execute(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
        if read_only:
            db.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return db
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path.db or "
                     "postgresql://user:password@host:port/dbname")


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    parts = urlparse(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@", 1)
    return url


def table_exists(db: Database, table: str) -> bool:
    """Whether ``table`` exists (in SQLite's catalogue, or PostgreSQL's search path)."""
    if db.dialect == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        sql = ("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
               "AND tablename = ?")
    return db.value(sql, (table,)) is not None


def append_only_sql(dialect: str, table: str) -> list[str]:
    """Triggers that refuse every UPDATE and DELETE on ``table`` (and TRUNCATE on PostgreSQL):
    the database itself keeps the table append-only, whatever code talks to it."""
    message = f"{table} is append-only: entries cannot be changed or deleted"
    if dialect == "sqlite":
        return [f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END" for op in ("UPDATE", "DELETE")]
    return [
        f"CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}' USING ERRCODE = 'integrity_constraint_violation'; "
        "END $$",
        f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
    ]


def create_schema(db: Database, tables_sql: str, append_only: Sequence[str] = ()) -> bool:
    """Create the tables of ``tables_sql`` (statements separated by ``;``, ``{serial}`` for a
    self-numbering key) and the append-only triggers, once. Safe when several processes open
    a new database at once. Returns True when it created them."""
    statements = [s.strip() for s in tables_sql.format(serial=SERIAL_KEY[db.dialect]).split(";")]
    with db.transaction():
        if db.dialect == "postgresql":  # concurrent CREATE TABLEs can collide in the catalogue
            db.execute("SELECT pg_advisory_xact_lock(3141592)")
        first = statements[0].split("EXISTS", 1)[-1].split("(", 1)[0].strip()
        if table_exists(db, first):
            return False
        for statement in filter(None, statements):
            db.execute(statement)
        for table in append_only:
            for statement in append_only_sql(db.dialect, table):
                db.execute(statement)
    return True
