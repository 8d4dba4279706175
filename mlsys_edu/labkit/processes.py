"""Forked processes for lab 03: many writers at once, and a writer killed at a chosen point.

* :func:`fork_map` runs ``fn(0)``, ..., ``fn(n - 1)`` in ``n`` processes that start together
  (they wait at a barrier until all exist, so they really race) and returns their results.
* :func:`run_killed_at` runs ``fn()`` in a process that kills itself with ``SIGKILL`` the first
  time it reaches a point of a registration: no ``finally``, no ``atexit``, no flush, exactly
  what a power cut does to a process (though not to the disk's cache).

Processes are forked, not spawned, so functions defined in a notebook work. A child opens its
own database connections: connections must not cross ``fork``.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

#: Where :func:`run_killed_at` can stop a registration, in the order a registration gets there.
CRASH_POINTS = ("fsync", "rename", "fsync_dir", "commit")
CRASH_POINT_MEANING = {
    "fsync": "artifact bytes written to a temporary file, not yet flushed to disk",
    "rename": "temporary file complete and flushed, not yet renamed into the store",
    "fsync_dir": "artifact renamed into the store, its folder not yet flushed",
    "commit": "artifact in the store, metadata inserted, transaction not yet committed",
}


class ChildFailed(RuntimeError):
    """A forked process raised; the message holds its traceback."""


def _fork() -> int:
    with warnings.catch_warnings():  # Python 3.12+ warns about fork() in threaded processes
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _child(fn: Callable[[], Any], out_path: str) -> None:
    """Run ``fn`` and write ``{"ok": result}`` or ``{"error": traceback}``; never return."""
    code = 0
    try:
        payload = {"ok": fn()}
    except BaseException:  # noqa: BLE001 - everything goes back to the parent as text
        payload, code = {"error": traceback.format_exc()}, 1
    try:
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump(payload, f)
    finally:
        os._exit(code)  # no atexit handlers, no flushing of the parent's inherited buffers


def _wait_all(pids: list[int], timeout_s: float) -> dict[int, int]:
    """Wait for every pid; SIGKILL them all past the deadline and raise TimeoutError."""
    deadline, status = time.monotonic() + timeout_s, {}
    while len(status) < len(pids):
        for pid in pids:
            if pid not in status:
                done, code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status[pid] = code
        if len(status) < len(pids):
            if time.monotonic() > deadline:
                for pid in set(pids) - set(status):
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                raise TimeoutError(f"{len(pids) - len(status)} of {len(pids)} processes were "
                                   f"still running after {timeout_s:g} s and were killed")
            time.sleep(0.002)
    return status


def fork_map(fn: Callable[[int], Any], n: int, timeout_s: float = 120.0) -> list[Any]:
    """``[fn(0), ..., fn(n - 1)]``, each call in its own forked process, all started together.

    Results must be JSON data (numbers, strings, lists, dicts). A failing child raises
    :class:`ChildFailed` with its traceback once all have ended.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    folder = tempfile.mkdtemp(prefix="fork_map-")
    gate_read, gate_write = os.pipe()
    pids, outs = [], [os.path.join(folder, f"{i}.json") for i in range(n)]
    try:
        for i in range(n):
            pid = _fork()
            if pid == 0:
                os.close(gate_write)
                os.read(gate_read, 1)  # the barrier: returns b"" once the parent closes it
                _child(lambda i=i: fn(i), outs[i])
            pids.append(pid)
        os.close(gate_write)
        gate_write = -1
        _wait_all(pids, timeout_s)
        results, errors = [], []
        for i, path in enumerate(outs):
            try:
                with open(path, encoding="utf-8") as f:
                    payload = json.load(f)
            except (OSError, ValueError):
                payload = {"error": f"process {i} ended without a result (killed?)"}
            if "error" in payload:
                errors.append(f"process {i}:\n{payload['error']}")
            results.append(payload.get("ok"))
        if errors:
            raise ChildFailed("\n".join(errors))
        return results
    finally:
        if gate_write >= 0:
            os.close(gate_write)
        os.close(gate_read)
        for path in outs:
            if os.path.exists(path):
                os.unlink(path)
        os.rmdir(folder)


