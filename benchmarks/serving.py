"""Serving: lab 04's server with and without dynamic batching, LitServe with batching, and the
model's own offline throughput, on the same model, the same requests and the same load.

Every server side runs in its own process and is loaded by the same client, in another process
of the project's interpreter: ``n_clients`` closed-loop clients (64: "64 concurrent clients")
sending ``n_requests`` Open Inference Protocol v2 bodies of one row each over keep-alive
connections, after a warm-up of ``2 * n_clients`` requests. ``seconds`` is the wall time of the
measured requests, so the speed-up column is a throughput ratio; the metrics give throughput,
p50/p99 latency and the number of failed requests (every side must have 0).

* ``ours``: ``make_app`` + the lab's ``DynamicBatcher(max_batch_size, max_batch_delay_s)``;
  the heavy case's delay (100 ms, TorchServe's default ``max_batch_delay``) covers the time
  64 clients take to come back after their batch (20-50 ms measured here), so that each cycle
  is one batch of 64 (``mean_batch``): a batch of 32 did 26% fewer samples per second than one
  of 64 on these CPU kernels. ``batch_compute_ms`` is the model's mean time per batch inside
  the server, from its ``/metrics``: a request's latency is at most the delay plus its batch's
  compute (on this shared VM one batch of 64 took 200-310 ms);
* ``unbatched``: the same server with ``max_batch_size=1`` (one forward pass per request);
* ``anchor``: LitServe 0.2.19, ``LitAPI(max_batch_size, batch_timeout=max_batch_delay_s)``,
  one inference worker, ``fast_queue=True`` (its ZeroMQ transport, the faster of its two),
  one API server;
* ``offline``: the model alone on batches of ``max_batch_size`` (no HTTP, no queue): the
  ceiling for any server, reported as the time it needs for the same number of samples.

``device`` in a case (default: the CPU) puts every side's model there (``serving_gpu.py``).
Both models run with one intra-op thread on the CPU (the other core parses HTTP) and the same
weights, written by ``prepare`` as an ``.npz`` (plain arrays, no pickle) and loaded by every side.
The client freezes its imports out of the garbage collector (a full collection over torch's
objects took 100-185 ms here, inside some request's latency); the server does it at startup.
``python benchmarks/serving.py serve-ours|load ARGS_JSON`` and ``_serving_litserve.py`` are the
processes the sides start (the sustained-load test of the suite starts ``serve-ours`` too).
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "litserve"
TITLE = "Serving: 64 closed-loop clients, one-row requests (seconds for the measured requests)"
SIDES = ("ours", "unbatched", "anchor", "offline")
HERE = Path(__file__).resolve()
LAB = HERE.parents[1] / "labs" / "04_serving" / "lab.py"
# heavy: 85M weights (340 MB), whose batch-1 pass reads them all from memory; 256 inputs like
# the spam filter, so that a request's JSON (parsing 1,024 floats took 270 us here) does not
# decide the throughput instead of the model
MODELS = {"small": [256, 1024, 1024, 2], "heavy": [256, *[4096] * 6, 2]}


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [{"label": "small MLP, 8 clients (quick)", "model": "small", "n_clients": 8,
                 "n_requests": 200, "max_batch_size": 8, "max_batch_delay_s": 0.002}]
    return [
        {"label": "small MLP 256-1024-1024-2 (spam filter), batch 32", "model": "small",
         "n_clients": 64, "n_requests": 3000, "max_batch_size": 32, "max_batch_delay_s": 0.005},
        {"label": "heavy MLP 256-6x4096-2 (340 MB), batch 64", "model": "heavy",
         "n_clients": 64, "n_requests": 1280, "max_batch_size": 64, "max_batch_delay_s": 0.100},
    ]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Weights (``.npz``) and one request body per model; the project's interpreter."""
    from mlsys_edu.labkit.inference import mlp

    widths = MODELS[case["model"]]
    weights = Path(workdir) / f"{case['model']}_{'-'.join(map(str, widths))}.npz"  # per shape
    if not weights.exists():
        model = mlp(widths, seed=0)
        np.savez(weights, *[p.detach().numpy() for p in model.parameters()])
    row = np.random.default_rng(1).standard_normal(widths[0]).round(4).tolist()
    body = {"inputs": [{"name": "features", "shape": [1, widths[0]], "datatype": "FP32",
                        "data": row}]}
    return {**case, "widths": widths, "weights": str(weights), "body": json.dumps(body),
            "project_python": sys.executable}


# ----------------------------------------------------------------------------- the model
def build_model(widths: list[int], weights: str) -> Any:
    """The MLP with ``prepare``'s weights (torch imported here: any side's environment)."""
    import torch

    torch.set_num_threads(1)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).eval()
    with np.load(weights, allow_pickle=False) as arrays:
        for param, key in zip(model.parameters(), sorted(arrays.files, key=lambda k: int(k[4:]))):
            param.data = torch.from_numpy(arrays[key])
    return model


