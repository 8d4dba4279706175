"""Question q6: the noise-aware loss, the slice losses and the training loop."""

import numpy as np
import pandas as pd
import pytest
import torch

from mlsys_edu.lab import question


def _log_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def _expected_loss(out, targets, members):
    """The handout's formula, written with numpy."""
    loss = -(targets * _log_softmax(out["logits"])).sum(1).mean()
    if "indicators" not in out:
        return loss
    m = np.column_stack([np.ones(len(targets), bool), members])
    u = out["indicators"]
    bce = np.maximum(u, 0) - u * m + np.log1p(np.exp(-np.abs(u)))
    loss += bce.mean(axis=0).sum()
    for s in range(m.shape[1]):
        if m[:, s].any():
            g = out["experts"][m[:, s], s]
            loss += -(targets[m[:, s]] * _log_softmax(g)).sum(1).mean()
    return loss


def _random_out(rng, n, k, S):
    return {"logits": rng.normal(size=(n, k)) * 2, "indicators": rng.normal(size=(n, S + 1)),
            "experts": rng.normal(size=(n, S + 1, k)),
            "attention": np.full((n, S + 1), 1 / (S + 1))}


def _tensors(out):
    return {key: torch.tensor(v, dtype=torch.float32) for key, v in out.items()}


@question("q6", points=2)
def test_noise_aware_loss(sub, rng):
    logits = rng.normal(size=(6, 3))
    targets = rng.dirichlet(np.ones(3), size=6)
    got = float(sub.noise_aware_loss(torch.tensor(logits), torch.tensor(targets)))
    assert got == pytest.approx(-(targets * _log_softmax(logits)).sum(1).mean(), rel=1e-5)
    onehot = np.eye(3)[[0, 2, 1, 1, 0, 2]]
    expected = torch.nn.functional.cross_entropy(torch.tensor(logits),
                                                 torch.tensor([0, 2, 1, 1, 0, 2]))
    assert float(sub.noise_aware_loss(torch.tensor(logits), torch.tensor(onehot))) == \
        pytest.approx(float(expected), rel=1e-5), "with one-hot targets: the cross-entropy"


@question("q6", points=2)
def test_slice_losses(sub, rng):
    n, k, S = 12, 2, 2
    out = _random_out(rng, n, k, S)
    targets = rng.dirichlet(np.ones(k), size=n)
    members = rng.random((n, S)) < 0.4
    members[:, 1] = False  # an empty slice adds nothing
    got = float(sub.model_loss(_tensors(out), torch.tensor(targets, dtype=torch.float32),
                               torch.tensor(members)))
    assert got == pytest.approx(_expected_loss(out, targets, members), rel=1e-4)
    plain = {"logits": out["logits"]}
    got = float(sub.model_loss(_tensors(plain), torch.tensor(targets, dtype=torch.float32),
                               torch.tensor(members)))
    assert got == pytest.approx(_expected_loss(plain, targets, members), rel=1e-4), \
        "without slice heads the loss is the task's alone"


SPEC = {"payloads": [{"name": "words", "type": "sequence", "column": "text", "dim": 8,
                      "min_count": 1},
                     {"name": "row", "type": "singleton", "base": ["words"], "dim": 8,
                      "dropout": 0.0}],
        "tasks": [{"name": "spam", "payload": "row", "classes": ["ham", "spam"]}]}


def _toy(rng, n=120):
    spam = rng.random(n) < 0.5
    words = np.where(spam, "buy cheap now", "lovely song")
    text = [f"{w} {rng.choice(['ok', 'yes', 'hm'])}" for w in words]
    return pd.DataFrame({"text": text}), np.eye(2)[spam.astype(int)] * 0.9 + 0.05


@question("q6", points=2)
def test_training_reduces_the_loss(sub, rng):
    frame, targets = _toy(rng)
    schema = sub.parse_schema(SPEC)
    featurizer = sub.Featurizer(schema).fit_vocabularies(frame)
    batch = featurizer.transform(frame)
    model = sub.compile_schema(schema, featurizer)
    losses = [float(x) for x in sub.train_model(model, batch, targets, np.zeros((120, 0), bool),
                                                steps=30, lr=0.05)]
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0], f"losses {losses[::6]}"
    assert model.training is False, "end in eval mode"


@question("q6", points=3, hidden=True)
def test_losses_match_reference(sub, ref, rng):
    for n, k, S in ((40, 2, 1), (30, 3, 3), (25, 2, 0)):
        out = _random_out(rng, n, k, S)
        targets = rng.dirichlet(np.ones(k), size=n)
        members = rng.random((n, S)) < 0.3
        T, M = torch.tensor(targets, dtype=torch.float32), torch.tensor(members)
        expected = float(ref.model_loss(_tensors(out), T, M))
        assert float(sub.model_loss(_tensors(out), T, M)) == pytest.approx(expected, rel=1e-4)


@question("q6", points=3, hidden=True)
def test_training_matches_reference_from_the_same_weights(sub, ref, rng):
    frame, targets = _toy(rng, 80)
    spec = {**SPEC, "slices": [{"name": "buy", "column": "text", "pattern": "buy"}]}
    theirs_schema, ours_schema = ref.parse_schema(spec), sub.parse_schema(spec)
    featurizer = ref.Featurizer(theirs_schema).fit_vocabularies(frame)
    batch = featurizer.transform(frame)
    members = ref.slice_membership(theirs_schema, frame)
    theirs = ref.compile_schema(theirs_schema, featurizer, seed=1)
    ours = sub.compile_schema(ours_schema, sub.Featurizer(ours_schema).fit_vocabularies(frame), seed=1)
    ours.load_state_dict({key: v.clone() for key, v in theirs.state_dict().items()})
    expected = ref.train_model(theirs, batch, targets, members, steps=15, lr=0.02, seed=2)
    got = [float(x) for x in sub.train_model(ours, batch, targets, members, steps=15, lr=0.02,
                                             seed=2)]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
