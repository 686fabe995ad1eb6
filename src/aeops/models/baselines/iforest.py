"""Isolation Forest (``baselines.iforest_estimators`` trees); ``explain`` gives each feature's
squared z-score against the normal training rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from aeops.core.sections import BaselinesConfig
from aeops.models.baselines.base import Baseline


class IForestBaseline(Baseline):
    name = "iforest"

    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        from sklearn.ensemble import IsolationForest

        self.model = IsolationForest(
            n_estimators=settings.iforest_estimators, random_state=self.seed
        ).fit(x)
        self.params = {"iforest_estimators": settings.iforest_estimators}

    def scores(self, x: np.ndarray) -> np.ndarray:
        return -self.model.score_samples(x) if len(x) else np.zeros(0)

    def torch_module(self) -> Any:
        from aeops.models.baselines.graphs import IForestGraph

        return IForestGraph(self.model, self.mean, self.scale)


BASELINE = IForestBaseline
