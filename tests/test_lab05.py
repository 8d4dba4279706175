"""Lab 05's reference solution and its plumbing: profiles merge associatively (hypothesis),
p-values are calibrated, bad input is reported and never crashes, and the Dask path runs on a
``distributed.LocalCluster``. The lab's questions compare student code with this reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlsys_edu.lab.source import load_solution_module  # noqa: E402
from mlsys_edu.labkit import monitoring, profiles  # noqa: E402

LAB_SOURCE = Path(__file__).resolve().parents[1] / "labs" / "05_monitoring" / "lab.py"
FAST = settings(max_examples=30, deadline=None)


@pytest.fixture(scope="module")
def ref():
    return load_solution_module(LAB_SOURCE)


def _new_profile(ref):
    return lambda kind: profiles.ColumnProfile(
        kind, ref.HyperLogLog(), ref.KLLSketch(k=64) if kind == profiles.NUMERIC else None)


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({"x": x, "c": rng.choice(list("abcdefg"), n, p=[.4, .2, .1, .1, .1, .05, .05])})


KINDS = {"x": profiles.NUMERIC, "c": profiles.CATEGORICAL}


@given(st.integers(0, 2**32 - 1), st.lists(st.integers(1, 3000), min_size=3, max_size=3))
@FAST
def test_profile_merge_is_associative_within_the_sketch_error(ref, seed, sizes):
    rng = np.random.default_rng(seed)
    parts = [_frame(rng, n) for n in sizes]
    a, b, c = (profiles.profile_frame(p, _new_profile(ref), KINDS) for p in parts)
    left = profiles.merge_profiles(profiles.merge_profiles(a, b), c)
    right = profiles.merge_profiles(a, profiles.merge_profiles(b, c))
    union = pd.concat(parts, ignore_index=True)
    for column in KINDS:
        lp, rp = left[column], right[column]
        # exact parts: counts, nulls and the HyperLogLog registers (max is associative)
        assert (lp.count, lp.nulls, lp.invalid) == (rp.count, rp.nulls, rp.invalid)
        assert lp.count == len(union) and lp.nulls == union[column].isna().sum()
        np.testing.assert_array_equal(lp.distinct.registers, rp.distinct.registers)
        exact_distinct = ref.HyperLogLog().add(union[column].dropna().to_numpy())
        np.testing.assert_array_equal(lp.distinct.registers, exact_distinct.registers)
        # frequent items: within the Misra-Gries bound of the true counts, either way round
        truth = union[column].dropna().value_counts()
        for prof in (lp, rp):
            for value, count in prof.frequent.counts.items():
                assert count <= truth.get(value, 0) <= count + prof.frequent.error
            assert prof.frequent.error <= prof.frequent.n / (prof.frequent.capacity + 1)
    # quantiles: both groupings within KLL's error of the exact ranks of the union
    values = union["x"].dropna().to_numpy()
    queries = np.quantile(values, np.linspace(0.05, 0.95, 19))
    exact = np.searchsorted(np.sort(values), queries, side="right") / len(values)
    for prof in (left["x"], right["x"]):
        assert prof.quantiles.n == len(values)
        assert np.max(np.abs(prof.quantiles.rank(queries) - exact)) <= 4 / 64


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=400), st.integers(0, 9))
@FAST
def test_kll_is_exact_below_capacity_and_merge_keeps_n(ref, values, seed):
    x = np.array(values)
    s = ref.KLLSketch(k=200, seed=seed).update(x)
    if len(x) <= 200:
        np.testing.assert_allclose(s.rank(x), np.searchsorted(np.sort(x), x, side="right") / len(x))
    merged = s.merge(ref.KLLSketch(k=200, seed=seed + 1).update(x[::-1]))
    assert merged.n == 2 * len(x)
    assert sum(len(level) * 2**h for h, level in enumerate(merged.levels)) == 2 * len(x)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=40))
@FAST
def test_corrections_against_statsmodels_definitions(ref, p):
    p = np.array(p)
    bh = ref.benjamini_hochberg(p)
    m = len(p)
    order = np.argsort(p)
    brute = np.array([min(1.0, min(m * p[order[j]] / (j + 1) for j in range(i, m)))
                      for i in range(m)])
    np.testing.assert_allclose(bh[order], brute)
    np.testing.assert_allclose(ref.bonferroni(p), np.minimum(1, m * p))
    assert np.all(bh <= ref.bonferroni(p) + 1e-12)


@pytest.mark.parametrize("n", [60, 400])
def test_p_values_are_calibrated_with_no_drift(ref, n):
    rng = np.random.default_rng(n)
    trials = 300
    ks = np.array([ref.ks_test(rng.normal(size=n), rng.normal(size=n))[1] for _ in range(trials)])
    cats = list("abcde")
    chi = np.array([ref.chi_square_test(rng.choice(cats, n), rng.choice(cats, n))[1]
                    for _ in range(trials)])
    for name, p in (("ks", ks), ("chi2", chi)):
        fpr = (p < 0.05).mean()
        assert 0.015 <= fpr <= 0.09, f"{name}: false-positive rate {fpr:.3f} at n={n}"
        # and the p-values are roughly uniform, not just right at 0.05
        assert abs(np.mean(p) - 0.5) < 0.06, f"{name}: mean p {np.mean(p):.3f}"


def test_goodness_of_fit_against_reference_shares_is_miscalibrated(ref):
    """Why the chi-square test compares two samples: treating the reference's shares as exact
    (what a goodness-of-fit test does) doubles the variance it ignores."""
    from scipy import stats

    rng = np.random.default_rng(0)
    cats = np.arange(6)
    wrong, right = [], []
    for _ in range(300):
        x, y = rng.choice(cats, 300), rng.choice(cats, 300)
        fx, fy = np.bincount(x, minlength=6), np.bincount(y, minlength=6)
        wrong.append(stats.chisquare(fy, fx / fx.sum() * fy.sum()).pvalue < 0.05)
        right.append(ref.chi_square_test(x, y)[1] < 0.05)
    assert np.mean(wrong) > 0.15 > 0.09 > np.mean(right)


# ---------------------------------------------------------------------------- bad input

@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"n_chars": rng.gamma(3, 10, 500), "video": rng.choice([1, 2, 3], 500)})
    current = pd.DataFrame({"n_chars": rng.gamma(3, 10, 200), "video": rng.choice([1, 2, 3], 200)})
    return reference, current


def _report(ref, reference, current):
    return monitoring.drift_report(reference, current, ref.TESTS)


def test_clean_window_reports_no_drift(ref, frames):
    report = _report(ref, *frames)
    assert list(report.index) == ["n_chars", "video"]
    assert (report["status"] == "ok").all() and not report["drifted"].any()
    assert list(report["test"]) == ["ks_test", "chi_square_test"]


@pytest.mark.parametrize("case, column, status, words", [
    ("nan", "n_chars", "nulls", "nulls rose"),
    ("renamed", "n_chars", "missing", "'length'"),
    ("missing", "video", "missing", "upstream"),
    ("empty", "n_chars", "empty", "no rows"),
    ("all_null", "video", "empty", "null in all"),
    ("unseen", "video", "ok", "unseen categories: '9'"),
    ("type", "n_chars", "type_changed", "fix the upstream cast"),
])
def test_bad_input_is_reported_and_counts_as_drift(ref, frames, case, column, status, words):
    reference, current = frames
    current = current.copy()
    if case == "nan":
        current.loc[current.index[:80], "n_chars"] = np.nan
    elif case == "renamed":
        current = current.rename(columns={"n_chars": "length"})
    elif case == "missing":
        current = current.drop(columns="video")
    elif case == "empty":
        current = current.iloc[:0]
    elif case == "all_null":
        current["video"] = np.nan
    elif case == "unseen":
        current.loc[current.index[:50], "video"] = 9
    elif case == "type":
        current["n_chars"] = current["n_chars"].map(lambda v: f"{v:.0f} chars")
    report = _report(ref, reference, current)
    row = report.loc[column]
    assert row["status"] == status and words in row["detail"], row.to_dict()
    assert bool(row["drifted"]), "a column that cannot be trusted counts as drifted"
    if case == "renamed":
        assert report.loc["length", "status"] == "new"
    if case == "nan":
        assert np.isfinite(row["p_value"]), "the non-null values are still tested"


def test_report_refuses_what_is_not_a_frame(ref, frames):
    with pytest.raises(TypeError, match="two DataFrames"):
        _report(ref, frames[0], frames[1]["n_chars"])
    with pytest.raises(ValueError, match="reference is empty"):
        _report(ref, frames[0].iloc[:0], frames[1])


def test_profile_counts_invalid_values_of_a_numeric_column(ref):
    prof = _new_profile(ref)(profiles.NUMERIC).add(pd.Series([1.0, "12 chars", None, 3.0]))
    assert (prof.count, prof.nulls, prof.invalid, prof.quantiles.n) == (4, 1, 1, 2)
    with pytest.raises(ValueError, match="type change"):
        prof.combine(_new_profile(ref)(profiles.CATEGORICAL))


def test_inject_drift_kinds_and_errors():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"text": ["a love song", "buy cheap now " * 5, "hi", "my channel"] * 50,
                          "label": [0, 1, 0, 1] * 50})
    assert monitoring.inject_drift(frame, "label", rng)["label"].mean() > 0.6
    assert monitoring.inject_drift(frame, "concept", rng)["label"].mean() > 0.7
    assert monitoring.inject_drift(frame, "broken_feature", rng)["text"].str.len().max() <= 20
    with pytest.raises(ValueError, match="unknown drift kind"):
        monitoring.inject_drift(frame, "sideways", rng)


def test_alert_rule_end_to_end_with_run_monitor(ref):
    windows = [pd.DataFrame({"v": [value]}) for value in (0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0)]
    rule = ref.AlertRule("high v", "v", 0.5, fire_after=2, clear_after=2)
    table, alerts = monitoring.run_monitor(windows, lambda w: {"v": {"col": w["v"].iloc[0]}},
                                           [rule], times=[f"t{i}" for i in range(7)])
    assert len(table) == 7 and len(alerts) == 1
    assert alerts[0].since == "t2" and alerts[0].resolved_window == 6
    assert "since window 2 (t2); resolved at window 6" in alerts[0].message()


# ---------------------------------------------------------------------------- Dask

def test_profiles_on_a_dask_local_cluster(ref):
    distributed = pytest.importorskip("distributed")
    dd = pytest.importorskip("dask.dataframe")
    rng = np.random.default_rng(3)
    frame = _frame(rng, 40_000)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        merged = profiles.profile_partitions(
            dd.from_pandas(frame, npartitions=6),
            lambda part: profiles.profile_frame(part, _new_profile(ref), KINDS),
            profiles.merge_profiles)
    local = profiles.profile_partitions(
        [frame.iloc[i::3] for i in range(3)],
        lambda part: profiles.profile_frame(part, _new_profile(ref), KINDS),
        profiles.merge_profiles)
    for prof in (merged, local):
        assert prof["x"].count == 40_000 and prof["x"].nulls == frame["x"].isna().sum()
        values = frame["x"].dropna().to_numpy()
        assert abs(float(prof["x"].quantiles.quantile(0.5)) - np.median(values)) < 0.1
        assert abs(prof["c"].distinct.estimate() - 7) < 1
    np.testing.assert_array_equal(merged["x"].distinct.registers, local["x"].distinct.registers)
    with pytest.raises(ValueError, match="nothing to reduce"):
        profiles.tree_reduce([], lambda a, b: a)
