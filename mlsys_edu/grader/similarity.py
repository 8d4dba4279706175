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
    score(a, b)      = similarity(a, b) * min(1, |F_a ∩ F_b| / EVIDENCE),

ranked by score, with the matching regions side by side: little code in common (fewer than
``EVIDENCE`` fingerprints, about ten lines) is little evidence, however large a share of a
small submission it is. The report flags for a person
to look at; it never changes a grade.
"""

from __future__ import annotations

import ast
import builtins
import io
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
EVIDENCE = 20  # fingerprints in common from which a pair's score is its whole similarity
FLAG_AT = 0.5  # score from which a pair is flagged for review
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
    score: float  # similarity, scaled down below EVIDENCE shared fingerprints
    shared: int
    a_share: float  # of a's fingerprints, the part found in b
    b_share: float
    regions: list[Region] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.score >= FLAG_AT


@dataclass
class SimilarityReport:
    """Every listed pair (ranked), the matrix for the heat map, and the parameters."""

    students: list[str]
    matrix: np.ndarray  # the score of every pair, students x students
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
            score = sim * min(1.0, s / EVIDENCE)
            matrix[i, j] = matrix[j, i] = score
            if s >= min_shared:
                candidates.append((score, sim, int(s), int(i), int(j)))
    candidates.sort(key=lambda c: (-c[0], -c[2], docs[c[3]].student, docs[c[4]].student))
    pairs = []
    for score, sim, s, i, j in candidates[:top]:
        pairs.append(Pair(docs[i].student, docs[j].student, float(sim), float(score), s,
                          s / max(1, sizes[i]), s / max(1, sizes[j]),
                          matching_regions(docs[i], docs[j], common)))
    params = {"k_tokens": k, "window": w, "guarantee_tokens": w + k - 1, "max_docs": max_docs,
              "min_shared": min_shared, "evidence": EVIDENCE, "flag_at": FLAG_AT,
              "submissions": n,
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


def compare_submissions(lab_source: Path, paths: list[Path], out_dir: Path | None = None,
                        **options: Any) -> SimilarityReport:
    """Read, fingerprint and rank ``paths`` against ``lab_source``'s starter code; write the
    report into ``out_dir`` when given."""
    docs, problems = read_documents(paths)
    report = similarity_report(docs, starter_cells(lab_source), problems=problems, **options)
    if out_dir is not None:
        from mlsys_edu.grader.similarity_report import write_similarity

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
