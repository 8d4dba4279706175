# %% [markdown]
# # Lab 04: Serving
#
# The spam filter meets traffic: comments arrive one at a time, from many users at once, each
# wanting an answer within tens of milliseconds. One sample's forward pass reads every weight
# from memory to do two floating-point operations with it, so a batch of 32 costs little more
# than a batch of 1. A **dynamic batcher** holds each request for a bounded time so that
# requests arriving close together share one forward pass: a little latency for a lot of
# throughput. You will build the batcher (Exercise 4.1) and an adaptive batch-size policy
# (4.2), validate **Open Inference Protocol v2** requests, as KServe and NVIDIA Triton speak it
# (4.3), and write a load generator that does not lie (4.4). The server (FastAPI + uvicorn),
# its Prometheus metrics, the models and the model runner are given (`mlsys_edu.labkit`).
# Anchors: Triton's dynamic batcher (`max_queue_delay_microseconds`), TorchServe
# (`max_batch_delay`), Ray Serve's `@serve.batch`, LitServe, and Clipper's adaptive batching
# (Crankshaw et al., NSDI 2017).

# %% tags=["export"]
import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from mlsys_edu.data import youtube_spam
from mlsys_edu.labkit.inference import (ModelRunner, heavy_mlp, offline_throughput,
                                        spam_filter_model, weight_bytes)
from mlsys_edu.labkit.server import ServedModel, make_app
from mlsys_edu.labkit.serving import (DeadlineExceeded, HttpSender, QueueFull, ServerThread,
                                      ShuttingDown, run_async, serve_and_ask)
from mlsys_edu.labkit.simulate import LoadResult, RecordingModel, SimulatedService, replay

# %% [markdown]
# ## Two models, and why batching pays
#
# `spam_filter_model(youtube_spam())` trains the product's model in seconds: comments hashed
# into 256 character-trigram features, a small MLP (256→1024→1024→2) on weak labels.
# `heavy_mlp()` stands in for a big model (width 2048 here; 208 MB at the default 4096; the
# benchmark's has six such layers). `ModelRunner` runs a model on numpy batches under
# `torch.inference_mode`, on CUDA when there is one (pinned buffers, non-blocking copies, half
# precision, CUDA graphs), else on the CPU, here on one thread: the other core serves HTTP.
#
# A forward pass of a batch of $b$ samples through weights of $W$ bytes costs roughly
#
# $$t(b) \approx \max\Big(\frac{W}{\beta},\ \frac{2 b\, W/4}{F}\Big) + t_0,$$
#
# with $\beta$ the memory bandwidth (bytes/s), $F$ the arithmetic rate (FLOP/s) and $t_0$ a
# fixed overhead (Python, kernel launches). Until $b \approx 2F/\beta$ the first term wins and a
# batch is nearly free: throughput $b / t(b)$ grows almost linearly with $b$. The model's
# **offline throughput** at a batch size (no HTTP, no queue) is the ceiling for any server.

# %%
torch.set_num_threads(1)  # one intra-op thread: see the paragraph above
spam = spam_filter_model(youtube_spam())
heavy = heavy_mlp(width=2048, depth=4)
runners = {"spam": ModelRunner(spam.model, spam.n_features),
           "heavy": ModelRunner(heavy, 1024)}
print(f"spam filter test accuracy {spam.test_accuracy:.1%}; heavy model "
      f"{weight_bytes(heavy) / 2**20:.0f} MB on {runners['heavy'].device}")
batch_sizes = [1, 8, 64]
offline = {name: [offline_throughput(r, r.n_features, b, min_seconds=0.05, min_calls=2)
                  for b in batch_sizes] for name, r in runners.items()}
# alt: Offline throughput (samples per second, log scale) against batch size for the spam MLP and the heavy MLP; both grow several-fold from batch 1 to 64
fig, ax = plt.subplots(figsize=(5, 3.2))
for (name, values), marker in zip(offline.items(), ["o", "s"]):
    ax.plot(batch_sizes, values, marker=marker, label=name)
ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples/s (offline)",
       title="The model alone: throughput against batch size")
ax.legend()
plt.show()

