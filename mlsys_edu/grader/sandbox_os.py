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


def _loopback_up() -> str | None:
    """Bring ``lo`` up in a new network namespace (it starts down): a submission may serve and
    call itself on 127.0.0.1 (a test that starts the student's server), and reach nothing else.
    ``ioctl(SIOCGIFFLAGS)`` then ``ioctl(SIOCSIFFLAGS)`` with ``IFF_UP``; None on success."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("16sH14x", b"lo", 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
            fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    except OSError as exc:
        return str(exc)
    return None


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


def _needed_paths() -> list[Path]:
    """Folders the child must still read: the interpreter, ``sys.path``, this package, and
    the offline datasets (``MLSYS_EDU_DATA``, which may lie under /tmp in a classroom)."""
    raw = [sys.base_prefix, sys.prefix, *sys.path, os.environ.get("MLSYS_EDU_DATA", "")]
    package = sys.modules.get("mlsys_edu")
    if package is not None and getattr(package, "__file__", None):
        raw.append(str(Path(package.__file__).parent))
    found = set()
    for p in filter(None, raw):
        try:
            if Path(p).is_dir():
                found.add(Path(p).resolve())
                # a folder of symlinks on the path (a version set's shared torch) needs the
                # folders they point to as well
                found.update(link.resolve() for link in Path(p).iterdir()
                             if link.is_symlink() and link.is_dir())
        except OSError:  # out of our reach anyway
            pass
    return sorted(found)


def _cover(top: Path, needed: list[Path], tmpfs: str = "mode=0755,size=1m") -> None:
    """Mount an empty tmpfs on ``top``, then bind back each needed folder strictly under it.

    The folders are opened before the mount and bound recursively, so they come back as the
    process saw them: with any cover already mounted inside them still in place."""
    inside = [p for p in needed if top in p.parents]
    keep = sorted({p for p in inside if not any(q in p.parents for q in inside)})
    fds = [os.open(p, os.O_PATH) for p in keep]
    try:
        _mount("tmpfs", str(top), "tmpfs", MS_NOSUID | MS_NODEV, tmpfs)
        for path, fd in zip(keep, fds):
            path.mkdir(parents=True, exist_ok=True)
            _mount(f"/proc/self/fd/{fd}", str(path), None, MS_BIND | MS_REC)
    finally:
        for fd in fds:
            os.close(fd)


def _expose_interpreter(uid: int, needed: list[Path]) -> list[str]:
    """Make the interpreter's folders reachable for ``uid`` under an untraversable ancestor
    (e.g. a pyenv Python in a 0700 ``/root``): everything else there stays out of sight."""
    tops = {top for path in needed if (top := _untraversable(path, uid)) is not None}
    for top in sorted(tops):
        _cover(top, needed)
    return [str(t) for t in sorted(tops)]


def _hide(paths: list[str], needed: list[Path]) -> list[str]:
    """Cover each folder with an empty tmpfs (files with /dev/null); what the interpreter
    needs below a covered folder (a virtualenv inside the course repository) is bound back."""
    hidden = []
    for raw in paths:
        path = Path(raw)
        try:
            if path.is_dir():
                _cover(path, needed)
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


def _private_tmp(workdir: str, needed: list[Path]) -> list[str]:
    """Fresh empty /tmp, /var/tmp and /dev/shm (nothing left there by other submissions),
    with the working directory and the interpreter's folders (a virtualenv in a checkout under
    /tmp, say) bound back in place."""
    keep = [Path(workdir).resolve(), *needed]
    done = []
    for folder in ("/tmp", "/var/tmp", "/dev/shm"):
        if Path(folder).is_dir() and not Path(folder).is_symlink():
            _cover(Path(folder), keep, tmpfs="mode=1777,size=64m")
            done.append(folder)
    return done


def _setup_mounts(config: dict[str, Any], uid: int | None, report: dict[str, Any]) -> None:
    try:
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
        needed = _needed_paths()
        report["hidden"] = _hide(config.get("hide", []), needed)
        report["private_tmp"] = _private_tmp(config["workdir"], needed)
        if uid is not None:
            report["exposed"] = _expose_interpreter(uid, needed)
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
            elif (lo_err := _loopback_up()) is not None:
                report["notes"].append(f"loopback left down: {lo_err}")
    else:  # an unprivileged user namespace gives us mount and network namespaces too
        err = _unshare(CLONE_NEWUSER | CLONE_NEWNS | net)
        if err is None:
            report["network_blocked"] = bool(net)
            _map_ids(0, real_uid, real_gid)
            if net and (lo_err := _loopback_up()) is not None:
                report["notes"].append(f"loopback left down: {lo_err}")
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
                       (resource.RLIMIT_AS, mem_b if mem_b > 0 else resource.RLIM_INFINITY),
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
