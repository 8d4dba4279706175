"""Serving plumbing for lab 04: errors, Prometheus metrics, a server in a thread, an HTTP client.

None of this is what the lab teaches (the batcher, its adaptive policy, input validation and
the load generator are the lab's exercises); it is what every inference server needs around them:

* the errors a batcher raises, each mapped to an HTTP status (:class:`QueueFull` → 503 with
  ``Retry-After``, :class:`ShuttingDown` → 503, :class:`DeadlineExceeded` → 504) and
  :class:`HttpError` for anything else a handler rejects;
* :class:`Metrics`: counters, a gauge and histograms in Prometheus' text format (version 0.0.4);
* :func:`read_json_body`: the body of a request, refused past a size limit *before* it is read;
* :class:`ServerThread`: uvicorn on a free loopback port in a background thread, with a drain
  phase on stop (readiness goes 503, queued requests finish, then the socket closes);
* :class:`HttpSender`: a minimal HTTP/1.1 client over a pool of keep-alive connections, fast
  enough that the load generator, not the client, is what a load test measures;
* :func:`serve_and_ask`: start a server, send it requests, stop it, in one call;
* :func:`run_async`: run a coroutine to completion from plain code, also inside Jupyter.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from typing import Any, Awaitable, Iterable, TypeVar

T = TypeVar("T")


# ----------------------------------------------------------------------------- errors
class ServingError(Exception):
    """An error with the HTTP status (and headers) it is answered with."""

    status = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message, self.headers = message, dict(headers or {})


class HttpError(ServingError):
    """A request the server rejects with ``status``: 400 bad input, 404, 413 too large, ..."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message, headers)
        self.status = status


class QueueFull(ServingError):
    """The batcher's queue is full: shed load now (503) rather than answer late."""

    status = 503

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message, {"Retry-After": str(max(1, math.ceil(retry_after_s)))})
        self.retry_after_s = retry_after_s


class ShuttingDown(ServingError):
    """The server is draining: it finishes what it holds and takes nothing new (503)."""

    status = 503

    def __init__(self, message: str = "the server is shutting down and takes no new requests; "
                 "retry on another replica") -> None:
        super().__init__(message, {"Retry-After": "1"})


class DeadlineExceeded(ServingError):
    """A request waited in the queue past its deadline; it was dropped, not computed (504)."""

    status = 504


# ----------------------------------------------------------------------------- metrics
def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    quoted = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
              for k, v in sorted(labels.items()))
    return "{" + ",".join(quoted) + "}"


class Histogram:
    """Cumulative buckets ``le``, a sum and a count, as Prometheus histograms are."""

    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = sorted(set(float(b) for b in buckets))
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum, self.count = 0.0, 0

    def observe(self, value: float) -> None:
        i = next((i for i, b in enumerate(self.buckets) if value <= b), len(self.buckets))
        self.counts[i] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: dict[str, str]) -> list[str]:
        out, running = [], 0
        for bound, n in zip([*self.buckets, math.inf], self.counts):
            running += n
            le = "+Inf" if bound == math.inf else f"{bound:g}"
            out.append(f"{name}_bucket{_labels({**labels, 'le': le})} {running}")
        out += [f"{name}_sum{_labels(labels)} {self.sum:.9g}",
                f"{name}_count{_labels(labels)} {self.count}"]
        return out


LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """What a server exports on ``/metrics`` (names follow Prometheus' conventions):

    * ``inference_requests_total{model,code}``: requests answered, by HTTP status;
    * ``inference_request_errors_total{model,code}``: those answered with a status >= 400;
    * ``inference_request_duration_seconds{model}``: latency histogram (arrival to answer);
    * ``inference_batch_size{model}``: histogram of the batch sizes the model ran;
    * ``inference_batch_compute_seconds{model}``: histogram of the model's time per batch;
    * ``inference_queue_depth{model}``: requests waiting now (read from the batcher).
    """

    def __init__(self, max_batch_size: int = 256) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.batch_size: dict[str, Histogram] = {}
        self.compute: dict[str, Histogram] = {}
        self.queue_depth: dict[str, Any] = {}  # model -> callable returning the depth
        self.batch_buckets = [2 ** i for i in range(int(math.log2(max(1, max_batch_size))) + 1)]

    def record_request(self, model: str, code: int, seconds: float) -> None:
        with self.lock:
            self.requests[(model, code)] = self.requests.get((model, code), 0) + 1
            self.latency.setdefault(model, Histogram(LATENCY_BUCKETS_S)).observe(seconds)

    def record_batch(self, model: str, size: int, compute_s: float | None = None) -> None:
        with self.lock:
            self.batch_size.setdefault(model, Histogram(self.batch_buckets)).observe(size)
            if compute_s is not None:
                self.compute.setdefault(model, Histogram(LATENCY_BUCKETS_S)).observe(compute_s)

    def watch_queue(self, model: str, depth: Any) -> None:
        """Report ``depth()`` as the queue depth of ``model`` at every scrape."""
        self.queue_depth[model] = depth

    def render(self) -> str:
        """The text exposition format, version 0.0.4."""
        out: list[str] = []
        with self.lock:
            out += ["# HELP inference_requests_total Requests answered, by HTTP status.",
                    "# TYPE inference_requests_total counter"]
            out += [f"inference_requests_total{_labels({'model': m, 'code': str(c)})} {n}"
                    for (m, c), n in sorted(self.requests.items())]
            out += ["# HELP inference_request_errors_total Requests answered with a 4xx or 5xx.",
                    "# TYPE inference_request_errors_total counter"]
            out += [f"inference_request_errors_total{_labels({'model': m, 'code': str(c)})} {n}"
                    for (m, c), n in sorted(self.requests.items()) if c >= 400]
            for name, table, doc in (
                    ("inference_request_duration_seconds", self.latency, "Request latency."),
                    ("inference_batch_size", self.batch_size, "Batch sizes the model ran."),
                    ("inference_batch_compute_seconds", self.compute, "Model time per batch.")):
                out += [f"# HELP {name} {doc}", f"# TYPE {name} histogram"]
                for model, hist in sorted(table.items()):
                    out += hist.lines(name, {"model": model})
        out += ["# HELP inference_queue_depth Requests waiting in the batcher's queue.",
                "# TYPE inference_queue_depth gauge"]
        out += [f"inference_queue_depth{_labels({'model': m})} {int(depth())}"
                for m, depth in sorted(self.queue_depth.items())]
        return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- requests
