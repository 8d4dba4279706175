"""Lab 04's server under bad input, overload, deadlines, model failures and shutdown.

Each test starts the lab's reference server (``make_app`` around the solution's batcher and
decoder) on a free loopback port with a ``RecordingModel`` (``2 x + 1`` after a known sleep) and
stops it. Every bad request must get a 4xx or 503 with ``{"error": ...}`` that says what went
wrong, and a good request right after must still get its answer: one bad client costs nothing.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import types
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mlsys_edu.lab.source import load_solution_module  # noqa: E402
from mlsys_edu.labkit.server import ServedModel, make_app  # noqa: E402
from mlsys_edu.labkit.serving import Histogram, HttpSender, ServerThread, run_async  # noqa: E402
from mlsys_edu.labkit.simulate import RecordingModel  # noqa: E402

LAB = Path(__file__).resolve().parents[1] / "labs" / "04_serving" / "lab.py"
INFER = "/v2/models/toy/infer"


@pytest.fixture(scope="module")
def lab() -> types.ModuleType:
    return load_solution_module(LAB)


def body(data, shape=None, datatype="FP32", name="features", **extra) -> dict:
    """An OIP v2 request; without ``shape``, ``data`` is a matrix sent flat with its shape."""
    if shape is None:
        rows = np.asarray(data, dtype=float)
        shape, data = list(rows.shape), rows.ravel().tolist()
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}],
            **extra}


def server(lab, compute_s: float = 0.0, max_batch_size: int = 8, max_queue_size: int = 1024,
           max_body_bytes: int = 100_000, model=None, featurize=None) -> ServerThread:
    model = model or RecordingModel(compute_s)
    batcher = lab.DynamicBatcher(model, max_batch_size, 0.002, max_queue_size)
    app = make_app([ServedModel("toy", batcher, 3, featurize)], lab.decode_infer_request,
                   max_body_bytes=max_body_bytes, max_rows=16)
    return ServerThread(app)


async def call(url: str, path: str, payload=None, method: str = "POST") -> tuple[int, dict, dict]:
    """One request on its own connection: (status, JSON body, headers)."""
    sender = HttpSender(url, path, payload, method=method, connections=1)
    status = await sender()
    await sender.aclose()
    text = sender.last_body.decode()
    return status, (json.loads(text) if text.startswith("{") else {"text": text}), \
        sender.last_headers


GOOD = body([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
BAD_INPUTS = {
    "malformed JSON": ("{\"inputs\": [", 400, "json"),
    "not an object": ("[1, 2, 3]", 400, "inputs"),
    "no inputs": ({"inputs": []}, 400, "inputs"),
    "wrong input name": (body([[1, 2, 3]], name="pixels"), 400, "features"),
    "wrong width": (body([[1, 2, 3, 4]]), 400, "[n, 3]"),
    "wrong value count": (body([1, 2, 3, 4, 5], shape=[2, 3]), 400, "needs 6 values"),
    "1-D shape": (body([1, 2, 3], shape=[3]), 400, "shape"),
    "BYTES datatype": (body([[1, 2, 3]], datatype="BYTES"), 400, "datatype"),
    "unknown datatype": (body([[1, 2, 3]], datatype="float32"), 400, "datatype"),
    "NaN": ('{"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", '
            '"data": [1.0, NaN, 3.0]}]}', 400, "nan"),
    "Infinity": ('{"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32", '
                 '"data": [1.0, 2.0, -Infinity]}]}', 400, "infinite"),
    "a string value": (body(["1", "2", "3"], shape=[1, 3]), 400, "number"),
    "too many rows": (body(np.ones((17, 3))), 400, "at most 16"),
    "fractional INT32": (body([[1, 2, 3.5]], datatype="INT32"), 400, "INT32"),
    "negative timeout": (body([[1, 2, 3]], parameters={"timeout": -5}), 400, "timeout"),
    "payload over the limit": (body(np.ones((16, 3)), padding="x" * 200_000), 413, "limit"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_a_clear_error_and_the_server_keeps_serving(lab, case):
    payload, expected, words = BAD_INPUTS[case]

    async def go(url: str):
        return await call(url, INFER, payload), await call(url, INFER, GOOD)

    with server(lab) as srv:
        (status, answer, _), (good_status, good, _) = run_async(go(srv.url))
    assert status == expected, (case, status, answer)
    assert words.lower() in answer["error"].lower(), answer
    assert good_status == 200, "a good request right after a bad one is answered"
    out = good["outputs"][0]
    np.testing.assert_allclose(np.reshape(out["data"], out["shape"]),
                               2 * np.array([[1, 2, 3], [4, 5, 6]]) + 1)


def test_unknown_model_wrong_method_and_metadata(lab):
    async def go(url: str):
        return [await call(url, "/v2/models/nope/infer", GOOD),
                await call(url, INFER, None, method="GET"),
                await call(url, "/v2/models/toy", None, method="GET"),
                await call(url, "/v2/models/nope", None, method="GET"),
                await call(url, "/v2/health/live", None, method="GET"),
                await call(url, "/v2/health/ready", None, method="GET")]

    with server(lab) as srv:
        unknown, get_infer, meta, meta404, live, ready = run_async(go(srv.url))
    assert unknown[0] == 404 and "toy" in unknown[1]["error"], "name the models there are"
    assert get_infer[0] == 405
    assert meta[0] == 200 and meta[1]["inputs"][0] == {"name": "features", "datatype": "FP32",
                                                       "shape": [-1, 3]}
    assert meta404[0] == 404
    assert (live[0], live[1]) == (200, {"live": True}) and ready[1] == {"ready": True}


def test_a_full_queue_answers_503_with_retry_after_and_loses_nothing(lab):
    one_row = body([[1, 2, 3]])

    async def go(url: str):
        return await asyncio.gather(*(call(url, INFER, one_row) for _ in range(12)))

    with server(lab, compute_s=0.15, max_batch_size=1, max_queue_size=2) as srv:
        answers = run_async(go(srv.url))
        after = run_async(call(srv.url, INFER, one_row))
    statuses = sorted(a[0] for a in answers)
    assert set(statuses) == {200, 503}, statuses
    assert statuses.count(200) >= 2, "what fits in the queue is served"
    for status, payload, headers in answers:
        if status == 503:
            assert int(headers["retry-after"]) >= 1 and "queue" in payload["error"]
    assert after[0] == 200, "once the queue drains the server serves again"


def test_a_request_past_its_deadline_gets_504_and_is_not_computed(lab):
    model = RecordingModel(compute_s=0.4)
    quick = body([[1, 2, 3]], parameters={"timeout": 100_000})  # 0.1 s, in microseconds

    async def go(url: str):
        return await asyncio.gather(*(call(url, INFER, quick) for _ in range(3)))

    with server(lab, model=model, max_batch_size=1) as srv:
        answers = run_async(go(srv.url))
    statuses = sorted(a[0] for a in answers)
    assert statuses == [200, 504, 504], statuses
    assert "deadline" in [a for a in answers if a[0] == 504][0][1]["error"]
    assert sum(model.batch_sizes) == 1, "expired requests never reach the model"


def test_shutdown_answers_the_queue_and_refuses_what_comes_after(lab):
    one_row = body([[1, 2, 3]])
    srv = server(lab, compute_s=0.1, max_batch_size=1).__enter__()
    try:
        async def go():
            queued = [asyncio.create_task(call(srv.url, INFER, one_row)) for _ in range(4)]
            await asyncio.sleep(0.05)  # all four are in the server's queue now
            drain = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                srv.app.state.drain(), srv.loop))
            await asyncio.sleep(0.02)
            late = await call(srv.url, INFER, one_row)
            ready = await call(srv.url, "/v2/health/ready", None, method="GET")
            await drain
            return await asyncio.gather(*queued), late, ready

        queued, late, ready = run_async(go())
    finally:
        srv.shutdown()
    assert [q[0] for q in queued] == [200] * 4, "requests queued before the drain are answered"
    assert late[0] == 503 and "shutting down" in late[1]["error"]
    assert late[2]["retry-after"] == "1"
    assert ready[0] == 503 and ready[1] == {"ready": False}


def test_a_failing_model_is_a_500_and_the_server_goes_on(lab):
    class Fragile(RecordingModel):
        def __call__(self, x):
            if (np.asarray(x) > 100).any():
                raise RuntimeError("weights corrupted for inputs over 100")
            return super().__call__(x)

    async def go(url: str):
        return await call(url, INFER, body([[1, 2, 300]])), await call(url, INFER, GOOD)

    with server(lab, model=Fragile(), max_batch_size=1) as srv:
        bad, good = run_async(go(srv.url))
    assert bad[0] == 500 and "weights corrupted" in bad[1]["error"]
    assert good[0] == 200


def test_predict_takes_text_and_refuses_what_is_not(lab):
    def featurize(texts):  # a stand-in featurizer: 3 features from the length
        return np.array([[len(t) / 10, 0.0, 1.0] for t in texts], dtype=np.float32)

    async def go(url: str):
        return [await call(url, "/predict", {"text": "free money"}),
                await call(url, "/predict", {"texts": ["a", "bb"]}),
                await call(url, "/predict", {"texts": [1, 2]}),
                await call(url, "/predict", {"texts": []}),
                await call(url, "/predict", "{oops")]

    with server(lab, featurize=featurize) as srv:
        one, two, numbers, empty, broken = run_async(go(srv.url))
    # logits 2 f + 1: ham = 2 len / 10 + 1, spam = 1, so P(spam) = 1 / (1 + e^(len / 5))
    assert one[0] == 200 and one[1]["spam_probability"] == pytest.approx(1 / (1 + math.e ** 2))
    assert one[1]["label"] == "ham"
    assert two[0] == 200 and len(two[1]["spam_probability"]) == 2
    assert [numbers[0], empty[0], broken[0]] == [400, 400, 400]
    assert "texts" in numbers[1]["error"] and "json" in broken[1]["error"].lower()


def test_metrics_are_prometheus_text_with_errors_batches_and_queue(lab):
    async def go(url: str):
        for payload in (GOOD, GOOD, "{", body([[1, 2]])):
            await call(url, INFER, payload)
        return await call(url, "/metrics", None, method="GET")

    with server(lab, compute_s=0.02) as srv:
        status, scrape, headers = run_async(go(srv.url))
    text = scrape["text"]
    assert status == 200 and headers["content-type"].startswith("text/plain")
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert lines['inference_requests_total{code="200",model="toy"}'] == "2"
    assert lines['inference_request_errors_total{code="400",model="toy"}'] == "2"
    assert lines['inference_request_duration_seconds_count{model="toy"}'] == "4"
    assert lines['inference_batch_size_bucket{le="+Inf",model="toy"}'] == "2"
    assert lines['inference_batch_size_sum{model="toy"}'] == "4", "two batches of two rows"
    assert lines['inference_batch_compute_seconds_count{model="toy"}'] == "2"
    assert float(lines['inference_batch_compute_seconds_sum{model="toy"}']) >= 2 * 0.02, (
        "each batch's time in the model (20 ms a batch here)")
    assert lines['inference_queue_depth{model="toy"}'] == "0"
    for name, kind in (("inference_requests_total", "counter"),
                       ("inference_batch_size", "histogram"), ("inference_queue_depth", "gauge")):
        assert f"# TYPE {name} {kind}" in text


@given(st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=60))
@settings(max_examples=50, deadline=None)
def test_histogram_buckets_are_cumulative(values):
    hist = Histogram([0.5, 1, 2.5, 5])
    for v in values:
        hist.observe(v)
    counts = [int(line.rsplit(" ", 1)[1]) for line in hist.lines("h", {})
              if "_bucket" in line]
    assert counts == sorted(counts) and counts[-1] == len(values)
    assert counts[0] == sum(v <= 0.5 for v in values)


@given(st.integers(1, 6), st.integers(1, 5), st.data())
@settings(max_examples=60, deadline=None)
def test_decode_round_trips_any_matrix_flat_or_nested(lab, n, d, data):
    values = np.array(data.draw(st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32),
                                         min_size=n * d, max_size=n * d)),
                      dtype=np.float32).reshape(n, d)
    nested = data.draw(st.booleans())
    payload = body(values.tolist() if nested else values.ravel().tolist(), shape=[n, d])
    x, request_id, timeout_s = lab.decode_infer_request(json.loads(json.dumps(payload)),
                                                        "features", d, 8)
    np.testing.assert_array_equal(x, values)
    assert x.dtype == np.float32 and request_id is None and timeout_s is None


def test_the_runner_sets_its_thread_count_in_the_thread_that_calls_it(monkeypatch):
    """OpenMP keeps the intra-op thread count per thread: a batcher's executor thread would use
    every core unless the runner sets the count there too."""
    from concurrent.futures import ThreadPoolExecutor

    import torch

    from mlsys_edu.labkit.inference import ModelRunner

    runner = ModelRunner(torch.nn.Linear(4, 2), 4, device="cpu", cpu_threads=1)
    calls: list[tuple[int, int]] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads",
                        lambda n: (calls.append((threading.get_ident(), n)), real(n))[1])
    with ThreadPoolExecutor(2) as pool:
        idents = {pool.submit(lambda: (runner(np.ones((3, 4))), threading.get_ident())[1])
                  .result() for _ in range(4)}
    assert {ident for ident, _ in calls} >= idents and {n for _, n in calls} == {1}
    assert len(calls) == len({ident for ident, _ in calls}), "once per thread, not per call"
