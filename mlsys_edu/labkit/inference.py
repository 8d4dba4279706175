"""Models to serve and the runner that executes them: lab 04's given plumbing.

* :func:`spam_filter_model` is the product's model: comments hashed into character-trigram
  features, a small MLP trained on weak labels (``labkit.weak_labels``), nothing from lab 01.
* :func:`heavy_mlp` is a stand-in for a big model: a few hundred MB of weights, so that one
  sample's forward pass is *memory-bound* (it streams every weight once for 2 FLOPs each) and a
  batch of ``b`` samples costs barely more than one until arithmetic catches up.
* :class:`ModelRunner` runs a model on numpy batches under ``torch.inference_mode``: on CUDA when
  there is one (pinned staging buffers, non-blocking copies, optional half precision and CUDA
  graphs), on the CPU otherwise.
* :func:`offline_throughput` measures the model alone at a batch size: the ceiling for any
  server of that model.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

SPAM_FEATURES = 256  # hashed trigram buckets: the small MLP's input width (256→1024→1024→2)


def mlp(widths: Sequence[int], seed: int = 0) -> torch.nn.Sequential:
    """``Linear → ReLU → ... → Linear`` through ``widths`` (input, hidden..., output)."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def heavy_mlp(width: int = 4096, depth: int = 4, n_features: int = 1024, n_outputs: int = 2,
              seed: int = 0) -> torch.nn.Sequential:
    """An MLP of ``depth`` hidden layers of ``width``: 208 MB of float32 weights by default.

    Batch 1 reads every weight (4 bytes) for 2 FLOPs: at ~10 GB/s of memory bandwidth and
    ~100 GFLOP/s of arithmetic a batch costs ``max(W/10e9, 2 b W/4/100e9)`` seconds, flat up
    to b ≈ 20 on such a CPU (far more on a GPU): batching is nearly free throughput.
    """
    return mlp([n_features] + [width] * depth + [n_outputs], seed=seed)


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of parameters: what one forward pass must read from memory at least once."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def hash_features(texts: Sequence[str], n_features: int = SPAM_FEATURES) -> np.ndarray:
    """Signed hashed character trigrams, L2-normalised: float32 (n, n_features).

    Trigram ``g`` adds ``±1`` to bucket ``crc32(g) mod n_features`` (the sign from another bit
    of the hash, so collisions cancel on average); a stable hash, unlike Python's ``hash``.
    """
    out = np.zeros((len(texts), n_features), dtype=np.float32)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is a {type(text).__name__}; send strings")
        padded = f"  {text.lower()} "
        for j in range(len(padded) - 2):
            h = zlib.crc32(padded[j:j + 3].encode())
            out[i, h % n_features] += 1.0 if h & 0x80000000 else -1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.maximum(norms, 1e-12)


@dataclass
class SpamFilter:
    """The spam filter as served: ``featurize`` (texts → features) and the torch ``model``
    (features → logits for ham, spam)."""

    model: torch.nn.Module
    n_features: int = SPAM_FEATURES
    test_accuracy: float = float("nan")

    def featurize(self, texts: Sequence[str]) -> np.ndarray:
        return hash_features(texts, self.n_features)


def spam_filter_model(splits: Any, epochs: int = 3, batch_size: int = 128,
                      seed: int = 0) -> SpamFilter:
    """Train the small MLP (256→1024→1024→2) on weak labels of the tutorial's train split
    (``splits`` from ``mlsys_edu.data.youtube_spam()``: ``train``, ``valid``, ``test``).

    Weak labels: ``labkit.weak_labels``' pattern LFs combined by its one-coin model fitted on
    ``valid``'s gold labels; rows where every LF abstains are dropped. Mini-batch Adam on the
    soft-label cross-entropy ``-sum_y p_y log softmax(z)_y``; a few seconds on a laptop CPU.
    Reports accuracy on ``test`` (about 92%).
    """
    from mlsys_edu.labkit.weak_labels import OneCoinModel, label_matrix

    L_train = label_matrix(splits.train["text"])
    label_model = OneCoinModel().fit_accuracies(label_matrix(splits.valid["text"]),
                                     splits.valid["label"].to_numpy())
    voted = (L_train != -1).any(axis=1)
    X = torch.from_numpy(hash_features(list(splits.train["text"][voted])))
    P = torch.from_numpy(label_model.predict_proba(L_train[voted]).astype(np.float32))
    model = mlp([SPAM_FEATURES, 1024, 1024, 2], seed=seed).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    order = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for rows in torch.randperm(len(X), generator=order).split(batch_size):
            optimizer.zero_grad()
            loss = -(P[rows] * torch.log_softmax(model(X[rows]), dim=1)).sum(dim=1).mean()
            loss.backward()
            optimizer.step()
    model.eval()
    with torch.inference_mode():
        logits = model(torch.from_numpy(hash_features(list(splits.test["text"]))))
    accuracy = float((logits.argmax(1).numpy() == splits.test["label"].to_numpy()).mean())
    return SpamFilter(model, SPAM_FEATURES, accuracy)


