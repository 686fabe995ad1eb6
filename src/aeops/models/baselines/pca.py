"""PCA reconstruction: the squared error of each row rebuilt from the components keeping
``baselines.pca_components`` of the variance (or that many components); explained per
feature; its latent code is the projection on the components, which ``decode`` maps back."""

from __future__ import annotations

from typing import Any

import numpy as np

from aeops.core.sections import BaselinesConfig
from aeops.models.baselines.base import Baseline


class PCABaseline(Baseline):
    name = "pca"
    has_code = True

    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        from sklearn.decomposition import PCA

        components = settings.pca_components
        n = components if isinstance(components, float) else min(components, *x.shape)
        self.model = PCA(n_components=n, random_state=self.seed).fit(x)
        self.params = {
            "pca_components": components,
            "pca_fitted_components": int(self.model.n_components_),
        }

    def errors(self, x: np.ndarray) -> np.ndarray:
        return (self.reconstruct(x) - x) ** 2

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.errors(x).mean(axis=1) if len(x) else np.zeros(0)

    def encode(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.model.transform(x) if len(x) else np.zeros((0, self.model.n_components_))

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The reconstruction (model space, float64) of codes ``z``:
        ``decode(encode(x))`` is ``reconstruct(x)``."""
        z = np.asarray(z, dtype=np.float64)
        if not len(z):
            return np.zeros((0, self.model.n_features_in_))
        return self.model.inverse_transform(z)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return self.decode(self.encode(x)) if len(x) else np.zeros_like(x)

    def torch_module(self) -> Any:
        from aeops.models.baselines.graphs import PCAGraph

        return PCAGraph(self.model.mean_, self.model.components_)


BASELINE = PCABaseline
