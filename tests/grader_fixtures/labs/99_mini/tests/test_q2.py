from mlsys_edu.lab import question
import numpy as np


@question("q2", points=1, timeout_s=2, memory_mb=2048)
def test_normalize_unit(sub):
    out = sub.normalize([3, 4])  # a list of ints: the handout says "as a float array"
    np.testing.assert_allclose(out, [0.6, 0.8])


@question("q2", points=2, hidden=True, timeout_s=2, memory_mb=2048)
def test_normalize_random(sub, ref, rng):
    v = rng.normal(size=(20,))
    np.testing.assert_allclose(sub.normalize(v), ref.normalize(v), rtol=1e-9)
