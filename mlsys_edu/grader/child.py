"""The sandboxed side: a warm *zygote* that forks one child per submission.

Process tree of one submission (all in one session, under the sandbox uid when the judge is
root)::

    zygote (trusted: imports only)  --fork-->  supervisor (sandbox set up, subreaper)
        --fork--> keeper_1 --fork--> keeper_2 ... (one checkpoint fork per cell)
        the last keeper --fork--> one server per test

Each cell runs in a fresh fork of the previous state: if it finishes, the fork carries on and
its parent steps aside; if it loops, exits or crashes, the parent kills it and carries on
without that cell. Each test is served by a fork of the final state, so a test can neither
crash the namespace nor leak mutations into the next test.

A known cost of forking: threads do not survive a fork, so a thread a cell starts (a server
loop, say) is not running in later cells or in the tests; tests should build such objects
themselves (``sub.make_server()`` inside the test runs in the test's own process).
"""

from __future__ import annotations

import builtins
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import traceback
import types
from typing import Any

from mlsys_edu.grader import channel
from mlsys_edu.grader.sandbox_os import apply_sandbox

SETUP_TAG = "mlsys_edu:setup"
_DEBUG = bool(os.environ.get("MLSYS_EDU_GRADER_DEBUG"))  # read in the zygote, before scrubbing
_MAX_TEXT = 4000


class _NoopCheck:
    """Stands in for ``check`` inside the sandbox: the judge runs the tests, not the notebook."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None

    def all(self, *args: Any, **kwargs: Any) -> None:
        return None

    def export(self, *args: Any, **kwargs: Any) -> None:
        return None


class _DiscardSink(io.TextIOBase):
    """stdout/stderr in the sandbox: prints are dropped (they must not fill memory, nor fake a report)."""

    def write(self, text: str) -> int:
        return len(text)

    def writable(self) -> bool:
        return True


def _trim(text: str, limit: int = _MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2:]


def _student_traceback(exc: BaseException) -> str:
    """The traceback without our own frames (the first frame is always ours)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    try:
        return _trim("".join(traceback.format_exception(type(exc), exc, tb)))
    except BaseException:  # noqa: BLE001 - a student __str__ may raise anything
        return f"{type(exc).__name__} (its message could not be shown)"


def _exit_words(status: int) -> str:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig
        extra = " (likely out of memory or CPU time)" if sig in (9, 24) else ""
        return f"the process was killed by signal {name}{extra}"
    return f"the process exited with code {os.WEXITSTATUS(status)} (sys.exit/os._exit?)"


# ----------------------------------------------------------------------------- cells
def _should_skip(cell: dict[str, Any]) -> bool:
    source = cell["source"].lstrip()
    return SETUP_TAG in cell.get("tags", []) or source.startswith(("%", "!"))


def _exec_cell(ns: dict[str, Any], cell: dict[str, Any]) -> dict[str, Any]:
    sys.stdout = sys.stderr = _DiscardSink()
    try:
        code = compile(cell["source"], f"<cell {cell['index']}>", "exec")
        exec(code, ns)  # noqa: S102 - this is the sandbox: running student code is its job
        return {"index": cell["index"], "status": "ok", "message": ""}
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
        return {"index": cell["index"], "status": "error", "message": _student_traceback(exc)}


def run_cells(cells: list[dict[str, Any]], ns: dict[str, Any], timeout_s: float) -> list[dict]:
    """Run each cell in a checkpoint fork (see the module docstring); return their statuses."""
    results: list[dict[str, Any]] = []
    for cell in cells:
        if _should_skip(cell):
            results.append({"index": cell["index"], "status": "ok", "message": "skipped"})
            continue
        read_fd, write_fd = os.pipe()
        pid = _fork()
        if pid == 0:  # the cell's process: run, report, and carry on as the new keeper
            os.close(read_fd)
            os.setpgid(0, 0)  # its own group: a timeout kills whatever the cell started
            me = os.getpid()
            result = _exec_cell(ns, cell)
            if os.getpid() != me:  # a fork the student made returned here: leave quietly
                os._exit(0)
            os.write(write_fd, json.dumps(result).encode()[:60000])
            os.close(write_fd)
            results.append(result)
            if result["status"] != "ok" or _group_size(me) > 16:
                _kill_strays(me)  # e.g. a fork bomb's copies still forking
            _reap()
            continue
        os.close(write_fd)
        ready, _, _ = select.select([read_fd], [], [], timeout_s)
        data = os.read(read_fd, 65536) if ready else b""
        os.close(read_fd)
        if data:  # the cell finished: its process holds the state now; step aside
            os._exit(0)
        if not ready:
            _kill(pid, group=True)
            _, status = os.waitpid(pid, 0)
            results.append({"index": cell["index"], "status": "timeout",
                            "message": f"the cell ran for more than {timeout_s:g} s and was "
                                       "stopped; later cells ran without it"})
        else:
            _, status = os.waitpid(pid, 0)
            results.append({"index": cell["index"], "status": "crashed",
                            "message": _exit_words(status) + "; later cells ran without it"})
    return results


