"""Lab 03's read-only web view: pages rendered from a real registry, served over HTTP, and
looked at in headless Chromium (with a screenshot per page)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from browser_helpers import browser_page
from lab03_support import load_reference

from mlsys_edu.labkit.registry_web import lineage_svg, model_card, render_page, serve_registry

DATA = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("train", "valid")}


@pytest.fixture(scope="module")
def ref():
    return load_reference()


@pytest.fixture(scope="module")
def populated(ref, tmp_path_factory):
    """A registry with the lab's story: three versions, reviews, a promotion, a rollback."""
    folder = tmp_path_factory.mktemp("registry")
    url, store = f"sqlite:///{folder}/registry.db", str(folder / "artifacts")
    registry = ref.Registry(url, store)
    for name, roles in [("alice", ["author"]), ("carol", ["author"]), ("bob", ["reviewer"]),
                        ("dave", ["operator"])]:
        registry.add_user(name, roles)
    registry.create_model("spam-filter", by="alice", description="YouTube <comment> spam filter")
    registry.create_model("empty-model", by="alice")
    for i, (by, threshold) in enumerate([("alice", 0.5), ("alice", 0.5), ("carol", 0.3)]):
        registry.register("spam-filter", f"weights {min(i, 1)}".encode(), by=by,
                          params={"threshold": threshold, "lfs": ["my", "link"]},
                          metrics={"valid_accuracy": 0.9 - 0.01 * i,
                                   "valid_ham_flagged": 0.06 * (i + 1)},
                          datasets=DATA, code=hashlib.sha256(b"code").hexdigest(),
                          parent=i or None, tags={"label_model": "gold" if i else "no labels"})
    for version in (2, 3):
        author = "alice" if version == 2 else "carol"
        ticket = registry.request_review("spam-filter", version, by=author)
        registry.review(ticket, by="bob", approve=True, note="looks | right")
        registry.set_alias("spam-filter", "champion", version, by="dave")
    registry.rollback("spam-filter", "champion", by="dave")
    registry.comment("spam-filter", 3, "flags <b>too much</b> ham", by="dave")
    registry.close()
    return ref, url, store, folder


def open_view(ref, url, store):
    return lambda: ref.Registry(url, store, read_only=True)


def test_model_card_holds_the_metadata(populated):
    ref, url, store, _ = populated
    with ref.Registry(url, store, read_only=True) as registry:
        card = model_card(registry, "spam-filter", 3)
        v3 = registry.version("spam-filter", 3)
    assert card.startswith("# spam-filter, version 3\n")
    assert f"`sha256:{v3['artifact']}`" in card and "| parent | version 2 |" in card
    assert "| threshold | 0.3 |" in card and f"| train | {DATA['train']} |" in card
    assert "| label_model | gold |" in card
    assert "approved for `champion` by bob, asked by carol: looks | right" in card
    assert "flags <b>too much</b> ham" in card  # Markdown source; the page escapes it
    assert "| aliases | none |" in card, "v3 was rolled back: no alias points at it"


def test_pages_render_models_versions_lineage_and_the_audit_log(populated):
    ref, url, store, _ = populated
    with ref.Registry(url, store, read_only=True) as registry:
        status, home = render_page(registry, "/")
        assert status == 200 and 'href="/models/spam-filter"' in home
        assert "YouTube &lt;comment&gt; spam filter" in home, "text is escaped"
        status, model = render_page(registry, "/models/spam-filter")
        assert status == 200 and model.count('href="/models/spam-filter/versions/') >= 3
        assert model.count('class="node node-version"') == 3 and "<svg" in model
        assert model.count('class="edge edge-parent"') == 2
        status, card = render_page(registry, "/models/spam-filter/versions/3")
        assert status == 200 and "<table>" in card
        assert "flags &lt;b&gt;too much&lt;/b&gt; ham" in card, "comments are escaped"
        status, audit = render_page(registry, "/audit")
        assert status == 200
        actions = re.findall(r"<td>(rollback|set_alias|approve|register)</td>", audit)
        assert actions[0] == "rollback", "newest first"
        assert actions.count("register") == 3 and actions.count("set_alias") == 2
        for missing in ("/models/nope", "/models/spam-filter/versions/9", "/x", "/models/a/b/c"):
            assert render_page(registry, missing)[0] == 404, missing
        assert render_page(registry, "/models/empty-model")[0] == 200