# %% [markdown]
# ## Exercise 4.1: the dynamic batcher
#
# Requests come in as single rows `x` (a vector of features). `submit(x)` puts a `Pending`
# request in an `asyncio.Queue` and awaits its future; a worker task takes requests off the
# queue in batches and runs the model. A batch closes when it holds `policy.batch_size`
# requests or has waited `max_batch_delay_s` for company, counted from its **oldest** request's
# arrival or from when the model became free, whichever is later (as Ray Serve counts). From
# the arrival only (Triton), a batch that split once stays split: with 64 clients and batches
# of 64, two late requests run alone, are answered while the big batch runs, and so on every
# cycle (a *convoy*). At arrival rate $\lambda$ and delay $D$ a batch holds about
# $\min(B, 1 + \lambda D)$ requests.
#
# - `submit(x, timeout_s=None)`: raise `ShuttingDown` once `stop()` has begun, and
#   `QueueFull(message, retry_after_s)` when `max_queue_size` requests wait already (shed load
#   rather than answer late: the server sends a 503 with `Retry-After`); else enqueue a
#   `Pending` (arrival `loop.time()`, deadline arrival + `timeout_s`) and return its result.
# - `_collect()`: the next batch of `Pending`s: take what is queued, then wait for more until
#   the batch is full or its delay is spent (`asyncio.wait_for`). The `None` that
#   `stop()` enqueues marks the end: return what you hold, and `[]` once nothing is left.
# - `_worker()`: loop over batches; fail a request past its deadline with `DeadlineExceeded`
#   (not computed); run the others **off the event loop** (`loop.run_in_executor(
#   self.executor, self.run_batch, np.stack(...))`: the loop keeps accepting meanwhile); set
#   each future's result (or the model's exception), skipping futures already done (a client
#   that left); call `self._batch_done(size, compute_s)`.
# - `stop()`: begin refusing, enqueue the `None`, and wait until the worker has answered
#   everything queued (a graceful shutdown loses nothing).

# %% tags=["export"]
@dataclass
class FixedBatchSize:
    """The simplest policy: always the same ``batch_size``; ``update`` learns nothing."""

    batch_size: int = 32

    def update(self, batch_size: int, compute_s: float) -> None:
        pass


@dataclass
class Pending:
    """One queued request: its input row, the future its answer goes to, and its times."""

    x: np.ndarray
    future: asyncio.Future
    arrival_s: float
    deadline_s: float = math.inf


class DynamicBatcher:
    """Group single requests into batches of at most ``policy.batch_size``, each waiting at most
    ``max_batch_delay_s`` for company (see above); compute off the event loop."""

    def __init__(self, run_batch: Callable[[np.ndarray], np.ndarray], max_batch_size: int = 32,
                 max_batch_delay_s: float = 0.005, max_queue_size: int = 1024,
                 policy: Any = None) -> None:
        self.run_batch = run_batch
        self.policy = policy if policy is not None else FixedBatchSize(max_batch_size)
        self.max_batch_delay_s, self.max_queue_size = max_batch_delay_s, max_queue_size
        self.on_batch: Callable[[int, float], None] | None = None  # the server's metrics hook
        self.queue: asyncio.Queue | None = None
        self.closing = False

    async def start(self) -> None:
        """Create the queue, one model thread and the worker task (inside the running loop)."""
        self.queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.worker = asyncio.create_task(self._worker())

    @property
    def queue_depth(self) -> int:
        return self.queue.qsize() if self.queue is not None else 0

    def _batch_done(self, size: int, compute_s: float) -> None:
        self.policy.update(size, compute_s)
        if self.on_batch is not None:
            self.on_batch(size, compute_s)

    async def submit(self, x: np.ndarray, timeout_s: float | None = None) -> np.ndarray:
        """Queue one request and return the model's output for it."""
        # BEGIN SOLUTION 4.1
        if self.closing or self.queue is None:
            raise ShuttingDown()
        if self.queue.qsize() >= self.max_queue_size:
            raise QueueFull(f"{self.queue.qsize()} requests are queued already (the limit is "
                            f"{self.max_queue_size}); retry later", self.max_batch_delay_s)
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + timeout_s if timeout_s is not None else math.inf
        pending = Pending(np.asarray(x), loop.create_future(), now, deadline)
        self.queue.put_nowait(pending)
        return await pending.future
        # END SOLUTION

    async def _collect(self) -> list[Pending]:
        """The next batch; an empty list once stopped and drained."""
        # BEGIN SOLUTION 4.1
        if self.queue is None:
            return []
        loop = asyncio.get_running_loop()
        free_s = loop.time()  # the model is free from now on: the wait counts from here at most
        first = await self.queue.get()
        if first is None:
            self.queue.put_nowait(None)  # keep the end marker for the next call
            return []
        batch, limit = [first], max(1, int(self.policy.batch_size))
        close_at = max(first.arrival_s, free_s) + self.max_batch_delay_s
        while len(batch) < limit:
            if self.queue.empty():
                left = close_at - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), left)
                except asyncio.TimeoutError:
                    break
            else:
                item = self.queue.get_nowait()
            if item is None:
                self.queue.put_nowait(None)
                break
            batch.append(item)
        return batch
        # END SOLUTION

    async def _worker(self) -> None:
        """Run batches until ``stop()``'s end marker, answering every request taken."""
        # BEGIN SOLUTION 4.1
        loop = asyncio.get_running_loop()
        while batch := await self._collect():
            now = loop.time()
            live = []
            for p in batch:
                if p.future.done():
                    continue
                if now > p.deadline_s:
                    p.future.set_exception(DeadlineExceeded(
                        f"the request waited {now - p.arrival_s:.3f} s in the queue, past its "
                        "deadline; it was dropped before computing"))
                else:
                    live.append(p)
            if not live:
                continue
            start = time.perf_counter()
            try:
                out = await loop.run_in_executor(self.executor, self.run_batch,
                                                 np.stack([p.x for p in live]))
            except Exception as exc:  # noqa: BLE001 - each caller gets the model's error
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            self._batch_done(len(live), time.perf_counter() - start)
            for p, row in zip(live, out):
                if not p.future.done():
                    p.future.set_result(row)
        # END SOLUTION

    async def stop(self) -> None:
        """Refuse new requests, answer every queued one, then end the worker."""
        # BEGIN SOLUTION 4.1
        if self.closing or self.queue is None:
            return
        self.closing = True
        self.queue.put_nowait(None)
        await self.worker
        self.executor.shutdown(wait=True)
        # END SOLUTION


