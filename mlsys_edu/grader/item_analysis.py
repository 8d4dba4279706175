"""Item analysis of a graded batch: which tests work, which look broken.

Per test: how many submissions ended in each status, the pass rate and a **discrimination
index**, the corrected point-biserial correlation between passing the test and the rest of the
score,

    r_j = corr(x_j, R_j),   x_ij = [test j passed on submission i],   R_ij = S_i - s_ij,

(``S_i`` the total, ``s_ij`` the test's points on submission i): near +1 the test separates
strong submissions from weak ones, near 0 it tells nothing, below 0 strong submissions fail it
(suspicious). Per question the same on its score, plus the distribution of its points.

Flagged as likely broken: a test nobody passes, a test everybody passes (it cannot fail), a
test that ends in errors far more than in failures (errors other than an unfinished exercise's
``NotImplementedError``: usually the test calls the code unlike the handout says, or its own
code raises), and a clearly negative discrimination. Written with every batch:
``item_analysis.md`` (tables), ``item_analysis.png`` (figure) and ``item_analysis.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STATUSES = ("passed", "failed", "error", "timeout", "out-of-memory", "crashed", "missing",
            "refused")
NOT_DONE = "is not done yet"  # the judge's message for NotImplementedError (judge.classify)
TEST_RAISED = "the test raised"  # the judge's message when the test's own code raised
# Okabe-Ito colours (distinguishable with every common colour-vision deficiency) and a hatch
# per status, so that no meaning rests on colour alone.
COLOURS = {"passed": "#009E73", "failed": "#D55E00", "error": "#E69F00", "timeout": "#56B4E9",
           "out-of-memory": "#CC79A7", "crashed": "#000000", "missing": "#F0E442",
           "refused": "#0072B2"}
HATCHES = {"passed": "", "failed": "//", "error": "xx", "timeout": "..", "out-of-memory": "++",
           "crashed": "", "missing": "\\\\", "refused": "oo"}


@dataclass
class TestStats:
    """One test over the graded submissions."""

    question: str
    name: str
    hidden: bool
    points: float
    n: int
    counts: dict[str, int]
    not_done: int  # errors that are an unfinished exercise (NotImplementedError)
    test_raised: int  # errors raised by the test's own code
    pass_rate: float
    discrimination: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class QuestionStats:
    """One question over the graded submissions."""

    question: str
    max_score: float
    n: int
    mean: float
    full_marks_rate: float
    distribution: dict[str, int]  # points (as text) -> submissions
    discrimination: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class ItemAnalysis:
    """The whole analysis; ``flagged`` lists the tests that look broken."""

    n_graded: int
    n_not_graded: int
    tests: list[TestStats]
    questions: list[QuestionStats]

    @property
    def flagged(self) -> list[TestStats]:
        return [t for t in self.tests if t.flags]


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r, or None when either side is constant or there are fewer than 3 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3 or x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def _test_flags(t: TestStats, min_n: int) -> list[str]:
    if t.n < min_n:
        return []
    flags = []
    failed = t.counts.get("failed", 0)
    errors = t.counts.get("error", 0) - t.not_done
    if t.counts.get("passed", 0) == 0:
        flags.append("nobody passes it")
    elif t.counts.get("passed", 0) == t.n:
        flags.append("everybody passes it (can it fail?)")
    if errors >= max(2, 0.2 * t.n) and errors > 2 * failed:
        flags.append(f"ends in errors ({errors}) far more than in failures ({failed})")
    if t.test_raised >= max(2, 0.1 * t.n):
        flags.append(f"the test's own code raised in {t.test_raised} submissions")
    if t.discrimination is not None and t.discrimination < -0.2 and t.n >= 10:
        flags.append(f"negative discrimination ({t.discrimination:+.2f})")
    return flags


def analyse(records: list[dict[str, Any]], min_n: int = 5) -> ItemAnalysis:
    """The item analysis of the graded records (the others are only counted).

    Flags need at least ``min_n`` graded submissions: on fewer, a rate says little."""
    graded = [r for r in records if r.get("status") == "graded" and r.get("tests")]
    totals = np.array([float(r.get("score", 0.0)) for r in graded])
    by_name = [{t["name"]: t for t in r["tests"]} for r in graded]
    order: dict[str, dict[str, Any]] = {}
    for r in graded:
        for t in r["tests"]:
            order.setdefault(t["name"], t)
    tests = []
    for name, first in order.items():
        entries = [tests_of.get(name) for tests_of in by_name]
        have = [(i, t) for i, t in enumerate(entries) if t is not None]
        counts = {s: 0 for s in STATUSES}
        for _, t in have:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
        passed = np.array([t["status"] == "passed" for _, t in have], float)
        rest = np.array([totals[i] - float(t["score"]) for i, t in have])
        stats = TestStats(
            first["question"], name, bool(first.get("hidden")), float(first["points"]),
            len(have), {s: c for s, c in counts.items() if c},
            sum(t["status"] == "error" and NOT_DONE in t.get("message", "") for _, t in have),
            sum(t["status"] == "error" and t.get("message", "").startswith(TEST_RAISED)
                for _, t in have),
            float(passed.mean()) if len(have) else 0.0, correlation(passed, rest))
        stats.flags = _test_flags(stats, min_n)
        tests.append(stats)
    questions = []
    for q in dict.fromkeys(t.question for t in tests):
        scores = np.array([float(r["questions"].get(q, {}).get("score", 0.0)) for r in graded])
        max_score = max(float(r["questions"].get(q, {}).get("max_score", 0.0)) for r in graded)
        values, freq = np.unique(scores, return_counts=True)
        flags = [f"{t.name}: {', '.join(t.flags)}" for t in tests if t.question == q and t.flags]
        questions.append(QuestionStats(
            q, max_score, len(graded), float(scores.mean()),
            float((scores >= max_score - 1e-9).mean()),
            {f"{v:g}": int(c) for v, c in zip(values, freq)},
            correlation(scores, totals - scores), flags))
    return ItemAnalysis(len(graded), len(records) - len(graded), tests, questions)


def _fmt_r(r: float | None) -> str:
    return "—" if r is None else f"{r:+.2f}"


def alt_text(analysis: ItemAnalysis) -> str:
    """The figure's text alternative: what is plotted and the main finding."""
    flagged = analysis.flagged
    finding = (f"{len(flagged)} flagged as likely broken: "
               + ", ".join(f"{t.name} ({t.flags[0]})" for t in flagged[:3])
               + ("..." if len(flagged) > 3 else "")) if flagged else "none flagged"
    return (f"Share of each status per test over {analysis.n_graded} graded submissions, and "
            f"each test's discrimination index; {finding}")


