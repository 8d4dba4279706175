"""Question q2: the AIMD batch-size policy (Clipper's additive increase, multiplicative
decrease)."""

from mlsys_edu.lab import question

# (batch size that ran, its compute seconds) -> the limit after it, with slo 10 ms, start 4,
# max 6: grow on full batches, cap at 6, back off 10% (floor) when over, hold when not full
SCRIPT = [((4, 0.005), 5), ((5, 0.005), 6), ((6, 0.005), 6), ((6, 0.020), 5),
          ((3, 0.005), 5), ((5, 0.011), 4), ((4, 0.010), 5)]


@question("q2", points=3)
def test_aimd_follows_the_script(sub):
    policy = sub.AIMDPolicy(latency_slo_s=0.010, batch_size=4, max_batch_size=6)
    for (size, seconds), expected in SCRIPT:
        policy.update(size, seconds)
        assert policy.batch_size == expected, (
            f"after a batch of {size} in {seconds * 1e3:g} ms the limit should be {expected}, "
            f"got {policy.batch_size}")
    assert policy.history == [4] + [e for _, e in SCRIPT]


@question("q2", points=1)
def test_aimd_never_goes_below_its_floor(sub):
    policy = sub.AIMDPolicy(latency_slo_s=0.010, batch_size=2, min_batch_size=1)
    for _ in range(5):
        policy.update(policy.batch_size, 1.0)
    assert policy.batch_size == 1


@question("q2", points=3, hidden=True)
def test_aimd_matches_reference_on_random_runs(sub, ref, rng):
    for _ in range(20):
        params = dict(latency_slo_s=float(rng.uniform(0.005, 0.05)),
                      batch_size=int(rng.integers(1, 40)), max_batch_size=int(rng.integers(40, 80)),
                      min_batch_size=int(rng.integers(1, 4)), additive_step=int(rng.integers(1, 5)),
                      backoff=float(rng.choice([0.5, 0.75, 0.9])))
        ours, theirs = sub.AIMDPolicy(**params), ref.AIMDPolicy(**params)
        for _ in range(40):
            full = rng.random() < 0.7
            size = theirs.batch_size if full else int(rng.integers(1, max(2, theirs.batch_size)))
            seconds = float(rng.uniform(0, 2 * params["latency_slo_s"]))
            ours.update(size, seconds)
            theirs.update(size, seconds)
        assert ours.history == theirs.history, params


@question("q2", points=1, hidden=True)
def test_aimd_backs_off_by_the_factor(sub):
    policy = sub.AIMDPolicy(latency_slo_s=0.01, batch_size=100, max_batch_size=200, backoff=0.5)
    policy.update(100, 0.02)
    assert policy.batch_size == 50
    policy.update(50, 0.02)
    policy.update(25, 0.02)
    assert policy.batch_size == 12  # 100 -> 50 -> 25 -> floor(12.5)
