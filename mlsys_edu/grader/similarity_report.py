"""The similarity report's files: a ranked table (Markdown), the matching regions side by
side (HTML), a heat map (viridis) and the data (JSON). See ``similarity.py`` for the method.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from mlsys_edu.grader.similarity import FLAG_AT, Document, SimilarityReport


def _lines(doc: Document, cell: int, span: tuple[int, int]) -> str:
    lines = doc.cells[cell].splitlines()
    return "\n".join(lines[span[0] - 1: span[1]])


def markdown(report: SimilarityReport, figure: str | None = "similarity.png") -> str:
    """The ranked table of pairs (and the heat map) as Markdown."""
    p = report.params
    flagged = [x for x in report.pairs if x.flagged]
    lines = ["# Similarity report", "",
             f"{p['submissions']} submissions compared by winnowed fingerprints (k = "
             f"{p['k_tokens']} normalised tokens, window {p['window']}: every common run of "
             f"{p['guarantee_tokens']} tokens or more is found). The starter code is excluded, "
             f"and so is code found in more than {p['max_docs']} submissions. "
             f"Pairs are ranked by score: the share of the smaller submission's fingerprints "
             f"found in the other, scaled down when they share fewer than {p['evidence']}. "
             f"**{len(flagged)} pair(s) scoring {FLAG_AT:.0%} or more** are flagged for a "
             "person to look at: similarity is evidence to read, never a verdict, and it "
             "changes no grade. The matching regions are side by side in `similarity.html`.",
             ""]
    for path, reason in report.problems:
        lines.append(f"- not compared: {Path(path).name}: {reason}")
    if report.problems:
        lines.append("")
    if figure and report.pairs:
        top = report.pairs[0]
        lines += [f"![Heat map of the pairwise score among the submissions of the top pairs "
                  f"(viridis, bright = alike); the top pair is {top.a} and {top.b} at "
                  f"{top.score:.0%}]({figure})", ""]
    if not report.pairs:
        lines.append(f"No pair shares {p['min_shared']} fingerprints or more.")
        return "\n".join(lines) + "\n"
    lines += ["| rank | a | b | score | similarity | shared fingerprints | of a | of b "
              "| regions | flagged |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- "
              "| --- |"]
    for rank, x in enumerate(report.pairs, start=1):
        regions = "; ".join(f"a cell {r.a_cell} l.{r.a_lines[0]}–{r.a_lines[1]} ~ b cell "
                            f"{r.b_cell} l.{r.b_lines[0]}–{r.b_lines[1]}" for r in x.regions[:3])
        lines.append(f"| {rank} | {x.a} | {x.b} | {x.score:.0%} | {x.similarity:.0%} | "
                     f"{x.shared} | "
                     f"{x.a_share:.0%} | {x.b_share:.0%} | {regions} | "
                     f"{'yes' if x.flagged else ''} |")
    return "\n".join(lines) + "\n"


def html_report(report: SimilarityReport, pairs_shown: int = 20) -> str:
    """The ranked table and, for the top pairs, the matching regions side by side."""
    docs = {d.student: d for d in report.documents}
    body = [f"<h1>Similarity report</h1><p>{report.params['submissions']} submissions; "
            "pairs ranked by the share of the smaller submission's fingerprints found in the "
            "other. A flag asks a person to read the code; it is not a verdict and changes no "
            "grade.</p><table><tr><th>rank</th><th>a</th><th>b</th><th>similarity</th>"
            "<th>score</th><th>shared</th><th>flagged</th></tr>"]
    for rank, x in enumerate(report.pairs, start=1):
        body.append(f"<tr><td><a href='#pair{rank}'>{rank}</a></td><td>{html.escape(x.a)}</td>"
                    f"<td>{html.escape(x.b)}</td><td>{x.similarity:.0%}</td><td>{x.score:.0%}"
                    f"</td><td>{x.shared}</td>"
                    f"<td>{'&#9873; yes' if x.flagged else ''}</td></tr>")
    body.append("</table>")
    for rank, x in enumerate(report.pairs[:pairs_shown], start=1):
        a, b = docs[x.a], docs[x.b]
        body.append(f"<h2 id='pair{rank}'>{rank}. {html.escape(x.a)} ~ {html.escape(x.b)}: "
                    f"{x.similarity:.0%}</h2><table class='side'><tr><th>{html.escape(x.a)}"
                    f"</th><th>{html.escape(x.b)}</th></tr>")
        for r in x.regions[:10]:
            body.append(
                f"<tr><td><div class='where'>cell {r.a_cell}, lines {r.a_lines[0]}–"
                f"{r.a_lines[1]}</div><pre>{html.escape(_lines(a, r.a_cell, r.a_lines))}</pre>"
                f"</td><td><div class='where'>cell {r.b_cell}, lines {r.b_lines[0]}–"
                f"{r.b_lines[1]}</div><pre>{html.escape(_lines(b, r.b_cell, r.b_lines))}</pre>"
                "</td></tr>")
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}td,th{padding:2px 8px;"
             "vertical-align:top;text-align:left}.side td{width:50%}pre{background:#f4f4f4;"
             "border-left:4px solid #0072B2;padding:4px;white-space:pre-wrap}"
             ".where{font-size:small;color:#333}")
    return (f"<!doctype html><meta charset='utf-8'><title>Similarity report</title>"
            f"<style>{style}</style>{''.join(body)}\n")


def heatmap(report: SimilarityReport, path: Path, max_students: int = 30) -> Path | None:
    """A heat map (viridis) of the pairwise similarity of the students in the top pairs."""
    if not report.pairs:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order: list[str] = []
    for x in report.pairs:
        for s in (x.a, x.b):
            if s not in order and len(order) < max_students:
                order.append(s)
    index = {s: i for i, s in enumerate(report.students)}
    idx = [index[s] for s in order]
    sub = report.matrix[np.ix_(idx, idx)].copy()
    np.fill_diagonal(sub, np.nan)  # a submission against itself: blank
    size = 2.5 + 0.3 * len(order)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    image = ax.imshow(sub, cmap=cmap, vmin=0, vmax=1)
    ax.set_xticks(range(len(order)), order, rotation=90, fontsize=7)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    if len(order) <= 12:
        for i in range(len(order)):
            for j in range(len(order)):
                if i != j:
                    ax.text(j, i, f"{sub[i, j]:.0%}", ha="center", va="center", fontsize=7,
                            color="black" if sub[i, j] > 0.6 else "white")
    fig.colorbar(image, ax=ax, label="score: share in common")
    ax.set_title(f"Similarity among the top pairs ({report.params['submissions']} submissions)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_similarity(report: SimilarityReport, out_dir: Path) -> list[Path]:
    """``similarity.md``, ``.html``, ``.png`` and ``.json`` in ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = heatmap(report, out_dir / "similarity.png")
    written = [out_dir / "similarity.md", out_dir / "similarity.html", out_dir / "similarity.json"]
    written[0].write_text(markdown(report, png.name if png else None), encoding="utf-8")
    written[1].write_text(html_report(report), encoding="utf-8")
    data = {"params": report.params, "problems": report.problems,
            "pairs": [{"a": x.a, "b": x.b, "score": x.score, "similarity": x.similarity,
                       "shared": x.shared,
                       "a_share": x.a_share, "b_share": x.b_share, "flagged": x.flagged,
                       "regions": [vars(r) for r in x.regions]} for x in report.pairs]}
    written[2].write_text(json.dumps(data, indent=1), encoding="utf-8")
    return written + ([png] if png else [])
