"""Links in the seminar notes: external URLs, bibliography citations, intra-site links.

Pure functions over Markdown text; nothing here touches the network. ``external_urls`` lists
the URLs so that a person (or a separate, explicit job) can review them; the site build and
the tests never fetch them.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

# An http(s) URL ends at whitespace or at a character that closes Markdown/HTML syntax.
_URL_RE = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
# Punctuation that ends a sentence rather than a URL.
_URL_TRAILING = ".,;:!?*_"

# A link into the bibliography page from anywhere: ``bibliography.md#ratner2016``.
_CITATION_RE = re.compile(r"bibliography\.md#([A-Za-z0-9_-]+)")

# Anchors on the bibliography page: ``<a id="x"></a>``, ``<span id='x'>``, ``{#x}``.
_HTML_ID_RE = re.compile(r"""<[a-zA-Z][^>]*\bid\s*=\s*["']([^"']+)["']""")
_ATTR_ID_RE = re.compile(r"\{[^}\n]*#([A-Za-z0-9_-]+)[^}\n]*\}")

# Inline Markdown links and images: ``[text](target)`` / ``![alt](target "title")``.
_MD_LINK_RE = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE_RE = re.compile(r"^(```|~~~)")


def _strip_code(text: str, inline: bool = True) -> list[str]:
    """The text's lines with fenced code blocks (and, if ``inline``, inline code) blanked out.

    Line numbers are kept (blanked lines stay as empty strings) so callers can report them.
    """
    lines: list[str] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE_RE.match(line.lstrip()):
            in_fence = not in_fence
            lines.append("")
            continue
        if in_fence:
            lines.append("")
        else:
            lines.append(re.sub(r"`[^`\n]*`", "", line) if inline else line)
    return lines


def external_urls(folder: Path) -> list[tuple[str, int, str]]:
    """Every http(s) URL in the Markdown files under ``folder``.

    Returns ``(file, line, url)`` with ``file`` relative to ``folder`` (POSIX form) and
    ``line`` 1-based, sorted by file then line. URLs inside code are included too: a link
    in a shell snippet is still something a reader may follow.
    """
    folder = Path(folder)
    found: list[tuple[str, int, str]] = []
    for path in sorted(folder.rglob("*.md")):
        rel = path.relative_to(folder).as_posix()
        text = path.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), start=1):
            for match in _URL_RE.finditer(line):
                found.append((rel, lineno, match.group(0).rstrip(_URL_TRAILING)))
    return found


def citations(page_text: str) -> set[str]:
    """The bibliography anchors a page links to (``...bibliography.md#id`` -> ``id``).

    Text in code (fenced blocks and inline code) is an example, not a citation.
    """
    return {anchor for line in _strip_code(page_text) for anchor in _CITATION_RE.findall(line)}


def bibliography_ids(text: str) -> set[str]:
    """The anchor ids a bibliography page defines: HTML ``id`` attributes and ``{#id}``."""
    lines = _strip_code(text)
    ids: set[str] = set()
    for line in lines:
        ids.update(_HTML_ID_RE.findall(line))
        ids.update(_ATTR_ID_RE.findall(line))
    return ids


def heading_slug(title: str) -> str:
    """The anchor Python-Markdown's ``toc`` extension gives a heading (its default slugify).

    NFKD-normalise to ASCII, drop characters other than word characters, spaces and hyphens,
    lower-case, and join runs of spaces and hyphens with one hyphen.
    """
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def page_anchors(page_text: str) -> set[str]:
    """Every anchor a page defines: heading slugs (``#`` headings) and explicit ids.

    Duplicate headings get ``_1``, ``_2``... suffixes in ``toc``; those are included too.
    """
    anchors = bibliography_ids(page_text)
    seen: dict[str, int] = {}
    for line in _strip_code(page_text, inline=False):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        title = re.sub(r"\{[^}]*\}\s*$", "", match.group(1)).strip()  # attribute list
        title = re.sub(r"<[^>]+>", "", title)  # inline HTML such as <a id=...></a>
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # links keep their text
        slug = heading_slug(title.replace("`", ""))
        if slug in seen:
            seen[slug] += 1
            anchors.add(f"{slug}_{seen[slug]}")
        else:
            seen[slug] = 0
            anchors.add(slug)
    return anchors


def markdown_links(page_text: str) -> list[tuple[int, str]]:
    """``(line, target)`` for every inline Markdown link outside code, in page order."""
    links: list[tuple[int, str]] = []
    for lineno, line in enumerate(_strip_code(page_text), start=1):
        for match in _MD_LINK_RE.finditer(line):
            links.append((lineno, match.group(1)))
    return links


def local_page_links(page_text: str) -> list[tuple[int, str, str]]:
    """Links to other pages of the site: ``(line, path, anchor)`` for relative ``.md`` targets.

    External URLs, ``mailto:`` and pure in-page anchors (``#section``) are left out.
    """
    result: list[tuple[int, str, str]] = []
    for lineno, target in markdown_links(page_text):
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        if path.endswith(".md"):
            result.append((lineno, path, anchor))
    return result
