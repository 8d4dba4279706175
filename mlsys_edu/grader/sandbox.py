"""The judge's handle on sandboxed children: options, the warm zygote pool, cleanup.

A *zygote* is a process started once per worker with a scrubbed environment; it imports the
heavy modules (numpy, pandas, matplotlib, torch if installed) and then forks one sandboxed
child per submission (see ``child.py``), so a submission does not pay for the imports.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsys_edu.grader import channel

DEFAULT_PRELOAD = ("numpy", "pandas", "pyarrow", "matplotlib", "matplotlib.pyplot", "torch")


@dataclass
class GradeOptions:
    """How to run submissions. Sizes in MiB, times in seconds."""

    cell_timeout_s: float = 60.0
    memory_mb: int = 4096  # the child's hard address-space limit; tests may ask for less
    cpu_s: int = 1800  # CPU time for the whole submission (all cells and tests)
    fsize_mb: int = 256
    nproc: int = 64  # processes the submission may run at once
    max_answer_mb: float = 64.0
    block_network: bool = True
    sandbox_uid_base: int = 61000  # worker slot k runs as uid base + k when the judge is root
    preload: tuple[str, ...] = DEFAULT_PRELOAD
    extra_hide: tuple[str, ...] = ()  # more folders the child must not see
    startup_timeout_s: float = 120.0


def scrubbed_env(workdir: str) -> dict[str, str]:
    """The child's environment: nothing of the judge's beyond what is needed to run."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "TMPDIR": workdir,
           "LANG": os.environ.get("LANG", "C.UTF-8"), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": os.path.join(workdir, ".mpl")}
    if os.environ.get("MLSYS_EDU_DATA"):
        env["MLSYS_EDU_DATA"] = os.environ["MLSYS_EDU_DATA"]
    return env


class Zygote:
    """One warm process that forks sandboxed children; used by one thread at a time."""

    def __init__(self, options: GradeOptions, slot: int = 0) -> None:
        self.options, self.slot = options, slot
        self.uid = options.sandbox_uid_base + slot if os.geteuid() == 0 else None
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None

    def start(self) -> None:
        parent, child = socket.socketpair()
        env = scrubbed_env(tempfile.gettempdir())
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlsys_edu.grader.child", str(child.fileno()),
             json.dumps(list(self.options.preload))],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        child.close()
        self.sock = parent
        channel.recv_message(parent, timeout_s=self.options.startup_timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, config: dict[str, Any]) -> tuple[socket.socket, int]:
        """Fork a sandboxed child for one submission; its control socket and pid."""
        with self._lock:
            if not self.alive():
                self.close()
                self.start()
            assert self.sock is not None
            mine, theirs = socket.socketpair()
            try:
                socket.send_fds(self.sock, [b"s"], [theirs.fileno()])
                channel.send_message(self.sock, config)
                reply, _ = channel.recv_message(self.sock, timeout_s=30)
            finally:
                theirs.close()
            return mine, int(reply["pid"])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None


def make_workdir(uid: int | None) -> Path:
    """A fresh private working directory, owned by the sandbox user."""
    path = Path(tempfile.mkdtemp(prefix="mlsys-grade-"))
    if uid is not None:
        os.chown(path, uid, uid)
    path.chmod(0o700)
    return path


def kill_all(pid: int, uid: int | None) -> None:
    """End the submission: its session, and under root every process of its sandbox uid."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is None:
        return
    for _ in range(50):  # a fork bomb may still be forking: sweep until the uid is empty
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, ProcessLookupError):
                pass
        if not found:
            return
        time.sleep(0.02)


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@dataclass
class ZygotePool:
    """``workers`` zygotes, one per worker slot (and sandbox uid)."""

    options: GradeOptions
    workers: int = 1
    zygotes: list[Zygote] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.zygotes = [Zygote(self.options, slot) for slot in range(self.workers)]

    def close(self) -> None:
        for z in self.zygotes:
            z.close()

    def __enter__(self) -> "ZygotePool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
