"""Which submissions' code is suspiciously alike: winnowed fingerprints, as MOSS computes them.

Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms for document fingerprinting*
(SIGMOD 2003). Each submission's code cells are tokenised with Python's ``tokenize`` and
**normalised**: comments and whitespace vanish, every identifier that is not a keyword, a
builtin or an attribute name becomes ``V``, every number ``N`` and every string ``S``; so
renaming variables, changing literals, comments or layout changes nothing. Each run of ``k``
consecutive tokens (a k-gram, within one cell) is hashed,

    h_i = sum_{j<k} t_{i+j} B^{k-1-j}  (mod 2^64),

and in every window of ``w`` consecutive hashes the minimum (the rightmost on ties) is kept:
the submission's **fingerprints**. Any match of at least ``w + k - 1`` tokens shares a
fingerprint, and no match shorter than ``k`` tokens does.

What everyone has is not evidence: every k-gram of the **starter code** (the student
notebook) is removed, and so is a fingerprint found in more than ``max_docs`` submissions
(common idioms). For two submissions ``a, b`` with fingerprint sets ``F_a, F_b``:

    similarity(a, b) = |F_a ∩ F_b| / min(|F_a|, |F_b|),

ranked from the top, with the matching regions side by side. The report flags for a person
to look at; it never changes a grade.
"""

from __future__ import annotations

import ast
import builtins
import html
import io
import json
import keyword
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

K_TOKENS = 12  # noise threshold: shorter common runs are ignored
WINDOW = 8  # guarantee threshold w + k - 1 = 19 tokens
MIN_SHARED = 8  # a pair shares at least this many fingerprints to be listed
FLAG_AT = 0.5  # similarity from which a pair is flagged for review
_BASE = np.uint64(0x100000001B3)  # FNV prime: an odd multiplier for the polynomial hash
_MIX = np.uint64(0x9E3779B97F4A7C15)
_KEEP_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_")) | frozenset(
    keyword.kwlist)
_CLOSERS = {")", "]", "}"}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
         tokenize.ENCODING, tokenize.ENDMARKER}


# ----------------------------------------------------------------------------- tokens
_Q3S, _Q3D = "'" * 3, '"' * 3
_STRING = (r"(?:[rRbBuUfF]{0,2})(?:" + _Q3S + r"(?:\\.|[^\\])*?" + _Q3S + "|" + _Q3D
           + r"(?:\\.|[^\\])*?" + _Q3D + r"""|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")""")
_NUMBER = (r"0[xX][\da-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|"
           r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d[\d_]*)?[jJ]?")
_OPERATOR = (r"\*\*=|//=|>>=|<<=|\.\.\.|->|:=|[+\-*/%&|^@<>=!]=|\*\*|//|<<|>>|"
             r"[-+*/%&|^~@<>=.,:;()\[\]{}]")
# What is skipped (atomic: a comment is never given back to match a token), then one token.
_SCANNER = re.compile(r"(?>(?:[ \t\f]+|\\\r?\n|\r?\n|#[^\r\n]*)*)"
                      rf"(?:(?P<string>{_STRING})|(?P<number>{_NUMBER})|(?P<name>[^\W\d]\w*)|"
                      rf"(?P<op>{_OPERATOR})|(?P<other>\S)|(?P<end>\Z))", re.DOTALL)


def _push(kind: str, text: str, start: int, previous: str, tokens: list[str],
          starts: list[int]) -> None:
    """Append one token, normalised (see ``normalised_tokens``), or drop it."""
    if kind == "name":
        text = text if text in _KEEP_NAMES or previous == "." else "V"
    elif kind == "number":
        text = "N"
    elif kind == "string":
        if tokens and tokens[-1] == "S":
            return  # adjacent strings are one
        text = "S"
    elif text == "(":
        return
    elif text in _CLOSERS:
        if tokens and tokens[-1] == ",":
            tokens.pop()  # a trailing comma
            starts.pop()
        if text == ")":
            return
    tokens.append(text)
    starts.append(start)


def _line_numbers(source: str, starts: list[int]) -> list[int]:
    """The 1-based line of each character offset in ``starts``."""
    codes = np.frombuffer(source.encode("utf-32-le", "surrogatepass"), np.uint32)
    newlines = np.flatnonzero(codes == 10)  # offsets in characters, as re reports them
    return (np.searchsorted(newlines, np.asarray(starts, np.int64), side="right") + 1).tolist()


