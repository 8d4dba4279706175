"""Question q1: the dynamic batcher (batches, delay, deadlines, load shedding, shutdown).

Every test drives the batcher with ``replay`` (given), whose model sleeps a known time per
batch and returns ``2 x + 1``. Time bounds only ever assert what a correct batcher guarantees
however slow the machine is (a request cannot be answered before the model has run), or are
several times wider than the effect they look for.
"""

import numpy as np

from mlsys_edu.lab import question

# The batcher computes on a worker thread. Under the grader's address-space limit a process
# that has imported torch needs more than the default 2 GiB of *virtual* memory to start one.
THREADS_MB = 4096
# Each test takes well under a second; a batcher that spins (a busy loop on the event loop
# never yields) is stopped after this, not after the default 30 s, nine times over.
QUICK_S = 10.0


def _assert_answers(trace):
    """Every "ok" request got exactly its own row's answer (no mix-up inside a batch)."""
    ok = np.array([s == "ok" for s in trace["status"]])
    np.testing.assert_allclose(trace["outputs"][ok], 2 * trace["inputs"][ok] + 1, rtol=1e-6,
                               err_msg="a request got another request's answer")
    return ok


@question("q1", points=2, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_a_burst_fills_batches_to_the_limit(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0] * 10, compute_s=0.02, max_batch_size=4,
                       max_batch_delay_s=0.05)
    assert trace["status"] == ["ok"] * 10, trace["status"]
    assert trace["batch_sizes"] == [4, 4, 2], (
        f"10 requests at once with max_batch_size=4 should run as [4, 4, 2], got "
        f"{trace['batch_sizes']}")
    _assert_answers(trace)


@question("q1", points=2, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_a_lone_request_waits_for_the_delay_then_runs_alone(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0], max_batch_size=8, max_batch_delay_s=0.1)
    assert trace["status"] == ["ok"] and trace["batch_sizes"] == [1]
    assert trace["latency_s"][0] >= 0.095, (
        f"answered after {trace['latency_s'][0]:.3f} s: a lone request waits max_batch_delay_s "
        "(0.1 s) for company before it runs")
    pair = sub.replay(sub.DynamicBatcher, [0.0, 0.02], max_batch_size=8, max_batch_delay_s=0.3)
    assert pair["batch_sizes"] == [2], "two requests 20 ms apart share a 300 ms window"


