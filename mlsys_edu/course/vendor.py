"""Serve Mermaid and MathJax from the site itself, so pages render offline (classrooms, CI).

mkdocs-material renders ```` ```mermaid ```` blocks with mermaid.js, fetched from a CDN unless
the page already defines a global ``mermaid``; maths needs MathJax. When the npm client is
available, the build fetches each script once from the npm registry into the data cache and
publishes it under ``assets/``; the site plugin then loads the local copies. Without npm the
pages fall back to the CDNs, which is what a reader online gets anyway.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from mlsys_edu.data.cache import cache_dir

# asset name -> (npm package, file inside its tarball, CDN fallback)
SCRIPTS = {
    "mermaid.min.js": ("mermaid@11", "package/dist/mermaid.min.js", None),
    # The SVG output embeds its glyphs: no web fonts to fetch.
    "mathjax.js": ("mathjax@3", "package/es5/tex-mml-svg.js",
                   "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-svg.js"),
}


#: Scripts the checks load into pages, never published with the site: axe-core, the rule
#: engine of browsers' accessibility tools (tests/test_site_accessibility.py).
CHECK_SCRIPTS = {"axe.min.js": ("axe-core@4.14.1", "package/axe.min.js", None)}


def cached_npm_file(asset: str, log: Callable[[str], None] = print) -> Path | None:
    """A local copy of ``SCRIPTS[asset]`` (or ``CHECK_SCRIPTS[asset]``), fetched with
    ``npm pack`` the first time."""
    package, member, _ = {**SCRIPTS, **CHECK_SCRIPTS}[asset]
    target = cache_dir() / "site-assets" / asset
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        log(f"site: npm not found; {asset} will load from its CDN")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", package, "--silent", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=300)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tarballs:
            log(f"site: `npm pack {package}` failed ({proc.stderr.strip()[-200:]}); "
                f"{asset} will load from its CDN")
            return None
        with tarfile.open(tarballs[0]) as archive:
            source = archive.extractfile(member)
            if source is None:
                return None
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(source.read())
            partial.replace(target)
    return target
