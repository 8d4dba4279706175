"""The Performance page: recorded benchmark results (committed) unless a newer full run is in
build/bench; ``mlsys-edu bench --record`` merges a run into the record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlsys_edu.bench.record import merge_run, read_record, record_run, render
from mlsys_edu.bench.report import write_all
from mlsys_edu.course.site import _performance_page, performance_source

REPO = Path(__file__).resolve().parents[1]


def run(date: str, names: tuple[str, ...], quick: bool = False, seconds: float = 1.0) -> dict:
    """A results dict as ``mlsys-edu bench`` writes it, with one case per comparison."""
    side = {"status": "ok", "samples_s": [seconds] * 3, "median": seconds, "min": seconds,
            "max": seconds, "metrics": {}}
    other = dict(side, samples_s=[2 * seconds] * 3, median=2 * seconds, min=2 * seconds,
                 max=2 * seconds)
    return {"machine": {"date": date, "cores": 2, "cpu": "test CPU", "memory_gib": 24.0,
                        "os": "Linux", "python": "3.11.7", "numpy": "2.4.0", "torch": None,
                        "gpu": None, "load_avg_1m": 1.0},
            "quick": quick, "repeats": 3,
            "comparisons": [{"name": n, "title": f"{n} title", "anchor": "otter",
                             "sides": ["ours", "anchor"], "status": "ok",
                             "cases": [{"label": "case", "params": {},
                                        "sides": {"ours": side, "anchor": other},
                                        "versus": {"anchor": {"speedup": 2.0,
                                                              "ratio": 0.5}}}]}
                            for n in names]}


def test_merge_keeps_each_comparison_from_its_latest_run():
    first = run("2026-11-01 10:00 UTC", ("grading", "applier"))
    second = run("2026-11-20 10:00 UTC", ("grading",), seconds=0.5)
    record = merge_run(merge_run({"runs": []}, first), second)
    assert [r["machine"]["date"] for r in record["runs"]] == ["2026-11-20 10:00 UTC",
                                                               "2026-11-01 10:00 UTC"]
    assert [c["name"] for c in record["runs"][1]["comparisons"]] == ["applier"]
    again = merge_run(record, run("2026-11-21 10:00 UTC", ("applier",)))
    assert [r["machine"]["date"] for r in again["runs"]] == ["2026-11-21 10:00 UTC",
                                                              "2026-11-20 10:00 UTC"]
    text = render(again)
    assert text.startswith("# Performance") and text.count("## Benchmark results") == 2
    assert "![grading title: median seconds per side and case; on the largest case ours " \
           "is 2x faster than anchor](grading.png)" in text


def test_record_run_writes_the_committed_files_and_refuses_quick_runs(tmp_path):
    out = tmp_path / "build" / "bench"
    results = run("2026-11-20 10:00 UTC", ("grading",))
    write_all(results, out)
    written = record_run(results, out, REPO, tmp_path / "record")
    assert {p.name for p in written} == {"results.json", "results.md", "grading.png"}
    saved = read_record(tmp_path / "record")
    assert saved["runs"][0]["versions"]["numpy"] and "anchors" in saved["runs"][0]["versions"]
    assert "Versions: mlsys-edu" in (tmp_path / "record" / "results.md").read_text()
    with pytest.raises(ValueError, match="quick"):
        record_run(run("2026-11-21 10:00 UTC", ("grading",), quick=True), out, REPO,
                   tmp_path / "record")


def _course(tmp_path: Path, recorded: dict | None, built: dict | None) -> Path:
    root = tmp_path / "course"
    if recorded is not None:
        out = tmp_path / "recorded_run"
        write_all(recorded, out)
        record_run(recorded, out, REPO, root / "benchmarks" / "results")
    if built is not None:
        write_all(built, root / "build" / "bench")
    return root


def test_a_fresh_clone_shows_the_recorded_figures(tmp_path):
    root = _course(tmp_path, run("2026-11-20 10:00 UTC", ("grading",)), None)
    docs = root / "build" / "docs"
    page = _performance_page(root, docs)
    assert "No benchmark results yet" not in page
    assert "Measured 2026-11-20 10:00 UTC on 2 cores (test CPU)" in page
    assert "](performance/grading.png)" in page
    assert (docs / "performance" / "grading.png").stat().st_size > 1000


@pytest.mark.parametrize("built_date, quick, expected", [
    ("2026-11-25 10:00 UTC", False, "build"),       # a newer full run replaces the record
    ("2026-11-25 10:00 UTC", True, "record"),       # a quick smoke run never does
    ("2026-11-01 10:00 UTC", False, "record")])     # nor an older run
def test_which_results_the_page_shows(tmp_path, built_date, quick, expected):
    root = _course(tmp_path, run("2026-11-20 10:00 UTC", ("grading",)),
                   run(built_date, ("grading",), quick=quick))
    source = performance_source(root)
    assert source == (root / "build" / "bench" if expected == "build"
                      else root / "benchmarks" / "results")


def test_nothing_recorded_nor_run(tmp_path):
    assert performance_source(tmp_path) is None
    assert "No benchmark results yet" in _performance_page(tmp_path, tmp_path / "docs")
    quick_only = _course(tmp_path, None, run("2026-11-25 10:00 UTC", ("grading",), quick=True))
    assert performance_source(quick_only) == quick_only / "build" / "bench"


def test_the_repository_holds_a_recorded_run():
    """What a fresh clone's `make course` renders: a committed full run with its figures."""
    record = json.loads((REPO / "benchmarks" / "results" / "results.json").read_text())
    assert record["runs"] and not any(r["quick"] for r in record["runs"])
    for r in record["runs"]:
        assert r["machine"]["date"] and r["versions"]["commit"]
        for c in r["comparisons"]:
            assert (REPO / "benchmarks" / "results" / f"{c['name']}.png").is_file()
    page = (REPO / "benchmarks" / "results" / "results.md").read_text()
    assert "## Benchmark results" in page and "Measured " in page
