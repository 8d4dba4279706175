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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlsys_edu.grader import channel



@dataclass
class GradeOptions:
    """How to run submissions. Sizes in MiB, times in seconds."""

    cell_timeout_s: float = 60.0
    # The child's hard address-space limit (tests may ask for less); 0: none, e.g. for CUDA,
    # which reserves far more address space than it uses.
    memory_mb: int = 4096
    cpu_s: int = 1800  # CPU time for the whole submission (all cells and tests)
    fsize_mb: int = 256
    nproc: int = 64  # processes the submission may run at once
    max_answer_mb: float = 64.0
    block_network: bool = True
    # Under root each zygote runs its submissions as the first uid from base + slot that no
    # other judge on this machine holds (an flock per uid).
    sandbox_uid_base: int = 61000
    # Modules each warm worker imports once; None: what the lab imports (see preload_for).
    preload: tuple[str, ...] | None = None
    extra_hide: tuple[str, ...] = ()  # more folders the child must not see
    startup_timeout_s: float = 120.0
    max_test_timeout_s: float | None = None  # caps every test's timeout_s (quick batch runs)
    # A root judge may run its zygotes as this ordinary uid instead: the sandbox then takes
    # the unprivileged path (user namespaces), as it does when the judge is not root.
    zygote_uid: int | None = None


def preload_for(lab_source: Path) -> tuple[str, ...]:
    """What a warm worker should import once for this lab: the channel's own modules plus
    every installed third-party module the lab imports (torch only for a lab that uses it,
    since importing it costs seconds per worker)."""
    import importlib.util

    from mlsys_edu.lab.source import imported_modules, parse_lab_source

    wanted = ["numpy", "pandas", "pyarrow"]
    wanted += [m for m in imported_modules(parse_lab_source(lab_source))
               if m not in sys.stdlib_module_names and m not in wanted]
    if "matplotlib" in wanted:
        wanted.append("matplotlib.pyplot")
    return tuple(m for m in wanted if importlib.util.find_spec(m.split(".")[0]) is not None)


def for_lab(options: GradeOptions | None, lab_source: Path) -> GradeOptions:
    """``options`` (or the defaults) with the preload list filled in for this lab."""
    options = options or GradeOptions()
    if options.preload is None:
        options = replace(options, preload=preload_for(lab_source))
    return options


def scrubbed_env(workdir: str) -> dict[str, str]:
    """The child's environment: nothing of the judge's beyond what is needed to run."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir, "TMPDIR": workdir,
           "LANG": os.environ.get("LANG", "C.UTF-8"), "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": os.path.join(workdir, ".mpl")}
    if os.environ.get("MLSYS_EDU_DATA"):  # the offline datasets; no other MLSYS_* variable
        # resolved: a symlink on the way (../shared -> elsewhere) may lie under the /tmp
        # that the child gets fresh and empty
        env["MLSYS_EDU_DATA"] = os.path.realpath(os.environ["MLSYS_EDU_DATA"])
    return env


class Zygote:
    """One warm process that forks sandboxed children; used by one thread at a time."""

    def __init__(self, options: GradeOptions, slot: int = 0) -> None:
        self.options, self.slot = options, slot
        self._uid_lock: Any = None
        privileged = os.geteuid() == 0 and options.zygote_uid is None
        self.uid = self._claim_uid() if privileged else None
        self.owner = self.uid if self.uid is not None else options.zygote_uid
        self._lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None

    def _claim_uid(self) -> int:
        """A sandbox uid no other judge on this machine uses now (an flock per uid), so
        per-user process limits and the final sweep by uid touch only our submissions."""
        import fcntl

        lock_dir = Path(tempfile.gettempdir()) / "mlsys-grader-uids"
        lock_dir.mkdir(mode=0o700, exist_ok=True)
        base = self.options.sandbox_uid_base
        for uid in range(base + self.slot, base + 4096):
            handle = open(lock_dir / f"{uid}.lock", "w")  # noqa: SIM115 - held while alive
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._uid_lock = handle
            return uid
        raise RuntimeError(f"no free sandbox uid in {base}..{base + 4095}")

    def start(self) -> None:
        parent, child = socket.socketpair()
        env = scrubbed_env(tempfile.gettempdir())
        if os.environ.get("MLSYS_EDU_GRADER_DEBUG"):  # the zygote's stderr: the terminal
            env["MLSYS_EDU_GRADER_DEBUG"] = "1"
        # only where mlsys_edu itself lives: the child must not inherit (and later see)
        # every folder on the judge's path; its cwd is the temp folder, not the judge's
        import mlsys_edu

        env["PYTHONPATH"] = str(Path(mlsys_edu.__file__).resolve().parent.parent)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mlsys_edu.grader.child", str(child.fileno()),
             json.dumps(list(self.options.preload)), json.dumps(self.options.zygote_uid)],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL,
            cwd=tempfile.gettempdir(),
            stdout=subprocess.DEVNULL, start_new_session=True,
            stderr=None if os.environ.get("MLSYS_EDU_GRADER_DEBUG") else subprocess.DEVNULL)
        child.close()
        self.sock = parent
        channel.recv_message(parent, timeout_s=self.options.startup_timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, config: dict[str, Any]) -> tuple[socket.socket, int]:
        """Fork a sandboxed child for one submission; its control socket and pid."""
        with self._lock:
            if not self.alive():
                self.close(release_uid=False)
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

    def close(self, release_uid: bool = True) -> None:
        """Stop the zygote (and give its sandbox uid back unless told not to)."""
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
        if release_uid and self._uid_lock is not None:
            self._uid_lock.close()
            self._uid_lock = None


_MOUNT_NS: bool | None = None


def mount_namespace_available() -> bool:
    """Whether a child may unshare its mount namespace here (probed once, in a fork)."""
    global _MOUNT_NS
    if _MOUNT_NS is None:
        from mlsys_edu.grader import sandbox_os

        flags = sandbox_os.CLONE_NEWNS
        if os.geteuid() != 0:
            flags |= sandbox_os.CLONE_NEWUSER
        pid = os.fork()
        if pid == 0:
            os._exit(0 if sandbox_os._unshare(flags) is None else 1)
        _MOUNT_NS = os.waitpid(pid, 0)[1] == 0
    return _MOUNT_NS


def tighten_permissions(paths: list[str]) -> list[str]:
    """Without a mount namespace, a root judge takes "other" permissions off the folders
    the sandbox user must not read (the lab, the build, the submissions); returns them."""
    changed = []
    for raw in paths:
        path = Path(raw)
        try:
            mode = path.stat().st_mode
            if path.is_dir() and mode & 0o007:
                path.chmod(mode & ~0o007)
                changed.append(str(path))
        except OSError:
            pass
    return changed


def make_workdir(uid: int | None) -> Path:
    """A fresh private working directory, owned by the sandbox user."""
    path = Path(tempfile.mkdtemp(prefix="mlsys-grade-"))
    if uid is not None:
        os.chown(path, uid, uid)
    path.chmod(0o700)
    return path


def _session_and_uid(pid: str) -> tuple[int, int]:
    """The session id and uid of a live process; (-1, -1) for a zombie (already dead)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    if fields[0] in (b"Z", b"X"):
        return -1, -1
    return int(fields[3]), os.stat(f"/proc/{pid}").st_uid


def kill_all(pid: int, uid: int | None) -> None:
    """End the submission: every process of its session, and under root of its sandbox uid."""
    for _ in range(50):  # a fork bomb may still be forking: sweep until none is left
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                session, owner = _session_and_uid(entry)
                if session == pid or (uid is not None and owner == uid):
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
            except (OSError, ValueError, IndexError):
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
