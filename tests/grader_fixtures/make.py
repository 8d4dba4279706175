"""Submissions for the grader's tests, written at test time from code strings.

``make_notebook(cells)`` gives an ``.ipynb``'s bytes (first cell: the course's tagged setup
cell); ``catalog()`` names each submission with its notebook bytes and what the grader must
say about it (``Expect``). The fixture lab ``labs/99_mini`` has 9 points: q1, q2, q3 with one
public (1 point) and one hidden (2 points) test each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from mlsys_edu.lab.source import parse_lab_source

FIXTURES = Path(__file__).resolve().parent
LAB_DIR = FIXTURES / "labs" / "99_mini"
MAX_SCORE = 9.0

SETUP = ('from mlsys_edu.grader.student import make_check\n'
         'check = make_check("99_mini", PUBLIC_TESTS, globals())')
# The fixture lab's own solution cells, in order: imports, mean, check q1, normalize, check q2,
# Counter and count_frame, check q3. Variants below swap one of them.
CORRECT = [cell.solution_source()
           for cell in parse_lab_source(LAB_DIR / "lab.py").code_cells]
IMPORTS, MEAN, _, NORMALIZE, _, COUNTER, _ = CORRECT
WRONG_MEAN = "def mean(xs):\n    return sum(xs) / len(xs) + 1"


def make_notebook(cells: list[str], setup: bool = True) -> bytes:
    """An ``.ipynb`` (nbformat 4) holding ``cells`` as code cells, after the setup cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# Lab 99"))
    if setup:
        nb.cells.append(nbformat.v4.new_code_cell(SETUP, metadata={"tags": ["mlsys_edu:setup"]}))
    nb.cells += [nbformat.v4.new_code_cell(src) for src in cells]
    return nbformat.writes(nb).encode("utf-8")


def with_mean(mean_source: str) -> list[str]:
    """The correct notebook with ``mean`` replaced."""
    return [IMPORTS, mean_source, NORMALIZE, COUNTER]


@dataclass
class Expect:
    """What grading a submission must give."""

    score: float | None = None
    status: str = "graded"
    tests: dict[str, str] = field(default_factory=dict)  # test name -> status
    cell_status: list[str] = field(default_factory=list)  # some cell has one of these


Q1 = ("test_mean_small", "test_mean_matches_reference")


def _q1(status: str) -> dict[str, str]:
    return {name: status for name in Q1}


