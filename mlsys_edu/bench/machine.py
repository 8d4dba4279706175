"""What machine a result was measured on: recorded with every result, since times mean
nothing without it."""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import sys
from typing import Any


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _gpu() -> tuple[str | None, str | None]:
    """(GPU name or None, torch version or None): torch.cuda if importable, else nvidia-smi."""
    try:
        import torch
    except ImportError:
        return (("unknown (nvidia-smi present, torch absent)" if shutil.which("nvidia-smi")
                 else None), None)
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return name, torch.__version__


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, memory, Python/numpy/torch versions, GPU (or None), and the date."""
    import numpy

    gpu, torch_version = _gpu()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": _cores(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "torch": torch_version,
        "gpu": gpu,
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


def describe(info: dict[str, Any]) -> str:
    """One line for the top of results.md."""
    mem = f"{info['memory_gib']} GiB" if info.get("memory_gib") else "memory unknown"
    load = info.get("load_avg_1m")
    return (f"{info['cores']} cores ({info['cpu']}), {mem}, {info.get('gpu') or 'no GPU'}; "
            f"Python {info['python']}, numpy {info['numpy']}, torch {info.get('torch') or 'absent'}"
            + (f"; load average {load} when it started" if load is not None else ""))