def markdown(analysis: ItemAnalysis, figure: str | None = "item_analysis.png") -> str:
    """The report as Markdown: flagged tests first, then the question and test tables."""
    lines = ["# Item analysis", "",
             f"{analysis.n_graded} graded submissions"
             + (f" ({analysis.n_not_graded} more could not be graded and are left out)"
                if analysis.n_not_graded else "") + ". Discrimination: the correlation of a "
             "test's (a question's) result with the rest of the score, from -1 to +1; near 0 "
             "or below, it tells strong submissions from weak ones poorly.", ""]
    if analysis.flagged:
        lines += ["## Likely broken", ""]
        lines += [f"- **{t.question} {t.name}**: {'; '.join(t.flags)}" for t in analysis.flagged]
        lines.append("")
    else:
        lines += ["No test is flagged as likely broken.", ""]
    if figure:
        lines += [f"![{alt_text(analysis)}]({figure})", ""]
    lines += ["## Questions", "", "| question | points | mean | full marks | points: submissions "
              "| discrimination |", "| --- | --- | --- | --- | --- | --- |"]
    for q in analysis.questions:
        dist = ", ".join(f"{v}: {c}" for v, c in q.distribution.items())
        lines.append(f"| {q.question} | {q.max_score:g} | {q.mean:.2f} | "
                     f"{q.full_marks_rate:.0%} | {dist} | {_fmt_r(q.discrimination)} |")
    lines += ["", "## Tests", "", "| question | test | points | pass rate | statuses "
              "| discrimination | flags |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for t in analysis.tests:
        counts = ", ".join(f"{s} {c}" for s, c in t.counts.items())
        if t.not_done:
            counts += f" ({t.not_done} errors: not done yet)"
        lines.append(f"| {t.question} | {t.name}{' (hidden)' if t.hidden else ''} | "
                     f"{t.points:g} | {t.pass_rate:.0%} | {counts} | "
                     f"{_fmt_r(t.discrimination)} | {'; '.join(t.flags)} |")
    return "\n".join(lines) + "\n"


def figure(analysis: ItemAnalysis, path: Path) -> Path | None:
    """Stacked bars of each test's statuses (colour and hatch per status) beside its
    discrimination index; None when nothing was graded."""
    if not analysis.tests:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = analysis.tests
    labels = [f"{t.question} {t.name}" + (" (h)" if t.hidden else "") + (" ⚠" if t.flags else "")
              for t in tests]
    y = np.arange(len(tests))
    fig, (ax, ax_r) = plt.subplots(1, 2, figsize=(10, 1.2 + 0.28 * len(tests)), sharey=True,
                                   gridspec_kw={"width_ratios": [3, 1]})
    left = np.zeros(len(tests))
    for status in STATUSES:
        share = np.array([t.counts.get(status, 0) / max(t.n, 1) for t in tests])
        if share.any():
            ax.barh(y, share, left=left, color=COLOURS[status], hatch=HATCHES[status],
                    edgecolor="white", linewidth=0.5, label=status)
            left += share
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"share of {analysis.n_graded} graded submissions")
    ax.legend(fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    r = [t.discrimination for t in tests]
    known = [i for i, v in enumerate(r) if v is not None]
    ax_r.scatter([r[i] for i in known], known, marker="o", color="#0072B2", zorder=3)
    for i, v in enumerate(r):
        if v is None:
            ax_r.text(0, i, "n/a", fontsize=6, ha="center", va="center", color="0.4")
    ax_r.axvline(0, color="0.5", linewidth=0.8, linestyle="--")
    ax_r.set_xlim(-1, 1)
    ax_r.set_xlabel("discrimination (r)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_item_analysis(records: list[dict[str, Any]], out_dir: Path) -> ItemAnalysis:
    """Write ``item_analysis.md``, ``.png`` and ``.json`` into ``out_dir``."""
    out_dir = Path(out_dir)
    analysis = analyse(records)
    png = figure(analysis, out_dir / "item_analysis.png")
    if png is None and (out_dir / "item_analysis.png").exists():
        (out_dir / "item_analysis.png").unlink()  # no stale figure of an earlier batch
    (out_dir / "item_analysis.md").write_text(
        markdown(analysis, png.name if png else None), encoding="utf-8")
    (out_dir / "item_analysis.json").write_text(json.dumps(asdict(analysis), indent=1),
                                                encoding="utf-8")
    return analysis
