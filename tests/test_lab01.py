"""Lab 01's reference solution (its export cells), checked against brute-force definitions on
random inputs with hypothesis. The questions in labs/01_weak_supervision/tests compare student
code with this reference, so the reference itself must be right."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from mlsys_edu.lab.source import solution_module_source  # noqa: E402
from mlsys_edu.lab.testing import random_weak_labels  # noqa: E402

LAB_SOURCE = Path(__file__).resolve().parents[1] / "labs" / "01_weak_supervision" / "lab.py"
FAST = settings(max_examples=40, deadline=None)


@pytest.fixture(scope="module")
def ref() -> types.ModuleType:
    module = types.ModuleType("lab01_reference")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(solution_module_source(LAB_SOURCE), str(LAB_SOURCE), "exec"), module.__dict__)
    return module


@st.composite
def label_matrices(draw, max_k: int = 4):
    k = draw(st.integers(2, max_k))
    L = draw(hnp.arrays(np.int8, st.tuples(st.integers(1, 30), st.integers(1, 6)),
                        elements=st.integers(-1, k - 1)))
    return L, k


@given(label_matrices())
@FAST
def test_analysis_matches_brute_force(ref, case):
    L, k = case
    n, m = L.shape
    coverage, overlaps, conflicts = (np.zeros(m) for _ in range(3))
    for i in range(n):
        labels = {v for v in L[i] if v != -1}
        for j in range(m):
            if L[i, j] == -1:
                continue
            coverage[j] += 1 / n
            overlaps[j] += (sum(v != -1 for v in L[i]) > 1) / n
            conflicts[j] += (len(labels) > 1) / n
    np.testing.assert_allclose(ref.lf_coverage(L), coverage, atol=1e-12)
    np.testing.assert_allclose(ref.lf_overlaps(L), overlaps, atol=1e-12)
    np.testing.assert_allclose(ref.lf_conflicts(L), conflicts, atol=1e-12)
    assert ref.lf_polarity(L) == [sorted({int(v) for v in L[:, j] if v != -1}) for j in range(m)]


@given(label_matrices(), st.integers(0, 2**16))
@FAST
def test_majority_vote_matches_brute_force(ref, case, seed):
    L, k = case
    expected = []
    for row in L:
        counts = np.bincount(row[row != -1], minlength=k)
        top = np.flatnonzero(counts == counts.max())
        expected.append(int(top[0]) if len(top) == 1 and counts.max() > 0 else -1)
    np.testing.assert_array_equal(ref.majority_vote(L, k), expected)
    randomised = ref.majority_vote(L, k, tie_break="random", seed=seed)
    counts = ref.vote_counts(L, k)
    assert (counts[np.arange(len(L)), randomised] == counts.max(axis=1)).all()
    decided = np.asarray(expected) != -1
    np.testing.assert_array_equal(randomised[decided], np.asarray(expected)[decided])


@given(label_matrices())
@FAST
def test_unique_rows_round_trip(ref, case):
    L, k = case
    rows, inverse, counts = ref.unique_rows(L, k)
    np.testing.assert_array_equal(rows[inverse], L)
    assert counts.sum() == len(L) and len(np.unique(rows, axis=0)) == len(rows)


def test_unique_rows_without_integer_codes(ref):
    rng = np.random.default_rng(0)
    L = random_weak_labels(rng, 500, 50, 2)[0]  # 3**50 overflows int64: the sorting path
    L[250:] = L[:250]
    rows, inverse, counts = ref.unique_rows(L, 2)
    np.testing.assert_array_equal(rows[inverse], L)
    assert len(rows) <= 250


def _brute_posterior(model, L: np.ndarray) -> np.ndarray:
    k = model.cardinality
    out = np.zeros((len(L), k))
    for i, row in enumerate(L):
        for y in range(k):
            out[i, y] = model.class_balance_[y] * np.prod(
                [model.confusion_[j, y, v + 1] for j, v in enumerate(row)])
    return out / out.sum(axis=1, keepdims=True)


@given(st.integers(0, 2**16), st.integers(2, 3), st.integers(1, 8))
@settings(max_examples=15, deadline=None)
def test_label_model_posterior_is_bayes_rule(ref, seed, k, m):
    L = random_weak_labels(np.random.default_rng(seed), 300, m, k)[0]
    model = ref.DawidSkene(cardinality=k).fit(L)
    np.testing.assert_allclose(model.predict_proba(L), _brute_posterior(model, L), atol=1e-9)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    assert np.isclose(model.class_balance_.sum(), 1.0)


def test_label_model_ignores_row_order_and_duplication(ref):
    L = random_weak_labels(np.random.default_rng(1), 2000, 7, 2)[0]
    base = ref.DawidSkene().fit(L).predict_proba(L)
    order = np.random.default_rng(2).permutation(len(L))
    np.testing.assert_allclose(ref.DawidSkene().fit(L[order]).predict_proba(L), base, atol=1e-9)
    doubled = ref.DawidSkene().fit(np.vstack([L, L])).predict_proba(L)
    np.testing.assert_allclose(doubled, base, atol=0.01)  # only the pseudo-count weighs less


def test_label_model_beats_majority_vote_on_a_known_model(ref):
    acc = np.array([0.95, 0.9, 0.6, 0.58, 0.56, 0.55, 0.55])
    L, y = random_weak_labels(np.random.default_rng(3), 20_000, 7, 2, accuracies=acc,
                              propensities=0.6)
    model = ref.DawidSkene().fit(L)
    np.testing.assert_allclose(model.accuracies_, acc, atol=0.03)
    mv = ref.majority_vote(L, 2, tie_break="random")
    assert (model.predict(L) == y).mean() > (mv == y).mean() + 0.03


@pytest.mark.parametrize("bad, value, where", [
    (np.array([[0, 1], [1, 5]]), "5", "row 1, column 1"),
    (np.array([[0.0, np.nan]]), "NaN", "row 0, column 1"),
    (np.array([[0, -3]]), "-3", "row 0, column 1"),
])
def test_validation_names_value_and_position(ref, bad, value, where):
    with pytest.raises(ValueError) as info:
        ref.validate_label_matrix(bad, 2)
    assert value in str(info.value) and where in str(info.value)


@pytest.mark.parametrize("bad", [np.zeros((0, 3), dtype=np.int8), np.array([0, 1]),
                                 np.array([[0.0, 1.0]]), np.array([["a"]])])
def test_validation_refuses_shapes_and_dtypes(ref, bad):
    with pytest.raises(ValueError):
        ref.validate_label_matrix(bad)


@given(st.lists(st.text(alphabet="abcMY (check)+out$.5", max_size=20), min_size=1, max_size=30))
@FAST
def test_vectorised_lfs_agree_with_rows(ref, texts):
    df = pd.DataFrame({"text": texts})
    fast = ref.fast_strings(df)
    for lf in (ref.keyword_lf("k", ["my", "c+", "$"], 1), ref.regex_lf("r", r"check.*out", 0),
               ref.regex_lf("look", r"a(?=b)", 1)):  # a look-ahead: RE2 falls back to re
        rows = [lf(row) for row in df.itertuples(index=False)]
        np.testing.assert_array_equal(lf.vectorized(fast), rows)
        np.testing.assert_array_equal(lf.vectorized(df), rows)


def test_applier_names_a_broken_lf(ref):
    df = pd.DataFrame({"text": ["a", "b"]})
    broken = ref.LabelingFunction("returns_text", lambda row: row.text)
    with pytest.raises(ValueError, match="returns_text"):
        ref.apply_lfs(df, [broken])
    out_of_range = ref.LabelingFunction("minus_two", lambda row: -2)
    with pytest.raises(ValueError, match="minus_two"):
        ref.apply_lfs(df, [out_of_range])


def test_soft_cross_entropy_needs_matching_shapes(ref):
    with pytest.raises(ValueError):
        ref.soft_cross_entropy(np.zeros((3, 2)), np.zeros((2, 2)))
