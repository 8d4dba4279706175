"""The student side: ``check("q1")`` in a notebook, ``check.all()``, ``check.export()``.

The course build puts into the notebook's first cell::

    from mlsys_edu.grader.student import make_check
    check = make_check("00_orientation", PUBLIC_TESTS, globals())

``PUBLIC_TESTS`` maps test-file names to their public source (hidden tests already cut).
Public tests run here, in the student's own kernel (they are for feedback, not for grades);
grades come from the batch judge, which never trusts this process.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import traceback
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlsys_edu.lab.checklog import log_check
from mlsys_edu.lab.questions import TestCase, load_source


@dataclass
class TestResult:
    """One public test's outcome in the student's notebook."""

    question: str
    name: str
    points: float
    status: str  # passed | failed | error | missing | not-done
    message: str = ""

    @property
    def score(self) -> float:
        return self.points if self.status == "passed" else 0.0


class CheckResult:
    """What ``check`` returns: shown as a table in Jupyter, as text elsewhere."""

    def __init__(self, title: str, results: list[TestResult]) -> None:
        self.title, self.results = title, results

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == "passed" for r in self.results)

    def __str__(self) -> str:
        lines = [f"{self.title}: {self.score:g} / {self.max_score:g} points"]
        for r in self.results:
            mark = "PASS" if r.status == "passed" else r.status.upper()
            lines.append(f"  [{mark}] {r.question} {r.name} ({r.score:g}/{r.points:g})")
            if r.message:
                lines += ["      " + line for line in r.message.splitlines()[:30]]
        if not self.results:
            lines.append("  (no public tests)")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = {"passed": "#1a7f37"}
        rows = "".join(
            f"<tr><td>{html.escape(r.question)}</td><td><code>{html.escape(r.name)}</code></td>"
            f"<td style='color:{colour.get(r.status, '#b3261e')};font-weight:bold'>"
            f"{html.escape(r.status)}</td><td>{r.score:g} / {r.points:g}</td>"
            f"<td><pre style='margin:0;white-space:pre-wrap'>{html.escape(r.message)}</pre></td>"
            "</tr>" for r in self.results)
        return (f"<div><b>{html.escape(self.title)}: {self.score:g} / {self.max_score:g} "
                f"points</b><table><tr><th>question</th><th>test</th><th>result</th>"
                f"<th>points</th><th>details</th></tr>{rows}</table></div>")


class _Namespace:
    """``sub`` in the student's notebook: attribute reads look up the notebook's globals."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        object.__setattr__(self, "_ns", namespace)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._ns[name]
        except KeyError:
            raise _Undefined(name) from None


class _Undefined(AttributeError):
    def __init__(self, name: str) -> None:
        super().__init__(f"define `{name}` above (and run its cell) before checking")
        self.name = name


def _student_frames(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-6:])


def run_case(case: TestCase, namespace: dict[str, Any]) -> TestResult:
    """Run one test against the notebook's namespace and describe the outcome."""
    import numpy as np

    fixtures = {"sub": _Namespace(namespace), "rng": np.random.default_rng(case.seed),
                "ref": None}
    result = TestResult(case.question, case.name, case.points, "passed")
    try:
        if "ref" in case.fixtures:
            raise RuntimeError("this test needs the reference solution; it runs in the grader")
        case.func(**{name: fixtures[name] for name in case.fixtures})
    except _Undefined as exc:
        result.status, result.message = "missing", str(exc)
    except NotImplementedError as exc:
        what = str(exc) if str(exc).startswith("Exercise") else "This exercise"
        result.status = "not-done"
        result.message = f"{what} is not done yet: replace `raise NotImplementedError` with code"
    except NameError as exc:
        name = getattr(exc, "name", None) or str(exc)
        result.status = "error"
        result.message = f"define `{name}` above (and run its cell): {exc}"
    except AssertionError as exc:
        result.status, result.message = "failed", str(exc) or "assertion failed"
    except Exception as exc:  # noqa: BLE001 - a student's bug is a result, not a crash
        result.status, result.message = "error", _student_frames(exc)
    return result