def normalised_tokens(source: str) -> tuple[list[str], list[int]]:
    """The normalised tokens of ``source`` and the (1-based) line of each.

    Comments and whitespace are dropped; an identifier that is not a keyword, a builtin or an
    attribute name becomes ``V``, a number ``N``, a string ``S``. What a reformatter changes
    is dropped too: round brackets (redundant ones come and go), a trailing comma, adjacent
    strings (implicitly joined). The tokens are Python's (``tokenize``), found by one regular
    expression several times faster; :func:`tokenize_tokens` is the reference it is tested
    against."""
    tokens: list[str] = []
    starts: list[int] = []
    previous = ""
    for m in _SCANNER.finditer(source):
        kind = m.lastgroup
        if kind == "end":  # only skipped text was left
            break
        text = m.group(kind)
        _push(kind, text, m.start(kind), previous, tokens, starts)
        previous = text
    return tokens, _line_numbers(source, starts)


def tokenize_tokens(source: str) -> tuple[list[str], list[int]]:
    """``normalised_tokens`` by Python's ``tokenize`` (the slower reference). Code that does
    not tokenise to the end keeps the tokens before the problem."""
    kinds = {tokenize.NAME: "name", tokenize.NUMBER: "number", tokenize.STRING: "string"}
    tokens: list[str] = []
    lines: list[int] = []
    previous = ""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in _SKIP:
                _push(kinds.get(tok.type, "op"), tok.string, tok.start[0], previous, tokens,
                      lines)
                previous = tok.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return tokens, lines


class Vocabulary:
    """Token text -> a small integer, shared by every document of one report."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, tokens: list[str]) -> np.ndarray:
        if not tokens:
            return np.zeros(0, np.uint64)
        distinct, inverse = np.unique(np.array(tokens), return_inverse=True)
        ids = self.ids
        known = np.array([ids.setdefault(t, len(ids) + 1) for t in distinct.tolist()],
                         np.uint64)
        return known[inverse.reshape(-1)]


def kgram_hashes(ids: np.ndarray, k: int) -> np.ndarray:
    """The hash of every k-gram of ``ids`` (uint64, wrapping), mixed so that minima are
    spread evenly; empty when there are fewer than ``k`` tokens."""
    if len(ids) < k:
        return np.zeros(0, np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(ids, k)
    with np.errstate(over="ignore"):
        h = np.zeros(len(windows), np.uint64)
        for j in range(k):  # Horner's rule over the k columns: k vector steps, no Python loop
            h = h * _BASE + windows[:, j]
        h ^= h >> np.uint64(29)
        h *= _MIX
        h ^= h >> np.uint64(32)
    return h


def winnow(hashes: np.ndarray, w: int) -> np.ndarray:
    """Positions of the fingerprints: the rightmost minimum of every window of ``w``."""
    if len(hashes) == 0:
        return np.zeros(0, np.int64)
    if len(hashes) <= w:
        return np.array([len(hashes) - 1 - int(np.argmin(hashes[::-1]))])
    windows = np.lib.stride_tricks.sliding_window_view(hashes, w)
    picked = w - 1 - np.argmin(windows[:, ::-1], axis=1) + np.arange(len(windows))
    return picked[np.r_[True, picked[1:] != picked[:-1]]]  # non-decreasing: drop repeats


# ----------------------------------------------------------------------------- documents
@dataclass
class Fingerprints:
    """One cell's fingerprints: hash, first and last line of its k-gram."""

    hashes: np.ndarray
    first_line: np.ndarray
    last_line: np.ndarray


@dataclass
class Document:
    """One submission: its code cells and their fingerprints (starter cells skipped)."""

    student: str
    source: str
    cells: list[str]
    prints: dict[int, Fingerprints] = field(default_factory=dict)  # cell index -> prints
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # unique hashes


