"""Every lab in the repository passes its self-test: the solution scores full marks (its cells
running clean under the judge) and the student stubs score zero on every question with an
exercise; and a small sample of plausible wrong solutions (mutants) each loses points, unless
the lab's mutants.toml explains why it cannot. A lab whose tests cannot fail, or whose solution
fails them, cannot land."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlsys_edu.lab.layout import find_labs
from mlsys_edu.selftest import selftest

REPO = Path(__file__).resolve().parents[1]
LABS = find_labs(REPO)
CI_MUTANTS = int(os.environ.get("MLSYS_EDU_CI_MUTANTS", "6"))

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("lab", LABS, ids=[lab.name for lab in LABS])
def test_lab_selftest_and_a_sample_of_mutants(lab, offline_data):
    report = selftest(lab, mutants=CI_MUTANTS, seed=0)
    print(report)
    print(report.mutants)
    assert report.passed, "\n".join(report.failures)
    assert report.rows, "a lab with no questions grades nothing"
    mutants = report.mutants
    assert all(r.status == "graded" for r in mutants.results), str(mutants)
    assert not mutants.unexplained, str(mutants)
