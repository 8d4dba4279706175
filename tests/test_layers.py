"""DESIGN.md's layers hold: a package imports only from the layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlsys_edu"
# layer of each subpackage; the top-level modules (cli, selftest) are layer 4, above all
LAYER = {"data": 1, "lab": 1, "labkit": 1, "course": 2, "grader": 2, "bench": 3}


def _imported_subpackages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "mlsys_edu" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(LAYER))
def test_package_imports_only_from_lower_layers(package):
    wrong = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for other in _imported_subpackages(path) - {package}:
            layer = LAYER.get(other, 4)  # cli, selftest: the top
            if layer >= LAYER[package]:  # same layer too: course and grader stay apart
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports mlsys_edu.{other}")
    assert not wrong, "\n".join(wrong)
