"""Question q2: an encoder per payload type."""

import numpy as np
import pytest
import torch

from mlsys_edu.lab import question


def _bag(rows_ids, rows_weights):
    """EmbeddingBag's input for rows of unequal length: flat ids and weights, row offsets."""
    lengths = [len(r) for r in rows_ids]
    return {"ids": torch.tensor([i for r in rows_ids for i in r], dtype=torch.int64),
            "offsets": torch.tensor(np.cumsum([0] + lengths[:-1]), dtype=torch.int64),
            "weights": torch.tensor([w for r in rows_weights for w in r], dtype=torch.float32)}


def _n_params(module) -> int:
    return sum(int(p.numel()) for p in module.parameters())


@question("q2", points=2)
def test_bag_encoder_is_a_weighted_sum_of_embeddings(sub):
    enc = sub.BagEncoder(10, 4, dropout=0.5)
    enc.eval()
    E = enc.bag.weight.detach().numpy()
    got = np.asarray(enc(_bag([[3, 5], [5, 3, 0], [0], [7]], [[2.0, 0.5], [0.5, 2.0, 9.0],
                                                              [1.0], [-1.5]])).detach())
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got[0], np.maximum(2 * E[3] + 0.5 * E[5], 0), atol=1e-5,
                               err_msg="ReLU(sum_t w_it E[x_it])")
    np.testing.assert_allclose(got[1], got[0], atol=1e-5,
                               err_msg="a bag: order is irrelevant, and id 0 (padding) adds nothing")
    np.testing.assert_allclose(got[2], 0.0, atol=1e-6, err_msg="a row of padding encodes to 0")
    np.testing.assert_allclose(got[3], np.maximum(-1.5 * E[7], 0), atol=1e-5,
                               err_msg="each row reads its own ids (offsets)")
    enc.train()
    many = _bag([[3, 5]] * 400, [[2.0, 0.5]] * 400)
    dropped = np.asarray(enc(many).detach())
    kept = dropped != 0
    assert 0.3 < kept[:, got[0] > 0].mean() < 0.7, "dropout(0.5) in train mode"
    np.testing.assert_allclose(dropped[kept], np.broadcast_to(2 * got[0], dropped.shape)[kept],
                               rtol=1e-5, err_msg="dropout scales the kept units by 1/(1-p)")


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
    assert np.asarray(seq(_bag([[1, 2], [3]], [[0.5, 0.5], [1.0]])).detach()).shape == (2, 7)
    assert _n_params(seq) == 30 * 7


@question("q2", points=2)
def test_category_dropout_hides_categories_in_training_only(sub):
    cat = sub.CategoryEncoder(4, 3, dropout=0.25)
    ids = torch.tensor([2] * 2000)
    cat.eval()
    E2 = np.asarray(cat(ids[:1]).detach())[0]
    assert np.abs(E2).sum() > 0
    cat.train()
    out = np.asarray(cat(ids).detach())
    hidden = np.all(out == 0, axis=1)
    assert 0.2 < hidden.mean() < 0.3, f"hide a category with probability p: {hidden.mean():.2f}"
    np.testing.assert_allclose(out[~hidden], np.broadcast_to(E2, out[~hidden].shape),
                               err_msg="a category is hidden or kept whole, never scaled")
    cat.eval()
    np.testing.assert_allclose(np.asarray(cat(ids).detach()), np.broadcast_to(E2, out.shape),
                               err_msg="nothing hidden in eval mode")


@question("q2", points=2)
def test_combiner_is_linear_relu_dropout(sub):
    single = sub.make_encoder(sub.Payload("c", "singleton", base=("a", "b"), dim=4, dropout=0.5),
                              0, [3, 2])
    assert _n_params(single) == (3 + 2) * 4 + 4, "one linear layer over the concatenation"
    parts = torch.cat([torch.randn(200, 3), torch.randn(200, 2)], dim=1)  # as the compiler does
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
        dim, size = int(rng.integers(2, 12)), int(rng.integers(2, 40))
        p_drop = float(rng.choice([0.2, 0.5]))
        payloads = [dict(name="t", type="sequence", column="x", dim=dim, dropout=p_drop),
                    dict(name="c", type="category", column="x", dim=dim, dropout=p_drop),
                    dict(name="d", type="date", column="x", dim=dim, dropout=p_drop),
                    dict(name="s", type="singleton", base=[f"b{i}" for i in range(len(dims))],
                         dim=dim, dropout=p_drop)]
        for p in payloads:
            kind, n_in = p["type"], size if p["type"] != "date" else 6
            theirs = ref.make_encoder(ref.Payload(**p), n_in, dims)
            ours = sub.make_encoder(sub.Payload(**p), n_in, dims)
            state = {k: v.clone() for k, v in theirs.state_dict().items()}
            ours.load_state_dict(state)  # the names of 6.2's handout
            ours.eval()
            theirs.eval()
            n = 200
            if kind == "sequence":
                lengths = rng.integers(0, 7, n)
                x = _bag([rng.integers(0, size, k).tolist() for k in lengths],
                         [rng.normal(size=k).tolist() for k in lengths])
            elif kind == "category":
                x = torch.tensor(rng.integers(0, size, n))
            elif kind == "date":
                x = torch.tensor(rng.normal(size=(n, 6)), dtype=torch.float32)
            else:
                x = torch.tensor(rng.normal(size=(n, sum(dims))), dtype=torch.float32)
            with torch.no_grad():
                expected = theirs(x).numpy()
            np.testing.assert_allclose(np.asarray(ours(x).detach()), expected, atol=1e-5,
                                       err_msg=f"{kind} encoder, dim {dim}")
            ours.train()
            theirs.train()
            if kind == "category":  # the payload's dropout hides that share of categories
                ids = torch.ones(3000, dtype=torch.int64)
                hidden = (ours(ids) == 0).all(dim=1).float().mean().item()
                assert abs(hidden - p_drop) < 0.05, f"dropout {p_drop}, {hidden:.2f} hidden"
                continue
            trained = np.asarray(ours(x).detach())  # (n, dim): some units dropped
            alive = expected > 1e-4
            dropped = (trained[alive] == 0).mean()
            assert abs(dropped - p_drop) < 0.12, \
                f"{kind} encoder in train mode drops {dropped:.2f} of its units, not {p_drop}"
            kept = alive & (trained != 0)
            np.testing.assert_allclose(trained[kept], expected[kept] / (1 - p_drop), rtol=1e-4,
                                       err_msg=f"{kind}: dropout on the encoder's output")


@question("q2", points=1, hidden=True)
def test_unknown_payload_type_is_refused(sub):
    with pytest.raises(ValueError):
        sub.make_encoder(sub.Payload("x", "image", column="x"), 3, [])
