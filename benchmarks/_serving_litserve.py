"""LitServe's side of ``serving.py``: the same MLP behind ``ls.LitServer``, with its batching.

    python benchmarks/_serving_litserve.py ARGS_JSON     # in the ``litserve`` side environment

A file of its own because LitServe starts its inference worker with ``spawn``: the ``LitAPI``
subclass must be importable at module level, and only this environment has ``litserve``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import litserve as ls
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import build_model  # noqa: E402  (the same weights, the same layers)


class MLPAPI(ls.LitAPI):
    """One row per request in; logits out, in the Open Inference Protocol's output shape."""

    def __init__(self, widths: list[int], weights: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.widths, self.weights = widths, weights

    def setup(self, device: str) -> None:
        self.device = device
        self.model = build_model(self.widths, self.weights).to(device)

    def decode_request(self, request: dict) -> np.ndarray:
        return np.asarray(request["inputs"][0]["data"], dtype=np.float32).reshape(-1)

    def batch(self, inputs: list[np.ndarray]) -> np.ndarray:
        return np.stack(inputs)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = x[None] if x.ndim == 1 else x
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).cpu().numpy()

    def unbatch(self, output: np.ndarray) -> list[np.ndarray]:
        return list(output)

    def encode_response(self, output: np.ndarray) -> dict:
        row = np.asarray(output).reshape(-1)
        return {"model_name": "m", "outputs": [{"name": "logits", "datatype": "FP32",
                                                "shape": [1, len(row)], "data": row.tolist()}]}


def main(args: dict) -> None:
    api = MLPAPI(args["widths"], args["weights"], max_batch_size=args["max_batch_size"],
                 batch_timeout=args["max_batch_delay_s"])
    accelerator = "cuda" if str(args.get("device") or "cpu").startswith("cuda") else "cpu"
    server = ls.LitServer(api, accelerator=accelerator, devices=1, workers_per_device=1,
                          fast_queue=True)
    server.run(host="127.0.0.1", port=args["port"], num_api_servers=1, log_level="warning",
               generate_client_file=False)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
