"""Question q4: the load generator (Poisson arrivals, open and closed loops, the summary).

The open-loop tests use a ``SimulatedService`` (given) with one worker: sent faster than it
serves, requests queue, and a correct open loop measures that queueing because it counts from
the *intended* send time. The lower bounds hold however slow the machine is.
"""

import time

import numpy as np
import pytest

from mlsys_edu.lab import question


@question("q4", points=2)
def test_poisson_arrivals_have_exponential_gaps(sub):
    t = sub.poisson_arrivals(100.0, 20_000, seed=1)
    gaps = np.diff(np.concatenate([[0.0], t]))
    assert t.shape == (20_000,) and (gaps > 0).all(), "times increase, the first is a gap"
    assert gaps.mean() == pytest.approx(0.01, rel=0.03), "mean gap 1 / rate"
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.05), "exponential: sd = mean"
    np.testing.assert_array_equal(t, sub.poisson_arrivals(100.0, 20_000, seed=1))
    with pytest.raises(ValueError):
        sub.poisson_arrivals(0.0, 10)


@question("q4", points=3)
def test_open_loop_sends_on_schedule_and_counts_the_queue(sub):
    service = sub.SimulatedService(service_s=0.02, concurrency=1)
    arrivals = np.arange(15) * 0.01  # 100/s into a server that does 50/s
    began = time.monotonic()
    result = sub.run_async(sub.open_loop(service, arrivals))
    elapsed = time.monotonic() - began
    assert list(result.status) == [200] * 15
    lat = result.latency_s
    # request i cannot finish before (i + 1) * 20 ms; it was meant to leave at i * 10 ms
    floor = (np.arange(15) + 1) * 0.02 - arrivals
    assert (lat >= floor - 0.003).all(), (
        f"latencies {np.round(lat, 3)} are below what the queue forces: measure from the "
        "intended send time, and send without waiting for earlier answers")
    assert (lat <= elapsed + 0.003).all(), (
        f"latencies {np.round(lat, 3)} exceed the whole test ({elapsed:.3f} s): a latency is "
        "the answer's time minus the intended send time")
    calls = np.asarray(service.calls_s)
    assert (calls >= arrivals - 0.003).all(), "a request must not leave before its time"
    assert service.max_in_flight >= 5, "send on schedule, without waiting for answers"
    assert result.mode == "open"
    assert 0.3 - 0.003 <= result.duration_s <= elapsed + 0.003, (
        f"duration {result.duration_s:.3f} s: from the start to the last answer, which took "
        f"{elapsed:.3f} s here")


@question("q4", points=2)
def test_closed_loop_keeps_n_clients_busy(sub):
    service = sub.SimulatedService(service_s=0.01, concurrency=100)
    began = time.monotonic()
    result = sub.run_async(sub.closed_loop(service, 4, 40))
    elapsed = time.monotonic() - began
    assert len(result.status) == 40 and list(result.status) == [200] * 40
    assert service.max_in_flight == 4, f"{service.max_in_flight} in flight; 4 clients send 4"
    assert (result.latency_s >= 0.0095).all()
    assert 0.1 - 0.003 <= result.duration_s <= elapsed + 0.003, "from the start to the last answer"
    assert result.mode == "closed"


@question("q4", points=2)
def test_summary_of_a_known_result(sub):
    latency = np.array([0.010, 0.020, 0.030, 0.040, 0.500, 9.0])
    status = np.array([200, 200, 200, 201, 503, 0])
    s = sub.summarize(sub.LoadResult(latency, status, 2.0))
    assert (s["requests"], s["ok"], s["errors"]) == (6, 4, 2)
    assert s["throughput_per_s"] == pytest.approx(2.0), "ok requests per second"
    assert s["p50_s"] == pytest.approx(0.025), "percentiles of the ok requests only"
    assert s["p99_s"] == pytest.approx(np.percentile([0.01, 0.02, 0.03, 0.04], 99))


@question("q4", points=3, hidden=True)
def test_poisson_arrivals_match_reference(sub, ref, rng):
    for _ in range(5):
        rate, n = float(rng.uniform(1, 5000)), int(rng.integers(0, 500))
        seed = int(rng.integers(99))
        np.testing.assert_allclose(sub.poisson_arrivals(rate, n, seed=seed),
                                   ref.poisson_arrivals(rate, n, seed=seed))


@question("q4", points=3, hidden=True)
def test_open_loop_sees_the_stall_that_closed_loop_hides(sub):
    def stalled():
        return sub.SimulatedService(service_s=0.001, concurrency=1, stall_at_s=0.2, stall_s=0.3)

    arrivals = np.arange(1, 121) * 0.005  # 200/s for 0.6 s
    opened = sub.summarize(sub.run_async(sub.open_loop(stalled(), arrivals)))
    closed = sub.summarize(sub.run_async(sub.closed_loop(stalled(), 1, 120)))
    assert opened["ok"] == closed["ok"] == 120
    # ~60 requests were due during the 0.3 s stall: the open loop's p95 sees it
    assert opened["p95_s"] >= 0.15, f"open loop p95 {opened['p95_s']:.3f} s misses the stall"
    assert closed["p50_s"] < 0.1, "a closed loop waits the stall out in one request"


@question("q4", points=2, hidden=True)
def test_failed_sends_count_as_status_zero(sub):
    service = sub.SimulatedService(service_s=0.001, concurrency=10, fail_every=3)
    result = sub.run_async(sub.open_loop(service, np.arange(1, 13) * 0.01))
    expected = [0 if (i + 1) % 3 == 0 else 200 for i in range(12)]
    assert list(result.status) == expected, "an exception is status 0, and the test goes on"
    assert np.isfinite(result.latency_s).all()
    closed = sub.run_async(sub.closed_loop(sub.SimulatedService(fail_every=2), 2, 10))
    assert sorted(closed.status) == [0] * 5 + [200] * 5


@question("q4", points=3, hidden=True)
def test_summary_matches_reference(sub, ref, rng):
    for _ in range(10):
        n = int(rng.integers(1, 300))
        latency = rng.exponential(0.05, n)
        status = rng.choice([200, 200, 200, 204, 400, 503, 0], n)
        duration = float(rng.uniform(0.5, 5))
        ours = sub.summarize(sub.LoadResult(latency, status, duration))
        theirs = ref.summarize(ref.LoadResult(latency, status, duration))
        assert set(ours) >= set(theirs)
        for key, value in theirs.items():
            assert ours[key] == pytest.approx(value, nan_ok=True), key