async def read_json_body(request: Any, max_body_bytes: int) -> Any:
    """The JSON body of a Starlette ``request``, or an :class:`HttpError`.

    413 when ``Content-Length`` (or, for a chunked body, the bytes read so far) exceeds
    ``max_body_bytes``, so an oversized payload is refused before it fills memory; 400 when
    the body is not UTF-8 JSON, with the parser's position.
    """
    declared = request.headers.get("content-length")
    too_big = HttpError(413, f"the request body is over the limit of {max_body_bytes} bytes; "
                             "send fewer rows per request")
    if declared is not None:
        if not declared.isdigit():
            raise HttpError(400, f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > max_body_bytes:
            raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise too_big
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HttpError(400, f"the request body is not valid JSON ({err}); send a JSON "
                             "object such as {\"inputs\": [...]}") from None


# ----------------------------------------------------------------------------- the server
def free_port_socket(host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready TCP socket bound to a free port that the OS picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


class ServerThread:
    """Serve an ASGI ``app`` with uvicorn on a free loopback port, in a daemon thread.

    ``with ServerThread(app) as server: ... server.url ...``: the ``with`` block starts it and
    waits until it accepts connections; leaving it calls :meth:`shutdown`. If ``app.state``
    has an async ``drain()`` (the lab's server does), shutdown awaits it first, in the server's
    own event loop: readiness turns 503, new requests get 503, queued requests are answered;
    only then does uvicorn close the socket. Under the grader a thread does not survive into
    the next cell, so each test starts its own server this way and stops it.
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", start_timeout_s: float = 20.0) -> None:
        import uvicorn

        self.app, self.sock = app, free_port_socket(host)
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                                timeout_graceful_shutdown=10)
        self.server = uvicorn.Server(config)
        self.start_timeout_s = start_timeout_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported by __enter__/shutdown
            self.error = exc

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve(sockets=[self.sock])

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.server.should_exit = True
                raise RuntimeError(f"the server did not start within {self.start_timeout_s:g} s"
                                   + (f": {self.error!r}" if self.error else ""))
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def shutdown(self, drain_timeout_s: float = 30.0) -> None:
        """Drain (if the app can), then stop uvicorn and join its thread."""
        drain = getattr(getattr(self.app, "state", None), "drain", None)
        try:
            if drain is not None and self.loop is not None and self.thread.is_alive():
                future = asyncio.run_coroutine_threadsafe(drain(), self.loop)
                future.result(timeout=drain_timeout_s)
        finally:  # a drain that fails (an unfinished exercise) still stops the server
            self.server.should_exit = True
            self.thread.join(timeout=drain_timeout_s)
            self.sock.close()


# ----------------------------------------------------------------------------- the client
class HttpSender:
    """``await sender()`` sends one HTTP/1.1 request and returns the status (0: no answer).

    Requests go over a pool of at most ``connections`` keep-alive connections, opened on first
    use; when all are busy a request waits for one (that wait is part of its latency, as it
    would be for a real client). Bodies are read by ``Content-Length``, the only framing the
    servers here use. ``last_body`` and ``last_headers`` (lower-case names) keep the most recent
    response's, for tests and debugging.
    """

    def __init__(self, url: str, path: str, body: bytes | str | dict | None = None,
                 method: str = "POST", connections: int = 64, timeout_s: float = 30.0) -> None:
        host_port = url.split("://", 1)[-1].rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        if isinstance(body, dict):
            body = json.dumps(body)
        self.body = body.encode() if isinstance(body, str) else (body or b"")
        head = (f"{method} {path} HTTP/1.1\r\nHost: {host_port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(self.body)}\r\n\r\n")
        self.request = head.encode() + self.body
        self.connections, self.timeout_s = connections, timeout_s
        self.last_body, self.last_headers = b"", {}
        self._pool: asyncio.Queue | None = None  # a connection, or None: "open one"

    async def __call__(self) -> int:
        if self._pool is None:
            self._pool = asyncio.Queue()
            for _ in range(self.connections):
                self._pool.put_nowait(None)
        conn = await self._pool.get()  # waits while every connection is busy
        try:
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            status, headers, body = await asyncio.wait_for(self._exchange(*conn), self.timeout_s)
            self.last_body, self.last_headers = body, headers
            keep = headers.get("connection", "").lower() != "close"
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            keep, status = False, 0
        if not keep and conn is not None:
            conn[1].close()
        self._pool.put_nowait(conn if keep else None)
        return status

    async def _exchange(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> tuple[int, dict[str, str], bytes]:
        writer.write(self.request)
        return await self._response(reader)

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        return status, headers, body

    async def aclose(self) -> None:
        """Close the idle connections (call it when the load is over)."""
        while self._pool is not None and not self._pool.empty():
            conn = self._pool.get_nowait()
            if conn is not None:
                conn[1].close()
        self._pool = None


def serve_and_ask(app: Any, requests: list[tuple[str, str, Any]]) -> list[tuple[int, str]]:
    """Start ``app`` on a free port, send each ``(method, path, body)`` in turn (a body as a
    dict or a raw string), shut the server down (draining it) and return each answer's
    ``(status, body text)``. One call does it all, so it also works where a server would
    not survive from one notebook cell (or grader call) to the next."""

    async def ask_all(url: str) -> list[tuple[int, str]]:
        answers = []
        for method, path, body in requests:
            sender = HttpSender(url, path, body, method=method, connections=1)
            status = await sender()
            await sender.aclose()
            answers.append((status, sender.last_body.decode("utf-8", "replace")))
        return answers

    with ServerThread(app) as server:
        return run_async(ask_all(server.url))


def run_async(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion and return its result, from plain synchronous code.

    ``asyncio.run`` refuses to start inside a running event loop, which is where Jupyter runs
    every cell; there the coroutine runs in a fresh loop on a helper thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable)  # type: ignore[arg-type]
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(awaitable)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="run_async")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
