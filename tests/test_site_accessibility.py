"""WCAG 2.1 AA on every page of the built site, light and dark, checked by axe-core (the rule
engine of browsers' accessibility tools) in headless Chromium; and the page works with the
keyboard alone.

The site is the test session's course build (``executed_course``: every lab executed, so lab
pages carry their real outputs and figures). Set ``MLSYS_EDU_A11Y_SITE`` to a built
``build/site`` to check that one instead (a release build, say).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from browser_helpers import browser_page, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Wait until the page has settled before judging it: MathJax has typeset, and the course's
# script has made every scrolling region focusable.
SETTLED = """() => !document.querySelector('.md-typeset pre > code:not([tabindex])')
                 && (!document.querySelector('.arithmatex') || !!document.querySelector('mjx-container'))"""
AXE_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(
      n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n')[1])}));
}"""


@pytest.fixture(scope="module")
def site(request) -> Path:
    if os.environ.get("MLSYS_EDU_A11Y_SITE"):
        return Path(os.environ["MLSYS_EDU_A11Y_SITE"]).resolve()
    root = request.getfixturevalue("executed_course")
    return root / "build" / "site"


@pytest.fixture(scope="module")
def axe_source() -> str:
    from mlsys_edu.course.vendor import cached_npm_file

    path = cached_npm_file("axe.min.js", log=print)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("axe-core could not be fetched with npm (the npm registry is needed)")
        pytest.skip("npm is not available to fetch axe-core")
    return path.read_text(encoding="utf-8")


def _pages(site: Path) -> list[str]:
    """Every page's path under the site ('' for the home page)."""
    parents = (p.relative_to(site).parent for p in site.rglob("index.html"))
    return sorted("" if parent == Path(".") else parent.as_posix() for parent in parents)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_or_critical_violation_on_any_page(site, axe_source, scheme):
    pages = _pages(site)
    assert len(pages) >= 15, pages
    found: list[str] = []
    by_rule: Counter = Counter()
    errors: list[str] = []
    with serve(site) as base, browser_page(errors, color_scheme=scheme) as page:
        for path in pages:
            page.goto(f"{base}/{path}/" if path else f"{base}/", wait_until="networkidle")
            page.wait_for_function(SETTLED, timeout=20_000)
            assert page.evaluate("() => document.body.dataset.mdColorScheme") == (
                "slate" if scheme == "dark" else "default")
            page.add_script_tag(content=axe_source)
            for violation in page.evaluate(AXE_RUN, WCAG_TAGS):
                by_rule[(violation["id"], violation["impact"])] += len(violation["nodes"])
                if violation["impact"] in ("serious", "critical"):
                    found += [f"/{path} {violation['id']}: {node}" for node in violation["nodes"]]
    print(f"{scheme}: {len(pages)} pages; violations by rule: {dict(by_rule) or 'none'}")
    assert not found, "\n".join(found[:40])


def test_keyboard_alone_skip_link_and_visible_focus(site):
    errors: list[str] = []
    with serve(site) as base, browser_page(errors) as page:
        page.goto(f"{base}/labs/00_orientation/", wait_until="networkidle")
        page.keyboard.press("Tab")  # the first stop is "Skip to content"
        first = page.evaluate("() => [document.activeElement.className, "
                              "document.activeElement.getAttribute('href'), "
                              "getComputedStyle(document.activeElement).outlineStyle]")
        assert "md-skip" in first[0] and first[1].startswith("#"), first
        page.keyboard.press("Enter")
        for _ in range(60):  # onwards through the page: every stop shows where the focus is
            page.keyboard.press("Tab")
            style = page.evaluate("() => { const e = document.activeElement, s = getComputedStyle(e);"
                                  " return [e.tagName, s.outlineStyle, s.outlineWidth, s.boxShadow]; }")
            if style[0] == "BODY":  # past the last stop: the focus left the page
                break
            visible = style[1] not in ("none", "") and style[2] != "0px" or style[3] != "none"
            assert visible, f"focus not visible on {style[0]}: {style}"
        code = page.locator(".md-typeset pre > code").first  # code blocks scroll by keyboard
        assert code.get_attribute("tabindex") == "0"
    assert errors == []


def test_figures_and_formulas_say_what_they_show(site):
    """Figures have their authors' text alternative; formulas keep MathML for screen readers."""
    errors: list[str] = []
    with serve(site) as base, browser_page(errors) as page:
        page.goto(f"{base}/labs/01_weak_supervision/", wait_until="networkidle")
        page.wait_for_function(SETTLED, timeout=20_000)
        alts = page.locator(".md-typeset img[src*='cell']").evaluate_all(
            "imgs => imgs.map(i => i.getAttribute('alt'))")
        assert alts and all(len(a) > 30 and "cell" not in a.lower() for a in alts), alts
        assert page.locator("mjx-assistive-mml math").count() > 0, "no assistive MathML"
