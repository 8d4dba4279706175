"""Stand-ins to try a batcher and a load generator on without a server (lab 04's plumbing).

* :class:`RecordingModel`: a "model" that takes a known time per batch and records every batch
  it ran (size, start, end), so a test can see how a batcher grouped its requests.
* :func:`replay`: run a batcher class against a scripted trace of arrivals and report, per
  request, its status, latency and output, plus the batches and how late the event loop ran.
* :class:`SimulatedService`: an async "server" with a fixed number of workers and a service
  time, that can freeze for a while (a stall): what a load generator is tested against.
* :class:`LoadResult`: what a load generator returns, one entry per request.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlsys_edu.labkit.serving import run_async


class RecordingModel:
    """``model(x)`` returns ``2 x + 1`` after ``compute_s + per_row_s * len(x)`` seconds of
    blocking work (``time.sleep``, as a model on a CPU or a synchronising GPU call blocks), and
    appends ``(size, start_s, end_s)`` to ``batches`` (times from ``time.perf_counter``)."""

    def __init__(self, compute_s: float = 0.0, per_row_s: float = 0.0) -> None:
        self.compute_s, self.per_row_s = compute_s, per_row_s
        self.batches: list[tuple[int, float, float]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        start = time.perf_counter()
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"a batch is 2-D (rows, features); got shape {x.shape}")
        time.sleep(self.compute_s + self.per_row_s * len(x))
        with self.lock:
            self.batches.append((len(x), start, time.perf_counter()))
            self.threads.add(threading.current_thread().name)
        return 2 * x + 1

    @property
    def batch_sizes(self) -> list[int]:
        return [size for size, _, _ in self.batches]


def replay(batcher_class: Any, arrivals_s: Any, *, compute_s: float = 0.0,
           per_row_s: float = 0.0, timeout_s: float | None = None,
           stop_at_s: float | None = None, n_features: int = 4, seed: int = 0,
           **batcher_kwargs: Any) -> dict[str, Any]:
    """Drive ``batcher_class(RecordingModel(...), **batcher_kwargs)`` with one request per entry
    of ``arrivals_s`` (seconds from the start), each ``submit(x_i, timeout_s)`` at its time.

    ``stop_at_s``: call ``stop()`` at that time (requests arriving later should be refused);
    otherwise ``stop()`` is called after the last answer. Returns plain data: ``status`` (per
    request: "ok" or the exception's class name), ``latency_s``, ``inputs``, ``outputs`` (NaN
    rows where a request failed), ``batch_sizes`` and ``batch_starts_s`` (the model's view),
    ``model_threads`` (names of the threads the model ran on) and ``max_loop_lag_s`` (how late
    a 5 ms ticker on the event loop woke at worst: large when compute blocks the loop).
    """
    arrivals = np.asarray(arrivals_s, dtype=float)
    n = len(arrivals)
    x = np.random.default_rng(seed).standard_normal((n, n_features)).astype(np.float32)
    outputs = np.full_like(x, np.nan)
    latency = np.full(n, np.nan)
    status = ["pending"] * n
    model = RecordingModel(compute_s, per_row_s)
    lag = [0.0]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        batcher = batcher_class(model, **batcher_kwargs)
        await batcher.start()
        t0 = loop.time()
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                before = loop.time()
                await asyncio.sleep(0.005)
                lag[0] = max(lag[0], loop.time() - before - 0.005)

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, t0 + arrivals[i] - loop.time()))
            start = loop.time()
            try:
                outputs[i] = np.asarray(await batcher.submit(x[i], timeout_s))
                status[i] = "ok"
            except Exception as exc:  # noqa: BLE001 - the status is what the caller checks
                status[i] = type(exc).__name__
            latency[i] = loop.time() - start

        async def stopper() -> None:
            await asyncio.sleep(max(0.0, t0 + stop_at_s - loop.time()))
            await batcher.stop()

        tick = asyncio.create_task(ticker())
        stopping = asyncio.create_task(stopper()) if stop_at_s is not None else None
        await asyncio.gather(*(one(i) for i in range(n)))
        if stopping is not None:
            await stopping
        else:
            await batcher.stop()
        done.set()
        await tick

    run_async(main())  # also inside Jupyter, whose cells run in an event loop
    t_first = model.batches[0][1] if model.batches else 0.0
    return {"status": status, "latency_s": latency, "inputs": x, "outputs": outputs,
            "batch_sizes": model.batch_sizes,
            "batch_starts_s": [start - t_first for _, start, _ in model.batches],
            "model_threads": sorted(model.threads), "max_loop_lag_s": lag[0]}


@dataclass
class LoadResult:
    """One load test: per request its ``latency_s`` and HTTP ``status`` (0 = no answer), and
    the test's ``duration_s`` (first intended send to last answer). ``mode``: "open"/"closed"."""

    latency_s: np.ndarray
    status: np.ndarray
    duration_s: float
    mode: str = "open"
    offered_rate_per_s: float = float("nan")

    def __post_init__(self) -> None:
        self.latency_s = np.asarray(self.latency_s, dtype=float)
        self.status = np.asarray(self.status, dtype=int)
        if self.latency_s.shape != self.status.shape or self.latency_s.ndim != 1:
            raise ValueError(f"latency_s {self.latency_s.shape} and status {self.status.shape} "
                             "must be 1-D arrays of one entry per request")


class SimulatedService:
    """``await service()`` behaves like a server with ``concurrency`` workers: a request waits
    for a free worker, holds it ``service_s`` seconds and returns 200. Between ``stall_at_s``
    and ``stall_at_s + stall_s`` (from the first call) the service freezes, as a server does in
    a long garbage-collection pause: a request that reaches a worker then waits for its end.

    With ``fail_every=k``, the k-th, 2k-th, ... call (in arrival order) raises
    ``ConnectionError`` (a dropped connection).
    Records ``calls_s`` (when each call arrived, from the first) and ``max_in_flight``.
    """

    def __init__(self, service_s: float = 0.001, concurrency: int = 1,
                 stall_at_s: float | None = None, stall_s: float = 0.0,
                 fail_every: int = 0) -> None:
        self.service_s, self.concurrency, self.fail_every = service_s, concurrency, fail_every
        self.stall_at_s, self.stall_s = stall_at_s, stall_s
        self.calls_s: list[float] = []
        self.in_flight = self.max_in_flight = 0
        self._t0: float | None = None
        self._workers: asyncio.Semaphore | None = None
        self._loop: Any = None

    async def __call__(self) -> int:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (a new run): start afresh
            self._loop, self._workers, self._t0 = loop, asyncio.Semaphore(self.concurrency), None
            self.calls_s, self.max_in_flight = [], 0
        if self._t0 is None:
            self._t0 = loop.time()
        self.calls_s.append(loop.time() - self._t0)
        call_number = len(self.calls_s)  # 1-based, in the order calls arrived
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            async with self._workers:
                now = loop.time() - self._t0
                stalled = self.stall_at_s is not None and 0 <= now - self.stall_at_s < self.stall_s
                if stalled:
                    await asyncio.sleep(self.stall_at_s + self.stall_s - now)
                await asyncio.sleep(self.service_s)
        finally:
            self.in_flight -= 1
        if self.fail_every and call_number % self.fail_every == 0:
            raise ConnectionError(f"call {call_number}: the connection was reset (simulated)")
        return 200