# ----------------------------------------------------------------------------- processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_ours(args: dict[str, Any]) -> None:
    """The lab's server (reference solution) on ``args["port"]``, until SIGTERM."""
    import uvicorn

    from mlsys_edu.lab.source import load_solution_module
    from mlsys_edu.labkit.inference import ModelRunner
    from mlsys_edu.labkit.server import ServedModel, make_app

    lab = load_solution_module(LAB)
    widths = args["widths"]
    runner = ModelRunner(build_model(widths, args["weights"]), widths[0],
                         max_batch_size=max(256, args["max_batch_size"]), cpu_threads=1,
                         device=args.get("device"))
    batcher = lab.DynamicBatcher(runner, args["max_batch_size"], args["max_batch_delay_s"],
                                 max_queue_size=args.get("max_queue_size", 4096))
    app = make_app([ServedModel("m", batcher, widths[0])], lab.decode_infer_request)
    uvicorn.run(app, host="127.0.0.1", port=args["port"], log_level="warning",
                access_log=False)


def load(args: dict[str, Any]) -> dict[str, Any]:
    """Closed-loop load with the lab's generator; the summary of the measured requests."""
    from mlsys_edu.lab.source import load_solution_module
    from mlsys_edu.labkit.serving import HttpSender, run_async

    lab = load_solution_module(LAB)
    url = f"http://127.0.0.1:{args['port']}"
    gc.collect()
    gc.freeze()  # no full collection (100+ ms over torch's objects) inside a measured request

    async def go() -> Any:
        sender = HttpSender(url, args["path"], args["body"], connections=args["n_clients"])
        await lab.closed_loop(sender, args["n_clients"], 2 * args["n_clients"])  # warm-up
        before = _batch_totals(url, args["path"])
        result = await lab.closed_loop(sender, args["n_clients"], args["n_requests"])
        after = _batch_totals(url, args["path"])
        await sender.aclose()
        return result, sender.last_body, after - before

    result, last, batches = run_async(go())
    summary = lab.summarize(result)
    reply = json.loads(last)
    out = {"seconds": result.duration_s, "req_per_s": float(summary["throughput_per_s"]),
           "p50_ms": summary["p50_s"] * 1e3, "p99_ms": summary["p99_s"] * 1e3,
           "failed": int(summary["errors"]), "output0": float(reply["outputs"][0]["data"][0])}
    if batches[0] > 0:  # our server: its batches during the measured requests
        out.update(mean_batch=batches[1] / batches[0],
                   batch_compute_ms=1e3 * batches[2] / batches[0])
    return out


def _batch_totals(url: str, path: str) -> np.ndarray:
    """(batches, rows, compute seconds) so far, from our server's ``/metrics``; zeros elsewhere."""
    if not path.startswith("/v2/"):
        return np.zeros(3)
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as reply:
        lines = dict(line.rsplit(" ", 1) for line in reply.read().decode().splitlines()
                     if line and not line.startswith("#"))
    names = ("inference_batch_size_count", "inference_batch_size_sum",
             "inference_batch_compute_seconds_sum")
    return np.array([float(lines.get(f'{name}{{model="m"}}', 0.0)) for name in names])


def _wait_ready(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server was not ready at {url} within {timeout_s:g} s")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (LitServe has worker processes), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def run(side: str, case: dict[str, Any]) -> dict[str, Any]:
    if side == "offline":
        return _offline(case)
    if side not in ("ours", "unbatched", "anchor"):
        raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
    port = free_port()
    args = {**case, "port": port}
    if side == "unbatched":
        args["max_batch_size"] = 1
    if side == "anchor":  # LitServe, in its side environment (this interpreter)
        command = [sys.executable, str(HERE.parent / "_serving_litserve.py"), json.dumps(args)]
        health, path = "/health", "/predict"
    else:
        command = [sys.executable, str(HERE), "serve-ours", json.dumps(args)]
        health, path = "/v2/health/ready", "/v2/models/m/infer"
    server = subprocess.Popen(command,
                              start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}{health}", server)
        client = subprocess.run([case["project_python"], str(HERE), "load",
                                 json.dumps({**args, "path": path})],
                                capture_output=True, text=True, timeout=1200)
        if client.returncode != 0:
            raise RuntimeError(f"the load client failed:\n{client.stderr[-3000:]}")
        return json.loads(client.stdout.strip().splitlines()[-1])
    finally:
        _stop(server)


def _offline(case: dict[str, Any]) -> dict[str, Any]:
    """The model alone at the servers' batch size, for as many samples as they served."""
    from mlsys_edu.labkit.inference import ModelRunner, offline_throughput

    widths, batch = case["widths"], case["max_batch_size"]
    runner = ModelRunner(build_model(widths, case["weights"]), widths[0],
                         max_batch_size=max(256, batch), cpu_threads=1, device=case.get("device"))
    # the ceiling: the best of three windows (a shared machine only ever makes a window slower)
    samples_per_s = max(offline_throughput(runner, widths[0], batch, min_seconds=1.5)
                        for _ in range(3))
    batch1_per_s = max(offline_throughput(runner, widths[0], 1, min_seconds=0.5)
                       for _ in range(3))
    return {"seconds": case["n_requests"] / samples_per_s, "req_per_s": samples_per_s,
            "batch1_per_s": batch1_per_s}


if __name__ == "__main__":
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    if command == "serve-ours":
        serve_ours(payload)
    elif command == "load":
        print(json.dumps(load(payload)))
    else:
        raise SystemExit(f"unknown command {command!r}: serve-ours or load")
