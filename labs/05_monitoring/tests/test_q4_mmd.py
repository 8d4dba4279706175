"""Question q4: the MMD permutation test."""

import numpy as np
import pytest

from mlsys_edu.lab import question


def _mmd2(x, y):
    z = np.concatenate([x, y])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    K = np.exp(-d2 / np.median(d2[np.triu_indices(len(z), 1)]))
    n = len(x)
    return K[:n, :n].mean() + K[n:, n:].mean() - 2 * K[:n, n:].mean()


@question("q4", points=2)
def test_statistic_and_p_value_range(sub, rng):
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 1.0
    mmd2, p = sub.mmd_test(x, y, n_permutations=99)
    assert mmd2 == pytest.approx(_mmd2(x, y), rel=1e-6)
    assert p == pytest.approx(0.01), "a clear shift: no permutation beats it, p = 1/(1+P)"


@question("q4", points=2)
def test_no_shift_gives_uniform_p_values(sub, rng):
    ps = [sub.mmd_test(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), 49, seed=s)[1]
          for s in range(60)]
    assert all(1 / 50 <= p <= 1 for p in ps)
    assert 0.3 < np.mean(ps) < 0.7, "under no drift, p-values are uniform"
    _, p_small = sub.mmd_test(rng.normal(size=(2, 2)), rng.normal(size=(2, 2)), 9)
    assert 0 < p_small <= 1, "two rows a side is the smallest sample MMD can test"
    with pytest.raises(ValueError):
        sub.mmd_test(np.zeros((1, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError):
        sub.mmd_test(np.zeros((5, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError):
        sub.mmd_test(np.zeros((5, 2)), np.zeros((5, 3)))


@question("q4", points=3, hidden=True)
def test_mmd_matches_reference(sub, ref, rng):
    x, y = rng.normal(size=(120, 4)), rng.normal(size=(90, 4)) * 1.3
    ours, theirs = sub.mmd_test(x, y, 199, seed=4), ref.mmd_test(x, y, 199, seed=4)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-6)
    assert ours[0] == pytest.approx(_mmd2(x, y), rel=1e-6)
    assert sub.mmd_test(x, x.copy(), 199)[1] == pytest.approx(1.0), (
        "identical samples: MMD^2 is 0 and every permutation counts as at least as far")
    big = rng.normal(size=(900, 2))
    capped, _ = sub.mmd_test(big, big[:50] + 0.5, 19, max_rows=100, seed=1)
    assert capped == pytest.approx(ref.mmd_test(big, big[:50] + 0.5, 19, max_rows=100, seed=1)[0],
                                   rel=1e-3), "cut each sample to max_rows rows first"
    fp = np.mean([sub.mmd_test(rng.normal(size=(25, 2)), rng.normal(size=(25, 2)), 39,
                               seed=s)[1] <= 0.05 for s in range(80)])
    assert fp <= 0.15, f"false-positive rate {fp:.2f} at alpha 0.05"