def test_lineage_svg_draws_inputs_versions_parents_and_aliases():
    versions = [{"version": v, "created_by": "alice", "code": "c" * 64, "parent": v - 1 or None,
                 "datasets": DATA if v < 3 else {"x": "ab" * 32}} for v in (1, 2, 3)]
    svg = lineage_svg(versions, {"champion": 2, "challenger": 3}, "Lineage of m")
    assert svg.count('class="node node-version"') == 3
    assert svg.count('class="node node-data"') == 3 and svg.count('class="node node-code"') == 1
    assert svg.count('class="edge edge-data"') == 5 and svg.count('class="edge edge-parent"') == 2
    assert ">champion<" in svg and ">challenger<" in svg and "<title" in svg and "<desc" in svg


def test_the_server_answers_get_and_head_and_refuses_writes(populated):
    ref, url, store, folder = populated
    db_file = folder / "registry.db"
    before = (db_file.stat().st_mtime_ns, hashlib.sha256(db_file.read_bytes()).hexdigest())
    with serve_registry(open_view(ref, url, store)) as view:
        assert "spam-filter" in view.fetch("/")
        head = urllib.request.Request(view.url + "/audit", method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as reply:
            assert reply.status == 200 and reply.read() == b""
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            request = urllib.request.Request(view.url + "/models/spam-filter", method=method,
                                             data=b"{}")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            assert info.value.code == 405 and info.value.headers["Allow"] == "GET, HEAD"
        assert "No page at" in view.fetch("/nowhere")
    after = (db_file.stat().st_mtime_ns, hashlib.sha256(db_file.read_bytes()).hexdigest())
    assert after == before, "the view changed the database file"


def test_a_broken_registry_gives_a_500_page_not_a_dead_server(tmp_path):
    def broken():
        raise FileNotFoundError(f"no registry database at {tmp_path}/missing.db")

    with serve_registry(broken) as view:
        page = view.fetch("/")
        assert "FileNotFoundError" in page and "missing.db" in page
        assert "FileNotFoundError" in view.fetch("/audit"), "the server still answers"


@pytest.mark.browser
def test_the_web_view_in_headless_chromium(populated, tmp_path):
    ref, url, store, _ = populated
    errors: list[str] = []
    shots = Path(os.environ.get("MLSYS_EDU_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with serve_registry(open_view(ref, url, store)) as view, browser_page(errors) as page:
        page.goto(view.url + "/", wait_until="load")
        assert page.title() == "Model registry"
        page.get_by_role("link", name="spam-filter").click()
        page.wait_for_load_state("load")
        assert page.title() == "Model spam-filter"
        graph = page.locator("svg.lineage")
        assert graph.count() == 1 and graph.get_attribute("role") == "img"
        box = graph.bounding_box()
        assert box and box["width"] > 400 and box["height"] > 100, "the graph is drawn"
        assert page.locator("svg.lineage .node-version").count() == 3
        headers = page.locator("table").nth(0).locator("th").all_inner_texts()
        assert "valid_accuracy" in headers and "aliases" in headers
        page.screenshot(path=str(shots / "lab03-model.png"), full_page=True)
        page.get_by_role("link", name="v3").first.click()
        page.wait_for_load_state("load")
        assert page.locator("h1").first.inner_text() == "spam-filter version 3"
        assert page.locator(".card table").count() >= 4, "the model card's tables render"
        assert page.locator("text=flags <b>too much</b> ham").count() == 1, "shown as text"
        page.screenshot(path=str(shots / "lab03-card.png"), full_page=True)
        page.get_by_role("link", name="audit log").click()
        page.wait_for_load_state("load")
        rows = page.locator("tbody tr")
        assert rows.count() == len(ref.Registry(url, store, read_only=True).audit_log())
        assert [rows.nth(i).locator("td").nth(3).inner_text() for i in (0, 1)] == [
            "comment", "rollback"], "newest first"
        page.screenshot(path=str(shots / "lab03-audit.png"), full_page=True)
    assert errors == []
    for name in ("lab03-model.png", "lab03-card.png", "lab03-audit.png"):
        assert (shots / name).stat().st_size > 10_000, name
    if "MLSYS_EDU_SCREENSHOTS" not in os.environ:
        shutil.rmtree(shots, ignore_errors=True)