@question("q1", points=2, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_the_delay_counts_from_the_oldest_request(sub):
    # one request every 40 ms, a 100 ms window, a model that is always free: a batch closes
    # 100 ms after its *oldest* request, holding about 3; a timer restarted at each arrival
    # would never close it
    trace = sub.replay(sub.DynamicBatcher, np.arange(10) * 0.04, max_batch_size=100,
                       max_batch_delay_s=0.1)
    assert max(trace["batch_sizes"]) <= 4, (
        f"batches {trace['batch_sizes']}: a trickle must not hold the first request past "
        "max_batch_delay_s")
    assert sum(trace["batch_sizes"]) == 10
    _assert_answers(trace)


@question("q1", points=2, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_a_request_queued_behind_a_batch_still_waits_for_company(sub):
    # a full batch computes 0-100 ms; one request arrives at 20 ms, three more at 110-120 ms.
    # Counted from its arrival, the late one's 70 ms delay is spent before the model is free
    # and it would run alone ([4, 1, 3]: a convoy in the making); counted from the moment the
    # model is free, it waits until 170 ms and shares a batch with the three
    trace = sub.replay(sub.DynamicBatcher, [0.0] * 4 + [0.02, 0.11, 0.115, 0.12], compute_s=0.1,
                       max_batch_size=4, max_batch_delay_s=0.07)
    assert trace["status"] == ["ok"] * 8, trace["status"]
    assert trace["batch_sizes"] == [4, 4], (
        f"batches {trace['batch_sizes']}: a request that waited behind a running batch still "
        "waits up to max_batch_delay_s once the model is free (the later of the two counts)")
    _assert_answers(trace)


@question("q1", points=2, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_stop_answers_everything_queued_then_refuses(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0] * 6 + [0.5, 0.55], compute_s=0.03,
                       max_batch_size=2, max_batch_delay_s=0.01, stop_at_s=0.005)
    assert trace["status"][:6] == ["ok"] * 6, (
        f"requests queued before stop() must all be answered (graceful shutdown), got "
        f"{trace['status'][:6]}")
    assert trace["status"][6:] == ["ShuttingDown"] * 2, (
        f"requests after stop() began must get ShuttingDown, got {trace['status'][6:]}")
    assert sum(trace["batch_sizes"]) == 6
    _assert_answers(trace)


@question("q1", points=2, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_a_full_queue_sheds_load_and_loses_nothing(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0] * 8, compute_s=0.1, max_batch_size=1,
                       max_batch_delay_s=0.0, max_queue_size=3)
    statuses = trace["status"]
    assert set(statuses) <= {"ok", "QueueFull"}, statuses
    assert 3 <= statuses.count("ok") <= 4, f"a queue of 3 takes 3 (+1 being computed): {statuses}"
    assert sum(trace["batch_sizes"]) == statuses.count("ok"), "a refused request is not computed"
    _assert_answers(trace)


@question("q1", points=2, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_expired_requests_are_dropped_before_computing(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0, 0.0, 0.0], compute_s=0.2, max_batch_size=1,
                       max_batch_delay_s=0.0, timeout_s=0.05)
    assert trace["status"] == ["ok", "DeadlineExceeded", "DeadlineExceeded"], trace["status"]
    assert trace["batch_sizes"] == [1], "a request past its deadline must not reach the model"
    relaxed = sub.replay(sub.DynamicBatcher, [0.0, 0.0], compute_s=0.05, max_batch_size=1,
                         max_batch_delay_s=0.0, timeout_s=5.0)
    assert relaxed["status"] == ["ok", "ok"], "a request within its deadline is served"


@question("q1", points=2, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_the_model_runs_off_the_event_loop(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0, 0.05, 0.1], compute_s=0.3, max_batch_size=1,
                       max_batch_delay_s=0.0)
    assert trace["status"] == ["ok"] * 3
    assert "MainThread" not in trace["model_threads"], (
        "the model ran on the event loop's thread; use loop.run_in_executor")
    assert trace["max_loop_lag_s"] < 0.15, (
        f"the event loop stalled {trace['max_loop_lag_s']:.2f} s while the model computed "
        "(0.3 s a batch): compute off the loop so it keeps accepting requests")


@question("q1", points=2, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_the_batcher_follows_its_policy(sub):
    trace = sub.replay(sub.DynamicBatcher, [0.0] * 9, compute_s=0.01, max_batch_size=32,
                       max_batch_delay_s=0.05, policy=sub.FixedBatchSize(3))
    assert trace["batch_sizes"] == [3, 3, 3], (
        f"with policy.batch_size == 3 the batches should be [3, 3, 3], got {trace['batch_sizes']}")


@question("q1", points=3, hidden=True, memory_mb=THREADS_MB, timeout_s=QUICK_S)
def test_random_traces_keep_every_promise(sub, rng):
    for _ in range(2):
        n, limit = int(rng.integers(30, 60)), int(rng.integers(2, 9))
        arrivals = np.sort(rng.uniform(0, 0.4, n))
        arrivals[: n // 4] = 0.0  # a burst first, then a trickle
        trace = sub.replay(sub.DynamicBatcher, np.sort(arrivals), compute_s=0.004,
                           max_batch_size=limit, max_batch_delay_s=0.03,
                           seed=int(rng.integers(1000)))
        sizes = trace["batch_sizes"]
        assert trace["status"] == ["ok"] * n, "no request may be lost or refused here"
        assert sum(sizes) == n and max(sizes) <= limit, (sizes, limit)
        assert sizes[0] >= min(limit, n // 4), f"a burst of {n // 4} fills the first batch: {sizes}"
        _assert_answers(trace)
