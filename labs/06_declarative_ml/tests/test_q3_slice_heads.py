"""Question q3: slice capacity (indicator heads, experts, attention)."""

import numpy as np
import torch

from mlsys_edu.lab import question


def _out(heads, h):
    out = heads(torch.as_tensor(h, dtype=torch.float32))
    return {k: np.asarray(v.detach(), dtype=np.float64) for k, v in out.items()}


def _attention(indicators, experts):
    """softmax_s(sigmoid(u) * max_y softmax(g)_y), from the outputs themselves."""
    g = np.exp(experts - experts.max(axis=2, keepdims=True))
    confidence = (g / g.sum(axis=2, keepdims=True)).max(axis=2)
    score = confidence / (1 + np.exp(-indicators))
    e = np.exp(score - score.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@question("q3", points=2)
def test_shapes(sub, rng):
    d, k, S, e = 6, 3, 2, 4
    heads = sub.SliceHeads(d, k, S, expert_dim=e)
    out = _out(heads, rng.normal(size=(5, d)))
    shapes = {key: out[key].shape for key in ("logits", "indicators", "experts", "attention")}
    assert shapes == {"logits": (5, k), "indicators": (5, S + 1), "experts": (5, S + 1, k),
                      "attention": (5, S + 1)}, f"got {shapes}; S + 1 counts the base slice"


@question("q3", points=2)
def test_attention_trusts_confident_members(sub, rng):
    heads = sub.SliceHeads(8, 2, 3, expert_dim=5)
    out = _out(heads, rng.normal(size=(40, 8)) * 3)
    np.testing.assert_allclose(out["attention"].sum(axis=1), 1.0, atol=1e-5)
    assert (out["attention"] > 0).all()
    np.testing.assert_allclose(out["attention"], _attention(out["indicators"], out["experts"]),
                               atol=1e-5, err_msg="alpha = softmax over slices of "
                               "sigmoid(indicator) * the expert's top class probability")


@question("q3", points=4, hidden=True)
def test_matches_reference_with_the_same_weights(sub, ref, rng):
    for d, k, S, e in ((6, 2, 1, 4), (10, 3, 4, 8), (3, 2, 0, 2)):
        theirs = ref.SliceHeads(d, k, S, expert_dim=e)
        ours = sub.SliceHeads(d, k, S, expert_dim=e)
        ours.load_state_dict({name: v.clone() for name, v in theirs.state_dict().items()})
        h = rng.normal(size=(30, d)) * 2
        with torch.no_grad():
            expected = {key: v.numpy() for key, v in
                        theirs(torch.tensor(h, dtype=torch.float32)).items()}
        got = _out(ours, h)
        for key in ("logits", "indicators", "experts", "attention"):
            np.testing.assert_allclose(got[key], expected[key], atol=1e-5,
                                       err_msg=f"{key} with d={d}, k={k}, {S} slices")
