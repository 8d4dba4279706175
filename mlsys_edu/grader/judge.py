"""The judge: trusted, holds the tests and the reference, grades one submission at a time.

The tests run here, in the judge's interpreter; ``sub`` is a proxy to the sandboxed child
(``proxy.py``), so a submission can neither patch the checker nor see the hidden tests.
Every test ends in one status: passed, failed, error, timeout, out-of-memory, crashed,
missing or refused. A submission that breaks everything still yields a record with a reason.
"""

from __future__ import annotations

import io
import json
import os
import socket
import threading
import sys
import tempfile
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlsys_edu.grader import channel
from mlsys_edu.grader.proxy import Connection, MissingName, Namespace, Outcome, RemoteError
from mlsys_edu.grader.sandbox import (GradeOptions, Zygote, ZygotePool, for_lab, kill_all,
                                      make_workdir, mount_namespace_available, remove_workdir,
                                      scrubbed_env, tighten_permissions)
from mlsys_edu.grader.submission import Unreadable, read_submission
from mlsys_edu.lab.layout import Lab
from mlsys_edu.lab.questions import TestCase, load_tests, points_by_question
from mlsys_edu.lab.source import exec_as_module, solution_module_source

_MAX_MESSAGE = 3000
_MAX_OUTPUT = 2000


class _RoutedStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while tests run: what a test prints goes into that test's
    own buffer (its thread's), never to the judge's terminal or Gradescope's stdout, where a
    hidden test's print would show hidden data; other threads write through unchanged."""

    local = threading.local()

    def __init__(self, underlying: Any, which: str) -> None:
        self.underlying, self.which = underlying, which

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        if buffer is not None:
            return buffer.write(text)
        return self.underlying.write(text)

    def flush(self) -> None:
        if getattr(self.local, "buffer", None) is None:
            self.underlying.flush()

    def writable(self) -> bool:
        return True


_ROUTE_LOCK = threading.Lock()


class _captured_output:
    """``with _captured_output() as buffer:`` this thread's prints go into ``buffer``."""

    def __enter__(self) -> io.StringIO:
        with _ROUTE_LOCK:
            for which in ("stdout", "stderr"):
                if not isinstance(getattr(sys, which), _RoutedStream):
                    setattr(sys, which, _RoutedStream(getattr(sys, which), which))
        self.buffer = _RoutedStream.local.buffer = io.StringIO()
        return self.buffer

    def __exit__(self, *exc: Any) -> None:
        _RoutedStream.local.buffer = None


@dataclass
class LabMaterial:
    """What the judge holds in memory for one lab: its tests and the reference module."""

    lab: Lab
    tests: list[TestCase]
    ref: types.ModuleType | None
    ref_error: str = ""


def reference_source(lab: Lab) -> str:
    """The exported solution's text, made from the lab source (never a stale built copy)."""
    return solution_module_source(lab.source)


def load_material(lab: Lab) -> LabMaterial:
    """Load the tests (hidden included) and exec the reference in the judge's memory."""
    tests = load_tests(lab.tests_dir, include_hidden=True)
    ref, error = None, ""
    try:
        ref = exec_as_module(reference_source(lab), f"mlsys_edu_reference_{lab.name}",
                             f"<reference {lab.name}>")
    except Exception as exc:  # noqa: BLE001 - tests without `ref` still grade; the record says why
        error = f"the reference solution failed to load: {exc!r}"
    return LabMaterial(lab, tests, ref, error)


def _hide_paths(lab: Lab, submission: Path, options: GradeOptions,
                out_dir: Path | None) -> list[str]:
    """What the child must not see: the whole course repository when that is safe (every
    lab's solutions and hidden tests, the build, ``.git`` history), the submissions, the output.
    The interpreter and ``mlsys_edu`` stay readable (``sandbox_os`` binds them back)."""
    root = lab.dir.parent.parent.resolve()
    keep_clear = {Path("/"), Path(tempfile.gettempdir()).resolve(), Path.home().resolve()}
    if root in keep_clear or any(root in p.parents or root == p for p in
                                 (Path(tempfile.gettempdir()).resolve(), Path(sys.base_prefix))):
        paths = [lab.dir.parent, lab.build, root / ".git"]
    else:
        paths = [root, lab.dir.parent, lab.build]
    paths += [submission.resolve().parent, Path("/autograder/results")]
    if out_dir is not None:
        paths.append(out_dir)
    paths += [Path(p) for p in options.extra_hide]
    resolved = [Path(p).resolve() for p in paths if Path(p).exists()]
    return [str(p) for p in resolved if p not in keep_clear]


def empty_record(lab: Lab, submission: Path, material: LabMaterial | None) -> dict[str, Any]:
    """A record with every test at zero: the base that grading fills in."""
    tests = material.tests if material else []
    totals = points_by_question(tests)
    return {"student": Path(submission).stem, "source": str(submission), "lab": lab.name,
            "status": "graded", "reason": "", "score": 0.0,
            "max_score": float(sum(totals.values())), "duration_s": 0.0, "cells": [],
            "tests": [], "questions": {q: {"score": 0.0, "max_score": p}
                                       for q, p in totals.items()}}


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2:]


