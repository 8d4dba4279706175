"""Session pages in a real browser: Mermaid diagrams and maths render, offline.

Screenshots land in ``build/screenshots/`` of the built copy (the path is printed) so a
person can look at them.
"""

from __future__ import annotations

import pytest

from browser_helpers import browser_page, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAGES = ["sessions/02-weak-supervision", "sessions/05-serving"]


def test_session_pages_render_diagrams_and_maths(built_course):
    root, _, _ = built_course
    shots = root / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with serve(root / "build" / "site") as base, browser_page(errors) as page:
        for name in PAGES:
            page.goto(f"{base}/{name}/", wait_until="load")
            page.wait_for_load_state("networkidle")
            # mkdocs-material swaps each <pre class="mermaid"> for a <div class="mermaid">
            # holding the SVG in a closed shadow root: a rendered diagram is a sized div.
            page.wait_for_selector("div.mermaid", timeout=20_000)
            assert page.locator("pre.mermaid").count() == 0, f"{name}: a diagram did not render"
            box = page.locator("div.mermaid").first.bounding_box()
            assert box and box["width"] > 50 and box["height"] > 50
            if page.locator(".arithmatex").count():
                page.wait_for_selector("mjx-container", timeout=20_000)
            page.locator(".mermaid").first.scroll_into_view_if_needed()
            path = shots / f"{name.replace('/', '_')}.png"
            page.screenshot(path=str(path))
            print(f"screenshot: {path}")
    assert errors == []