class Fingerprinter:
    """Fingerprints cells with one vocabulary, the starter's k-grams removed, and a cache by
    cell text (a cell many students share is fingerprinted once)."""

    def __init__(self, starter: list[str], k: int = K_TOKENS, w: int = WINDOW) -> None:
        if k < 1 or w < 1:
            raise ValueError(f"k and w must be at least 1, got k={k}, w={w}")
        self.k, self.w = k, w
        self.vocabulary = Vocabulary()
        self._cache: dict[str, Fingerprints] = {}
        self.starter = set(starter)
        every = [kgram_hashes(self.vocabulary.encode(normalised_tokens(s)[0]), k)
                 for s in starter]
        self.starter_hashes = np.unique(np.concatenate(every)) if every else np.zeros(
            0, np.uint64)  # sorted: membership by binary search

    def cell(self, source: str) -> Fingerprints:
        """The cell's fingerprints that are not in the starter code."""
        cached = self._cache.get(source)
        if cached is None:
            tokens, lines = normalised_tokens(source)
            hashes = kgram_hashes(self.vocabulary.encode(tokens), self.k)
            pos = winnow(hashes, self.w)
            pos = pos[~_sorted_contains(self.starter_hashes, hashes[pos])]
            line = np.asarray(lines, np.int64)
            cached = Fingerprints(hashes[pos], line[pos], line[pos + self.k - 1])
            self._cache[source] = cached
        return cached


def _sorted_contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Which of ``queries`` are in ``sorted_values`` (binary search)."""
    if len(sorted_values) == 0:
        return np.zeros(len(queries), bool)
    at = np.minimum(np.searchsorted(sorted_values, queries), len(sorted_values) - 1)
    return sorted_values[at] == queries


def starter_cells(lab_source: Path) -> list[str]:
    """The student notebook's code cells (what every submission starts from)."""
    from mlsys_edu.lab.source import parse_lab_source

    return [c.student_source() for c in parse_lab_source(lab_source).code_cells]


def read_documents(paths: Iterable[Path]) -> tuple[list[Document], list[tuple[str, str]]]:
    """The code cells of each readable submission, and ``(file, reason)`` for the others."""
    from mlsys_edu.grader.child import SETUP_TAG
    from mlsys_edu.grader.submission import Unreadable, read_submission

    docs, problems = [], []
    for path in paths:
        try:
            sub = read_submission(Path(path))
        except Unreadable as exc:
            problems.append((str(path), str(exc)))
            continue
        cells = [c["source"] for c in sub.cells if SETUP_TAG not in c.get("tags", [])]
        docs.append(Document(sub.student, str(path), cells))
    return docs, problems


# ----------------------------------------------------------------------------- pairs
@dataclass
class Region:
    """A matching region: lines ``a_lines`` of cell ``a_cell`` match ``b_lines`` of ``b_cell``."""

    a_cell: int
    a_lines: tuple[int, int]
    b_cell: int
    b_lines: tuple[int, int]
    fingerprints: int


@dataclass
class Pair:
    """Two submissions and what they share."""

    a: str
    b: str
    similarity: float
    shared: int
    a_share: float  # of a's fingerprints, the part found in b
    b_share: float
    regions: list[Region] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.similarity >= FLAG_AT


@dataclass
class SimilarityReport:
    """Every listed pair (ranked), the matrix for the heat map, and the parameters."""

    students: list[str]
    matrix: np.ndarray  # similarity of every pair, students x students
    pairs: list[Pair]
    documents: list[Document]
    params: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)


def fingerprint_documents(docs: list[Document], starter: list[str], k: int = K_TOKENS,
                          w: int = WINDOW) -> Fingerprinter:
    """Fill each document's fingerprints; unchanged starter cells are skipped whole."""
    printer = Fingerprinter(starter, k, w)
    for doc in docs:
        kept = []
        for i, cell in enumerate(doc.cells):
            if cell in printer.starter or not cell.strip():
                continue
            fp = printer.cell(cell)
            if len(fp.hashes):
                doc.prints[i] = fp
                kept.append(fp.hashes)
        doc.kept = np.unique(np.concatenate(kept)) if kept else np.zeros(0, np.uint64)
    return printer


