"""Run one side of one comparison case, in whatever interpreter runs this file.

    python benchmarks/_worker.py MODULE_PATH SIDE CASE_JSON_PATH RESULT_JSON_PATH

Stdlib only, so a side environment without ``mlsys_edu`` can run it. It imports the
comparison by path, calls ``run(side, case)`` and writes the returned dict (which must hold
``seconds``) as JSON to RESULT_JSON_PATH; on failure it writes ``{"error": traceback}`` there
and exits 1. Stdout and stderr stay free for the comparison's own output.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    module_path, side, case_path, result_path = argv
    try:
        spec = importlib.util.spec_from_file_location(f"mlsys_bench_{Path(module_path).stem}",
                                                      module_path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {module_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        case = json.loads(Path(case_path).read_text(encoding="utf-8"))
        result = module.run(side, case)
        if not isinstance(result, dict) or not isinstance(result.get("seconds"), (int, float)):
            raise TypeError(f"{module_path}: run({side!r}, case) must return a dict with a "
                            f"float 'seconds', got {result!r}")
        text = json.dumps(result)
    except BaseException:  # noqa: BLE001 - every failure goes back to the harness as data
        Path(result_path).write_text(json.dumps({"error": traceback.format_exc()}),
                                     encoding="utf-8")
        return 1
    Path(result_path).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
