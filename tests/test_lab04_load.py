"""Sustained load: 10,000 open-loop Poisson requests against lab 04's server, none lost.

The server runs in its own process (``benchmarks/serving.py serve-ours``: the reference
solution's batcher around the spam filter's MLP, 256→1024→1024→2, batch 32, 5 ms), the load
generator is the lab's ``open_loop`` over 64 keep-alive connections. 1,000 requests/s is
meant to be inside the server's capacity on two idle cores; every request must come back 200:
no connection dropped, no 5xx, no queue overflow (the queue holds 4,096, the client waits up
to 60 s). The test asserts outcomes, never timings: on an overloaded machine it only takes
longer (about 10 s plus the server's start when the machine is idle).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("uvicorn")

from mlsys_edu.lab.source import load_solution_module  # noqa: E402
from mlsys_edu.labkit.serving import HttpSender, run_async  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
N_REQUESTS, RATE_PER_S = 10_000, 1_000.0


def _bench():
    path = REPO / "benchmarks" / "serving.py"
    spec = importlib.util.spec_from_file_location("serving_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ten_thousand_requests_at_a_sustainable_rate_lose_nothing(tmp_path):
    bench = _bench()
    lab = load_solution_module(REPO / "labs" / "04_serving" / "lab.py")
    case = bench.prepare({"model": "small", "max_batch_size": 32, "max_batch_delay_s": 0.005},
                         str(tmp_path))
    port = bench.free_port()
    server = subprocess.Popen([sys.executable, str(bench.HERE), "serve-ours",
                               json.dumps({**case, "port": port})], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        bench._wait_ready(f"{url}/v2/health/ready", server)

        async def go():
            sender = HttpSender(url, "/v2/models/m/infer", case["body"], connections=64,
                                timeout_s=60.0)
            result = await lab.open_loop(sender, lab.poisson_arrivals(RATE_PER_S, N_REQUESTS, 7))
            await sender.aclose()
            scrape = HttpSender(url, "/metrics", method="GET", connections=1)
            await scrape()
            await scrape.aclose()
            return result, sender.last_body, scrape.last_body.decode()

        result, last, metrics = run_async(go())
    finally:
        bench._stop(server)
    statuses = collections.Counter(result.status.tolist())
    assert statuses == {200: N_REQUESTS}, f"dropped (0) or failed requests: {statuses}"
    assert np.isfinite(result.latency_s).all()
    counted = [line for line in metrics.splitlines()
               if line.startswith('inference_requests_total{code="200",model="m"}')]
    assert counted == [f'inference_requests_total{{code="200",model="m"}} {N_REQUESTS}'], (
        "the server's own count agrees with the client's")
    assert "inference_request_errors_total{" not in metrics, "no error of any kind"
    assert len(json.loads(last)["outputs"][0]["data"]) == 2
    summary = lab.summarize(result)
    print(f"\n10,000 requests at {RATE_PER_S:.0f}/s offered: {summary['throughput_per_s']:.0f}/s "
          f"served, p50 {summary['p50_s'] * 1e3:.1f} ms, p99 {summary['p99_s'] * 1e3:.1f} ms")