# %%
check("q1")

# %% [markdown]
# `replay` (given) drives a batcher class with a scripted trace of arrivals against a
# `RecordingModel` that sleeps a known time per batch: ten requests at once, batch limit 4.

# %%
trace = replay(DynamicBatcher, [0.0] * 10 + [0.30, 0.31, 0.32], compute_s=0.02,
               max_batch_size=4, max_batch_delay_s=0.05)
print("batches:", trace["batch_sizes"], "| statuses:", set(trace["status"]),
      f"| max latency {np.nanmax(trace['latency_s']) * 1e3:.0f} ms")

# %% [markdown]
# ## Exercise 4.2: an adaptive batch size (AIMD)
#
# A fixed `max_batch_size` is a guess. Clipper adapts it with **additive increase,
# multiplicative decrease**, as TCP does its window. Write `AIMDPolicy.update(batch_size,
# compute_s)`: if the batch's compute time exceeded the objective, cut the size to
# $\lfloor \text{size} \cdot \text{backoff} \rfloor$ (Clipper: 10% off), never below
# `min_batch_size`; else, if the batch was full (it reached the current size), grow by
# `additive_step`, never above `max_batch_size`; a batch that was not full says nothing about
# larger ones. Append every new size to `history`. The batcher reads `policy.batch_size`.

# %% tags=["export"]
@dataclass
class AIMDPolicy:
    """Clipper's AIMD on the batch size against ``latency_slo_s`` (a batch's compute time)."""

    latency_slo_s: float
    batch_size: int = 1
    max_batch_size: int = 256
    min_batch_size: int = 1
    additive_step: int = 1
    backoff: float = 0.9
    history: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.backoff < 1 or self.latency_slo_s <= 0:
            raise ValueError("need 0 < backoff < 1 and latency_slo_s > 0, got "
                             f"backoff={self.backoff}, latency_slo_s={self.latency_slo_s}")
        self.history = [self.batch_size]

    def update(self, batch_size: int, compute_s: float) -> None:
        """Adapt ``batch_size`` after a batch of ``batch_size`` took ``compute_s`` seconds."""
        # BEGIN SOLUTION 4.2
        if compute_s > self.latency_slo_s:
            self.batch_size = max(self.min_batch_size, math.floor(self.batch_size * self.backoff))
        elif batch_size >= self.batch_size:
            self.batch_size = min(self.max_batch_size, self.batch_size + self.additive_step)
        self.history.append(self.batch_size)
        # END SOLUTION


