"""Run comparisons: warm-up, alternating pairs, each side in a fresh subprocess.

Method, per case: ``prepare`` writes the inputs once (project interpreter); every side runs
once as a warm-up (discarded; skipped in quick mode, which is a smoke test); then ``repeats``
rounds run the sides in turn (ours, anchor, ours, anchor, ...), each call a fresh
``python benchmarks/_worker.py`` of the side's interpreter -- the project's for ``ours`` and
other non-anchor sides, the side environment's for ``anchor``. Round ``i`` gives the pair
``(ours_i, other_i)`` that :mod:`.stats` compares.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from mlsys_edu.bench.discover import Comparison
from mlsys_edu.bench.envs import Installer, SideEnv, ensure_env, env_python, pip_installer
from mlsys_edu.bench.stats import paired_comparison, summary

DEFAULT_REPEATS = 5
SIDE_TIMEOUT_S = 1800.0
WORKER_NAME = "_worker.py"

Log = Callable[[str], None]


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SideFailed(RuntimeError):
    """One call of one side failed; the message holds the worker's traceback or output."""


def case_label(case: dict[str, Any]) -> str:
    """A short name for a case: its ``label`` if it has one, else ``key=value, ...``."""
    if "label" in case:
        return str(case["label"])
    return ", ".join(f"{k}={v}" for k, v in case.items()) or "default"


def call_side(python: Path, worker: Path, module_path: Path, side: str, case: dict[str, Any],
              cwd: Path, timeout_s: float = SIDE_TIMEOUT_S) -> dict[str, Any]:
    """Run ``run(side, case)`` in a fresh ``python`` process; its result dict, or SideFailed."""
    with tempfile.TemporaryDirectory(prefix="mlsys-bench-") as tmp:
        case_path, result_path = Path(tmp) / "case.json", Path(tmp) / "result.json"
        case_path.write_text(json.dumps(case), encoding="utf-8")
        env = dict(os.environ)
        if Path(python).resolve() != Path(sys.executable).resolve():
            env.pop("PYTHONPATH", None)  # a side environment sees none of the project's paths
        cmd = [str(python), str(worker), str(module_path), side, str(case_path), str(result_path)]
        # Its own session, so a timeout or Ctrl-C ends the tools it started too (otter's
        # kernels, the grader's workers), not just the worker.
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SideFailed(f"side {side!r} ran past {timeout_s:.0f} s") from None
        except BaseException:
            _kill_group(proc)
            raise
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            tail = "\n".join(output.strip().splitlines()[-20:])
            raise SideFailed(f"side {side!r} exited {proc.returncode} without a result:\n{tail}")
        if "error" in result:
            raise SideFailed(str(result["error"]).strip())
        return result


