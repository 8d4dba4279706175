"""Question q2: an encoder per payload type."""

import numpy as np
import pytest
import torch

from mlsys_edu.lab import question


def _bag(ids, weights):
    return {"ids": torch.tensor(ids, dtype=torch.int64),
            "weights": torch.tensor(weights, dtype=torch.float32)}


def _n_params(module) -> int:
    return sum(int(p.numel()) for p in module.parameters())


@question("q2", points=2)
def test_bag_encoder_is_a_weighted_sum_of_embeddings(sub):
    enc = sub.BagEncoder(10, 4)
    one = np.asarray(enc(_bag([[3, 0]], [[1.0, 0.0]])).detach())  # E[3]
    two = np.asarray(enc(_bag([[5, 0]], [[1.0, 0.0]])).detach())  # E[5]
    assert one.shape == (1, 4)
    mixed = np.asarray(enc(_bag([[3, 5, 0], [5, 3, 0]], [[2.0, 0.5, 0.0], [0.5, 2.0, 0.0]]))
                       .detach())
    np.testing.assert_allclose(mixed[0], 2 * one[0] + 0.5 * two[0], atol=1e-5)
    np.testing.assert_allclose(mixed[1], mixed[0], atol=1e-5, err_msg="a bag: order is irrelevant")
    pad = np.asarray(enc(_bag([[0, 0]], [[1.0, 1.0]])).detach())
    np.testing.assert_allclose(pad, 0.0, atol=1e-6, err_msg="id 0 pads: it adds nothing")
    assert _n_params(enc) == 40, "one embedding of dim 4 per id"


@question("q2", points=2)
def test_encoders_by_payload_type(sub):
    cat = sub.make_encoder(sub.Payload("author", "category", column="author", dim=3), 6, [])
    out = np.asarray(cat(torch.tensor([0, 2, 5])).detach())
    assert out.shape == (3, 3) and _n_params(cat) == 18
    np.testing.assert_allclose(out[0], 0.0, err_msg="category 0 is unknown: the zero vector")
    date = sub.make_encoder(sub.Payload("date", "date", column="date", dim=5), 6, [])
    x = torch.randn(4, 6)
    out = np.asarray(date(x).detach())
    assert out.shape == (4, 5) and (out >= 0).all() and _n_params(date) == 6 * 5 + 5
    seq = sub.make_encoder(sub.Payload("tokens", "sequence", column="text", dim=7), 30, [])
    assert np.asarray(seq(_bag([[1, 2]], [[0.5, 0.5]])).detach()).shape == (1, 7)
    assert _n_params(seq) == 30 * 7


@question("q2", points=2)
def test_combiner_concatenates_then_relu_and_dropout(sub):
    single = sub.make_encoder(sub.Payload("c", "singleton", base=("a", "b"), dim=4, dropout=0.5),
                              0, [3, 2])
    assert _n_params(single) == (3 + 2) * 4 + 4, "one linear layer over the concatenation"
    parts = [torch.randn(200, 3), torch.randn(200, 2)]
    single.eval()
    a, b = np.asarray(single(parts).detach()), np.asarray(single(parts).detach())
    assert a.shape == (200, 4) and (a >= 0).all()
    np.testing.assert_array_equal(a, b, err_msg="no randomness in eval mode")
    single.train()
    c = np.asarray(single(parts).detach())
    assert ((a > 0) & (c == 0)).any(), "dropout zeroes some units in train mode"
    kept = (a > 0) & (c > 0)
    np.testing.assert_allclose(c[kept], 2 * a[kept], rtol=1e-5, err_msg="dropout(0.5) scales by 2")


@question("q2", points=3, hidden=True)
def test_encoders_match_reference(sub, ref, rng):
    for _ in range(4):
        dims = [int(d) for d in rng.integers(1, 9, size=rng.integers(1, 4))]
        dim, size = int(rng.integers(1, 12)), int(rng.integers(2, 40))
        payloads = [dict(name="t", type="sequence", column="x", dim=dim),
                    dict(name="c", type="category", column="x", dim=dim),
                    dict(name="d", type="date", column="x", dim=dim),
                    dict(name="s", type="singleton", base=[f"b{i}" for i in range(len(dims))],
                         dim=dim, dropout=0.0)]
        for p in payloads:
            kind, n_in = p["type"], size if p["type"] != "date" else 6
            theirs = ref.make_encoder(ref.Payload(**p), n_in, dims)
            ours = sub.make_encoder(sub.Payload(**p), n_in, dims)
            state = {k: v.clone() for k, v in theirs.state_dict().items()}
            ours.load_state_dict(state)  # the names of 6.2's handout
            ours.eval()
            theirs.eval()
            n = 25
            if kind == "sequence":
                ids = rng.integers(0, size, size=(n, 6))
                x = _bag(ids, rng.random((n, 6)))
            elif kind == "category":
                x = torch.tensor(rng.integers(0, size, n))
            elif kind == "date":
                x = torch.tensor(rng.normal(size=(n, 6)), dtype=torch.float32)
            else:
                x = [torch.tensor(rng.normal(size=(n, d)), dtype=torch.float32) for d in dims]
            with torch.no_grad():
                expected = theirs(x).numpy()
            np.testing.assert_allclose(np.asarray(ours(x).detach()), expected, atol=1e-5,
                                       err_msg=f"{kind} encoder, dim {dim}")


@question("q2", points=1, hidden=True)
def test_unknown_payload_type_is_refused(sub):
    with pytest.raises(ValueError):
        sub.make_encoder(sub.Payload("x", "image", column="x"), 3, [])
