"""Version sets: every lab is right under Colab's versions and under the declared floors.

The integration tests need the sets' venvs (``mlsys-edu versions build``, which ``.ci/run``
runs first). Without them they skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version

from mlsys_edu.bench.envs import env_python
from mlsys_edu.lab.layout import find_labs
from mlsys_edu.versions import SETS, check_lab, check_passed, describe_check, pinned_versions, \
    usable_lines

REPO = Path(__file__).resolve().parents[1]
LABS = find_labs(REPO)


def test_colab_set_is_colabs_published_runtime():
    text = (REPO / "versions" / "colab.txt").read_text(encoding="utf-8")
    assert "googlecolab/backend-info" in text and "2026-08-19" in text  # source and date
    pins = pinned_versions(text)
    for name, version in {"numpy": "2.1.3", "pandas": "2.2.3", "pyarrow": "18.1.0",
                          "scikit-learn": "1.6.1", "scipy": "1.16.3", "matplotlib": "3.10.0",
                          "ipython": "7.34.0", "ipykernel": "6.17.1", "jupyter-client": "7.4.9",
                          "tqdm": "4.67.3", "pytest": "8.4.2", "fastapi": "0.141.1",
                          "uvicorn": "0.52.3", "httpx": "0.28.1"}.items():
        assert pins[name] == version, name
    # torch (shared, 2.13.0 here), the CUDA stack and URL-pinned packages cannot apply
    lines = usable_lines(text)
    assert not [line for line in lines if re.match(r"(torch|nvidia-)", line) or " @ " in line]
    assert len(lines) > 500


def _floors() -> dict[str, str]:
    """``{name: floor}`` of every ``name>=floor`` in pyproject.toml's dependencies and extras."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    floors = {}
    for spec in specs:
        match = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", spec)
        if match:
            floors[re.sub(r"[-_.]+", "-", match.group(1).lower())] = match.group(2)
    return floors


def test_minimum_set_pins_exactly_the_declared_floors():
    pins = pinned_versions((REPO / "versions" / "minimum.txt").read_text(encoding="utf-8"))
    floors = _floors()
    # torch cannot vary here (only 2.13.0 is installable); the docs and dev tools (mkdocs,
    # playwright, hypothesis) are the instructor's, not what a lab runs on
    untested = {"torch", "mkdocs-material", "pymdown-extensions", "jupytext", "playwright",
                "hypothesis", "nvidia-ml-py", "distributed", "setuptools"}
    missing = {name: floor for name, floor in floors.items()
               if name not in untested and (name not in pins
                                            or Version(pins[name]) != Version(floor))}
    assert not missing, f"floors in pyproject.toml that versions/minimum.txt does not pin: {missing}"
    assert not set(pins) - set(floors), "minimum.txt pins a package pyproject.toml does not name"


def _set_python(name: str) -> Path:
    python = env_python(REPO / ".venvs" / name)
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"the {name} venv is missing: .ci/run must run `mlsys-edu versions build`")
        pytest.skip(f"no {name} venv here: run `mlsys-edu versions build {name}`")
    return python


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_solution_notebook_gets_full_marks_under_colab(lab, tmp_path, offline_data):
    """Executed in a Colab-versions kernel: every public check at full marks; the zip that
    check.export() wrote there, graded by the instructor's judge: full marks."""
    _set_python("colab")
    result = check_lab(lab, "colab", tmp_path, log=lambda _: None)
    print(describe_check(lab, "colab", result))
    assert check_passed(result), describe_check(lab, "colab", result)


@pytest.mark.slow
@pytest.mark.parametrize("set_name", sorted(SETS))
@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_selftest_passes_under_each_version_set(lab, set_name, offline_data):
    python = _set_python(set_name)
    proc = subprocess.run([str(python), "-m", "mlsys_edu.selftest", str(lab.dir)],
                          capture_output=True, text=True, cwd=REPO)
    print(proc.stdout[-3000:])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
