"""The seminar pages under lectures/: structure, citations and links.

These tests read Markdown only; nothing is built and nothing is fetched. The site build
(`mkdocs build --strict`) is tested elsewhere; here we catch the same broken links earlier,
with a message that names the page and the line.
"""

from __future__ import annotations

import re
import socket
import unicodedata
from pathlib import Path

import pytest

from mlsys_edu.course.links import (
    bibliography_ids,
    citations,
    external_urls,
    local_page_links,
    page_anchors,
)

REPO = Path(__file__).resolve().parents[1]
LECTURES = REPO / "lectures"
SESSIONS = LECTURES / "sessions"
BIBLIOGRAPHY = LECTURES / "bibliography.md"
# The checked reading list sits beside the repository (../shared) on the course machines and
# in CI; a plain clone elsewhere does not have it.
REFERENCES = REPO.parent / "shared" / "REFERENCES.md"

# Required sections of a session page: a name for messages and a pattern for its H2 heading.
REQUIRED_SECTIONS = {
    "problem": r"the problem",
    "key ideas": r"key ideas",
    "systems": r"how (the )?real systems do it|systems",
    "lab": r"the lab",
    "discussion questions": r"discussion questions",
    "readings": r"readings",
}
# Pages that need a diagram (a Mermaid fenced block), by session number.
NEEDS_DIAGRAM = {"01", "02", "05", "07"}
# URL prefixes someone has reviewed; any other http(s) URL in the pages fails the test below.
REVIEWED_URL_PREFIXES = ("http://127.0.0.1", "http://localhost")


def session_pages() -> list[Path]:
    return sorted(SESSIONS.glob("[0-9][0-9]-*.md"))


def all_pages() -> list[Path]:
    return sorted(LECTURES.rglob("*.md"))


