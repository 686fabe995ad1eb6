"""The baselines' scoring as torch modules, for export to ONNX (:mod:`aeops.serving.export`).

Each module mirrors its baseline's NumPy / scikit-learn scoring operation for operation, in
float64 where the baseline computes in float64, so ONNX Runtime gives the same scores (the
parity tests in ``tests/integration/test_export.py`` hold it): model-input rows in; the score,
each input column's share of it (``explain``) and, for PCA, the code out. torch is imported here
only, when a baseline is exported: fitting and scoring a baseline never needs it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

EMPTY_CODE = 0  # baselines without a code return a (rows, 0) code


def as64(values: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values, dtype=np.float64))


def no_code(x: torch.Tensor) -> torch.Tensor:
    return x[:, :EMPTY_CODE].float()


class StandardisedErrors(nn.Module):
    """Each feature's squared z-score against the normal training rows."""

    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", as64(mean))
        self.register_buffer("scale", as64(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.scale) ** 2


class PCAGraph(nn.Module):
    """Squared reconstruction error from the kept components; the projection is the code."""

    mean: torch.Tensor
    components: torch.Tensor

    def __init__(self, mean: np.ndarray, components: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", as64(mean))
        self.register_buffer("components", as64(components))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.double()
        z = x @ self.components.T - self.mean[None, :] @ self.components.T  # as sklearn's
        recon = z @ self.components + self.mean
        per_feature = (recon - x) ** 2
        return per_feature.mean(dim=1), per_feature, z


class HotellingGraph(nn.Module):
    """Hotelling's T² in the kept components; each feature's share of it; the projection."""

    mean: torch.Tensor
    components: torch.Tensor
    variance: torch.Tensor

    def __init__(self, mean: np.ndarray, components: np.ndarray, variance: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", as64(mean))
        self.register_buffer("components", as64(components))
        self.register_buffer("variance", as64(variance))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        centred = x.double() - self.mean
        z = centred @ self.components.T
        weights = z / self.variance
        size = torch.abs(centred * (weights @ self.components))
        t2 = (z * weights).sum(dim=1, keepdim=True)
        total = size.sum(dim=1, keepdim=True)
        per_feature = size * (t2 / torch.where(total > 0, total, torch.ones_like(total)))
        return t2[:, 0], per_feature, z


class KNNGraph(nn.Module):
    """Distance to the k-th nearest reference row; errors against the neighbours' mean."""

    reference: torch.Tensor

    def __init__(self, reference: np.ndarray, k: int) -> None:
        super().__init__()
        self.register_buffer("reference", as64(reference))
        self.k = min(int(k), len(reference))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.double()
        ref = self.reference
        d2 = (x * x).sum(dim=1)[:, None] - 2.0 * x @ ref.T + (ref * ref).sum(dim=1)[None, :]
        d2 = torch.clamp(d2, min=0.0)
        kth = torch.topk(d2, self.k, dim=1, largest=False).values.max(dim=1).values
        near = (d2 <= kth[:, None]).double()  # every reference row as near as the k-th
        per_feature = (x - near @ ref / near.sum(dim=1, keepdim=True)) ** 2
        return torch.sqrt(kth), per_feature, no_code(x)


class ECODGraph(nn.Module):
    """ECOD's per-feature tail terms; ``searchsorted`` written as an unrolled binary search
    (ONNX has none), one gather per step."""

    sorted: torch.Tensor

    def __init__(self, sorted_train: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("sorted", as64(sorted_train))
        self.n = len(sorted_train)
        self.steps = max(1, math.ceil(math.log2(self.n + 1)))

    def count(self, x: torch.Tensor, right: bool) -> torch.Tensor:
        """Per value, how many training values are < x (``right``: <= x)."""
        lo = torch.zeros_like(x, dtype=torch.long)
        hi = torch.full_like(lo, self.n)
        for _ in range(self.steps):
            mid = torch.div(lo + hi, 2, rounding_mode="floor")
            probe = torch.gather(self.sorted, 0, torch.clamp(mid, max=self.n - 1))
            below = (probe <= x) if right else (probe < x)
            go_right = below & (mid < hi)
            lo = torch.where(go_right, mid + 1, lo)
            hi = torch.where(go_right, hi, mid)
        return lo

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = x.double()
        n = float(self.n)
        left = (self.count(x, right=True).double() + 1.0) / (n + 1.0)
        right = (n - self.count(x, right=False).double() + 1.0) / (n + 1.0)
        per_feature = torch.maximum(-torch.log(left), -torch.log(right))
        return per_feature.sum(dim=1), per_feature, no_code(x)


class IForestGraph(nn.Module):
    """Isolation Forest's ``-score_samples``: every tree walked at once, one level per step,
    from scikit-learn's fitted arrays (rows compared as float32, as scikit-learn does)."""

    feature: torch.Tensor
    threshold: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor
    leaf_depth: torch.Tensor

    def __init__(self, forest: Any, mean: np.ndarray, scale: np.ndarray) -> None:
        super().__init__()
        from sklearn.ensemble._iforest import _average_path_length

        trees = [e.tree_ for e in forest.estimators_]
        width = max(t.node_count for t in trees)
        d = forest.n_features_in_

        def padded(values: list[np.ndarray], fill: float, dtype: Any) -> torch.Tensor:
            out = np.full((len(values), width), fill, dtype=dtype)
            for i, v in enumerate(values):
                out[i, : len(v)] = v
            return torch.as_tensor(out)

        features = [np.asarray(f) for f in forest.estimators_features_]
        feature = [
            np.where(t.feature >= 0, features[i][np.maximum(t.feature, 0)], 0)
            for i, t in enumerate(trees)
        ]
        self.register_buffer("feature", padded(feature, 0, np.int64))
        self.register_buffer("threshold", padded([t.threshold for t in trees], 0.0, np.float64))
        left = [
            np.where(t.children_left >= 0, t.children_left, np.arange(t.node_count)) for t in trees
        ]
        right = [
            np.where(t.children_right >= 0, t.children_right, np.arange(t.node_count))
            for t in trees
        ]
        self.register_buffer("left", padded(left, 0, np.int64))
        self.register_buffer("right", padded(right, 0, np.int64))
        leaf_depth = [
            forest._decision_path_lengths[i] + forest._average_path_length_per_tree[i] - 1.0
            for i in range(len(trees))
        ]
        self.register_buffer("leaf_depth", padded(leaf_depth, 0.0, np.float64))
        self.steps = max(int(t.max_depth) for t in trees)
        self.trees = len(trees)
        self.denominator = float(len(trees) * _average_path_length([forest._max_samples])[0])
        self.errors = StandardisedErrors(mean, scale)
        self.d = d

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x64 = x.double()
        rows = x64.to(torch.float32).double()  # scikit-learn compares float32 values
        node = torch.zeros((x.shape[0], self.trees), dtype=torch.long)
        tree = torch.arange(self.trees)[None, :].expand(x.shape[0], -1)
        for _ in range(self.steps):
            feature = self.feature[tree, node]
            value = torch.gather(rows, 1, feature)
            go_left = value <= self.threshold[tree, node]
            node = torch.where(go_left, self.left[tree, node], self.right[tree, node])
        depths = self.leaf_depth[tree, node].sum(dim=1)
        score = torch.pow(2.0, -depths / self.denominator)
        return score, self.errors(x64), no_code(x64)