def _test_entry(case: TestCase, status: str, message: str, duration_s: float,
                output: str = "") -> dict[str, Any]:
    entry = {"question": case.question, "name": case.name, "hidden": case.hidden,
             "points": case.points, "score": case.points if status == "passed" else 0.0,
             "status": status, "message": _trim(message, _MAX_MESSAGE),
             "duration_s": round(duration_s, 4)}
    if output:
        entry["output"] = _trim(output, _MAX_OUTPUT)  # what the test printed
    return entry


def classify(exc: BaseException) -> tuple[str, str]:
    """The status and message of a test that raised ``exc``."""
    if isinstance(exc, Outcome):
        return exc.status, str(exc)
    if isinstance(exc, MissingName):
        return "missing", str(exc)
    if isinstance(exc, RemoteError):
        if exc.exc_type == "MemoryError":
            return "out-of-memory", ("your code ran out of memory (the limit for this test); "
                                     "use less memory\n" + exc.traceback_text)
        if exc.exc_type == "NotImplementedError":
            what = str(exc) if str(exc).startswith("Exercise") else "This exercise"
            return "error", f"{what} is not done yet (it raises NotImplementedError)"
        return "error", exc.traceback_text or f"{exc.exc_type}: {exc}"
    if isinstance(exc, AssertionError):
        return "failed", str(exc) or "assertion failed"
    if type(exc).__name__ == "Failed":  # pytest.fail()
        return "failed", str(exc)
    if isinstance(exc, channel.NotData):
        return "error", str(exc)
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "error", f"the test raised {text}"


class _Child:
    """One submission's sandboxed child, from the judge's side."""

    def __init__(self, zygote: Zygote, config: dict[str, Any]) -> None:
        self.ctrl, self.pid = zygote.spawn(config)
        self.uid = zygote.uid
        self.max_bytes = int(config["max_answer_bytes"])
        self.limit_memory = int(config["limits"]["memory_mb"]) > 0

    def cells(self, timeout_s: float) -> dict[str, Any]:
        header, _ = channel.recv_message(self.ctrl, timeout_s)
        return header

    def run_test(self, case: TestCase, material: LabMaterial,
                 timeout_s: float) -> dict[str, Any]:
        import numpy as np

        start = time.monotonic()
        channel.send_message(self.ctrl, {"op": "test", "memory_mb": case.memory_mb,
                                         "limit_memory": self.limit_memory})
        self.ctrl.settimeout(30)
        data, fds, _, _ = socket.recv_fds(self.ctrl, 1024, 1)
        self.ctrl.settimeout(None)
        if not fds:
            raise channel.ChannelClosed("the submission's process is gone")
        server_pid = int(json.loads(data)["pid"])
        sock = socket.socket(fileno=fds[0])
        conn = Connection(sock, start + timeout_s, self.max_bytes)
        conn.timeout_s = timeout_s
        fixtures = {"sub": Namespace(conn), "ref": material.ref,
                    "rng": np.random.default_rng(case.seed)}
        with _captured_output() as printed:
            try:
                if "ref" in case.fixtures and material.ref is None:
                    raise RuntimeError(material.ref_error or "this test needs the reference "
                                       "solution, which could not be built")
                case.func(**{name: fixtures[name] for name in case.fixtures})
                status, message = "passed", ""
            except BaseException as exc:  # noqa: BLE001 - every outcome is a status
                if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Outcome):
                    raise
                status, message = classify(exc)
            finally:
                sock.close()
        channel.send_message(self.ctrl, {"op": "end", "pid": server_pid})
        ended, _ = channel.recv_message(self.ctrl, 30)
        if status == "crashed":
            message = f"{message}: {ended.get('exit', '')}"
        return _test_entry(case, status, message, time.monotonic() - start, printed.getvalue())

    def close(self) -> None:
        try:
            channel.send_message(self.ctrl, {"op": "bye"})
        except OSError:
            pass
        self.ctrl.close()
        kill_all(self.pid, self.uid)


