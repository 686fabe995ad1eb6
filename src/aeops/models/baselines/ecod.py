"""ECOD, empirical-CDF outlier detection (Li et al., TKDE 2022): per feature, the negative log
probability of the value's tail under the training rows' empirical CDF, the larger of the left
and right tails (ECOD's skewness-chosen tail never exceeds it, so the paper's maximum is this
one), summed over features; ``explain`` gives each feature's term. Parameter-free; the
training rows are a seeded reference sample of at most ``baselines.reference_rows``."""

from __future__ import annotations

from typing import Any

import numpy as np

from aeops.core.sections import BaselinesConfig
from aeops.models.baselines.base import Baseline, reference_sample, sample_params


class ECODBaseline(Baseline):
    name = "ecod"

    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        reference = reference_sample(x, settings.reference_rows, self.seed)
        self.model = np.sort(reference, axis=0)
        self.params = sample_params(settings, len(x))

    def errors(self, x: np.ndarray) -> np.ndarray:
        return ecod_terms(self.model, x)

    def scores(self, x: np.ndarray) -> np.ndarray:
        return self.errors(x).sum(axis=1)

    def torch_module(self) -> Any:
        from aeops.models.baselines.graphs import ECODGraph

        return ECODGraph(self.model)


def ecod_terms(sorted_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-feature ECOD outlier terms of ``x`` against the training rows (sorted per column).

    Tail probabilities use (count + 1) / (n + 1), so a value beyond every training value gets
    a finite, larger term than any training value; the left tail counts training values
    <= x, the right tail those >= x."""
    n, d = sorted_train.shape
    out = np.empty_like(x)
    for j in range(d):
        column = sorted_train[:, j]
        left = (np.searchsorted(column, x[:, j], side="right") + 1.0) / (n + 1.0)
        right = (n - np.searchsorted(column, x[:, j], side="left") + 1.0) / (n + 1.0)
        out[:, j] = np.maximum(-np.log(left), -np.log(right))
    return out


BASELINE = ECODBaseline
