"""The similarity report: normalisation, winnowing, starter exclusion, ranking, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader_fixtures.make import make_notebook
from mlsys_edu.cli import main
from mlsys_edu.grader.similarity import (Document, compare_submissions, disguise,
                                         kgram_hashes, normalised_tokens, similarity_report,
                                         starter_cells, tokenize_tokens, winnow)
from mlsys_edu.lab.source import parse_lab_source

REPO = Path(__file__).resolve().parents[1]
LAB01 = REPO / "labs" / "01_weak_supervision" / "lab.py"
TRICKY = ['x = f"{a!r:>{w}}" + rb"\\d" + """doc\n"quoted" \'\'\'\n""" + \'\'\'x\'\'\'',
          "total = (1 +\n         2)  # comment with = code ( [\nz = 0x1F + 1e-3 + 2j + .5",
          "if a:\n    b = c \\\n        + d\n# trailing comment", "async def f(*a, **k): ...",
          "é_name = λ(x) @ y; z //= 3; w **= 2; v := 4"]


def _sources() -> list[str]:
    cells = parse_lab_source(LAB01).code_cells
    return ([c.solution_source() for c in cells] + [c.student_source() for c in cells]
            + [p.read_text() for p in sorted((REPO / "mlsys_edu" / "grader").glob("*.py"))]
            + TRICKY)


@pytest.mark.parametrize("index", range(len(_sources())))
def test_the_fast_scanner_gives_pythons_tokens(index):
    source = _sources()[index]
    assert normalised_tokens(source) == tokenize_tokens(source)


def test_names_literals_comments_and_layout_do_not_count():
    a = "def f(xs):\n    total = 0  # running sum\n    for x in xs:\n        total += x * 2\n" \
        "    return total"
    b = "def f(xs):\n    acc=0\n    for item in xs: acc += item*3\n    return (acc)"
    assert normalised_tokens(a)[0] == normalised_tokens(b)[0]
    assert normalised_tokens("np.where(x)")[0] != normalised_tokens("np.argmax(x)")[0]
    for cell in parse_lab_source(LAB01).code_cells:  # what a copier does changes nothing
        source = cell.solution_source()
        assert normalised_tokens(disguise(source, "q"))[0] == normalised_tokens(source)[0]


@given(st.lists(st.integers(0, 2**63), min_size=1, max_size=200), st.integers(1, 12))
@settings(max_examples=100, deadline=None)
def test_winnowing_keeps_a_minimum_of_every_window(values, w):
    hashes = np.array(values, np.uint64)
    picked = winnow(hashes, w)
    assert (np.diff(picked) > 0).all()
    for start in range(max(1, len(hashes) - w + 1)):
        window = hashes[start:start + w]
        inside = picked[(picked >= start) & (picked < start + w)]
        assert len(inside) and hashes[inside].min() == window.min()


def test_kgram_hashes_see_order_and_only_order():
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6], np.uint64)
    h = kgram_hashes(ids, 3)
    assert len(h) == 6 and len(set(h.tolist())) == 6
    assert kgram_hashes(ids[::-1], 3)[-1] != h[0]
    assert kgram_hashes(np.concatenate([ids[:3], ids[:3]]), 3)[3] == h[0]
    assert len(kgram_hashes(ids[:2], 3)) == 0


def _doc(name: str, cells: list[str]) -> Document:
    return Document(name, f"{name}.ipynb", cells)


def test_starter_code_and_common_code_are_not_evidence():
    starter = starter_cells(LAB01)
    solution = [c.solution_source() for c in parse_lab_source(LAB01).code_cells]
    docs = [_doc("s1", starter), _doc("s2", list(starter)), _doc("a", solution),
            _doc("b", [disguise(c, "z") for c in solution])]
    report = similarity_report(docs, starter)
    assert [(p.a, p.b) for p in report.pairs] == [("a", "b")]
    assert report.pairs[0].similarity == pytest.approx(1.0) and report.pairs[0].flagged
    assert report.documents[0].kept.size == 0  # the untouched starter has no fingerprints
    common = similarity_report([_doc(f"s{i}", solution) for i in range(4)], starter, max_docs=3)
    assert common.pairs == []  # what more than max_docs submissions share is ignored


def test_regions_point_at_the_copied_lines():
    own = ("def mean(xs):\n    total = sum(xs)\n    n = len(xs)\n"
           "    if n == 0:\n        raise ValueError('empty')\n    ys = sorted(xs)\n"
           "    mid = ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2\n"
           "    spread = max(xs) - min(xs)\n    return {'mean': total / n, 'median': mid,\n"
           "            'range': spread, 'sd': (sum((x - total / n) ** 2 for x in xs) / n) ** .5}")
    copied = "import os\n\n\n" + disguise(own, "r")
    report = similarity_report([_doc("a", ["x = 1", own]), _doc("b", [copied])], [])
    (pair,) = report.pairs
    region = pair.regions[0]
    assert (region.a_cell, region.b_cell) == (1, 0)
    assert region.a_lines[0] <= 3 and region.a_lines[1] >= 8
    assert region.b_lines[0] >= 4  # after the three lines b added on top


def test_reports_are_written_and_bad_files_are_listed(tmp_path):
    sol = [c.solution_source() for c in parse_lab_source(LAB01).code_cells]
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ann.ipynb").write_bytes(make_notebook(sol, setup=False))
    (subs / "bob.ipynb").write_bytes(make_notebook([disguise(c, "b") for c in sol], setup=False))
    (subs / "broken.ipynb").write_bytes(b"{not json")
    out = tmp_path / "out"
    assert main(["similarity", str(LAB01.parent), str(subs), "-o", str(out)]) == 0
    md = (out / "similarity.md").read_text()
    assert "**1 pair(s) scoring 50% or more**" in md and "not compared: broken.ipynb" in md
    assert "| 1 | ann | bob | 100% | 100% |" in md and "never a verdict" in md
    assert "<pre>" in (out / "similarity.html").read_text()
    data = json.loads((out / "similarity.json").read_text())
    assert data["pairs"][0]["flagged"] and data["params"]["submissions"] == 2
    assert (out / "similarity.png").stat().st_size > 5_000


def test_similarity_without_an_output_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["similarity", str(LAB01.parent), str(tmp_path)]) == 1
    assert "pass -o OUT" in capsys.readouterr().err


def test_compare_submissions_with_no_pairs(tmp_path):
    path = tmp_path / "one.ipynb"
    path.write_bytes(make_notebook(["x = 1"], setup=False))
    report = compare_submissions(LAB01, [path], tmp_path / "out")
    assert report.pairs == []
    assert "No pair shares" in (tmp_path / "out" / "similarity.md").read_text()