def _kill_self(*args: Any, **kwargs: Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _fsync_killing_on(want_dir: bool) -> Callable[[int], None]:
    """An ``os.fsync`` that SIGKILLs the process at the first fsync of a file (or a folder)."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode) == want_dir:
            _kill_self()
        real(fd)
    return fsync


def run_killed_at(point: str, fn: Callable[..., Any], prepare: Callable[[], Any] | None = None,
                  timeout_s: float = 60.0) -> str:
    """Run ``fn()`` (or ``fn(prepare())``) in a forked process that SIGKILLs itself when it
    first reaches ``point`` (one of :data:`CRASH_POINTS`: the first ``os.fsync`` of a file,
    the first ``os.replace`` or ``os.rename``, the first ``os.fsync`` of a folder, or the first
    database ``COMMIT``). ``prepare`` runs
    before the trap is set (opening a registry commits too). Returns ``"killed at <point>"``,
    or ``"finished"`` when ``fn`` never got there."""
    if point not in CRASH_POINTS:
        raise ValueError(f"unknown crash point {point!r}; choose one of {CRASH_POINTS}")

    def arm_and_run() -> None:
        args = () if prepare is None else (prepare(),)
        if point in ("fsync", "fsync_dir"):
            os.fsync = _fsync_killing_on(want_dir=point == "fsync_dir")
        elif point == "rename":
            os.replace = os.rename = _kill_self
        else:
            from mlsys_edu.labkit.registry_db import Database

            Database._commit = _kill_self
        fn(*args)

    handle, out = tempfile.mkstemp(prefix="run_killed_at-", suffix=".json")
    os.close(handle)
    pid = _fork()
    if pid == 0:
        _child(arm_and_run, out)
    try:
        status = _wait_all([pid], timeout_s)[pid]
        with open(out, encoding="utf-8") as f:
            text = f.read()
    finally:
        os.unlink(out)
    payload = json.loads(text) if text else {}
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return f"killed at {point}"
    if "error" in payload:
        raise ChildFailed(payload["error"])
    return "finished"


def register_from_processes(registry_class: type, url: str, store: str, model: str, by: str,
                            n_processes: int, n_each: int, timeout_s: float = 300.0) -> list[dict]:
    """``n_processes`` writers at once, each opening ``registry_class(url, store)`` and
    registering ``n_each`` distinct artifacts of ``model`` as user ``by``. Per writer: the
    version numbers it was given and each registration's latency in seconds."""
    def writer(i: int) -> dict[str, list]:
        registry, versions, seconds = registry_class(url, store), [], []
        for j in range(n_each):
            start = time.perf_counter()
            versions.append(registry.register(model, f"writer {i}, artifact {j}".encode(), by=by))
            seconds.append(time.perf_counter() - start)
        registry.close()
        return {"versions": versions, "seconds": seconds}

    return fork_map(writer, n_processes, timeout_s)


def crash_while_registering(registry_class: type, url: str, store: str, model: str, by: str,
                            point: str, seed: int = 0) -> str:
    """Register one artifact (4 KiB of random bytes from ``seed``) of ``model`` in a process
    that SIGKILLs itself at ``point`` (see :func:`run_killed_at`); what happened."""
    import random

    artifact = random.Random(seed).randbytes(4096)
    return run_killed_at(point, lambda registry: registry.register(model, artifact, by=by),
                         prepare=lambda: registry_class(url, store))


def crash_while_storing(store_class: type, root: str, point: str, seed: int = 0) -> str:
    """``store_class(root).put`` 4 KiB of random bytes (from ``seed``) in a process that
    SIGKILLs itself at ``point`` (one of the first three :data:`CRASH_POINTS`)."""
    import random

    artifact = random.Random(seed).randbytes(4096)
    return run_killed_at(point, lambda store: store.put(artifact),
                         prepare=lambda: store_class(root))
