"""The recorded benchmark results: committed in ``benchmarks/results/`` so that the site's
Performance page shows measured figures on a fresh clone, where nothing has been run yet.

``mlsys-edu bench --record`` merges a full run into the record: each comparison it measured
replaces that comparison's older entry, the others stay as they were, each under the date,
machine and versions of the run that measured it. The folder holds ``results.json`` (the
runs), ``results.md`` (rendered; what the course build copies) and one figure per comparison.
Quick runs are smoke tests at toy sizes and are never recorded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from mlsys_edu.bench.report import RESULTS_JSON, RESULTS_MD, figure, markdown

RECORD_DIR = Path("benchmarks") / "results"
_VERSIONED = ("mlsys-edu", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy", "torch")


def versions(root: Path) -> dict[str, Any]:
    """The project's commit and the versions of the packages a result depends on."""
    found: dict[str, Any] = {}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    try:
        found["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                                         capture_output=True, text=True, timeout=10,
                                         ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        found["commit"] = None
    from mlsys_edu.bench.envs import ANCHOR_REQUIREMENTS

    found["anchors"] = {name: list(reqs) for name, reqs in ANCHOR_REQUIREMENTS.items()}
    return found


def read_record(record_dir: Path) -> dict[str, Any]:
    """The record (``{"runs": [...]}``, newest first); empty when there is none."""
    path = Path(record_dir) / RESULTS_JSON
    if not path.is_file():
        return {"runs": []}
    return json.loads(path.read_text(encoding="utf-8"))


def merge_run(record: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``results`` (one run) first; older runs lose the comparisons it
    measured again, and a run left with none is dropped."""
    measured = {c["name"] for c in results["comparisons"]}
    older = []
    for run in record.get("runs", []):
        kept = [c for c in run["comparisons"] if c["name"] not in measured]
        if kept:
            older.append(dict(run, comparisons=kept))
    return {"runs": [results, *older]}


def render(record: dict[str, Any]) -> str:
    """The record as one Markdown page: each run's table under its date and machine."""
    parts = ["# Performance", "",
             "The last full run of each comparison (`mlsys-edu bench --record`), newest first. "
             "Times and speed-ups mean what they mean on the machine named above each table."]
    for run in record["runs"]:
        table = markdown(run).replace("# Benchmark results", "## Benchmark results", 1)
        v = run.get("versions") or {}
        if v:
            pinned = "; ".join(f"{n}: {', '.join(r)}" for n, r in sorted(v.get("anchors",
                                                                              {}).items())
                               if any(n == c.get("anchor") for c in run["comparisons"]))
            table += (f"\nVersions: mlsys-edu {v.get('mlsys-edu')} (commit {v.get('commit')}), "
                      f"pandas {v.get('pandas')}, pyarrow {v.get('pyarrow')}, scikit-learn "
                      f"{v.get('scikit-learn')}, scipy {v.get('scipy')}"
                      + (f"; anchors: {pinned}" if pinned else "") + ".\n")
        parts += ["", table.rstrip()]
    for run in record["runs"]:
        for c in run["comparisons"]:
            parts += ["", f"![{_alt(c)}]({c['name']}.png)"]
    return "\n".join(parts) + "\n"


def _alt(record: dict[str, Any]) -> str:
    """A figure's text alternative: what is plotted and the last case's speed-up."""
    cases = [c for c in record.get("cases", []) if c.get("versus")]
    last = cases[-1] if cases else None
    finding = ", ".join(f"{v['speedup']:.2g}x faster than {side}"
                        for side, v in (last or {}).get("versus", {}).items())
    return (f"{record['title']}: median seconds per side and case" +
            (f"; on the largest case ours is {finding}" if finding else ""))


def record_run(results: dict[str, Any], out_dir: Path, root: Path,
               record_dir: Path | None = None) -> list[Path]:
    """Merge ``results`` (a full run whose figures are in ``out_dir``) into the record."""
    if results.get("quick"):
        raise ValueError("a --quick run is a smoke test at toy sizes; record a full run")
    record_dir = Path(record_dir or root / RECORD_DIR)
    record_dir.mkdir(parents=True, exist_ok=True)
    results = dict(results, versions=versions(root))
    record = merge_run(read_record(record_dir), results)
    written = [record_dir / RESULTS_JSON, record_dir / RESULTS_MD]
    written[0].write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    written[1].write_text(render(record), encoding="utf-8")
    for c in results["comparisons"]:
        png = Path(out_dir) / f"{c['name']}.png"
        if png.is_file():
            shutil.copy(png, record_dir / png.name)
        elif figure(c, record_dir / png.name) is None and (record_dir / png.name).exists():
            (record_dir / png.name).unlink()  # measured nothing this time: no stale figure
        written.append(record_dir / png.name)
    return [p for p in written if p.exists()]
