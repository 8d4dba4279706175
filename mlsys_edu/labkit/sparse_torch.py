"""Logistic regression in torch over scipy sparse features (bag-of-n-grams)."""

from __future__ import annotations

import numpy as np
import torch


def to_torch(X: object) -> torch.Tensor:
    """A float32 tensor from a numpy array or a scipy sparse matrix (kept sparse)."""
    if hasattr(X, "tocoo"):
        X = X.tocoo()
        indices = torch.from_numpy(np.vstack([X.row, X.col]).astype(np.int64))
        return torch.sparse_coo_tensor(indices, torch.from_numpy(X.data.astype(np.float32)),
                                       X.shape, check_invariants=False).coalesce()
    return torch.as_tensor(np.asarray(X), dtype=torch.float32)


class SparseLinear(torch.nn.Module):
    """Logistic regression logits ``X W^T + b`` (n, k) for dense or sparse ``X`` (n, d)."""

    def __init__(self, n_features: int, n_classes: int):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_classes)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.is_sparse:
            return torch.sparse.mm(X, self.linear.weight.T) + self.linear.bias
        return self.linear(X)


def predict_end_model(model: torch.nn.Module, X: object) -> np.ndarray:
    """Class probabilities (n, k): the softmax of a trained model's logits on ``X``."""
    with torch.no_grad():
        return torch.softmax(model(to_torch(X)), dim=1).numpy()
