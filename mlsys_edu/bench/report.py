"""Write the results: ``results.json``, ``results.md`` and one figure ``<name>.png`` each.

File names are stable: the course build copies ``results.md`` and the PNGs into the site's
Performance page.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlsys_edu.bench.machine import describe

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"


def fmt_seconds(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant digits readable."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def fmt_value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.4g}"


def fmt_side(side: dict[str, Any] | None) -> str:
    """``median [min–max]``, or the reason the side has no timings."""
    if not side:
        return "—"
    if "median" in side:
        return (f"{fmt_seconds(side['median'])} "
                f"[{fmt_seconds(side['min'])}–{fmt_seconds(side['max'])}]")
    status = side.get("status", "error")
    reason = error_line(str(side.get("error", "")))
    reason = reason if len(reason) <= 80 else reason[:77] + "..."
    return f"{status}" + (f": {reason}" if reason and status != "skipped" else "")


def error_line(text: str) -> str:
    """The line of a traceback that names the exception (else its last line)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception|Exit)\b", line)]
    return (named or lines or [""])[-1].strip()


def fmt_metrics(ours: dict[str, Any], other: dict[str, Any] | None) -> str:
    """``key: ours / other`` for every metric either side reported."""
    a, b = ours.get("metrics", {}), (other or {}).get("metrics", {})
    parts = []
    for key in dict.fromkeys([*a, *b]):
        left = fmt_value(a[key]) if key in a else "—"
        parts.append(f"{key}: {left} / {fmt_value(b[key])}" if key in b else f"{key}: {left}")
    return "; ".join(parts).replace("|", "\\|")


def _side_name(record: dict[str, Any], side: str) -> str:
    return f"anchor ({record['anchor']})" if side == "anchor" and record.get("anchor") else side


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown page: date and machine on top, then one table."""
    info = results["machine"]
    mode = "quick (toy sizes, our side only, no warm-up)" if results["quick"] else "full"
    warm = "" if results["quick"] else " after one warm-up per side"
    lines = [
        "# Benchmark results", "",
        f"Measured {info['date']} on {describe(info)}.", "",
        f"Mode: {mode}; {results['repeats']} alternating round"
        f"{'s' if results['repeats'] != 1 else ''}{warm}. "
        "Times are the median [min–max] of one side's rounds; speed-up = the median over "
        "rounds of other ÷ ours (above 1: ours is faster); metrics are each side's last round.", "",
        "| comparison | case | ours median [min–max] | versus | other median [min–max] "
        "| speed-up | metrics (ours / other) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for record in results["comparisons"]:
        if record.get("status") == "error":
            lines.append(f"| {record['name']} | — | error: {record.get('error', '')} "
                         "| — | — | — | — |")
            continue
        for case in record["cases"]:
            if "error" in case:
                lines.append(f"| {record['name']} | {case['label']} | {case['error']} "
                             "| — | — | — | — |")
                continue
            ours = case["sides"].get("ours", {})
            shown = [s for s in record["sides"][1:]
                     if case["sides"].get(s, {}).get("status") != "skipped"]
            for side in shown or [None]:
                other = case["sides"].get(side) if side else None
                vs = case["versus"].get(side) if side else None
                speedup = f"{vs['speedup']:.3g}×" if vs else "—"
                lines.append(
                    f"| {record['name']} | {case['label']} | {fmt_side(ours)} "
                    f"| {_side_name(record, side) if side else '—'} | {fmt_side(other)} "
                    f"| {speedup} | {fmt_metrics(ours, other)} |")
    missing = [(r["name"], s, c["sides"][s]) for r in results["comparisons"]
               for c in r.get("cases", [])[:1] for s in r["sides"]
               if c.get("sides", {}).get(s, {}).get("status") in ("MISSING", "error")]
    if missing:
        lines += ["", "## Sides that did not run", ""]
        for name, side, info_ in missing:
            lines += [f"**{name}, {side}: {info_['status']}**", "", "```",
                      str(info_.get("error", "")).strip(), "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def figure(record: dict[str, Any], path: Path) -> Path | None:
    """Grouped bars: median seconds per side for each case, min–max as error bars (log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [c for c in record.get("cases", [])
             if any("median" in s for s in c.get("sides", {}).values())]
    sides = [s for s in record["sides"] if any("median" in c["sides"].get(s, {}) for c in cases)]
    if not cases:
        return None  # nothing measured: no figure rather than an empty one
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(cases) * len(sides)), 3.6))
    width = 0.8 / len(sides)
    for j, side in enumerate(sides):
        xs, med, low, high = [], [], [], []
        for i, case in enumerate(cases):
            s = case["sides"].get(side, {})
            if "median" in s:
                xs.append(i + (j - (len(sides) - 1) / 2) * width)
                med.append(s["median"])
                low.append(s["median"] - s["min"])
                high.append(s["max"] - s["median"])
        if xs:
            bars = ax.bar(xs, med, width, yerr=[low, high], capsize=3,
                          label=_side_name(record, side))
            ax.bar_label(bars, [fmt_seconds(m) for m in med], fontsize=7, label_type="center")
    ax.set_xticks(range(len(cases)), [c["label"] for c in cases], fontsize=8)
    ax.set_xlim(-0.6, len(cases) - 0.4)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median, min–max)")
    speedups = [f"vs {_side_name(record, s)} {c['versus'][s]['speedup']:.2g}×"
                for c in cases[-1:] for s in sides[1:] if s in c["versus"]]
    ax.set_title(record["title"] + (f"\nour speed-up, last case: {', '.join(speedups)}"
                                    if speedups else ""), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_all(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``results.json``, ``results.md`` and the figures into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / RESULTS_JSON, out_dir / RESULTS_MD]
    written[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(markdown(results), encoding="utf-8")
    for record in results["comparisons"]:
        png = figure(record, out_dir / f"{record['name']}.png")
        if png:
            written.append(png)
    return written
