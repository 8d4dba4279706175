"""Question q6: the Dawid-Skene label model."""

import numpy as np
import pytest

from mlsys_edu.lab import question
from mlsys_edu.lab.testing import assert_names_position, random_weak_labels

TRUE_ACC = np.array([0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.9])


@question("q6", points=3)
def test_recovers_a_known_model(sub, rng):
    L, y = random_weak_labels(rng, 20_000, 8, accuracies=TRUE_ACC, propensities=0.5,
                              class_balance=np.array([0.3, 0.7]))
    model = sub.DawidSkene(cardinality=2).fit(L)
    np.testing.assert_allclose(model.class_balance_, [0.3, 0.7], atol=0.02)
    np.testing.assert_allclose(model.accuracies_, TRUE_ACC, atol=0.03)
    # probabilities: the class balance and every row of the confusion tables sum to one
    np.testing.assert_allclose(np.sum(model.class_balance_), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.asarray(model.confusion_).sum(axis=2), 1.0, atol=1e-9)


@question("q6", points=2)
def test_probabilities_and_predictions(sub, rng):
    L, y = random_weak_labels(rng, 5_000, 8, accuracies=TRUE_ACC, propensities=0.5)
    model = sub.DawidSkene(cardinality=2).fit(L)
    probs = np.asarray(model.predict_proba(L))
    assert probs.shape == (5_000, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(model.predict(L), probs.argmax(axis=1))
    votes = (L == 1).sum(1) - (L == 0).sum(1)
    majority = np.where(votes > 0, 1, 0)  # ties to 0, a simple baseline
    assert (model.predict(L) == y).mean() >= (majority == y).mean(), \
        "the label model should beat majority vote when LF accuracies differ"


@question("q6", points=1)
def test_label_model_refuses_bad_input(sub):
    L = np.array([[0, 1], [1, -1], [3, 0]])
    with pytest.raises(ValueError) as info:
        sub.DawidSkene(cardinality=2).fit(L)
    assert_names_position(info.value, 3, 2, 0)


@question("q6", points=3, hidden=True)
def test_matches_reference_on_random_models(sub, ref, rng):
    for n, m, k in ((3000, 10, 2), (3000, 6, 3), (2000, 12, 2)):
        L, _ = random_weak_labels(rng, n, m, k)
        ours = np.asarray(sub.DawidSkene(cardinality=k).fit(L).predict_proba(L))
        theirs = ref.DawidSkene(cardinality=k).fit(L).predict_proba(L)
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).mean() < 0.01, f"{n}x{m}, {k} classes"
        assert (ours.argmax(1) == theirs.argmax(1)).mean() > 0.99


@question("q6", points=3, hidden=True)
def test_edge_cases(sub, ref, rng):
    L, y = random_weak_labels(rng, 2000, 6, 3, accuracies=0.8, propensities=0.6)
    L[:100] = -1          # rows where every LF abstains
    L[:, 4] = -1          # an LF with zero coverage
    model = sub.DawidSkene(cardinality=3).fit(L)
    probs = np.asarray(model.predict_proba(L))
    assert np.isfinite(probs).all() and np.allclose(probs.sum(1), 1)
    assert np.allclose(probs[:100], probs[0]), "all-abstain rows share one posterior"
    assert (model.predict(L)[100:] == y[100:]).mean() > 0.85
    single = L[:, :1]     # a single LF: the model follows its votes
    one = sub.DawidSkene(cardinality=3).fit(single)
    voted = single[:, 0] != -1
    np.testing.assert_array_equal(one.predict(single)[voted], single[voted, 0])
    agree = np.tile(y[:, None], (1, 3))  # all LFs agree and always vote
    both = sub.DawidSkene(cardinality=3).fit(agree)
    np.testing.assert_array_equal(both.predict(agree), y)
    assert np.asarray(both.accuracies_).min() > 0.95
