"""Lab 03's read-only web view of a model registry, its lineage graph and its model cards.

``serve_registry(open_registry)`` serves, on a loopback port, from a thread::

    /                              the registered models, their versions and aliases
    /models/<name>                 versions (metrics, tags, aliases), lineage graph, reviews
    /models/<name>/versions/<n>    the version's model card, and its comments
    /audit                         the audit log, newest first

It only answers ``GET`` and ``HEAD`` (anything else: 405), and each request opens its own
registry with ``open_registry()``, which should open the database read-only: a viewer cannot
change anything, even through a bug. The registry is duck-typed: the view calls ``models``,
``versions``, ``version``, ``aliases``, ``reviews``, ``comments`` and ``audit_log``, which
return plain dicts and lists. Pages are plain HTML and inline SVG (no JavaScript), with text
labels and patterns besides colours (WCAG 2.1 AA).
"""

from __future__ import annotations

import contextlib
import html
import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

# Okabe-Ito colours, each paired with a line style or a label so that none carries meaning alone
DATA_COLOUR, CODE_COLOUR, ALIAS_COLOUR, INK = "#0072B2", "#E69F00", "#D55E00", "#222222"
MAX_GRAPH_VERSIONS = 40  # the graph shows the newest ones; the table lists them all


def _cell(value: Any) -> str:
    """A value for a Markdown table cell: text as is, a float to 6 significant digits, other
    values as JSON; pipes escaped, on one line."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:.6g}"
    else:
        text = json.dumps(value, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", " ")


def model_card(registry: Any, model: str, version: int) -> str:
    """A Markdown model card for one version, generated from the registry's metadata:
    registration, aliases, artifact, lineage, parameters, metrics, tags, reviews, comments."""
    v = registry.version(model, version)
    lines = [f"# {model}, version {version}", "",
             "| field | value |", "| --- | --- |",
             f"| registered | by {_cell(v['created_by'])} at {v['created_at']} |",
             f"| aliases | {', '.join(v['aliases']) or 'none'} |",
             f"| artifact | `sha256:{v['artifact']}` ({v['artifact_bytes']:,} bytes) |",
             f"| parent | {'version ' + str(v['parent']) if v['parent'] else 'none'} |",
             f"| code | `{_cell(v['code']) or 'not recorded'}` |"]
    for title, head, items in (("Data", "dataset | SHA-256", v["datasets"]),
                               ("Parameters", "parameter | value", v["params"]),
                               ("Metrics", "metric | value", v["metrics"]),
                               ("Tags", "tag | value", v["tags"])):
        lines += ["", f"## {title}", ""]
        if items:
            lines += [f"| {head} |", "| --- | --- |"]
            lines += [f"| {_cell(k)} | {_cell(items[k])} |" for k in sorted(items)]
        else:
            lines.append("none")
    lines += ["", "## Reviews", ""]
    reviews = registry.reviews(model, version)
    lines += [f"- {r['state']} for `{r['alias']}` by {r['decided_by'] or '(pending)'}, asked by "
              f"{r['requested_by']}" + (f": {r['note']}" if r["note"] else "") for r in reviews]
    lines += [] if reviews else ["none"]
    lines += ["", "## Comments", ""]
    comments = registry.comments(model, version)
    lines += [f"- {c['author']} at {c['at']}: {c['body']}" for c in comments] or ["none"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- lineage graph
def lineage_svg(versions: list[dict], aliases: dict[str, int], title: str = "") -> str:
    """An SVG drawing of the lineage of one model's versions: datasets (blue, solid edges) and
    code hashes (orange, dashed) feed versions; each version points to its parent (dotted);
    alias badges name the versions they point at."""
    shown = sorted(versions, key=lambda v: v["version"])[-MAX_GRAPH_VERSIONS:]
    inputs: dict[tuple[str, str], str] = {}  # (kind, key) -> label
    for v in shown:
        for name, sha in sorted(v["datasets"].items()):
            inputs.setdefault(("data", sha), f"{name} {sha[:8]}")
        if v["code"]:
            inputs.setdefault(("code", v["code"]), f"code {v['code'][:8]}")
    row, top = 34, 60
    rows = max(len(shown), len(inputs), 1)  # both columns one row apart, the shorter centred
    height = top + row * rows + 20

    def centred(i: int, count: int) -> float:
        return top + (i + (rows - count) / 2) * row

    y_version = {v["version"]: centred(i, len(shown)) for i, v in enumerate(shown)}
    y_input = {key: centred(i, len(inputs)) for i, key in enumerate(inputs)}
    x_in, x_v, width = 20, 380, 720
    desc = (f"{len(shown)} versions fed by {sum(k == 'data' for k, _ in inputs)} datasets and "
            f"{sum(k == 'code' for k, _ in inputs)} code hashes; aliases: "
            + (", ".join(f"{a} on version {n}" for a, n in aliases.items()) or "none"))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-labelledby="lineage-title lineage-desc" font-family="sans-serif" '
             f'font-size="12">',
             f'<title id="lineage-title">{html.escape(title or "Lineage")}</title>',
             f'<desc id="lineage-desc">{html.escape(desc)}</desc>',
             f'<text x="{x_in}" y="24" font-weight="bold">inputs</text>',
             f'<text x="{x_v}" y="24" font-weight="bold">versions</text>',
             _legend(width - 220)]
    for v in shown:  # edges first, nodes on top
        y = y_version[v["version"]] + 11
        for kind, key in [("data", sha) for sha in v["datasets"].values()] + (
                [("code", v["code"])] if v["code"] else []):
            y0 = y_input[(kind, key)] + 11
            colour, dash = (DATA_COLOUR, "") if kind == "data" else (CODE_COLOUR, "6 3")
            parts.append(f'<path class="edge edge-{kind}" d="M {x_in + 170} {y0:.1f} C '
                         f'{x_in + 270} {y0:.1f}, {x_v - 100} {y}, {x_v} {y}" fill="none" '
                         f'stroke="{colour}" stroke-width="1.2" stroke-dasharray="{dash}"/>')
        if v["parent"] in y_version:
            y0, bend = y_version[v["parent"]] + 11, x_v + 120 + 0.25 * (y - y_version[v["parent"]])
            parts.append(f'<path class="edge edge-parent" d="M {x_v + 90} {y0:.1f} C {bend:.1f} '
                         f'{y0:.1f}, {bend:.1f} {y:.1f}, {x_v + 90} {y:.1f}" fill="none" '
                         f'stroke="{INK}" '
                         f'stroke-width="1.2" stroke-dasharray="2 3" marker-end="url(#arrow)"/>')
    for (kind, _), label in inputs.items():
        y = y_input[(kind, _)]
        colour = DATA_COLOUR if kind == "data" else CODE_COLOUR
        parts.append(f'<g class="node node-{kind}"><rect x="{x_in}" y="{y:.1f}" width="170" '
                     f'height="22" rx="4" fill="white" stroke="{colour}" stroke-width="2"/>'
                     f'<text x="{x_in + 8}" y="{y + 15:.1f}">{html.escape(label)}</text></g>')
    by_version: dict[int, list[str]] = {}
    for alias, number in sorted(aliases.items()):
        by_version.setdefault(number, []).append(alias)
    for v in shown:
        y, badges = y_version[v["version"]], by_version.get(v["version"], [])
        parts.append(f'<g class="node node-version"><rect x="{x_v}" y="{y}" width="90" '
                     f'height="22" rx="4" fill="#f2f2f2" stroke="{INK}"/><text x="{x_v + 8}" '
                     f'y="{y + 15}">v{v["version"]} {html.escape(v["created_by"])[:8]}</text></g>')
        for i, alias in enumerate(badges):
            x = x_v + 100 + 80 * i
            parts.append(f'<g class="alias"><rect x="{x}" y="{y + 2}" width="74" height="18" '
                         f'rx="9" fill="{ALIAS_COLOUR}"/><text x="{x + 37}" y="{y + 15}" '
                         f'fill="white" text-anchor="middle">{html.escape(alias)[:10]}</text></g>')
    parts.append('<defs><marker id="arrow" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" '
                 f'markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="{INK}"/>'
                 '</marker></defs></svg>')
    return "\n".join(parts)


def _legend(x: int) -> str:
    items = [("dataset", DATA_COLOUR, ""), ("code", CODE_COLOUR, "6 3"), ("parent", INK, "2 3")]
    out = []
    for i, (label, colour, dash) in enumerate(items):
        lx = x + 72 * i
        out.append(f'<line x1="{lx}" y1="20" x2="{lx + 22}" y2="20" stroke="{colour}" '
                   f'stroke-width="2" stroke-dasharray="{dash}"/><text x="{lx + 26}" y="24">'
                   f'{label}</text>')
    return "".join(out)


# ---------------------------------------------------------------------- pages
STYLE = """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:80rem;color:#222;
line-height:1.4;padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}
th,td{border:1px solid #bbb;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}code{font-size:90%;word-break:break-all}.when,.name{white-space:nowrap}
a{color:#0a58a8}.alias{background:#D55E00;color:#fff;
border-radius:.6rem;padding:0 .5rem;margin-right:.25rem}nav a{margin-right:1rem}
.card{border:1px solid #bbb;padding:0 1rem;border-radius:.3rem}"""


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f'{html.escape(title)}</title><meta name="viewport" content="width=device-width">'
            f'<style>{STYLE}</style></head><body><nav><a href="/">models</a>'
            f'<a href="/audit">audit log</a></nav><main><h1>{html.escape(title)}</h1>{body}'
            '</main></body></html>')


def _table(headers: list[str], rows: list[list[str]], caption: str = "") -> str:
    """An HTML table; cells are HTML already (escape before)."""
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _model_link(name: str) -> str:
    return f'<a class="name" href="/models/{quote(name)}">{_e(name)}</a>'


def _version_link(name: str, version: int) -> str:
    return f'<a href="/models/{quote(name)}/versions/{version}">v{version}</a>'


def _badges(name: str, aliases: dict[str, int]) -> str:
    return " ".join(f'<span class="alias">{_e(a)}</span>&rarr; {_version_link(name, n)}'
                    for a, n in aliases.items())


def _home(registry: Any) -> str:
    rows = [[_model_link(m["name"]), _e(m["description"]), _e(m["last_version"]),
             _badges(m["name"], registry.aliases(m["name"])), _e(m["created_by"])]
            for m in registry.models()]
    body = _table(["model", "description", "versions", "aliases", "created by"], rows)
    return _page("Model registry", body if rows else "<p>No registered models yet.</p>")


def _model(registry: Any, name: str) -> str:
    versions = registry.versions(name)  # LookupError-free: an unknown name has no versions
    if not versions and name not in {m["name"] for m in registry.models()}:
        raise LookupError(f"no model {name!r}")
    aliases = registry.aliases(name)
    metrics = sorted({k for v in versions for k in v["metrics"]})
    rows = [[_version_link(name, v["version"]), _e(v["created_by"]),
             f'<span class="when">{_e(v["created_at"][:19].replace("T", " "))}</span>',
             _e(v["parent"] or ""), *[_e(_fmt(v["metrics"].get(k))) for k in metrics],
             _e(", ".join(f"{k}={t}" for k, t in v["tags"].items())),
             f"<code>{_e(v['artifact'][:12])}</code>",
             " ".join(f'<span class="alias">{_e(a)}</span>' for a in v["aliases"])]
            for v in reversed(versions)]
    reviews = [[_e(r["id"]), _version_link(name, r["version"]), _e(r["alias"]), _e(r["state"]),
                _e(r["requested_by"]), _e(r["decided_by"] or ""), _e(r["note"])]
               for r in registry.reviews(name)]
    body = (f"<p>Aliases: {_badges(name, aliases) or 'none'}</p><h2>Lineage</h2>"
            + lineage_svg(versions, aliases, f"Lineage of {name}")
            + "<h2>Versions</h2>"
            + _table(["version", "by", "registered (UTC)", "parent", *metrics, "tags",
                      "artifact", "aliases"], rows)
            + "<h2>Reviews</h2>"
            + (_table(["id", "version", "alias", "state", "asked by", "decided by", "note"],
                      reviews) if reviews else "<p>none</p>"))
    return _page(f"Model {name}", body)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _markdown_html(text: str) -> str:
    try:
        import markdown
    except ImportError:  # the card reads fine as text
        return f"<pre>{html.escape(text)}</pre>"
    return markdown.markdown(html.escape(text, quote=False), extensions=["tables"])


def _version(registry: Any, name: str, number: int) -> str:
    card = model_card(registry, name, number)
    body = (f'<p>{_model_link(name)}</p><div class="card">{_markdown_html(card)}</div>')
    return _page(f"{name} version {number}", body)


def _audit(registry: Any) -> str:
    rows = [[_e(e["seq"]), f'<span class="when">{_e(e["at"][:19].replace("T", " "))}</span>',
             _e(e["actor"]), _e(e["action"]),
             _model_link(e["model"]) if e["model"] else "",
             _version_link(e["model"], e["version"]) if e["model"] and e["version"] else "",
             _e(e["alias"] or ""), f"<code>{_e(e['detail'])}</code>",
             f"<code>{_e(e['hash'][:12])}</code>"]
            for e in reversed(registry.audit_log())]
    body = ("<p>Append-only: every change to the registry, newest first. Each entry's hash "
            "chains the one before it.</p>"
            + _table(["#", "at (UTC)", "who", "action", "model", "version", "alias", "detail",
                      "hash"], rows))
    return _page("Audit log", body)


def render_page(registry: Any, path: str) -> tuple[int, str]:
    """``(status, html)`` for one GET path; no server needed (the tests call this too)."""
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/") if p]
    try:
        if not parts:
            return 200, _home(registry)
        if parts == ["audit"]:
            return 200, _audit(registry)
        if parts[0] == "models" and len(parts) == 2:
            return 200, _model(registry, parts[1])
        if parts[0] == "models" and len(parts) == 4 and parts[2] == "versions":
            if parts[3].isdigit():
                return 200, _version(registry, parts[1], int(parts[3]))
    except LookupError as err:
        return 404, _page("Not found", f"<p>{_e(err)}</p>")
    return 404, _page("Not found", f"<p>No page at {_e(path)}. Start from "
                                   '<a href="/">the models</a>.</p>')


# ---------------------------------------------------------------------- server
class _Handler(http.server.BaseHTTPRequestHandler):
    open_registry: Callable[[], Any]  # set on a subclass per server

    def _answer(self, send_body: bool) -> None:
        try:
            registry = type(self).open_registry()
            try:
                status, page = render_page(registry, self.path)
            finally:
                with contextlib.suppress(Exception):
                    registry.close()
        except Exception as err:  # noqa: BLE001 - the page says what broke
            status, page = 500, _page("Error", f"<p>{_e(type(err).__name__)}: {_e(err)}</p>")
        data = page.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if send_body:
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def _refuse(self) -> None:
        data = _page("Read-only", "<p>This view only reads the registry.</p>").encode()
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse  # noqa: N815

    def log_message(self, *args: Any) -> None:  # quiet: no line per request on stderr
        pass


class RegistryServer:
    """A running web view: ``url``, ``fetch(path)`` and ``stop()`` (or use ``with``)."""

    def __init__(self, open_registry: Callable[[], Any], host: str, port: int) -> None:
        handler = type("RegistryHandler", (_Handler,),
                       {"open_registry": staticmethod(open_registry)})
        self._server = http.server.ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="registry-web")
        self._thread.start()

    def fetch(self, path: str = "/", timeout_s: float = 10.0) -> str:
        """GET ``path`` from the view; the page's HTML (also for 404 and 500 pages)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout_s) as reply:
                return reply.read().decode("utf-8")
        except urllib.error.HTTPError as err:
            return err.read().decode("utf-8")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "RegistryServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_registry(open_registry: Callable[[], Any], host: str = "127.0.0.1",
                   port: int = 0) -> RegistryServer:
    """Serve the web view on ``host:port`` (port 0: a free one) from a background thread.
    ``open_registry()`` is called once per request and should open the registry read-only."""
    return RegistryServer(open_registry, host, port)