def grade_submission(lab: Lab, submission: Path, *, options: GradeOptions | None = None,
                     zygote: Zygote | None = None, material: LabMaterial | None = None,
                     out_dir: Path | None = None) -> dict[str, Any]:
    """Grade one submission; returns its record and never raises for a bad submission."""
    options = for_lab(options, lab.source)
    submission = Path(submission)
    start = time.monotonic()
    own_zygote = zygote is None
    record = empty_record(lab, submission, material)
    try:
        material = material or load_material(lab)
        record = empty_record(lab, submission, material)
        try:
            sub = read_submission(submission)
        except Unreadable as exc:
            record.update(status="unreadable", reason=str(exc))
            return record
        record["student"] = sub.student
        if own_zygote:
            zygote = Zygote(options, 0)
        assert zygote is not None
        _grade_cells_and_tests(record, sub, material, options, zygote,
                               _hide_paths(lab, submission, options, out_dir))
        if sub.notes:
            record["reason"] = "; ".join(filter(None, [record["reason"], *sub.notes]))
    except Exception as exc:  # noqa: BLE001 - never lose a result
        record.update(status="internal-error",
                      reason=f"the grader failed on this submission ({exc!r}); "
                             "tell your instructor")
    finally:
        if own_zygote and zygote is not None:
            zygote.close()
        record["duration_s"] = round(time.monotonic() - start, 3)
    return record


def _grade_cells_and_tests(record: dict[str, Any], sub: Any, material: LabMaterial,
                           options: GradeOptions, zygote: Zygote, hide: list[str]) -> None:
    workdir = make_workdir(zygote.owner)
    config = {"workdir": str(workdir), "uid": zygote.uid, "gid": zygote.uid,
              "env": scrubbed_env(str(workdir)), "hide": hide, "cells": sub.cells,
              "block_network": options.block_network, "cell_timeout_s": options.cell_timeout_s,
              "max_answer_bytes": int(options.max_answer_mb * 2**20),
              "limits": {"cpu_s": options.cpu_s, "fsize_mb": options.fsize_mb,
                         "nproc": options.nproc,
                         "memory_mb": 0 if options.memory_mb <= 0 else
                         max([options.memory_mb] + [c.memory_mb for c in material.tests])}}
    child = None
    tightened: list[str] = []
    if zygote.uid is not None and not mount_namespace_available():
        tightened = tighten_permissions(hide)
    try:
        child = _Child(zygote, config)
        budget_s = options.cell_timeout_s * (len(sub.cells) + 1) + 30
        try:
            ready = child.cells(budget_s)
            record["cells"] = ready["cells"]
            record["sandbox"] = ready["sandbox"]
            if tightened:
                record["sandbox"]["notes"].append(f"permissions tightened on {tightened}")
        except (channel.ChannelTimeout, channel.ChannelClosed, OSError) as exc:
            reason = (f"the notebook did not finish running within {budget_s:g} s"
                      if isinstance(exc, TimeoutError)
                      else "the notebook's process ended while running its cells (did a cell "
                           "close files or kill processes it did not start?)")
            record["reason"] = reason
            child = _dead(child)
        # Public tests first: a hidden test's inputs, which the student's code sees, cannot be
        # smuggled (through a file in the working directory) into a public test's message.
        for case in sorted(material.tests, key=lambda c: c.hidden):
            if child is None:
                record["tests"].append(_test_entry(case, "crashed", record["reason"] or
                                                   "the submission's process is gone", 0.0))
                continue
            try:
                timeout_s = min(case.timeout_s, options.max_test_timeout_s or case.timeout_s)
                record["tests"].append(child.run_test(case, material, timeout_s))
            except (channel.ChannelClosed, channel.ChannelTimeout, OSError) as exc:
                record["reason"] = f"the submission's process ended ({exc})"
                record["tests"].append(_test_entry(case, "crashed", record["reason"], 0.0))
                child = _dead(child)
    finally:
        if child is not None:
            child.close()
        remove_workdir(workdir)
    order = {case.name: i for i, case in enumerate(material.tests)}
    record["tests"].sort(key=lambda t: order[t["name"]])  # back in the lab's order
    for entry in record["tests"]:
        record["questions"][entry["question"]]["score"] += entry["score"]
    record["score"] = float(sum(t["score"] for t in record["tests"]))