# %%
check("q2")

# %% [markdown]
# A flood of requests, a batch costing 2 ms + 1 ms per row, an objective of 20 ms: the size
# climbs, overshoots, backs off, and saw-tooths under the largest size that meets it (18).

# %%
aimd = AIMDPolicy(latency_slo_s=0.020, max_batch_size=64)
replay(DynamicBatcher, np.zeros(600), compute_s=0.002, per_row_s=0.001, policy=aimd,
       max_batch_delay_s=0.01, max_queue_size=1000)
# alt: AIMD batch size over successive batches: a linear climb to about 18, then a saw-tooth between about 16 and 19
fig, ax = plt.subplots(figsize=(5, 2.6))
ax.plot(aimd.history, drawstyle="steps-post")
ax.axhline(18, color="grey", linestyle="--", linewidth=1, label="largest size within 20 ms")
ax.set(xlabel="batch", ylabel="batch size limit", title="AIMD finds the objective's batch size")
ax.legend()
plt.show()

# %% [markdown]
# ## Exercise 4.3: Open Inference Protocol v2 requests
#
# A client asks `POST /v2/models/{name}/infer` with a JSON body such as
# `{"id": "42", "inputs": [{"name": "features", "shape": [2, 256], "datatype": "FP32",
# "data": [0.1, ...]}], "parameters": {"timeout": 50000}}`: `data` holds the tensor's
# values in row-major order (flat, or nested as lists of rows), `shape` says how to read them,
# and the optional `parameters.timeout` is Triton's per-request deadline in microseconds.
# Write `decode_infer_request(body, input_name, n_features, max_rows)` returning
# `(x, request_id, timeout_s)`, `x` a float32 array of shape `(n, n_features)`, and raising a
# `ValueError` that says what is wrong and what to send instead when:
#
# - `body` is not an object with a non-empty list `inputs`, no input is named `input_name`
#   (say which name the model expects), or it lacks `shape`, `datatype` or `data`;
# - `datatype` is not a numeric tensor type of the protocol (`FP16`, `FP32`, `FP64`, `INT8`
#   ... `INT64`, `UINT8` ... `UINT64`; `BOOL` and `BYTES` are not numbers);
# - `shape` is not `[n, n_features]` with $1 \le n \le$ `max_rows`, or the number of values is
#   not $n \cdot$ `n_features` (say both numbers);
# - a value is not a number (a string, `true`, `null`), an `INT*` input holds a fraction, or
#   a value is NaN or infinite (`json.loads` reads `NaN`; name how many and the first row);
# - `timeout` is not a positive number.
#
# The server answers each with a 400 and the message, before the batcher: one bad client
# costs the others nothing.

# %% tags=["export"]
NUMERIC_DATATYPES = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                     "UINT8", "UINT16", "UINT32", "UINT64"}