def _kill(pid: int, group: bool = False) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _fork(wait_s: float = 10.0) -> int:
    """``os.fork``, waiting out a full process table (a fork bomb's leftovers being reaped)."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return os.fork()
        except BlockingIOError:
            _reap()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    if int(f.read().rsplit(b")", 1)[1].split()[2]) == pgid:
                        members.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return members


def _group_size(pgid: int) -> int:
    return len(_group_members(pgid)) + 1


def _kill_strays(pgid: int) -> None:
    """Kill every other process in our process group (copies the student forked)."""
    for _ in range(20):
        members = _group_members(pgid)
        if not members:
            return
        for pid in members:
            _kill(pid)
        _reap()


def _reap() -> None:
    """Reap exited children the student's code forked (zombies count against RLIMIT_NPROC)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ----------------------------------------------------------------------------- test server
class _Server:
    """Answers the judge's requests about one namespace over one socket."""

    def __init__(self, ns: dict[str, Any], sock: socket.socket, max_bytes: int) -> None:
        self.ns, self.sock, self.max_bytes = ns, sock, max_bytes
        self.objects: dict[int, Any] = {}

    def _handle(self, obj: Any) -> dict[str, Any]:
        key = len(self.objects) + 1
        self.objects[key] = obj
        kind = type(obj)
        node = {"t": "handle", "id": key, "type": f"{kind.__module__}.{kind.__qualname__}",
                "callable": callable(obj)}
        if isinstance(obj, (types.FunctionType, types.MethodType, type)):
            name = getattr(obj, "__qualname__", None)
            if isinstance(name, str):
                node["name"] = name[:200]
        return node

    def _target(self, key: int | None) -> Any:
        return self.objects[key] if key is not None else None

    def _arg(self, node: dict[str, Any]) -> Any:
        return self.objects[node["id"]]

    def answer(self, req: dict[str, Any], blobs: list[bytes]) -> Any:
        op, target = req["op"], self._target(req.get("target"))
        if op == "getattr":
            name = req["name"]
            if req.get("target") is None:
                if name not in self.ns or name.startswith("__"):
                    raise _Missing(name)
                return self.ns[name]
            return getattr(target, name)
        args = [channel.decode(a, blobs, self._arg) for a in req.get("args", [])]
        kwargs = {k: channel.decode(v, blobs, self._arg) for k, v in req.get("kwargs", {}).items()}
        if op == "call":
            return target(*args, **kwargs)
        if op == "getitem":
            return target[args[0]]
        if op == "setattr":
            setattr(target, req["name"], args[0])
            return None
        if op == "len":
            return len(target)
        if op == "iter":
            return list(target)
        if op == "contains":
            return args[0] in target
        if op == "bool":
            return bool(target)
        if op in ("repr", "str"):
            return _trim((repr if op == "repr" else str)(target), 2000)
        raise ValueError(f"unknown request {op!r}")

    def serve(self) -> None:
        me = os.getpid()
        while True:
            try:
                req, blobs = channel.recv_message(self.sock, max_bytes=1 << 40)  # the judge's
            except (channel.ChannelClosed, OSError):
                os._exit(0)
            try:
                value = self.answer(req, blobs)
                reply = {"ok": True}
                tree, out = channel.encode(value, self._handle, self.max_bytes)
                reply["value"] = tree
            except _Missing as exc:
                reply, out = {"ok": False, "missing": exc.name}, []
            except channel.TooLarge as exc:
                reply, out = {"ok": False, "refused": f"the answer is too large: {exc}"}, []
            except BaseException as exc:  # noqa: BLE001 - report everything, exits included
                reply = {"ok": False, "exc_type": type(exc).__name__,
                         "exc_module": type(exc).__module__,
                         "message": _trim(_safe_str(exc), 1000),
                         "traceback": _student_traceback(exc)}
                out = []
            if os.getpid() != me:
                os._exit(0)
            channel.send_message(self.sock, reply, out)