class Check:
    """``check("q1")`` runs question q1's public tests; see the module docstring."""

    def __init__(self, lab: str, public_tests: dict[str, str], namespace: dict[str, Any]):
        self.lab, self.namespace = lab, namespace
        self.cases: list[TestCase] = []
        for filename, source in sorted(public_tests.items()):
            self.cases += [c for c in load_source(source, filename) if not c.hidden]

    @property
    def questions(self) -> list[str]:
        seen: list[str] = []
        for case in self.cases:
            if case.question not in seen:
                seen.append(case.question)
        return seen

    def __call__(self, question: str) -> CheckResult:
        cases = [c for c in self.cases if c.question == question]
        if not cases:
            known = ", ".join(self.questions) or "none"
            raise KeyError(f"no question {question!r} in {self.lab}; questions: {known}")
        result = CheckResult(f"{self.lab} {question}", [run_case(c, self.namespace) for c in cases])
        log_check(self.lab, question, result.score, result.max_score,
                  [(r.name, r.status, r.message) for r in result.results])
        return result

    def all(self) -> CheckResult:
        """Every public test of the lab."""
        result = CheckResult(f"{self.lab} (all public tests)",
                             [run_case(c, self.namespace) for c in self.cases])
        log_check(self.lab, "all", result.score, result.max_score,
                  [(r.name, r.status, r.message) for r in result.results])
        return result

    def export(self, path: str | Path | None = None, notebook: str | Path | None = None,
               student: str | None = None) -> Path:
        """Write the submission zip (the notebook + ``manifest.json``); returns its path."""
        name, data = find_notebook(notebook, self.namespace)
        json.loads(data.decode("utf-8"))  # fail here, not at grading time, if it is broken
        out = Path(path) if path else Path.cwd() / f"{self.lab}_submission.zip"
        inner = f"{self.lab}.ipynb"
        manifest = {"lab": self.lab, "student": student or os.environ.get("MLSYS_EDU_STUDENT"),
                    "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "source": name,
                    "files": {inner: {"sha256": hashlib.sha256(data).hexdigest(),
                                      "bytes": len(data)}}}
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(inner, data)
            zf.writestr("manifest.json", json.dumps(manifest, indent=1))
        print(f"Wrote {out}: submit this file. (It holds {name} as last saved: "
              "save the notebook first if you changed it.)")
        return out


def find_notebook(notebook: str | Path | None, namespace: dict[str, Any]) -> tuple[str, bytes]:
    """The running notebook's name and bytes: explicit path, Colab, or Jupyter's session."""
    if notebook is not None:
        path = Path(notebook)
        if not path.is_file():
            raise FileNotFoundError(f"no notebook at {path}; pass the path of your .ipynb")
        return path.name, path.read_bytes()
    try:
        from google.colab import _message  # type: ignore[import-not-found]
    except ImportError:
        _message = None
    if _message is not None:
        reply = _message.blocking_request("get_ipynb", timeout_sec=30)
        if reply and "ipynb" in reply:
            return "colab.ipynb", json.dumps(reply["ipynb"], indent=1).encode("utf-8")
        raise RuntimeError("Colab did not hand over the notebook; try again, or download it "
                           "(File > Download > .ipynb) and submit that file")
    for candidate in (os.environ.get("JPY_SESSION_NAME"), namespace.get("__session__")):
        if candidate and str(candidate).endswith(".ipynb") and Path(candidate).is_file():
            return Path(candidate).name, Path(candidate).read_bytes()
    raise FileNotFoundError(
        "could not find this notebook's file (not on Colab, and Jupyter did not say which "
        "file is open); call check.export(notebook='path/to/your_lab.ipynb')")


def make_check(lab: str, public_tests: dict[str, str], namespace: dict[str, Any]) -> Check:
    """The ``check`` object for one lab's notebook (see the module docstring)."""
    return Check(lab, public_tests, namespace)

