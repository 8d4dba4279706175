"""Question q2: HyperLogLog."""

import numpy as np
import pytest

from mlsys_edu.lab import question


@question("q2", points=2)
def test_registers_from_known_hashes(sub):
    h = sub.HyperLogLog(p=4)
    # top 4 bits pick the register; rho = position of the first one bit among the other 60
    hashes = np.array([(3 << 60) | (1 << 59), (3 << 60) | (1 << 50), (5 << 60) | 1, 7 << 60],
                      dtype=np.uint64)
    h.add_hashes(hashes)
    regs = np.asarray(h.registers)
    assert regs[3] == 10, "register 3 saw rho 1 and rho 10: it keeps the largest"
    assert regs[5] == 60 and regs[7] == 61, "rho of 0...01 is 60; of all zeros, 61 (65 - p)"
    assert regs.sum() == 10 + 60 + 61
    # every rho from 1 to 59: register j sees one hash whose first one bit is at position j + 1
    h = sub.HyperLogLog(p=6)
    h.add_hashes(np.array([(j << 58) | (1 << (57 - j)) for j in range(58)], dtype=np.uint64))
    np.testing.assert_array_equal(np.asarray(h.registers)[:58], np.arange(1, 59),
                                  err_msg="rho is the position of the first one bit")


@question("q2", points=2)
def test_estimates_within_a_few_percent(sub, rng):
    for n in (50, 2_000, 200_000):
        h = sub.HyperLogLog(p=12).add(rng.integers(0, 2**62, size=n))
        assert abs(h.estimate() - n) / n < 0.06, f"{n} distinct values, estimate {h.estimate():.0f}"
    repeats = sub.HyperLogLog().add(np.repeat(np.arange(1000), 50))
    assert abs(repeats.estimate() - 1000) < 60, "repeats do not count"


@question("q2", points=2)
def test_merge_is_exact(sub, rng):
    a, b = rng.integers(0, 10**9, 5000), rng.integers(0, 10**9, 8000)
    ha, hb = sub.HyperLogLog().add(a), sub.HyperLogLog().add(b)
    union = sub.HyperLogLog().add(np.concatenate([a, b]))
    merged = ha.merge(hb)
    np.testing.assert_array_equal(np.asarray(merged.registers), np.asarray(union.registers))
    assert merged.estimate() == pytest.approx(union.estimate())
    with pytest.raises(ValueError):
        ha.merge(sub.HyperLogLog(p=10))


@question("q2", points=3, hidden=True)
def test_hll_matches_reference(sub, ref, rng):
    for p, n in ((6, 30), (10, 700), (12, 40_000), (14, 300_000)):
        hashes = rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + rng.integers(
            0, 2, size=n).astype(np.uint64)
        ours, theirs = sub.HyperLogLog(p).add_hashes(hashes), ref.HyperLogLog(p).add_hashes(hashes)
        np.testing.assert_array_equal(np.asarray(ours.registers), theirs.registers, err_msg=f"p={p}")
        assert ours.estimate() == pytest.approx(theirs.estimate(), rel=1e-9)
    assert sub.HyperLogLog().estimate() == pytest.approx(0.0)
    # registers set directly: both sides of the small-range switch (raw <= 5m/2 and zeros)
    m = 256
    for registers in (np.ones(m), np.r_[np.zeros(3), np.full(m - 3, 9)],
                      np.r_[np.zeros(m // 2), np.ones(m // 2)], rng.integers(0, 6, m)):
        ours, theirs = sub.HyperLogLog(8), ref.HyperLogLog(8)
        ours.registers = registers.astype(np.uint8)
        theirs.registers = registers.astype(np.uint8)
        assert ours.estimate() == pytest.approx(theirs.estimate(), rel=1e-9), (
            f"registers {registers[:6]}...: linear counting only when raw <= 5m/2 and a "
            "register is zero")
