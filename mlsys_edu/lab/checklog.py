"""The check log: what ``check("qN")`` scored each time a notebook ran it.

When ``MLSYS_EDU_CHECK_LOG`` names a file, every ``check`` call appends its result there as one
JSON line. The course build sets it while executing a solution notebook and fails the build if
a check is below full marks; the version-set checks (``mlsys-edu versions check``) read it from
a kernel running another set of package versions (Colab's), where a student would see it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

ENV = "MLSYS_EDU_CHECK_LOG"


def log_check(lab: str, question: str, score: float, max_score: float,
              tests: list[tuple[str, str, str]]) -> None:
    """Append one check's result (tests as ``(name, status, message)``); a no-op without
    ``MLSYS_EDU_CHECK_LOG``."""
    log = os.environ.get(ENV)
    if not log:
        return
    entry = {"lab": lab, "question": question, "score": score, "max_score": max_score,
             "tests": [{"name": n, "status": s, "message": m[:2000]} for n, s, m in tests]}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def read_check_log(path: str | Path) -> list[dict[str, Any]]:
    """The entries of a check log, in the order the checks ran (empty if there is none)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _gist(test: dict[str, Any]) -> str:
    """A failed assertion's first line (``assert 2 == 1``); an error's last (the exception)."""
    lines = test["message"].strip().splitlines() or [""]
    return (lines[0] if test["status"] == "failed" else lines[-1])[:160]


def failed_checks(entries: list[dict[str, Any]]) -> list[str]:
    """One line per check below full marks: question, score and the tests that did not pass."""
    lines = []
    for entry in entries:
        if entry["score"] < entry["max_score"] - 1e-9 or not entry["tests"]:
            bad = "; ".join(f"{t['name']} {t['status']}: {_gist(t)}"
                            for t in entry["tests"] if t["status"] != "passed")
            lines.append(f"check({entry['question']!r}) scored {entry['score']:g}/"
                         f"{entry['max_score']:g}: {bad or 'no public tests ran'}")
    return lines