class _Missing(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except BaseException:  # noqa: BLE001
        return "(the exception's message could not be shown)"


def serve_tests(ns: dict[str, Any], ctrl: socket.socket, max_bytes: int) -> None:
    """The keeper's loop: fork one server per test, hand its socket to the judge."""
    import resource

    servers: dict[int, int] = {}
    while True:
        try:
            req, _ = channel.recv_message(ctrl)
        except (channel.ChannelClosed, OSError):
            os._exit(0)
        if req["op"] == "test":
            mine, theirs = socket.socketpair()
            pid = _fork()
            if pid == 0:
                ctrl.close()
                theirs.close()
                os.setpgid(0, 0)
                limit_b = int(req["memory_mb"]) * 2**20
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                if hard != resource.RLIM_INFINITY:
                    limit_b = min(limit_b, hard)
                elif not req.get("limit_memory", True):
                    limit_b = resource.RLIM_INFINITY
                try:
                    resource.setrlimit(resource.RLIMIT_AS, (limit_b, hard))
                except (ValueError, OSError):
                    pass
                _Server(ns, mine, max_bytes).serve()
                os._exit(0)
            mine.close()
            servers[pid] = 1
            socket.send_fds(ctrl, [json.dumps({"pid": pid}).encode()], [theirs.fileno()])
            theirs.close()
        elif req["op"] == "end":
            pid = int(req["pid"])
            if pid in servers:
                _kill(pid, group=True)
                _kill(pid)
                try:
                    _, status = os.waitpid(pid, 0)
                    words = _exit_words(status)
                except ChildProcessError:
                    words = "the process ended"
                servers.pop(pid)
                _reap()
                channel.send_message(ctrl, {"exit": words})
            else:
                channel.send_message(ctrl, {"exit": "unknown test process"})
        else:  # "bye"
            os._exit(0)


# ----------------------------------------------------------------------------- entry points
def submission_main(ctrl: socket.socket, config: dict[str, Any]) -> None:
    """Run in the fork of the zygote: sandbox, supervise, execute cells, serve tests."""
    import ctypes

    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    report = apply_sandbox(config)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come here to be reaped
    keeper = os.fork()
    if keeper:  # the supervisor: reap until no descendant is left
        ctrl.close()
        while True:
            try:
                os.wait()
            except ChildProcessError:
                os._exit(0)
    ns: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "check": _NoopCheck(),
                          "display": lambda *args, **kwargs: None}  # IPython's, as a no-op
    cells = run_cells(config["cells"], ns, float(config["cell_timeout_s"]))
    sys.stdout = sys.stderr = _DiscardSink()
    channel.send_message(ctrl, {"cells": cells, "sandbox": report})
    serve_tests(ns, ctrl, int(config["max_answer_bytes"]))


def zygote_main(fd: int, preload: list[str], run_as_uid: int | None = None) -> None:
    """Import the heavy modules once, then fork a sandboxed child per request."""
    for name in preload + ["mlsys_edu.grader.sandbox_os", "resource", "ctypes"]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional module is fine
            pass
    if run_as_uid is not None and os.geteuid() == 0:  # act as an unprivileged judge would
        import ctypes

        os.setgroups([])
        os.setgid(run_as_uid)
        os.setuid(run_as_uid)
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: own /proc/self again
    try:
        import matplotlib

        matplotlib.use("Agg")
    except Exception:  # noqa: BLE001
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    zsock = socket.socket(fileno=fd)
    channel.send_message(zsock, {"ready": True})
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(zsock, 16, 1)
            if not fds:
                os._exit(0)
            config, _ = channel.recv_message(zsock, max_bytes=1 << 30)
        except (channel.ChannelClosed, OSError, ValueError):
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            zsock.close()
            ctrl = socket.socket(fileno=fds[0])
            try:
                submission_main(ctrl, config)
            except BaseException:  # noqa: BLE001 - the judge sees the closed channel
                if _DEBUG:
                    os.write(2, traceback.format_exc().encode())
            finally:
                os._exit(0)
        os.close(fds[0])
        channel.send_message(zsock, {"pid": pid})


if __name__ == "__main__":
    zygote_main(int(sys.argv[1]), json.loads(sys.argv[2]),
                json.loads(sys.argv[3]) if len(sys.argv) > 3 else None)