class ModelRunner:
    """Run ``model`` on numpy batches (b, d) → numpy (b, k), on ``device``.

    CPU: ``torch.from_numpy`` (no copy) under ``inference_mode`` (no autograd bookkeeping).
    CUDA: the batch is copied into a *pinned* host buffer, sent with ``non_blocking=True`` (a
    DMA that overlaps with the host), computed (in half precision if ``half``), copied back into
    a pinned buffer; with ``cuda_graphs`` each batch is padded to the next captured size and
    replayed from a CUDA graph, which removes the per-kernel launch cost that dominates small
    models. ``compile=True`` wraps the model in ``torch.compile`` (worth it on GPUs; on a CPU
    the compile time rarely pays back for an MLP).

    ``cpu_threads`` sets torch's intra-op threads (process-wide). One is often best for a server
    on a small CPU: the other cores parse HTTP, and on a busy machine a multi-threaded GEMM
    waits for its slowest thread (measured on a loaded 2-core VM: a batch of 8 through the
    small MLP ran 18x faster on one thread than on two).
    """

    def __init__(self, model: torch.nn.Module, n_features: int, max_batch_size: int = 256,
                 device: str | None = None, half: bool = False, compile: bool = False,
                 cuda_graphs: bool = False, cpu_threads: int | None = None) -> None:
        if cpu_threads is not None:
            torch.set_num_threads(cpu_threads)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.n_features, self.max_batch_size = n_features, max_batch_size
        cuda = self.device.type == "cuda"
        self.dtype = torch.float16 if half and cuda else torch.float32
        self.model = model.to(self.device, self.dtype).eval()
        self.forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if compile else self.model)
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        if cuda:
            self.staging = torch.empty((max_batch_size, n_features), pin_memory=True)
            if cuda_graphs:
                self._capture_graphs()

    def _capture_graphs(self) -> None:
        """One graph per power-of-two batch size up to ``max_batch_size``."""
        size = 1
        while True:
            static_in = torch.zeros((size, self.n_features), device=self.device, dtype=self.dtype)
            with torch.inference_mode():
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(3):  # warm-up outside the graph (cuBLAS workspaces, ...)
                        self.forward(static_in)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    static_out = self.forward(static_in)
            self.graphs[size] = (graph, static_in, static_out)
            if size >= self.max_batch_size:
                break
            size = min(2 * size, self.max_batch_size)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_features or not 0 < len(x) <= self.max_batch_size:
            raise ValueError(f"the runner takes (b, {self.n_features}) with 1 <= b <= "
                             f"{self.max_batch_size}; got {x.shape}")
        with torch.inference_mode():
            if self.device.type != "cuda":
                return self.forward(torch.from_numpy(x)).numpy()
            b = len(x)
            self.staging[:b].copy_(torch.from_numpy(x))
            batch = self.staging[:b].to(self.device, self.dtype, non_blocking=True)
            if self.graphs:
                size = min(s for s in self.graphs if s >= b)
                graph, static_in, static_out = self.graphs[size]
                static_in[:b].copy_(batch)
                graph.replay()
                out = static_out[:b]
            else:
                out = self.forward(batch)
            host = out.float().to("cpu", non_blocking=True)
            torch.cuda.current_stream().synchronize()  # the copy has landed before numpy reads
            return host.numpy()


def offline_throughput(run_batch: Callable[[np.ndarray], np.ndarray], n_features: int,
                       batch_size: int, min_seconds: float = 0.5, warmup: int = 1,
                       min_calls: int = 3) -> float:
    """Samples per second of ``run_batch`` alone on random batches of ``batch_size``: what
    no server of this model can beat at this batch size (no HTTP, no queue, no waiting)."""
    x = np.random.default_rng(0).standard_normal((batch_size, n_features)).astype(np.float32)
    for _ in range(warmup):
        run_batch(x)
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < min_seconds or calls < min_calls:
        run_batch(x)
        calls += 1
    return calls * batch_size / elapsed