def decode_infer_request(body: Any, input_name: str, n_features: int,
                         max_rows: int = 256) -> tuple[np.ndarray, str | None, float | None]:
    """Validate an OIP v2 infer request: ``(x (n, n_features) float32, id, timeout_s)``."""
    # BEGIN SOLUTION 4.3
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ValueError(f'send a JSON object with a non-empty list "inputs", e.g. {{"inputs": '
                         f'[{{"name": "{input_name}", "shape": [1, {n_features}], ...}}]}}')
    named = [t for t in body["inputs"] if isinstance(t, dict) and t.get("name") == input_name]
    if not named:
        names = [t.get("name") for t in body["inputs"] if isinstance(t, dict)]
        raise ValueError(f"no input named {input_name!r} (got {names}); this model takes one "
                         f"input {input_name!r}")
    tensor = named[0]
    missing = [k for k in ("shape", "datatype", "data") if k not in tensor]
    if missing:
        raise ValueError(f"input {input_name!r} lacks {missing}; give shape, datatype and data")
    datatype, shape = tensor["datatype"], tensor["shape"]
    if datatype not in NUMERIC_DATATYPES:
        raise ValueError(f"datatype {datatype!r} is not a numeric tensor type; use one of "
                         f"{sorted(NUMERIC_DATATYPES)} (FP32 is what the model computes in)")
    if (not isinstance(shape, list) or len(shape) != 2
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
            or shape[1] != n_features or not 1 <= shape[0] <= max_rows):
        raise ValueError(f"shape {shape!r} is not [n, {n_features}] with 1 <= n <= {max_rows}; "
                         f"send rows of {n_features} features, at most {max_rows} per request")
    data = tensor["data"] if isinstance(tensor["data"], list) else [tensor["data"]]
    nested = bool(data) and all(isinstance(row, list) for row in data)  # a list of rows
    flat = [v for row in data for v in row] if nested else data  # row-major
    if len(flat) != shape[0] * shape[1]:
        raise ValueError(f"shape {shape} needs {shape[0] * shape[1]} values, got {len(flat)}")
    if not set(map(type, flat)) <= {int, float}:  # map(type) runs in C: fast on big inputs
        bad = next(v for v in flat if type(v) not in (int, float))
        raise ValueError(f"the values must be numbers, but one is {bad!r}; send numbers only")
    values = np.asarray(flat, dtype=np.float64).reshape(shape)
    finite = np.isfinite(values)
    if not finite.all():
        rows = np.nonzero(~finite.all(axis=1))[0]
        raise ValueError(f"{int((~finite).sum())} values are NaN or infinite (first in row "
                         f"{rows[0]}); send finite numbers")
    if datatype.startswith(("INT", "UINT")) and (values != np.round(values)).any():
        raise ValueError(f"datatype {datatype} holds integers, but some values have fractions; "
                         "send FP32 for real numbers")
    parameters = body.get("parameters") or {}
    timeout = parameters.get("timeout") if isinstance(parameters, dict) else "not an object"
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise ValueError(f"parameters.timeout must be a positive number of microseconds, "
                         f"got {timeout!r}")
    request_id = None if body.get("id") is None else str(body["id"])
    return values.astype(np.float32), request_id, None if timeout is None else timeout / 1e6
    # END SOLUTION


# %%
check("q3")

# %% [markdown]
# ## The server (given)
#
# `make_app(models, decode_infer_request)` (given, in `mlsys_edu.labkit.server`) serves one
# or more `ServedModel`s, each behind its own batcher. Endpoints: the protocol's
# `/v2/health/live`, `/v2/health/ready` (503 once draining, so a load balancer stops sending),
# `/v2/models/{name}` (metadata) and `/v2/models/{name}/infer`; `/predict` for raw text; and
# `/metrics` in Prometheus' format (requests and errors by status, a latency histogram, a
# batch-size histogram, the queue depth). A v2 request's rows are submitted one by one, so the
# batcher groups rows of all requests alike. Every error is `{"error": message}` with its
# status: 400 bad input (your `ValueError`s), 404 unknown model, 413 body too large, 503 queue
# full or shutting down (with `Retry-After`), 504 deadline passed. `ServerThread` (given) runs
# it on a free loopback port and, on shutdown, drains it first: readiness turns 503, new
# requests get 503, queued ones are answered, then the socket closes.

# %% [markdown]
# A server's whole life in one cell (under the grader each cell runs in a fresh process, and a
# server started in one cell is gone in the next): start, ask, send bad input, scrape, drain.

# %%
spam_batcher = DynamicBatcher(runners["spam"], max_batch_size=32, max_batch_delay_s=0.005)
spam_app = make_app([ServedModel("spam", spam_batcher, spam.n_features, spam.featurize)],
                    decode_infer_request)
answers = serve_and_ask(spam_app, [
    ("POST", "/predict", {"text": "check out my channel, free money"}),
    ("POST", "/predict", {"text": "this song is beautiful"}),
    ("POST", "/v2/models/spam/infer", "{not json"),
    ("POST", "/v2/models/spam/infer", {"inputs": [{"name": "features", "shape": [1, 3],
                                                   "datatype": "FP32", "data": [1, 2, 3]}]}),
    ("GET", "/metrics", None)])
for status, text in answers[:-1]:
    print(status, text[:100])
print("\n".join(line for line in answers[-1][1].splitlines() if "total{" in line))