def _dead(child: _Child) -> None:
    """Close a child that stopped answering; the caller drops its reference."""
    child.close()
    return None


def grade_paths(lab: Lab, paths: list[Path], material: LabMaterial | None,
                options: GradeOptions, workers: int, *, out_dir: Path | None = None,
                progress: bool = True, load_error: str = "",
                desc: str | None = None) -> list[dict[str, Any]]:
    """Grade ``paths`` on a warm pool of ``workers``; one record per path, in order.

    ``material`` may hold a subset of the lab's tests (a regrade runs one question's)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed
    from queue import Queue

    from tqdm import tqdm

    workers = max(1, min(workers, max(1, len(paths))))
    records: list[dict[str, Any] | None] = [None] * len(paths)
    with ZygotePool(options, workers) as pool:
        free: Queue = Queue()
        for z in pool.zygotes:
            free.put(z)

        def one(i: int) -> None:
            if material is None:
                records[i] = dict(empty_record(lab, paths[i], None), status="internal-error",
                                  reason=load_error)
                return
            zygote = free.get()
            try:
                records[i] = grade_submission(lab, paths[i], options=options, zygote=zygote,
                                              material=material, out_dir=out_dir)
            finally:
                free.put(zygote)

        with ThreadPoolExecutor(workers) as executor, \
                tqdm(total=len(paths), desc=desc or f"grading {lab.name}", unit="sub",
                     disable=not progress) as bar:
            for future in as_completed([executor.submit(one, i) for i in range(len(paths))]):
                try:
                    future.result()
                except Exception:  # noqa: BLE001 - recorded below
                    pass
                bar.update(1)
    return [r if r is not None else dict(empty_record(lab, p, material),
                                         status="internal-error", reason="grading did not run")
            for r, p in zip(records, paths)]


def grade_batch(lab: Lab, submissions: list[Path], out_dir: Path, workers: int | None = None,
                scheduler: str | None = None, show_hidden: bool = False, *,
                options: GradeOptions | None = None, progress: bool = True) -> list[dict]:
    """Grade every submission; write ``out_dir``'s gradebook, feedback, results, item
    analysis and the batch manifest that a later regrade reads; return the records."""
    from mlsys_edu.grader.manifest import write_manifest
    from mlsys_edu.grader.report import write_outputs
    from mlsys_edu.grader.submission import find_submissions

    options = for_lab(options, lab.source)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = find_submissions(list(submissions))
    material: LabMaterial | None
    load_error = ""
    try:
        material = load_material(lab)
    except Exception as exc:  # noqa: BLE001 - the lab itself is broken: say so on every row
        material = None
        load_error = f"the lab's tests could not be loaded: {exc!r}"
    if scheduler:
        from mlsys_edu.grader.dask_backend import grade_with_dask

        final = grade_with_dask(lab, paths, scheduler, options=options, progress=progress)
    else:
        final = grade_paths(lab, paths, material, options, workers or os.cpu_count() or 1,
                            out_dir=out_dir, progress=progress, load_error=load_error)
    write_outputs(final, out_dir, show_hidden)
    write_manifest(out_dir, lab, material, options, show_hidden, final)
    return final