def similarity_report(docs: list[Document], starter: list[str], *, k: int = K_TOKENS,
                      w: int = WINDOW, max_docs: int | None = None,
                      min_shared: int = MIN_SHARED, top: int = 50,
                      problems: list[tuple[str, str]] | None = None) -> SimilarityReport:
    """Rank the pairs of ``docs`` by similarity (see the module docstring).

    ``max_docs``: a fingerprint in more submissions than this is common code and ignored
    (default: max(10, 10% of the submissions), MOSS's ``-m``)."""
    from scipy import sparse

    fingerprint_documents(docs, starter, k, w)
    n = len(docs)
    max_docs = max_docs if max_docs is not None else max(10, n // 10)
    all_hashes = np.concatenate([d.kept for d in docs]) if docs else np.zeros(0, np.uint64)
    vocab, inverse, counts = np.unique(all_hashes, return_inverse=True, return_counts=True)
    rows = np.repeat(np.arange(n), [len(d.kept) for d in docs])
    keep = counts[inverse] <= max_docs  # drop what more than max_docs submissions have
    M = sparse.csr_matrix((np.ones(int(keep.sum()), np.int32), (rows[keep], inverse[keep])),
                          shape=(n, len(vocab)))
    common = set(vocab[counts > max_docs].tolist())
    sizes = np.asarray(M.sum(axis=1)).ravel()
    shared = (M @ M.T).tocoo()
    matrix = np.zeros((n, n))
    candidates = []
    for i, j, s in zip(shared.row, shared.col, shared.data):
        if i < j:
            sim = s / max(1, min(sizes[i], sizes[j]))
            matrix[i, j] = matrix[j, i] = sim
            if s >= min_shared:
                candidates.append((sim, int(s), int(i), int(j)))
    candidates.sort(key=lambda c: (-c[0], -c[1], docs[c[2]].student, docs[c[3]].student))
    pairs = []
    for sim, s, i, j in candidates[:top]:
        pairs.append(Pair(docs[i].student, docs[j].student, float(sim), s,
                          s / max(1, sizes[i]), s / max(1, sizes[j]),
                          matching_regions(docs[i], docs[j], common)))
    params = {"k_tokens": k, "window": w, "guarantee_tokens": w + k - 1, "max_docs": max_docs,
              "min_shared": min_shared, "flag_at": FLAG_AT, "submissions": n,
              "starter_cells": len(starter)}
    return SimilarityReport([d.student for d in docs], matrix, pairs, docs, params,
                            problems or [])


def matching_regions(a: Document, b: Document, ignored: set[int], gap_lines: int = 3
                     ) -> list[Region]:
    """The regions of ``a`` and ``b`` whose fingerprints match, merged along lines."""
    where_b: dict[int, tuple[int, int, int]] = {}
    for cell, fp in b.prints.items():
        for h, lo, hi in zip(fp.hashes.tolist(), fp.first_line.tolist(), fp.last_line.tolist()):
            where_b.setdefault(h, (cell, lo, hi))
    hits = []
    for cell, fp in sorted(a.prints.items()):
        for h, lo, hi in zip(fp.hashes.tolist(), fp.first_line.tolist(), fp.last_line.tolist()):
            if h in where_b and h not in ignored:
                hits.append((cell, lo, hi, *where_b[h]))
    regions: list[Region] = []
    for a_cell, a_lo, a_hi, b_cell, b_lo, b_hi in sorted(hits):
        last = regions[-1] if regions else None
        if (last and last.a_cell == a_cell and last.b_cell == b_cell
                and a_lo <= last.a_lines[1] + gap_lines
                and last.b_lines[0] - gap_lines <= b_lo <= last.b_lines[1] + gap_lines):
            last.a_lines = (last.a_lines[0], max(last.a_lines[1], a_hi))
            last.b_lines = (min(last.b_lines[0], b_lo), max(last.b_lines[1], b_hi))
            last.fingerprints += 1
        else:
            regions.append(Region(a_cell, (a_lo, a_hi), b_cell, (b_lo, b_hi), 1))
    return sorted(regions, key=lambda r: -r.fingerprints)


# ----------------------------------------------------------------------------- outputs
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
             f"**{len(flagged)} pair(s) at {FLAG_AT:.0%} or more** are flagged for a person "
             "to look at: similarity is evidence to read, never a verdict, and it changes no "
             "grade. The matching regions are side by side in `similarity.html`.", ""]
    for path, reason in report.problems:
        lines.append(f"- not compared: {Path(path).name}: {reason}")
    if report.problems:
        lines.append("")
    if figure and report.pairs:
        top = report.pairs[0]
        lines += [f"![Heat map of pairwise similarity among the submissions of the top pairs "
                  f"(viridis, bright = alike); the most similar pair is {top.a} and {top.b} at "
                  f"{top.similarity:.0%}]({figure})", ""]
    if not report.pairs:
        lines.append(f"No pair shares {p['min_shared']} fingerprints or more.")
        return "\n".join(lines) + "\n"
    lines += ["| rank | a | b | similarity | shared fingerprints | of a | of b | regions "
              "| flagged |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for rank, x in enumerate(report.pairs, start=1):
        regions = "; ".join(f"a cell {r.a_cell} l.{r.a_lines[0]}–{r.a_lines[1]} ~ b cell "
                            f"{r.b_cell} l.{r.b_lines[0]}–{r.b_lines[1]}" for r in x.regions[:3])
        lines.append(f"| {rank} | {x.a} | {x.b} | {x.similarity:.0%} | {x.shared} | "
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
            "<th>shared</th><th>flagged</th></tr>"]
    for rank, x in enumerate(report.pairs, start=1):
        body.append(f"<tr><td><a href='#pair{rank}'>{rank}</a></td><td>{html.escape(x.a)}</td>"
                    f"<td>{html.escape(x.b)}</td><td>{x.similarity:.0%}</td><td>{x.shared}</td>"
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
    sub = report.matrix[np.ix_(idx, idx)]
    size = 2.5 + 0.3 * len(order)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(sub, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(order)), order, rotation=90, fontsize=7)
    ax.set_yticks(range(len(order)), order, fontsize=7)
    if len(order) <= 12:
        for i in range(len(order)):
            for j in range(len(order)):
                if i != j:
                    ax.text(j, i, f"{sub[i, j]:.0%}", ha="center", va="center", fontsize=7,
                            color="black" if sub[i, j] > 0.6 else "white")
    fig.colorbar(image, ax=ax, label="similarity (shared / smaller fingerprint set)")
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
            "pairs": [{"a": x.a, "b": x.b, "similarity": x.similarity, "shared": x.shared,
                       "a_share": x.a_share, "b_share": x.b_share, "flagged": x.flagged,
                       "regions": [vars(r) for r in x.regions]} for x in report.pairs]}
    written[2].write_text(json.dumps(data, indent=1), encoding="utf-8")
    return written + ([png] if png else [])


