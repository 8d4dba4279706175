"""Lab 04's model runner on CUDA: the same answers as on the CPU, through every fast path.

Marked ``gpu``; skipped cleanly on a machine without CUDA (the CPU path is tested everywhere
else). Run the GPU figures with ``python benchmarks/serving_gpu.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

from mlsys_edu.labkit.inference import ModelRunner, heavy_mlp, mlp  # noqa: E402

LAB = Path(__file__).resolve().parents[1] / "labs" / "04_serving" / "lab.py"


def _batches(d: int, sizes=(1, 2, 3, 7, 8, 31, 64)):
    rng = np.random.default_rng(0)
    return [rng.standard_normal((b, d)).astype(np.float32) for b in sizes]


def test_cuda_runner_matches_the_cpu():
    model = mlp([256, 1024, 1024, 2], seed=0)
    cpu = ModelRunner(mlp([256, 1024, 1024, 2], seed=0), 256, device="cpu")
    gpu = ModelRunner(model, 256, device="cuda")
    assert gpu.device.type == "cuda" and gpu.staging.is_pinned()
    for x in _batches(256):
        np.testing.assert_allclose(gpu(x), cpu(x), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("half", [False, True])
def test_cuda_graphs_pad_to_the_captured_size_and_agree(half):
    cpu = ModelRunner(heavy_mlp(width=512, depth=3, seed=1), 1024, device="cpu")
    gpu = ModelRunner(heavy_mlp(width=512, depth=3, seed=1), 1024, max_batch_size=64,
                      device="cuda", half=half, cuda_graphs=True)
    assert sorted(gpu.graphs) == [1, 2, 4, 8, 16, 32, 64]
    tolerance = 3e-2 if half else 1e-3
    for x in _batches(1024):
        np.testing.assert_allclose(gpu(x), cpu(x), rtol=tolerance, atol=tolerance)
    with pytest.raises(ValueError, match="1 <= b <= 64"):
        gpu(np.zeros((65, 1024), np.float32))


def test_the_lab_batcher_serves_a_gpu_runner():
    from mlsys_edu.lab.source import load_solution_module

    lab = load_solution_module(LAB)
    runner = ModelRunner(mlp([256, 1024, 1024, 2], seed=0), 256, device="cuda")
    x = np.random.default_rng(2).standard_normal((100, 256)).astype(np.float32)

    async def go():
        batcher = lab.DynamicBatcher(runner, max_batch_size=32, max_batch_delay_s=0.005)
        await batcher.start()
        out = await asyncio.gather(*(batcher.submit(row) for row in x))
        await batcher.stop()
        return np.stack(out)

    expected = np.concatenate([runner(x[i:i + 32]) for i in range(0, 100, 32)])
    np.testing.assert_allclose(asyncio.run(go()), expected, rtol=1e-4, atol=1e-5)
