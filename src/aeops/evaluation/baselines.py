"""Classical baselines every autoencoder must beat: PCA reconstruction and Isolation Forest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest

from aeops.config import Config

BASELINES = ("pca", "iforest")


@dataclass
class Baseline:
    name: str
    model: Any
    params: dict[str, Any] = field(default_factory=dict)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Higher means more anomalous, like the autoencoders' scores."""
        if self.name == "pca":
            recon = self.model.inverse_transform(self.model.transform(x))
            return ((recon - x) ** 2).mean(axis=1)
        return -self.model.score_samples(x)


def fit_baseline(name: str, train_normal: np.ndarray, cfg: Config) -> Baseline:
    if name == "pca":
        components = cfg.baselines.pca_components
        model = PCA(n_components=components, random_state=cfg.seed).fit(train_normal)
        return Baseline(name, model, {"pca_components": components,
                                      "pca_fitted_components": int(model.n_components_)})
    if name == "iforest":
        n = cfg.baselines.iforest_estimators
        model = IsolationForest(n_estimators=n, random_state=cfg.seed).fit(train_normal)
        return Baseline(name, model, {"iforest_estimators": n})
    raise ValueError(f"unknown baseline '{name}'; choose from {list(BASELINES)}")