def compare_submissions(lab_source: Path, paths: list[Path], out_dir: Path | None = None,
                        **options: Any) -> SimilarityReport:
    """Read, fingerprint and rank ``paths`` against ``lab_source``'s starter code; write the
    report into ``out_dir`` when given."""
    docs, problems = read_documents(paths)
    report = similarity_report(docs, starter_cells(lab_source), problems=problems, **options)
    if out_dir is not None:
        write_similarity(report, out_dir)
    return report


# ----------------------------------------------------------------------------- disguise
class _Renamer(ast.NodeTransformer):
    """Renames every local variable of every function (parameters, globals and attributes
    stay, so the code still runs and still passes): what a copier does."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        params = {a.arg for n in ast.walk(node) if isinstance(n, (ast.FunctionDef, ast.Lambda))
                  for a in (*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs,
                            *filter(None, [n.args.vararg, n.args.kwarg]))}
        declared = {name for n in ast.walk(node) if isinstance(n, (ast.Global, ast.Nonlocal))
                    for name in n.names}
        stored = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
                  and isinstance(n.ctx, ast.Store)}
        stored |= {n.name for n in ast.walk(node) if isinstance(n, ast.FunctionDef)
                   and n is not node}
        local = sorted(stored - params - declared)
        mapping = {name: f"{self.prefix}{i}_{len(name)}" for i, name in enumerate(local)}
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in mapping:
                n.id = mapping[n.id]
            elif isinstance(n, ast.FunctionDef) and n is not node and n.name in mapping:
                n.name = mapping[n.name]
        return node


def disguise(source: str, prefix: str = "v") -> str:
    """``source`` as a copier would hand it in: locals renamed, comments gone, re-laid out
    (``ast.unparse``). Code that does not parse comes back unchanged."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    return ast.unparse(_Renamer(prefix).visit(tree))
