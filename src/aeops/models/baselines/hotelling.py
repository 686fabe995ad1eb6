"""Hotelling's T²: how far a row lies inside the principal subspace of the normal training
rows, each component's squared projection divided by its variance (the classical process-
monitoring statistic beside PCA's reconstruction error Q, which :mod:`.pca` scores). The
components keep ``baselines.pca_components`` of the variance, as PCA's do. ``explain`` gives
each feature's share of T² (its contribution's size; the shares add up to T²); the code is the
projection.

T² reads a change *within* the normal correlations (a valve that moves the flow and pressure
together, further than it ever did) where Q reads a broken correlation; on sensor windows whose
slow channels drift after a fault, Q keeps flagging the drift while T² returns
(``benchmarks/results/faults_probe.md``). It is measured beside the detectors of streams
(``task: faults``) and of any task that lists it (:attr:`Baseline.opt_in`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from aeops.core.sections import BaselinesConfig
from aeops.models.baselines.base import Baseline

MIN_VARIANCE = 1e-12  # a component whose variance is below this is left out of T²


class HotellingBaseline(Baseline):
    name = "hotelling"
    has_code = True
    opt_in = True  # measured where a task asks for it (streams), not on every table

    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        from sklearn.decomposition import PCA

        components = settings.pca_components
        n = components if isinstance(components, float) else min(components, *x.shape)
        pca = PCA(n_components=n, random_state=self.seed).fit(x)
        keep = pca.explained_variance_ > MIN_VARIANCE
        self.model = {
            "mean": pca.mean_,
            "components": pca.components_[keep],
            "variance": pca.explained_variance_[keep],
        }
        self.params = {"pca_components": components, "pca_fitted_components": int(keep.sum())}

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (x - self.model["mean"]) @ self.model["components"].T

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Codes back to model space (the rows' projection onto the kept components)."""
        return np.asarray(z, dtype=np.float64) @ self.model["components"] + self.model["mean"]

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))

    def errors(self, x: np.ndarray) -> np.ndarray:
        """Each feature's share of T²: the size of its contribution ``(x - mean)_j (V^T
        Λ^-1 V (x - mean))_j`` (contributions add up to T² but may be negative), scaled so
        the shares add up to T²."""
        centred = np.asarray(x, dtype=np.float64) - self.model["mean"]
        z = centred @ self.model["components"].T
        size = np.abs(centred * ((z / self.model["variance"]) @ self.model["components"]))
        t2 = (z * z / self.model["variance"]).sum(axis=1, keepdims=True)
        total = size.sum(axis=1, keepdims=True)
        return size * (t2 / np.where(total > 0, total, 1.0))

    def scores(self, x: np.ndarray) -> np.ndarray:
        z = self.encode(x)
        return (z * z / self.model["variance"]).sum(axis=1) if len(z) else np.zeros(0)

    def torch_module(self) -> Any:
        from aeops.models.baselines.graphs import HotellingGraph

        return HotellingGraph(self.model["mean"], self.model["components"], self.model["variance"])


BASELINE = HotellingBaseline
