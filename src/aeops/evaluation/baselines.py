"""Classical baselines every autoencoder must beat: PCA reconstruction and Isolation Forest.

Each is a scorer like :class:`~aeops.scoring.AutoencoderScorer` (``run(x, want)``), so a
baseline that wins can be registered and served as the same pyfunc: same columns, threshold
and ``explain``. PCA explains a row by its per-feature reconstruction error and has a latent
code (its components); Isolation Forest has neither, so its ``explain`` gives each feature's
squared z-score against the normal training rows (how unusual each value is), and asking it
for a latent code or reconstruction is refused. Saved with skops (data, not a pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aeops.errors import ModelConfigError, ScoringInputError

BASELINES = ("pca", "iforest")


@dataclass
class Baseline:
    name: str
    model: Any
    mean: np.ndarray
    scale: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def run(self, x: np.ndarray, want: tuple[str, ...] = ("score",)) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        out: dict[str, np.ndarray] = {}
        if self.name == "pca":
            z = self.model.transform(x) if len(x) else np.zeros((0, self.model.n_components_))
            recon = self.model.inverse_transform(z) if len(x) else np.zeros_like(x)
            per_feature = (recon - x) ** 2
            out = {"score": per_feature.mean(axis=1), "per_feature": per_feature, "z": z,
                   "recon": recon}
        else:
            unsupported = [k for k in want if k in ("z", "recon")]
            if unsupported:
                raise ScoringInputError("an Isolation Forest detector has no latent code or "
                                        "reconstruction; ask it for output 'score'")
            out["score"] = -self.model.score_samples(x) if len(x) else np.zeros(0)
            if "per_feature" in want:
                out["per_feature"] = ((x - self.mean) / self.scale) ** 2
        return {k: out[k] for k in want}

    def score(self, x: np.ndarray) -> np.ndarray:
        """Higher means more anomalous, like the autoencoders' scores."""
        return self.run(x, ("score",))["score"]

    def save(self, path: str | Path) -> None:
        from aeops.data.preprocess import dump_trusted

        dump_trusted({"name": self.name, "model": self.model, "mean": self.mean,
                      "scale": self.scale, "params": self.params}, path)


def fit_baseline(name: str, train_normal: np.ndarray, components: int | float, trees: int,
                 seed: int) -> Baseline:
    """Fit baseline ``name`` on the normal training rows (model-input space)."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    x = np.asarray(train_normal, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    if name == "pca":
        n = components if isinstance(components, float) else min(components, *x.shape)
        model = PCA(n_components=n, random_state=seed).fit(x)
        return Baseline(name, model, mean, scale,
                        {"pca_components": components,
                         "pca_fitted_components": int(model.n_components_)})
    if name == "iforest":
        model = IsolationForest(n_estimators=trees, random_state=seed).fit(x)
        return Baseline(name, model, mean, scale, {"iforest_estimators": trees})
    raise ModelConfigError(f"unknown baseline '{name}'; choose from {list(BASELINES)}")


def load_baseline(path: str | Path) -> Baseline:
    from aeops.data.preprocess import load_trusted

    state = load_trusted(path)
    return Baseline(**state)