# %% [markdown]
# ## Exercise 4.4: a load generator that does not lie
#
# Real users do not wait for each other: they arrive when they arrive. A **closed-loop**
# generator (each of $c$ clients sends, waits for the answer, sends again) slows down exactly
# when the server does, so it never sends the requests that would have met a stalled server:
# it *coordinates* with the server and *omits* the bad measurements (Gil Tene's "coordinated
# omission"). An **open-loop** generator sends on a schedule, a Poisson process of rate
# $\lambda$: $t_i = \sum_{j \le i} g_j$ with independent gaps $g_j \sim \text{Exp}(\lambda)$
# (mean $1/\lambda$), and measures each latency **from the intended send time** $t_i$.
#
# - `poisson_arrivals(rate_per_s, n, seed=0)`: the $n$ times $t_i$, from the gaps
#   `np.random.default_rng(seed).exponential(1 / rate_per_s, n)` (the first arrival is the
#   first gap, not 0); a `ValueError` unless `rate_per_s > 0` and `n >= 0`.
# - `open_loop(send, arrivals_s)` (async): at each intended time start `send()` as its own
#   task (never wait for an answer before sending the next); latency = answer time − intended
#   time; an exception counts as status 0. Return a `LoadResult` (given) with the duration
#   from the start to the last answer.
# - `closed_loop(send, n_clients, n_requests)` (async): `n_clients` loops, each sending its
#   next request when its previous answer came, `n_requests` in all; latency from each send.
# - `summarize(result)`: `requests`, `ok` (statuses 200–299), `errors`, `throughput_per_s`
#   ($\text{ok}/\text{duration}$) and `p50_s`, `p95_s`, `p99_s` (`np.percentile` of the ok
#   requests' latencies; NaN when none is ok).

# %% tags=["export"]
def poisson_arrivals(rate_per_s: float, n: int, seed: int = 0) -> np.ndarray:
    """Intended send times (s) of ``n`` Poisson arrivals at ``rate_per_s``."""
    # BEGIN SOLUTION 4.4
    if not rate_per_s > 0 or n < 0:
        raise ValueError(f"need rate_per_s > 0 and n >= 0, got {rate_per_s} and {n}")
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate_per_s, n))
    # END SOLUTION


async def open_loop(send: Callable[[], Awaitable[int]], arrivals_s: np.ndarray) -> LoadResult:
    """Send at the intended times; latency from the intended time (no coordinated omission)."""
    # BEGIN SOLUTION 4.4
    loop = asyncio.get_running_loop()
    arrivals = np.asarray(arrivals_s, dtype=float)
    latency, status = np.full(len(arrivals), np.nan), np.zeros(len(arrivals), dtype=int)
    start = loop.time()

    async def one(i: int) -> None:
        try:
            status[i] = await send()
        except Exception:  # noqa: BLE001 - a failed request is status 0, not a crash
            status[i] = 0
        latency[i] = loop.time() - (start + arrivals[i])

    tasks = []
    for i, t in enumerate(arrivals):
        delay = start + t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    rate = len(arrivals) / arrivals[-1] if len(arrivals) and arrivals[-1] > 0 else math.nan
    return LoadResult(latency, status, loop.time() - start, "open", rate)
    # END SOLUTION


async def closed_loop(send: Callable[[], Awaitable[int]], n_clients: int,
                      n_requests: int) -> LoadResult:
    """``n_clients`` clients, each sending when its previous answer arrived."""
    # BEGIN SOLUTION 4.4
    loop = asyncio.get_running_loop()
    latency, status = np.full(n_requests, np.nan), np.zeros(n_requests, dtype=int)
    next_index = iter(range(n_requests))
    start = loop.time()

    async def client() -> None:
        for i in next_index:  # a shared iterator: each request index is taken once
            sent = loop.time()
            try:
                status[i] = await send()
            except Exception:  # noqa: BLE001
                status[i] = 0
            latency[i] = loop.time() - sent

    await asyncio.gather(*(client() for _ in range(n_clients)))
    return LoadResult(latency, status, loop.time() - start, "closed")
    # END SOLUTION


def summarize(result: LoadResult) -> dict[str, float]:
    """Counts, throughput of successful requests and latency percentiles."""
    # BEGIN SOLUTION 4.4
    ok = (result.status >= 200) & (result.status < 300)
    lat = result.latency_s[ok]
    pct = np.percentile(lat, [50, 95, 99]) if ok.any() else [math.nan] * 3
    return {"requests": len(ok), "ok": int(ok.sum()), "errors": int((~ok).sum()),
            "throughput_per_s": ok.sum() / result.duration_s if result.duration_s > 0 else 0.0,
            "p50_s": float(pct[0]), "p95_s": float(pct[1]), "p99_s": float(pct[2])}
    # END SOLUTION


