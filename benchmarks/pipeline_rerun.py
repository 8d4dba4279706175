"""Unchanged re-run: lab 02's ``Pipeline.reproduce()`` against ``dvc repro``, same steps.

The spam pipeline of lab 02 (5 exports, 10 steps) on the course data, as is and resampled to
50 copies (97,800 comments; authors and ids suffixed so that no copy is a duplicate). Both
sides run the *same step functions*: DVC's ``dvc.yaml`` has one stage per node whose command
runs that node in the project's interpreter (``stage.py NAME``: read the inputs' Arrow files,
call the step, write the output's), with the inputs and ``stage.py`` as deps and the output
as out, in a temporary git repository. The first run of each side fills its cache (not timed);
what is timed is a run where nothing changed: ours, ``Pipeline(nodes, root).reproduce()`` in a
fresh process (hashing the exports, looking every key up in SQLite); DVC's,
``Repo(dir).reproduce()`` in a fresh process (checking every stage's deps and outs), and, as
the metric ``cli_s``, the wall time of the ``dvc repro`` command people type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ANCHOR = "dvc"
TITLE = "Pipeline re-run with nothing changed: ours vs dvc repro (same 15 nodes)"
ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "02_data_pipelines" / "lab.py"

STAGE = '''"""Run one node of lab 02's spam pipeline on Arrow files (a DVC stage)."""
import json, sys
from pathlib import Path
from mlsys_edu.lab.source import load_solution_module
from mlsys_edu.labkit.artifacts import canonical_bytes, read_frame

lab = load_solution_module({lab!r})
exports = json.loads(Path("exports.json").read_text())
node = {{n.name: n for n in lab.sp.spam_pipeline(exports)}}[sys.argv[1]]
if isinstance(node, lab.Source):
    out = lab.read_csv_source(Path(node.path).read_bytes(), node.name)
else:
    inputs = [lab.Traced.source(read_frame(f"data/{{i}}.arrow"), i) for i in node.inputs]
    out = node.func(*inputs, **node.params).frame
Path("data").mkdir(exist_ok=True)
Path(f"data/{{node.name}}.arrow").write_bytes(canonical_bytes(out))
'''


def cases(quick: bool) -> list[dict[str, Any]]:
    copies = [1] if quick else [1, 50]
    return [{"copies": c, "label": f"{1956 * c:,} comments"} for c in copies]


def _write_exports(folder: Path, copies: int) -> dict[str, str]:
    import pandas as pd

    from mlsys_edu.data.youtube_spam import raw_youtube_spam
    from mlsys_edu.labkit import spam_pipeline as sp

    folder.mkdir(parents=True, exist_ok=True)
    paths, raw = {}, raw_youtube_spam()
    for name in sp.EXPORTS:
        data = raw[f"{name}.csv"]
        path = folder / f"{name}.csv"
        if copies > 1:
            one = pd.read_csv(pd.io.common.BytesIO(data), dtype=str, keep_default_na=False,
                              encoding="utf-8-sig")
            parts = [one.assign(COMMENT_ID=one["COMMENT_ID"] + f"-{k}",
                                AUTHOR=one["AUTHOR"] + f" #{k}") for k in range(copies)]
            data = pd.concat(parts, ignore_index=True).to_csv(index=False).encode()
        path.write_bytes(data)
        paths[name] = str(path)
    return paths


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Exports, our pipeline's root, and a DVC project (dvc.yaml, stage.py) over them."""
    from mlsys_edu.lab.source import load_solution_module

    base = Path(workdir) / f"rerun_{case['copies']}"
    exports = _write_exports(base / "exports", case["copies"])
    dvc_dir = base / "dvc"
    dvc_dir.mkdir(parents=True, exist_ok=True)
    (dvc_dir / "exports.json").write_text(json.dumps(exports))
    (dvc_dir / "stage.py").write_text(STAGE.format(lab=str(LAB)))
    lab = load_solution_module(LAB)
    stages = {}
    for node in lab.sp.spam_pipeline(exports):
        deps = [node.path] if isinstance(node, lab.Source) else \
            [f"data/{i}.arrow" for i in node.inputs]
        stages[node.name] = {"cmd": f"{sys.executable} stage.py {node.name}",
                             "deps": ["stage.py", *deps], "outs": [f"data/{node.name}.arrow"]}
    (dvc_dir / "dvc.yaml").write_text(json.dumps({"stages": stages}, indent=1))  # JSON is YAML
    return {**case, "exports": exports, "root": str(base / "ours"), "dvc_dir": str(dvc_dir),
            "nodes": len(stages)}


def _ours(case: dict[str, Any]) -> dict[str, float]:
    from mlsys_edu.lab.source import load_solution_module

    lab = load_solution_module(LAB)
    nodes = lab.sp.spam_pipeline(case["exports"])
    if not (Path(case["root"]) / "record.sqlite").exists():
        lab.Pipeline(nodes, case["root"]).reproduce()  # fill the cache
    start = time.perf_counter()
    report = lab.Pipeline(nodes, case["root"]).reproduce()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "ms": 1e3 * seconds,
            "nodes_run": float((report["status"] != "cached").sum())}


def _dvc(case: dict[str, Any]) -> dict[str, float]:
    os.environ["DVC_NO_ANALYTICS"] = "1"
    where = Path(case["dvc_dir"])
    dvc = [sys.executable, "-m", "dvc"]
    if not (where / "dvc.lock").exists():  # a git repository, DVC, and a first full run
        for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.org"],
                    ["git", "config", "user.name", "bench"], [*dvc, "init", "-q"],
                    [*dvc, "repro", "-q"]):
            subprocess.run(cmd, cwd=where, check=True, capture_output=True)
    from dvc.repo import Repo

    os.chdir(where)  # reproduce() with no target reads ./dvc.yaml
    start = time.perf_counter()
    with Repo(str(where)) as repo:
        stages = repo.reproduce()
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run([*dvc, "repro", "-q"], cwd=where, check=True, capture_output=True)
    cli = time.perf_counter() - start
    return {"seconds": seconds, "ms": 1e3 * seconds, "nodes_run": float(len(stages)),
            "cli_s": cli}


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    if side == "ours":
        return _ours(case)
    if side == "anchor":
        return _dvc(case)
    raise ValueError(f"unknown side {side!r}")
