"""Operating-system confinement of one submission's process, applied inside the child.

In order: environment, working directory, new mount and network namespaces where the platform
allows (the judge's folders are covered by empty read-only tmpfs mounts; folders on the
interpreter's path that the sandbox user could not traverse, such as a 0700 ``/root`` holding a
pyenv Python, are replaced by a tmpfs that exposes only the interpreter), resource limits, and
finally dropping root for the sandbox uid. Each step that the platform refuses is recorded,
never fatal: the judge reports what isolation a run had.
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 4096, 16384, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flags: int) -> str | None:
    """``unshare(2)``; None on success, else the error in words."""
    if _libc.unshare(flags) == 0:
        return None
    return os.strerror(ctypes.get_errno())


def _mount(src: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = (lambda s: s.encode() if s is not None else None)
    if _libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _untraversable(path: Path, uid: int) -> Path | None:
    """The top-most folder above ``path`` that ``uid`` may not enter (others lack x)."""
    for folder in reversed([path, *path.parents]):
        try:
            st = folder.stat()
        except OSError:
            return None
        if st.st_uid != uid and not st.st_mode & 0o001:
            return folder
    return None


def _expose_interpreter(uid: int) -> list[str]:
    """Make the interpreter's folders reachable for ``uid`` under an untraversable ancestor."""
    needed = {Path(p) for p in (sys.base_prefix, sys.prefix, *sys.path) if p and Path(p).is_dir()}
    blocked: dict[Path, list[Path]] = {}
    for path in needed:
        top = _untraversable(path, uid)
        if top is not None:
            blocked.setdefault(top, []).append(path)
    done = []
    for top, paths in blocked.items():
        keep = sorted({p for p in paths if not any(q in p.parents for q in paths)})
        fds = [os.open(p, os.O_PATH) for p in keep]
        _mount("tmpfs", str(top), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for path, fd in zip(keep, fds):
            path.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
            os.close(fd)
        done.append(str(top))
    return done


def _hide(paths: list[str]) -> list[str]:
    """Cover each folder with an empty read-only tmpfs (files with /dev/null)."""
    hidden = []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                _mount("tmpfs", str(path), "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k")
            elif path.is_file():
                _mount("/dev/null", str(path), None, MS_BIND)
            else:
                continue
        except PermissionError:  # we cannot even reach it: hidden already
            continue
        hidden.append(str(path))
    return hidden


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def _map_ids(inside: int, outside: int, outside_gid: int, inside_gid: int | None = None) -> None:
    """Map one uid/gid into a new user namespace (``/proc/self/{uid,gid}_map``)."""
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"{inside} {outside} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"{inside if inside_gid is None else inside_gid} {outside_gid} 1")


def _setup_mounts(config: dict[str, Any], uid: int | None, report: dict[str, Any]) -> None:
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        report["hidden"] = _hide(config.get("hide", []))
        if uid is not None:
            report["exposed"] = _expose_interpreter(uid)
        report["mount_namespace"] = True
    except OSError as exc:
        report["notes"].append(f"mount setup failed: {exc}")


def apply_sandbox(config: dict[str, Any]) -> dict[str, Any]:
    """Confine the current process as ``config`` asks; return what was and was not done."""
    report: dict[str, Any] = {"notes": []}
    os.environ.clear()
    os.environ.update(config["env"])
    workdir = config["workdir"]
    os.chdir(workdir)
    is_root = os.geteuid() == 0
    uid = config.get("uid") if is_root else None

    # namespaces: mount (hide the judge's files) and network
    report["mount_namespace"] = False
    report["network_blocked"] = False
    net = CLONE_NEWNET if config.get("block_network", True) else 0
    real_uid, real_gid = os.geteuid(), os.getegid()
    if is_root:
        err = _unshare(CLONE_NEWNS)
        if err is None:
            _setup_mounts(config, uid, report)
        if net:
            net_err = _unshare(net)
            report["network_blocked"] = net_err is None
            if net_err:
                report["notes"].append(f"network not blocked: unshare refused ({net_err})")
    else:  # an unprivileged user namespace gives us mount and network namespaces too
        err = _unshare(CLONE_NEWUSER | CLONE_NEWNS | net)
        if err is None:
            report["network_blocked"] = bool(net)
            _map_ids(0, real_uid, real_gid)
            _setup_mounts(config, None, report)
            # a second user namespace locks those mounts: the student cannot unmount them
            if _unshare(CLONE_NEWUSER | CLONE_NEWNS) is None:
                _map_ids(real_uid, 0, 0, inside_gid=real_gid)
            else:
                report["notes"].append("mounts not locked: a student could unmount them")
        else:
            report["notes"].append(f"no user namespace ({err}): the judge's folders and the "
                                   "network stay reachable; only limits apply")
    if config.get("hide") and not report["mount_namespace"]:
        report["notes"].append("no mount namespace: the judge's folders stay visible "
                               "(protected by permissions only)")
    os.chdir(workdir)

    # resource limits
    limits = config["limits"]
    mem_b = int(limits["memory_mb"]) * 2**20
    nproc = int(limits["nproc"])
    if uid is None:  # RLIMIT_NPROC counts every process of the user: allow what exists
        nproc += _count_processes(real_uid)
    for res, value in ((resource.RLIMIT_CPU, int(limits["cpu_s"])),
                       (resource.RLIMIT_AS, mem_b),
                       (resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * 2**20),
                       (resource.RLIMIT_NPROC, nproc),
                       (resource.RLIMIT_CORE, 0)):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError) as exc:
            report["notes"].append(f"limit {res} not set: {exc}")

    # drop root for the sandbox user
    report["uid"] = os.geteuid()
    if uid is not None:
        try:
            os.setgroups([])
            os.setgid(int(config.get("gid", uid)))
            os.setuid(int(uid))
            report["uid"] = os.geteuid()
        except OSError as exc:
            report["notes"].append(f"could not drop root: {exc}")
    return report
