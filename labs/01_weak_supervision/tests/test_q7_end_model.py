"""Question q7: the noise-aware loss and the end model."""

import numpy as np
import pytest
import torch

from mlsys_edu.lab import question


@question("q7", points=2)
def test_soft_cross_entropy_on_one_hot_targets_is_cross_entropy(sub):
    logits = np.array([[2.0, -1.0], [0.0, 0.0], [-3.0, 1.0]], dtype=np.float32)
    targets = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor([0, 1, 1]))
    assert float(sub.soft_cross_entropy(logits, targets)) == pytest.approx(float(expected))


@question("q7", points=2)
def test_soft_targets_and_gradient(sub):
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 1.0]])
    targets = np.array([[0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    manual = -(targets * log_softmax).sum(1).mean()
    assert float(sub.soft_cross_entropy(logits, targets)) == pytest.approx(manual, rel=1e-5)
    # d loss / d logits = (softmax - targets) / n, checked by central differences
    expected = (np.exp(log_softmax) - targets) / 2
    eps = 1e-2
    for i, j in ((0, 0), (0, 1), (1, 2)):
        up, down = logits.copy(), logits.copy()
        up[i, j] += eps
        down[i, j] -= eps
        slope = (float(sub.soft_cross_entropy(up, targets))
                 - float(sub.soft_cross_entropy(down, targets))) / (2 * eps)
        assert slope == pytest.approx(expected[i, j], abs=1e-3)


@question("q7", points=1)
def test_shape_mismatch_is_refused(sub):
    with pytest.raises(ValueError):
        sub.soft_cross_entropy(np.zeros((4, 2)), np.zeros((4, 3)))


@question("q7", points=2)
def test_end_model_learns_from_soft_labels(sub, rng):
    n = 400
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    confidence = rng.uniform(0.6, 1.0, n)  # soft labels: right class with prob. confidence
    targets = np.where(y[:, None] == np.arange(2), confidence[:, None], 1 - confidence[:, None])
    model = sub.train_end_model(X, targets, epochs=100, lr=0.1, weight_decay=0.0)
    accuracy = (sub.predict_end_model(model, X).argmax(1) == y).mean()
    assert accuracy > 0.95


@question("q7", points=2, hidden=True)
def test_loss_matches_reference(sub, ref, rng):
    for n, k in ((50, 2), (200, 3), (1, 4)):
        logits = rng.normal(scale=3, size=(n, k)).astype(np.float32)
        targets = rng.dirichlet(np.ones(k), size=n).astype(np.float32)
        assert float(sub.soft_cross_entropy(logits, targets)) == pytest.approx(
            float(ref.soft_cross_entropy(logits, targets)), rel=1e-5)


@question("q7", points=2, hidden=True)
def test_end_model_matches_reference(sub, ref, rng):
    n = 300
    X = rng.normal(size=(n, 8)).astype(np.float32)
    y = (X @ rng.normal(size=8) > 0).astype(int)
    targets = np.eye(2)[y] * 0.8 + 0.1
    ours = sub.predict_end_model(sub.train_end_model(X, targets, epochs=100, seed=1), X)
    theirs = ref.predict_end_model(ref.train_end_model(X, targets, epochs=100, seed=1), X)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
