"""k-nearest neighbours: the distance to the ``baselines.knn_neighbors``-th nearest normal
training row (PyOD's ``KNN`` default, "largest"), Euclidean, against a seeded reference sample
of at most ``baselines.reference_rows`` rows; ``explain`` gives each feature's squared
difference from the mean of those neighbours (all reference rows as near as the k-th)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from aeops.core.sections import BaselinesConfig
from aeops.models.baselines.base import Baseline, reference_sample, sample_params

KNN_BLOCK_ROWS = 1024  # query rows per distance block (memory: block x training rows)


class KNNBaseline(Baseline):
    name = "knn"

    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        self.model = reference_sample(x, settings.reference_rows, self.seed)
        self.params = {
            "knn_neighbors": settings.knn_neighbors,
            **sample_params(settings, len(x)),
        }

    def neighbours(self, x: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(first row, squared distances, nearest reference rows) per block of ``x``."""
        reference = self.model
        k = min(int(self.params["knn_neighbors"]), len(reference))
        for start in range(0, len(x), KNN_BLOCK_ROWS):
            block = x[start : start + KNN_BLOCK_ROWS]
            d2 = squared_distances(block, reference)
            yield start, d2, np.argpartition(d2, k - 1, axis=1)[:, :k]

    def scores(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x))
        for start, d2, nearest in self.neighbours(x):
            out[start : start + len(d2)] = np.sqrt(
                np.take_along_axis(d2, nearest, axis=1).max(axis=1)
            )
        return out

    def errors(self, x: np.ndarray) -> np.ndarray:
        """Each feature's squared difference from the mean of the reference rows as near as
        the k-th (every one at that distance: ties do not depend on the sort's order)."""
        out = np.zeros_like(x)
        for start, d2, nearest in self.neighbours(x):
            block = x[start : start + len(d2)]
            kth = np.take_along_axis(d2, nearest, axis=1).max(axis=1)
            near = (d2 <= kth[:, None]).astype(np.float64)
            out[start : start + len(d2)] = (
                block - near @ self.model / near.sum(axis=1)[:, None]
            ) ** 2
        return out

    def torch_module(self) -> Any:
        from aeops.models.baselines.graphs import KNNGraph

        return KNNGraph(self.model, int(self.params["knn_neighbors"]))


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(axis=1)[:, None] - 2.0 * a @ b.T + (b * b).sum(axis=1)[None, :]
    return np.maximum(d2, 0.0)


BASELINE = KNNBaseline
