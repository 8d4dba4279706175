"""Every lab in the repository passes its self-test: the solution scores full marks and the
student stubs score zero on every question with an exercise. A lab whose tests cannot fail, or
whose solution fails them, cannot land."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlsys_edu.lab.layout import find_labs
from mlsys_edu.selftest import selftest

REPO = Path(__file__).resolve().parents[1]
LABS = find_labs(REPO)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_selftest(lab):
    report = selftest(lab)
    print(report.table())
    assert report.passed, "\n".join(report.failures)
    assert report.rows, "a lab with no questions grades nothing"