def h2_sections(text: str) -> dict[str, str]:
    """``{heading text (lower case): body}`` for each ``## `` section of a page."""
    parts = re.split(r"^## +(.+?)\s*$", text, flags=re.MULTILINE)
    return {parts[i].strip().lower(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def generated_pages() -> set[str]:
    """Docs-root paths the course build adds beside lectures/: lab pages and the index."""
    pages = {"labs/index.md", "performance.md"}
    for lab in (REPO / "labs").glob("[0-9][0-9]_*"):
        if (lab / "lab.py").is_file():
            pages.add(f"labs/{lab.name}.md")
    return pages


_FIRST_AUTHOR_RE = re.compile(r"^(?:[A-ZÀ-Ý]\.-?)+(?:\s(?:[A-ZÀ-Ý]\.-?)+)*\s+([^\s,.]+)")
# A year, but not the digits of an arXiv id such as 1909.07930.
_YEAR_RE = re.compile(r"(?<![\d.:])(?:19|20)\d\d(?![\d.]\d)")


def first_author_surname(citation: str) -> str:
    """``Ratner`` from ``A. Ratner, C. De Sa, ...``; ``Yu`` from ``G.-I. Yu, ...``."""
    match = _FIRST_AUTHOR_RE.match(citation)
    assert match, f"cannot read the first author of: {citation}"
    return match.group(1)


def citation_year(citation: str) -> str:
    """The first publication year in a citation (``2017`` in ``PVLDB 11(3), 2017 (VLDB 2018)``)."""
    match = _YEAR_RE.search(citation)
    assert match, f"no year in: {citation}"
    return match.group(0)


def fold(text: str) -> str:
    """Lower-case ASCII: ``Ré`` -> ``re``, ``Günnemann`` -> ``gunnemann``."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


# --- structure ----------------------------------------------------------------------------


def test_syllabus_has_ten_weeks_each_linking_an_existing_session():
    text = (LECTURES / "syllabus.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\|\s*(\d+)\s*\|(.*)$", text, flags=re.MULTILINE)
    weeks = [int(week) for week, _ in rows]
    assert weeks == list(range(1, 11)), f"syllabus table weeks are {weeks}, expected 1..10"
    for week, rest in rows:
        targets = re.findall(r"\]\((sessions/[^)#]+\.md)", rest)
        assert targets, f"syllabus week {week} links no session page"
        for target in targets:
            assert (LECTURES / target).is_file(), f"syllabus week {week} links missing {target}"


def test_at_least_nine_session_pages():
    names = [p.name for p in session_pages()]
    assert len(names) >= 9, f"only {len(names)} session pages: {names}"
    for number in range(1, 10):
        assert any(n.startswith(f"{number:02d}-") for n in names), f"no session {number:02d}"


@pytest.mark.parametrize("page", session_pages(), ids=lambda p: p.stem)
def test_session_page_has_required_sections(page: Path):
    sections = h2_sections(page.read_text(encoding="utf-8"))
    for name, pattern in REQUIRED_SECTIONS.items():
        assert any(re.fullmatch(pattern, h) or re.search(pattern, h) for h in sections), (
            f"{page.name}: no '## ' section for {name!r} (headings: {list(sections)})")


@pytest.mark.parametrize("page", session_pages(), ids=lambda p: p.stem)
def test_session_page_has_three_to_five_discussion_questions(page: Path):
    sections = h2_sections(page.read_text(encoding="utf-8"))
    body = next(b for h, b in sections.items() if "discussion questions" in h)
    questions = re.findall(r"^\d+\.\s+\S", body, flags=re.MULTILINE)
    assert 3 <= len(questions) <= 5, f"{page.name}: {len(questions)} discussion questions"


@pytest.mark.parametrize("page", session_pages(), ids=lambda p: p.stem)
def test_session_page_readings_cite_the_bibliography(page: Path):
    sections = h2_sections(page.read_text(encoding="utf-8"))
    body = next(b for h, b in sections.items() if h.startswith("readings"))
    assert citations(body), f"{page.name}: the Readings section links no bibliography entry"


@pytest.mark.parametrize("page", session_pages(), ids=lambda p: p.stem)
def test_session_page_is_substantive(page: Path):
    words = len(page.read_text(encoding="utf-8").split())
    assert words >= 600, f"{page.name} has {words} words; a session page needs substance"


def test_required_sessions_have_a_mermaid_diagram():
    for number in sorted(NEEDS_DIAGRAM):
        (page,) = SESSIONS.glob(f"{number}-*.md")
        assert "```mermaid" in page.read_text(encoding="utf-8"), f"{page.name}: no diagram"


def test_every_mermaid_diagram_has_a_text_alternative():
    """Mermaid writes accTitle and accDescr into the SVG's <title> and <desc> (and its
    aria-labelledby/aria-describedby): what a screen reader says instead of the picture."""
    import re

    for page in sorted(Path(SESSIONS).parent.rglob("*.md")):
        for block in re.findall(r"```mermaid\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
            title = re.search(r"^\s*accTitle:\s*(\S.{5,})$", block, re.M)
            described = re.search(r"^\s*accDescr:\s*(\S.{40,})$", block, re.M)
            assert title and described, f"{page.name}: a diagram without accTitle/accDescr"


def test_first_sessions_link_their_labs():
    expected = {"01": "../labs/00_orientation.md", "02": "../labs/01_weak_supervision.md"}
    for number, target in expected.items():
        (page,) = SESSIONS.glob(f"{number}-*.md")
        paths = {path for _, path, _ in local_page_links(page.read_text(encoding="utf-8"))}
        assert target in paths, f"{page.name} does not link {target}"


# --- citations ----------------------------------------------------------------------------


def test_every_cited_reading_is_in_the_bibliography():
    ids = bibliography_ids(BIBLIOGRAPHY.read_text(encoding="utf-8"))
    missing = []
    for page in all_pages():
        for anchor in sorted(citations(page.read_text(encoding="utf-8")) - ids):
            missing.append(f"{page.relative_to(LECTURES)} cites #{anchor}")
    assert not missing, "citations with no bibliography entry:\n" + "\n".join(missing)


def bibliography_entries() -> list[tuple[str, str]]:
    """``(anchor id, citation text)`` for each ``- <a id="..."></a>text`` entry."""
    text = BIBLIOGRAPHY.read_text(encoding="utf-8")
    return re.findall(r'^- <a id="([^"]+)"></a>\s*(.+?)\s*$', text, flags=re.MULTILINE)


def test_bibliography_anchor_ids_are_unique_and_named_author_year():
    entries = bibliography_entries()
    assert len(entries) >= 10
    ids = [anchor for anchor, _ in entries]
    assert len(ids) == len(set(ids)), "duplicate bibliography anchors"
    for anchor, citation in entries:
        expected = re.sub(r"[^a-z]", "", fold(first_author_surname(citation)))
        expected += citation_year(citation)
        assert anchor == expected, f"anchor {anchor!r} should be {expected!r} for: {citation}"


def test_bibliography_entries_come_from_the_checked_reference_list():
    if not REFERENCES.is_file():
        pytest.skip(f"{REFERENCES} not present (it sits beside the repository on course machines)")
    reference_lines = [line[2:].strip() for line in REFERENCES.read_text(encoding="utf-8")
                       .splitlines() if line.startswith("- ")]
    for anchor, citation in bibliography_entries():
        surname, year = first_author_surname(citation), citation_year(citation)
        matches = [r for r in reference_lines if _FIRST_AUTHOR_RE.match(r)
                   and first_author_surname(r) == surname and citation_year(r) == year]
        assert matches, f"{anchor}: no reading by {surname} ({year}) in REFERENCES.md"
        assert any(citation.startswith(r) for r in matches), (
            f"{anchor}: the entry differs from REFERENCES.md.\n  here: {citation}\n"
            f"  there: {matches[0]}")


# --- links --------------------------------------------------------------------------------


def test_links_between_pages_point_at_files_and_anchors_that_exist():
    generated = generated_pages()
    broken = []
    for page in all_pages():
        text = page.read_text(encoding="utf-8")
        for line, path, anchor in local_page_links(text):
            target = (page.parent / path).resolve()
            where = f"{page.relative_to(LECTURES)}:{line}: {path}"
            try:
                docs_path = target.relative_to(LECTURES.resolve()).as_posix()
            except ValueError:
                broken.append(f"{where} leaves the site")
                continue
            if target.is_file():
                if anchor and anchor not in page_anchors(target.read_text(encoding="utf-8")):
                    broken.append(f"{where}#{anchor}: no such anchor")
            elif docs_path not in generated:
                broken.append(f"{where}: no such page (generated pages: {sorted(generated)})")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_pages_cite_only_reviewed_urls():
    unreviewed = [f"{f}:{n}: {u}" for f, n, u in external_urls(LECTURES)
                  if not u.startswith(REVIEWED_URL_PREFIXES)]
    assert not unreviewed, (
        "external URLs nobody has reviewed (check them, then add the prefix to "
        "REVIEWED_URL_PREFIXES):\n" + "\n".join(unreviewed))


def test_external_urls_lists_file_line_and_url(tmp_path: Path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("external_urls must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text(
        "# Title\n"
        "See [the paper](https://example.org/paper.pdf) and https://example.com/x.\n"
        "No URL here; ftp://example.net is not http.\n", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text(
        "```bash\ncurl http://localhost:8000/api?q=1\n```\n<https://example.com/y>\n",
        encoding="utf-8")
    (tmp_path / "c.txt").write_text("https://example.com/not-markdown\n", encoding="utf-8")

    assert external_urls(tmp_path) == [
        ("a.md", 2, "https://example.org/paper.pdf"),
        ("a.md", 2, "https://example.com/x"),
        ("sub/b.md", 2, "http://localhost:8000/api?q=1"),
        ("sub/b.md", 4, "https://example.com/y"),
    ]


def test_citations_and_bibliography_ids_parse_what_pages_write():
    page = ("As [Ratner et al.](../bibliography.md#ratner2016) and "
            "[Fu](bibliography.md#fu2020) show; not [this](other.md#ratner2017).\n"
            "`[Example](bibliography.md#incode)` is code, not a citation.\n"
            "```\n[x](bibliography.md#infence)\n```\n")
    assert citations(page) == {"ratner2016", "fu2020"}
    bib = ('- <a id="ratner2016"></a>A. Ratner. Data Programming.\n'
           "## Serving {#serving-papers}\n"
           "<span id='fu2020'></span>\n"
           '```html\n<a id="notreal"></a>\n```\n')
    assert bibliography_ids(bib) == {"ratner2016", "serving-papers", "fu2020"}


def test_page_anchors_follow_mkdocs_heading_slugs():
    text = "# 01 · Why ML systems?\n## Working offline\n## Working offline\n```\n# not a heading\n```\n"
    assert page_anchors(text) == {"01-why-ml-systems", "working-offline", "working-offline_1"}