# %%
check("q4")

# %% [markdown]
# Coordinated omission, measured: a service that answers in 1 ms but freezes for half a
# second (a garbage-collection pause) in the middle of a 1.5 s test at 200 requests/s.

# %%
stalled = lambda: SimulatedService(service_s=0.001, concurrency=1, stall_at_s=0.5, stall_s=0.5)
closed = summarize(run_async(closed_loop(stalled(), n_clients=1, n_requests=300)))
opened = summarize(run_async(open_loop(stalled(), poisson_arrivals(200, 300, seed=0))))
for name, s in [("closed loop", closed), ("open loop", opened)]:
    print(f"{name:12s} p50 {s['p50_s'] * 1e3:6.1f} ms  p99 {s['p99_s'] * 1e3:6.1f} ms")

# %% [markdown]
# ## Throughput against latency, with and without batching
#
# The heavy model behind the real server: for each offered rate a short open-loop test, p99
# against the throughput achieved. Without batching the server saturates at one request per
# batch-1 forward pass; with batches of up to 64 and `max_batch_delay_s = 10 ms` it goes
# several times further. Past capacity its bounded queue (64) fills and it sheds load with
# 503s (`errors` below), which keeps the p99 of what it serves bounded.

# %%
heavy_body = {"inputs": [{"name": "features", "shape": [1, 1024], "datatype": "FP32", "data":
                          np.random.default_rng(1).standard_normal(1024).round(3).tolist()}]}


def load_curve(max_batch_size: int, rates: list[float], seconds: float = 0.7) -> list[dict]:
    """Open-loop points against a fresh heavy-model server with this batch limit."""
    batcher = DynamicBatcher(runners["heavy"], max_batch_size, 0.010, max_queue_size=64)
    points = []
    with ServerThread(make_app([ServedModel("heavy", batcher, 1024)], decode_infer_request)) as s:
        for rate in rates:
            sender = HttpSender(s.url, "/v2/models/heavy/infer", heavy_body, connections=256)
            arrivals = poisson_arrivals(rate, max(20, int(rate * seconds)), seed=int(rate))
            points.append({"rate": rate, **summarize(run_async(open_loop(sender, arrivals)))})
    return points


rates = [round(offline["heavy"][0] * f) for f in (0.5, 1.5, 3, 5)]  # x batch-1 capacity
curves = {"no batching (max_batch_size=1)": load_curve(1, rates[:2]),
          "dynamic batching (max_batch_size=64)": load_curve(64, rates)}
# alt: p99 latency (log scale) against achieved throughput for the heavy model's server without and with dynamic batching; the unbatched server saturates near its batch-1 ceiling while batching serves several times more
fig, ax = plt.subplots(figsize=(5.5, 3.4))
for (name, pts), marker in zip(curves.items(), ["o", "s"]):
    ax.plot([p["throughput_per_s"] for p in pts], [p["p99_s"] * 1e3 for p in pts],
            marker=marker, label=name)
ax.axvline(offline["heavy"][0], color="grey", linestyle=":", label="offline, batch 1")
ax.set(yscale="log", xlabel="throughput (requests/s)", ylabel="p99 latency (ms)",
       title="Heavy model: the batcher buys throughput")
ax.legend(fontsize=8)
plt.show()
for name, pts in curves.items():
    print(name, "; ".join(f"{p['rate']}/s offered: {p['throughput_per_s']:.0f}/s, p99 "
                          f"{p['p99_s'] * 1e3:.0f} ms, {p['errors']} errors" for p in pts))

# %% [markdown]
# ## Going further
#
# - `mlsys-edu bench serving` runs this server with and without batching against LitServe
#   (64 clients) and the offline ceiling. Is the small model's bottleneck the model or HTTP?
# - On a GPU (Colab: *Runtime → Change runtime type*): `ModelRunner(model, d, half=True,
#   cuda_graphs=True)`; `benchmarks/serving_gpu.py` prints the same figures there.
# - Combine AIMD with an earliest-deadline-first queue; measure the p99 under bursts.
