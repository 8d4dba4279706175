"""The inference server of lab 04: FastAPI endpoints around the student's batcher and decoder.

``make_app(models, decode_request)`` serves one or more :class:`ServedModel`, each behind its
own batcher (any object with async ``start``/``submit``/``stop``, a ``queue_depth`` and an
``on_batch`` hook, as the lab's ``DynamicBatcher`` has). Request validation is the lab's
exercise, passed in as ``decode_request(body, input_name, n_features, max_rows)`` returning
``(x, request_id, timeout_s)`` or raising ``ValueError``. Endpoints:

* Open Inference Protocol v2 (KServe, Triton): ``GET /v2/health/live``, ``GET
  /v2/health/ready`` (503 once draining), ``GET /v2/models/{name}`` (metadata), ``POST
  /v2/models/{name}/infer``;
* ``POST /predict`` with ``{"text": ...}`` or ``{"texts": [...]}`` for the model that has a
  ``featurize``;
* ``GET /metrics`` in Prometheus' text format (see :class:`~mlsys_edu.labkit.serving.Metrics`).

Every error is ``{"error": message}`` with its status: 400 bad input (a ``ValueError``), 404
unknown model, 413 body too large, 503 queue full or shutting down (with ``Retry-After``),
504 deadline passed, 500 the model failed. ``app.state.drain()`` stops every batcher
gracefully (new requests get 503, queued ones are answered); :class:`ServerThread` calls it.

The infer endpoint is the hot path, so it is a plain ASGI handler (:class:`InferRoute`, a
middleware in front of FastAPI's router) rather than a FastAPI route: FastAPI's per-request
machinery (dependency solving, its request and response wrappers) cost more CPU than parsing
the request and running the small model together (measured with py-spy: about 40% of the
event loop's time at 1,200 requests/s), and on a 2-core machine that loop is the bottleneck.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

from mlsys_edu.labkit.serving import (HttpError, Metrics, ServingError, ShuttingDown,
                                      read_json_body)

DecodeRequest = Callable[[Any, str, int, int], tuple[np.ndarray, "str | None", "float | None"]]


@dataclass
class ServedModel:
    """A model as the server sees it: its batcher and the width of its one input."""

    name: str
    batcher: Any
    n_features: int
    featurize: Callable[[list[str]], np.ndarray] | None = None  # texts -> rows, for /predict
    input_name: str = "features"


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status, headers, media_type="application/json")


def make_app(models: list[ServedModel], decode_request: DecodeRequest,
             max_body_bytes: int = 4_000_000, max_rows: int = 256) -> FastAPI:
    """The FastAPI app serving ``models`` (see the module docstring)."""
    by_name = {m.name: m for m in models}
    metrics = Metrics(max(getattr(m.batcher.policy, "max_batch_size", 256) for m in models))

    async def drain() -> None:
        app.state.draining = True
        await asyncio.gather(*(m.batcher.stop() for m in models))

    @asynccontextmanager
    async def lifespan(app: Any):
        gc.collect()
        gc.freeze()  # the objects of torch, FastAPI, ... are never collected: a full collection
        # over them took 185 ms here, a stall of every request in flight
        for m in models:
            await m.batcher.start()
            m.batcher.on_batch = lambda size, s, name=m.name: metrics.record_batch(name, size, s)
            metrics.watch_queue(m.name, lambda m=m: m.batcher.queue_depth)
        yield
        await drain()
        gc.unfreeze()  # a notebook that served goes on collecting as before

    app = FastAPI(title="spam filter inference", lifespan=lifespan)
    app.state.draining, app.state.drain, app.state.metrics = False, drain, metrics

    def model_or_404(name: str) -> ServedModel:
        if name not in by_name:
            raise HttpError(404, f"no model {name!r}; this server has {sorted(by_name)}")
        return by_name[name]

    async def outcome(name: str, work: Callable[[], Awaitable[Any]]) -> tuple[int, Any, Any]:
        """Run ``work``: ``(status, payload, headers)``, every error mapped to its status and
        ``{"error": ...}``; counted in the metrics."""
        start, headers = time.perf_counter(), None
        try:
            status, payload = 200, await work()
        except ServingError as err:
            status, payload, headers = err.status, {"error": err.message}, err.headers
        except ValueError as err:
            status, payload = 400, {"error": str(err)}
        except Exception as err:  # noqa: BLE001 - the model failed: 500, and keep serving
            status, payload = 500, {"error": f"the model failed: {type(err).__name__}: {err}"}
        metrics.record_request(name, status, time.perf_counter() - start)
        return status, payload, headers

    async def answer(name: str, work: Callable[[], Awaitable[Any]]) -> Any:
        status, payload, headers = await outcome(name, work)
        return _json(payload, status, headers)

    async def run_rows(model: ServedModel, x: np.ndarray, timeout_s: float | None) -> np.ndarray:
        """Submit each row on its own: the batcher groups rows of all requests alike."""
        if app.state.draining:
            raise ShuttingDown()
        if len(x) == 1:  # the common case: no task per row
            return (await model.batcher.submit(x[0], timeout_s))[None]
        rows = await asyncio.gather(*(model.batcher.submit(row, timeout_s) for row in x))
        return np.stack(rows)

    @app.get("/v2/health/live")
    async def live() -> Any:
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Any:
        ok = not app.state.draining
        return _json({"ready": ok}, 200 if ok else 503)

    @app.get("/v2/models/{name}")
    async def metadata(name: str) -> Any:
        async def work() -> dict:
            m = model_or_404(name)
            return {"name": m.name, "versions": ["1"], "platform": "pytorch",
                    "inputs": [{"name": m.input_name, "datatype": "FP32",
                                "shape": [-1, m.n_features]}],
                    "outputs": [{"name": "logits", "datatype": "FP32", "shape": [-1, -1]}]}
        return await answer(name, work)

    async def infer(name: str, request: Any) -> tuple[int, Any, Any]:
        """``POST /v2/models/{name}/infer`` (served by :class:`InferRoute`)."""
        async def work() -> dict:
            m = model_or_404(name)
            body = await read_json_body(request, max_body_bytes)
            x, request_id, timeout_s = decode_request(body, m.input_name, m.n_features, max_rows)
            y = await run_rows(m, x, timeout_s)
            out = {"name": "logits", "datatype": "FP32", "shape": list(y.shape),
                   "data": y.ravel().tolist()}
            return {"model_name": name, "model_version": "1", "outputs": [out],
                    **({"id": request_id} if request_id is not None else {})}
        return await outcome(name, work)

    app.add_middleware(InferRoute, infer=infer)

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        async def work() -> dict:
            m = next((m for m in models if m.featurize is not None), None)
            if m is None:
                raise HttpError(404, "no model of this server takes text; use "
                                     "/v2/models/{name}/infer")
            body = await read_json_body(request, max_body_bytes)
            one = isinstance(body, dict) and "text" in body
            texts = [body["text"]] if one else (body.get("texts")
                                                if isinstance(body, dict) else None)
            if (not isinstance(texts, list) or not 1 <= len(texts) <= max_rows
                    or not all(isinstance(t, str) for t in texts)):
                raise ValueError(f'send {{"text": "a comment"}} or {{"texts": [1 to {max_rows} '
                                 "strings]}")
            logits = await run_rows(m, m.featurize(texts), None)
            p_spam = 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))  # softmax of two logits
            labels = ["spam" if p > 0.5 else "ham" for p in p_spam]
            if one:
                return {"spam_probability": float(p_spam[0]), "label": labels[0]}
            return {"spam_probability": p_spam.tolist(), "label": labels}
        return await answer("predict", work)

    @app.get("/metrics")
    async def prometheus() -> Any:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    return app


class InferRoute:
    """ASGI middleware: ``POST /v2/models/{name}/infer`` goes to ``infer(name, request)``
    (``-> (status, payload, headers)``); every other request goes on to the app."""

    PREFIX, SUFFIX = "/v2/models/", "/infer"

    def __init__(self, app: Any, infer: Callable[[str, Any], Awaitable[tuple]]) -> None:
        self.app, self.infer = app, infer

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        name = path[len(self.PREFIX):-len(self.SUFFIX)]
        if not (path.startswith(self.PREFIX) and path.endswith(self.SUFFIX) and name
                and "/" not in name):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST":
            status, payload, headers = await self.infer(name, Request(scope, receive))
        else:
            status, payload, headers = 405, {"error": "send the request with POST"}, {
                "Allow": "POST"}
        body = json.dumps(payload).encode()
        head = [(b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]
        head += [(k.lower().encode(), str(v).encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": body})