def _kill_group(proc: subprocess.Popen) -> None:
    """End the worker and everything it started (it leads its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _metrics(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "seconds"}


def measure_case(comparison: Comparison, case: dict[str, Any], pythons: dict[str, Path],
                 repeats: int, worker: Path, cwd: Path, log: Log = _stderr_log,
                 timeout_s: float = SIDE_TIMEOUT_S, warmup: bool = True,
                 ) -> dict[str, dict[str, Any]]:
    """Warm-up then ``repeats`` alternating rounds over the sides in ``pythons`` (ours first).

    Returns, per side, ``samples_s``, ``median``/``min``/``max``, the last run's ``metrics``,
    or ``status: "error"`` with the ``error`` that stopped it (its samples so far are dropped).
    """
    sides = list(pythons)
    out: dict[str, dict[str, Any]] = {s: {"status": "ok", "samples_s": [], "metrics": {}}
                                      for s in sides}

    def one(side: str) -> None:
        if out[side]["status"] != "ok":
            return
        try:
            result = call_side(pythons[side], worker, comparison.path, side, case, cwd, timeout_s)
        except SideFailed as err:
            out[side] = {"status": "error", "error": str(err), "samples_s": [], "metrics": {}}
            log(f"    {side}: FAILED\n" + _indent(str(err)))
            return
        out[side]["samples_s"].append(float(result["seconds"]))
        out[side]["metrics"] = _metrics(result)

    warm = []
    for side in sides if warmup else []:  # warm-up: one run each, discarded
        one(side)
        if out[side]["status"] == "ok":
            warm.append(f"{side} {out[side]['samples_s'].pop():.3g}s")
    if warmup:
        log(f"    warm-up: {', '.join(warm) or 'every side failed'}")
    for i in range(repeats):
        for side in sides:
            one(side)
        done = ", ".join(f"{s} {out[s]['samples_s'][-1]:.3g}s" for s in sides
                         if out[s]["status"] == "ok" and out[s]["samples_s"])
        log(f"    round {i + 1}/{repeats}: {done}")
    for side in sides:
        if out[side]["status"] == "ok" and out[side]["samples_s"]:
            out[side].update(summary(out[side]["samples_s"]))
    return out


def _indent(text: str, lines: int = 12) -> str:
    return "\n".join("      " + line for line in text.splitlines()[-lines:])


def side_pythons(comparison: Comparison, quick: bool, envs_root: Path,
                 installer: Installer = pip_installer,
                 env_cache: dict[str, SideEnv] | None = None,
                 ) -> tuple[dict[str, Path], dict[str, dict[str, Any]]]:
    """Interpreters of the sides to run, and the sides not run with the reason why.

    Quick mode runs ``ours`` only. ``anchor`` needs the comparison's side environment (built
    or reused); an anchor that cannot be installed is reported MISSING with pip's error.
    A side named ``ours@SET`` runs our code in version set SET's venv (``.venvs/SET``, made by
    ``mlsys-edu versions build SET``; MISSING until then), e.g. ``ours@colab``.
    """
    pythons: dict[str, Path] = {}
    skipped: dict[str, dict[str, Any]] = {}
    for side in comparison.sides:
        if quick and side != "ours":
            skipped[side] = {"status": "skipped", "error": "not run with --quick"}
        elif side == "anchor" and comparison.anchor:
            cache = env_cache if env_cache is not None else {}
            if comparison.anchor not in cache:
                cache[comparison.anchor] = ensure_env(comparison.anchor, envs_root, installer)
            env = cache[comparison.anchor]
            if env.python is None:
                skipped[side] = {"status": "MISSING", "error": env.error}
            else:
                pythons[side] = env.python
        elif side == "anchor":
            skipped[side] = {"status": "skipped", "error": "the comparison has no ANCHOR"}
        elif "@" in side:
            set_name = side.split("@", 1)[1]
            python = env_python(Path(envs_root).parent / ".venvs" / set_name)
            if python.exists():
                pythons[side] = python
            else:
                skipped[side] = {"status": "MISSING", "error": f"no {python}: run `mlsys-edu "
                                                               f"versions build {set_name}`"}
        else:
            pythons[side] = Path(sys.executable)
    return pythons, skipped


def run_comparison(comparison: Comparison, *, quick: bool, repeats: int, workdir: Path,
                   envs_root: Path, worker: Path, cwd: Path, installer: Installer = pip_installer,
                   env_cache: dict[str, SideEnv] | None = None, log: Log = _stderr_log,
                   timeout_s: float = SIDE_TIMEOUT_S) -> dict[str, Any]:
    """Every case of one comparison: prepared, measured, and compared pair by pair."""
    record: dict[str, Any] = {"name": comparison.name, "title": comparison.title,
                              "anchor": comparison.anchor, "sides": list(comparison.sides),
                              "status": "ok", "cases": []}
    try:
        pythons, skipped = side_pythons(comparison, quick, envs_root, installer, env_cache)
        cases = comparison.module.cases(quick)
    except Exception as err:  # noqa: BLE001 - reported in the results, never swallowed
        record.update(status="error", error=f"{type(err).__name__}: {err}")
        log(f"  {comparison.name}: FAILED: {record['error']}")
        return record
    for side, why in skipped.items():
        log(f"  {comparison.name}: {side} {why['status']}" + (f": {why['error']}" if
                                                              why["status"] == "MISSING" else ""))
    for index, case in enumerate(cases):
        label = case_label(case)
        log(f"  {comparison.name} [{label}]")
        entry: dict[str, Any] = {"label": label, "params": case, "sides": {}, "versus": {}}
        record["cases"].append(entry)
        case_dir = Path(workdir) / comparison.name / f"case{index}"
        case_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        try:
            prepared = comparison.module.prepare(dict(case), str(case_dir))
        except Exception as err:  # noqa: BLE001
            entry["error"] = f"prepare failed: {type(err).__name__}: {err}"
            log(f"    {entry['error']}")
            continue
        log(f"    prepared in {time.perf_counter() - started:.1f} s")
        entry["sides"] = measure_case(comparison, prepared, pythons, repeats, worker, cwd, log,
                                      timeout_s, warmup=not quick)
        entry["sides"].update({s: dict(why) for s, why in skipped.items()})
        ours = entry["sides"].get("ours", {})
        for side in comparison.sides[1:]:
            other = entry["sides"].get(side, {})
            if ours.get("samples_s") and other.get("samples_s"):
                entry["versus"][side] = paired_comparison(ours["samples_s"], other["samples_s"])
    return record
