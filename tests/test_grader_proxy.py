"""``sub`` in the judge: what a test can do with the proxy, end to end through one child."""

from __future__ import annotations

import os


import pytest

from grader_fixtures.make import make_notebook
from mlsys_edu.grader import GradeOptions, grade_submission
from mlsys_edu.lab.layout import Lab

LAB_SOURCE = '''# %% tags=["export"]
def check_positive(x):
    if x <= 0:
        raise ValueError("x must be positive")
    return x
'''

TESTS = '''from mlsys_edu.lab import question
import numpy as np
import pandas as pd
import pytest


@question("q1", points=1, timeout_s=5)
def test_student_exception_is_catchable(sub):
    with pytest.raises(ValueError, match="positive"):
        sub.check_positive(-1)


@question("q1", points=1, timeout_s=5)
def test_objects_stay_remote_but_usable(sub):
    box = sub.Box(3)
    box.extra = [1, 2]            # setattr on a handle
    assert box.total() == 6
    assert len(box) == 3 and 2 in box and list(box) == [0, 1, 2]
    assert box[1] == 10 and bool(box)
    assert "Box object in the submission" in repr(box)


@question("q1", points=1, timeout_s=5)
def test_data_comes_back_as_data(sub):
    frame = sub.frame()
    assert isinstance(frame, pd.DataFrame) and frame["a"].tolist() == [1, 2]
    arr = sub.squares(np.arange(4))
    assert isinstance(arr, np.ndarray) and arr.tolist() == [0, 1, 4, 9]
    assert list(sub.gen(3)) == [0, 1, 2]
    assert sub.CONSTANT == {"k": (1, 2.5)}


@question("q1", points=1, timeout_s=5)
def test_a_judge_function_cannot_be_sent(sub):
    sub.apply(lambda x: x)


@question("q2", points=0, timeout_s=5, memory_mb=1500)
def test_the_sandbox_environment(sub):
    import os
    import resource

    env = sub.environment()
    assert env["HOME"] == sub.cwd() and env["MPLBACKEND"] == "Agg"
    assert env["OMP_NUM_THREADS"] == "1"
    assert not [k for k in env if k.startswith("MLSYS_") and k != "MLSYS_EDU_DATA"]
    assert "JUDGE_SECRET" not in env
    limits = sub.limits()
    assert limits["as"] == 1500 * 2**20  # this test's memory_mb
    assert limits["nproc"] != resource.RLIM_INFINITY and limits["cpu"] > 0
    assert limits["fsize"] == 256 * 2**20
    if os.geteuid() == 0:
        assert sub.uid() != 0


@question("q1", points=1, timeout_s=5)
def test_hasattr_sees_missing_names(sub):
    assert hasattr(sub, "Box") and not hasattr(sub, "nothing_here")
    sub.nothing_here
'''

NOTEBOOK = [
    LAB_SOURCE.split("\n", 1)[1],
    "import numpy as np\nimport pandas as pd\nCONSTANT = {'k': (1, 2.5)}",
    """
class Box:
    def __init__(self, n):
        self.n = n
    def __len__(self):
        return self.n
    def __iter__(self):
        return iter(range(self.n))
    def __contains__(self, item):
        return item in range(self.n)
    def __getitem__(self, i):
        return 10 * i
    def total(self):
        return self.n + sum(self.extra)

def frame():
    return pd.DataFrame({"a": [1, 2]})

def squares(x):
    return x ** 2

def gen(n):
    yield from range(n)

def apply(f):
    return f(1)

import os, resource

def environment():
    return dict(os.environ)

def cwd():
    return os.getcwd()

def uid():
    return os.getuid()

def limits():
    get = lambda r: resource.getrlimit(r)[0]
    return {"as": get(resource.RLIMIT_AS), "nproc": get(resource.RLIMIT_NPROC),
            "cpu": get(resource.RLIMIT_CPU), "fsize": get(resource.RLIMIT_FSIZE)}
""",
]


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    lab = Lab(root, "98", "proxy")
    lab.tests_dir.mkdir(parents=True)
    lab.source.write_text(LAB_SOURCE)
    (lab.tests_dir / "test_q1.py").write_text(TESTS)
    sub = root / "subs" / "alice.ipynb"
    sub.parent.mkdir()
    sub.write_bytes(make_notebook(NOTEBOOK))
    options = GradeOptions(preload=("numpy", "pandas", "pyarrow"), cell_timeout_s=10)
    os.environ["JUDGE_SECRET"] = os.environ["MLSYS_EDU_SECRET_TOKEN"] = "hunter2"
    try:
        return grade_submission(lab, sub, options=options)
    finally:
        del os.environ["JUDGE_SECRET"], os.environ["MLSYS_EDU_SECRET_TOKEN"]


def status(record, name):
    (test,) = [t for t in record["tests"] if t["name"] == name]
    return test["status"], test["message"]


def test_student_exceptions_keep_their_builtin_type(record):
    assert status(record, "test_student_exception_is_catchable") == ("passed", "")


def test_handles_forward_attribute_call_index_len_iter_contains(record):
    assert status(record, "test_objects_stay_remote_but_usable") == ("passed", "")


def test_frames_arrays_generators_and_constants_arrive_as_data(record):
    assert status(record, "test_data_comes_back_as_data") == ("passed", "")


def test_only_data_travels_to_the_child(record):
    state, message = status(record, "test_a_judge_function_cannot_be_sent")
    assert state == "error" and "cannot send a function" in message


def test_an_undefined_name_is_missing_and_says_so(record):
    state, message = status(record, "test_hasattr_sees_missing_names")
    assert state == "missing" and "does not define `nothing_here`" in message
    assert record["score"] == 3.0 and record["max_score"] == 5.0


def test_the_child_runs_scrubbed_limited_and_unprivileged(record):
    assert status(record, "test_the_sandbox_environment") == ("passed", "")
