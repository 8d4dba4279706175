"""The grader: student-side ``check``/``export``, the trusted judge and its sandbox.

Importing this package stays light (the student notebook imports ``grader.student``); the
judge's names load on first use.
"""

from __future__ import annotations

from typing import Any

from mlsys_edu.lab.questions import question

__all__ = ["GradeOptions", "grade_batch", "grade_submission", "question"]


def __getattr__(name: str) -> Any:
    if name in ("grade_submission", "grade_batch"):
        from mlsys_edu.grader import judge

        return getattr(judge, name)
    if name == "GradeOptions":
        from mlsys_edu.grader.sandbox import GradeOptions

        return GradeOptions
    raise AttributeError(f"module 'mlsys_edu.grader' has no attribute {name!r}")
