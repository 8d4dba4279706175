"""Lab 04's serving figures on a GPU: one prepared script, under 5 minutes, every figure printed.

    PYTHONPATH=. python benchmarks/serving_gpu.py [--out build/bench/serving_gpu.json]
    mlsys-edu bench serving_gpu     # section 3 only, into the site's Performance page

It is also a comparison of the benchmark harness: with CUDA its cases are ``serving.py``'s on
the GPU (the machine, GPU named, is recorded with the results); without CUDA it has no case in
a full run (no GPU, no GPU figure) and, with ``--quick``, one CPU smoke case of the same code.

Needs torch with CUDA, fastapi and uvicorn (the project's ``serving`` extra); LitServe is used
when it is importable (it is not a project dependency) and reported as skipped otherwise.
Prints, then writes as JSON:

1. the device, torch and CUDA versions;
2. offline throughput (samples/s) of the small MLP (256→1024→1024→2, the spam filter's shape)
   and the heavy MLP (256→6×4096→2, 340 MB) at batch 1, 8, 32, 64 and 256, in float32,
   float16, and float16 with CUDA graphs (``ModelRunner``'s three GPU paths);
3. the served figures of ``benchmarks/serving.py`` with the same load (64 closed-loop clients,
   one row per request): our server with batching and without, LitServe with batching if
   installed, and the offline ceiling at the servers' batch size; ratios against ours.

Not a pytest: timings are never asserted. The Done-when bars of issue 13 read from section 3:
batched/unbatched throughput on the heavy model, served/offline, ours/LitServe on the small one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ANCHOR = "litserve"
TITLE = "Serving on the GPU: 64 closed-loop clients, one-row requests"
SIDES = ("ours", "unbatched", "anchor", "offline")
SERVED = (("small", 6000, 32, 0.005), ("heavy", 6000, 64, 0.005))  # model, requests, batch, delay


def _serving():
    spec = importlib.util.spec_from_file_location("serving_bench", HERE / "serving.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def cases(quick: bool) -> list[dict[str, Any]]:
    if not _cuda():  # the CPU figures are serving.py's; here only a smoke test of this file
        return [{"label": "no CUDA: CPU smoke case (quick)", "model": "small", "n_clients": 4,
                 "n_requests": 50, "max_batch_size": 4, "max_batch_delay_s": 0.002,
                 "device": "cpu"}] if quick else []
    return [{"label": f"{model} MLP on the GPU, batch {batch}", "model": model, "n_clients": 64,
             "n_requests": 500 if quick else n, "max_batch_size": batch,
             "max_batch_delay_s": delay, "device": "cuda"} for model, n, batch, delay in SERVED]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    return _serving().prepare(case, workdir)


def run(side: str, case: dict[str, Any]) -> dict[str, Any]:
    return _serving().run(side, case)


def offline_table(serving, workdir: str) -> list[dict]:
    from mlsys_edu.labkit.inference import ModelRunner, offline_throughput

    rows = []
    for name, widths in serving.MODELS.items():
        case = serving.prepare({"model": name}, workdir)
        for label, kwargs in (("fp32", {}), ("fp16", {"half": True}),
                              ("fp16 + CUDA graphs", {"half": True, "cuda_graphs": True})):
            runner = ModelRunner(serving.build_model(widths, case["weights"]), widths[0],
                                 max_batch_size=256, device="cuda", **kwargs)
            for batch in (1, 8, 32, 64, 256):
                rate = offline_throughput(runner, widths[0], batch, min_seconds=0.3)
                rows.append({"model": name, "mode": label, "batch": batch, "samples_per_s": rate})
                print(f"  offline {name:5s} {label:18s} batch {batch:3d}: {rate:12,.0f} samples/s",
                      flush=True)
    return rows


def served_table(serving, workdir: str) -> list[dict]:
    has_litserve = importlib.util.find_spec("litserve") is not None
    rows = []
    for case in cases(quick=False):
        case = serving.prepare(case, workdir)
        results = {}
        for side in SIDES:
            if side == "anchor" and not has_litserve:
                print(f"  {case['label']}: anchor (LitServe) skipped: litserve is not installed")
                continue
            start = time.perf_counter()
            results[side] = serving.run(side, case)
            shown = ", ".join(f"{k} {v:,.4g}" for k, v in results[side].items())
            print(f"  {case['label']}: {side:9s} {shown} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
        ours = results["ours"]["req_per_s"]
        ratios = {f"ours/{side}": ours / r["req_per_s"] for side, r in results.items()
                  if side != "ours"}
        print(f"  {case['label']}: throughput ratios "
              + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
        rows.append({"case": case["label"], "results": results, "ratios": ratios})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench/serving_gpu.json"))
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: this script reports GPU figures only (the CPU ones come from "
              "`mlsys-edu bench serving`)")
        return 2
    device = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "cuda": torch.version.cuda, "python": sys.version.split()[0]}
    print("device:", ", ".join(f"{k} {v}" for k, v in device.items()), flush=True)
    serving = _serving()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="serving-gpu-") as workdir:
        report = {"device": device, "offline": offline_table(serving, workdir),
                  "served": served_table(serving, workdir)}
    report["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"done in {report['seconds']:.0f} s; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