def catalog() -> dict[str, tuple[bytes, Expect]]:
    """Every fixture submission: ``name -> (bytes, Expect)``; names are the student ids."""
    hidden_test = LAB_DIR / "tests" / "test_q1.py"
    lab_source = LAB_DIR / "lab.py"
    nb = make_notebook
    subs: dict[str, tuple[bytes, Expect]] = {
        "correct": (nb(CORRECT), Expect(MAX_SCORE, tests={"test_count_frame": "passed"})),
        "wrong_mean": (nb(with_mean(WRONG_MEAN)), Expect(6.0, tests=_q1("failed"))),
        "stub": (nb(with_mean('def mean(xs):\n    raise NotImplementedError("Exercise 1.1")')),
                 Expect(6.0, tests=_q1("error"))),
        "renamed": (nb(with_mean("def average(xs):\n    return sum(xs) / len(xs)")),
                    Expect(6.0, tests=_q1("missing"))),
        "loop_cell": (nb(["while True:\n    pass", *CORRECT]),
                      Expect(MAX_SCORE, cell_status=["timeout"])),
        "loop_func": (nb(with_mean("def mean(xs):\n    while True:\n        pass")),
                      Expect(6.0, tests=_q1("timeout"))),
        "membomb_func": (nb(with_mean("def mean(xs):\n    x = bytearray(64 * 2**30)\n"
                                      "    return 0")), Expect(6.0, tests=_q1("out-of-memory"))),
        "membomb_cell": (nb(["hog = bytearray(64 * 2**30)", *CORRECT]),
                         Expect(MAX_SCORE, cell_status=["error"])),
        "forkbomb": (nb(["import os\nwhile True:\n    os.fork()", *CORRECT]),
                     Expect(MAX_SCORE, cell_status=["error", "timeout"])),
        "sys_exit_cell": (nb(["import sys\nsys.exit(0)", *CORRECT]),
                          Expect(MAX_SCORE, cell_status=["error"])),
        "os_exit_cell": (nb(["import os\nos._exit(0)", *CORRECT]),
                         Expect(MAX_SCORE, cell_status=["crashed"])),
        "raise_systemexit_cell": (nb(["raise SystemExit", *CORRECT]),
                                  Expect(MAX_SCORE, cell_status=["error"])),
        "keyboardinterrupt_cell": (nb(["raise KeyboardInterrupt", *CORRECT]),
                                   Expect(MAX_SCORE, cell_status=["error"])),
        "sys_exit_func": (nb(with_mean("def mean(xs):\n    import sys\n    sys.exit(0)")),
                          Expect(6.0, tests=_q1("error"))),
        "os_exit_func": (nb(with_mean("def mean(xs):\n    import os\n    os._exit(0)")),
                         Expect(6.0, tests=_q1("crashed"))),
        "raise_systemexit_func": (nb(with_mean("def mean(xs):\n    raise SystemExit")),
                                  Expect(6.0, tests=_q1("error"))),
        "keyboardinterrupt_func": (nb(with_mean("def mean(xs):\n    raise KeyboardInterrupt")),
                                   Expect(6.0, tests=_q1("error"))),
        "monkeypatch": (nb([
            "import numpy as np, pytest\n"
            "np.testing.assert_allclose = lambda *a, **k: None\n"
            "pytest.approx = lambda *a, **k: True\n"
            "import mlsys_edu.grader.judge as judge, mlsys_edu.grader.proxy as proxy\n"
            "judge.classify = lambda exc: ('passed', '')\n"
            "proxy.Remote.__eq__ = lambda self, other: True",
            IMPORTS,
            "def mean(xs):\n    return 0",
            "def normalize(v):\n    return v",
            COUNTER]), Expect(3.0, tests={**_q1("failed"), "test_normalize_unit": "failed"})),
        "read_hidden": (nb([
            f"print(open({str(hidden_test)!r}).read())",
            f"print(open({str(lab_source)!r}).read())",
            *CORRECT]), Expect(MAX_SCORE, cell_status=["error"])),
        "fake_results": (nb([
            "import json, os\n"
            "fake = {'score': 9, 'tests': [{'score': 9, 'status': 'passed'}]}\n"
            "json.dump(fake, open('results.json', 'w'))\n"
            "os.makedirs('/autograder/results', exist_ok=True)\n"
            "json.dump(fake, open('/autograder/results/results.json', 'w'))",
            "print('All tests passed! Score: 9/9')",
            IMPORTS, "def mean(xs):\n    return 0", NORMALIZE, COUNTER]),
            Expect(6.0, tests=_q1("failed"))),
        "always_equal": (nb(with_mean(
            "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
            "    def __ne__(self, other):\n        return False\n"
            "def mean(xs):\n    return AlwaysEqual()")), Expect(6.0, tests=_q1("failed"))),
        "big_answer": (nb(with_mean("def mean(xs):\n    return np.zeros(2**27)")),
                       Expect(6.0, tests=_q1("refused"))),
        "background": (nb([
            "import subprocess\n"
            "subprocess.Popen(['sleep', '300'], start_new_session=True)",
            "import os\nif os.fork() == 0:\n    os.setsid()\n    import time\n"
            "    time.sleep(300)\n    os._exit(0)",
            *CORRECT]), Expect(MAX_SCORE)),
        "drop_in_tmp": (nb([
            "open('/tmp/mlsys_edu_drop.txt', 'w').write('answers for the next student')",
            *CORRECT]), Expect(MAX_SCORE)),
        "magics": (nb(["%matplotlib inline", "!pip install --no-index nothing",
                       "display('hello')", *CORRECT]), Expect(MAX_SCORE)),
        "delete_files": (nb([
            "import os, shutil\n"
            "for name in os.listdir('.'):\n    shutil.rmtree(name, ignore_errors=True)\n"
            "    if os.path.exists(name):\n        os.remove(name)",
            *CORRECT]), Expect(MAX_SCORE)),
        "network": (nb([
            "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=1)",
            LOOPBACK_SERVER,
            *CORRECT]), Expect(MAX_SCORE, cell_status=["error"])),
        "bad_json": (b'{"cells": [{"cell_type": "code", "source": "x = 1"', Expect(
            0.0, status="unreadable")),
        "not_utf8": (b'{"cells": []}\xff\xfe\xfa', Expect(0.0, status="unreadable")),
        "lost_cells": (json.dumps({"nbformat": 4, "metadata": {}}).encode(),
                       Expect(0.0, status="unreadable")),
    }
    return subs


# A server and its client in one cell, on 127.0.0.1: the sandbox keeps loopback working (a
# test may start the student's server) while everything else stays unreachable.
LOOPBACK_SERVER = (
    "import socket, threading\n"
    "server = socket.socket()\nserver.bind(('127.0.0.1', 0))\nserver.listen()\n"
    "def answer():\n    conn, _ = server.accept()\n    conn.sendall(conn.recv(5)[::-1])\n"
    "threading.Thread(target=answer).start()\n"
    "client = socket.create_connection(server.getsockname(), timeout=2)\n"
    "client.sendall(b'hello')\nassert client.recv(5) == b'olleh'")


def write_catalog(folder: Path, names: list[str] | None = None,
                  copies: int = 1) -> dict[str, Expect]:
    """Write submissions as ``folder/<name>.ipynb`` (``copies`` of each); their Expects."""
    folder.mkdir(parents=True, exist_ok=True)
    expects = {}
    for name, (data, expect) in catalog().items():
        if names is not None and name not in names:
            continue
        for k in range(copies):
            student = name if copies == 1 else f"{name}-{k}"
            (folder / f"{student}.ipynb").write_bytes(data)
            expects[student] = expect
    return expects
