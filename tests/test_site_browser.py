"""A real browser opens the built site: the lab page renders its figure and Colab link."""

from __future__ import annotations

import pytest

from browser_helpers import browser_page, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_lab_page_renders_figure_colab_link_without_js_errors(built_course, tmp_path):
    root, _, _ = built_course
    errors: list[str] = []
    with serve(root / "build" / "site") as base, browser_page(errors) as page:
        page.goto(f"{base}/labs/00_orientation/", wait_until="load")
        page.wait_for_load_state("networkidle")
        assert "Lab 00" in page.title()
        figures = page.locator("img[src*='cell']")
        assert figures.count() >= 1
        width = figures.first.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 100, "the figure did not load"
        colab = page.locator("a[href*='colab.research.google.com']")
        assert colab.count() >= 1 and "00_orientation.ipynb" in colab.first.get_attribute("href")
        badge = colab.first.locator("img").evaluate("img => img.naturalWidth")
        assert badge > 0, "the Colab badge image did not load"
        download = page.locator("a[href$='00_orientation.ipynb']:not([href*='colab'])")
        assert download.count() >= 1
        page.screenshot(path=str(tmp_path / "lab00.png"), full_page=True)
        page.goto(f"{base}/", wait_until="load")  # the home page and search load too
        page.wait_for_load_state("networkidle")
    assert errors == []
