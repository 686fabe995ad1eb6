"""Classical baselines every autoencoder must beat: PCA reconstruction, Isolation Forest,
k-nearest neighbours and ECOD (the strongest classical detectors in ADBench, NeurIPS 2022).

Each is a scorer like :class:`~aeops.scoring.AutoencoderScorer` (``run(x, want)``), so a
baseline that wins can be registered and served as the same pyfunc: same columns, threshold
and ``explain``. All are fit on the normal training rows in model-input space, and a row's
score never depends on the other rows scored with it.

- ``pca``: squared reconstruction error from the components keeping
  ``baselines.pca_components`` of the variance; explained per feature; has a latent code (the
  projection on the components), which ``decode`` maps back to the reconstruction.
- ``iforest``: Isolation Forest (``baselines.iforest_estimators`` trees); ``explain`` gives
  each feature's squared z-score against the normal training rows.
- ``knn``: distance to the ``baselines.knn_neighbors``-th nearest normal training row (PyOD's
  ``KNN`` default, "largest"); ``explain`` gives each feature's squared difference from the
  mean of those neighbours.
- ``ecod``: empirical-CDF outlier detection (Li et al., TKDE 2022): per feature, the negative
  log probability of the value's tail under the training rows' empirical CDF, the larger of
  the left and right tails (ECOD's skewness-chosen tail never exceeds it, so the paper's
  maximum is this one), summed over features; ``explain`` gives each feature's term.
  Parameter-free.

Isolation Forest, k-NN and ECOD have no latent code or reconstruction: asking for one, or to
decode one, is refused. Saved with skops (data, not a pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aeops.errors import ModelConfigError, ScoringInputError

BASELINES = ("pca", "iforest", "knn", "ecod")
NO_CODE = ("z", "recon")  # outputs only PCA has among the baselines
CODED = ("pca",)  # the baselines with a latent code and a decoder (the use measures)
KNN_BLOCK_ROWS = 1024  # query rows per distance block (memory: block x training rows)


@dataclass
class Baseline:
    name: str
    model: Any
    mean: np.ndarray
    scale: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def run(self, x: np.ndarray, want: tuple[str, ...] = ("score",)) -> dict[str, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        if any(k in NO_CODE for k in want):
            self.require_code()
        out = RUNNERS[self.name](self, x, want)
        return {k: out[k] for k in want}

    def decode(self, z: np.ndarray) -> np.ndarray:
        """PCA's reconstruction (model space, float64 like ``run``) of codes ``z``:
        ``decode(run(x, ("z",))["z"])`` is ``run(x, ("recon",))["recon"]``."""
        self.require_code()
        z = np.asarray(z, dtype=np.float64)
        if not len(z):
            return np.zeros((0, self.model.n_features_in_))
        return self.model.inverse_transform(z)

    def require_code(self) -> None:
        """Only PCA has a latent code and a reconstruction among the baselines."""
        if self.name != "pca":
            raise ScoringInputError(
                f"a {self.name} detector has no latent code or "
                "reconstruction; ask it for output 'score'"
            )

    def score(self, x: np.ndarray) -> np.ndarray:
        """Higher means more anomalous, like the autoencoders' scores."""
        return self.run(x, ("score",))["score"]

    def save(self, path: str | Path) -> None:
        from aeops.data.preprocess import dump_trusted

        dump_trusted(
            {
                "name": self.name,
                "model": self.model,
                "mean": self.mean,
                "scale": self.scale,
                "params": self.params,
            },
            path,
        )


def _run_pca(b: Baseline, x: np.ndarray, want: tuple[str, ...]) -> dict[str, np.ndarray]:
    if not len(x):
        z = np.zeros((0, b.model.n_components_))
        return {
            "score": np.zeros(0),
            "per_feature": np.zeros_like(x),
            "z": z,
            "recon": np.zeros_like(x),
        }
    z = b.model.transform(x)
    recon = b.model.inverse_transform(z)
    per_feature = (recon - x) ** 2
    return {"score": per_feature.mean(axis=1), "per_feature": per_feature, "z": z, "recon": recon}


def _run_iforest(b: Baseline, x: np.ndarray, want: tuple[str, ...]) -> dict[str, np.ndarray]:
    out = {"score": -b.model.score_samples(x) if len(x) else np.zeros(0)}
    if "per_feature" in want:
        out["per_feature"] = ((x - b.mean) / b.scale) ** 2
    return out


def _run_knn(b: Baseline, x: np.ndarray, want: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``model`` is the normal training rows (n, d); distances are Euclidean."""
    reference = b.model
    k = min(int(b.params["knn_neighbors"]), len(reference))
    scores = np.zeros(len(x))
    per_feature = np.zeros_like(x)
    for start in range(0, len(x), KNN_BLOCK_ROWS):
        block = x[start : start + KNN_BLOCK_ROWS]
        d2 = _squared_distances(block, reference)
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        scores[start : start + len(block)] = np.sqrt(
            np.take_along_axis(d2, nearest, axis=1).max(axis=1)
        )
        if "per_feature" in want:
            per_feature[start : start + len(block)] = (block - reference[nearest].mean(axis=1)) ** 2
    return {"score": scores, "per_feature": per_feature}


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(axis=1)[:, None] - 2.0 * a @ b.T + (b * b).sum(axis=1)[None, :]
    return np.maximum(d2, 0.0)


def _run_ecod(b: Baseline, x: np.ndarray, want: tuple[str, ...]) -> dict[str, np.ndarray]:
    per_feature = ecod_terms(b.model, x)
    return {"score": per_feature.sum(axis=1), "per_feature": per_feature}


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


RUNNERS = {"pca": _run_pca, "iforest": _run_iforest, "knn": _run_knn, "ecod": _run_ecod}


def fit_baseline(name: str, train_normal: np.ndarray, cfg: Any, seed: int) -> Baseline:
    """Fit baseline ``name`` on the normal training rows (model-input space); ``cfg`` is the
    ``baselines`` section of params.yaml."""
    from sklearn.decomposition import PCA
    from sklearn.ensemble import IsolationForest

    x = np.asarray(train_normal, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    if name == "pca":
        components = cfg.pca_components
        n = components if isinstance(components, float) else min(components, *x.shape)
        model = PCA(n_components=n, random_state=seed).fit(x)
        return Baseline(
            name,
            model,
            mean,
            scale,
            {"pca_components": components, "pca_fitted_components": int(model.n_components_)},
        )
    if name == "iforest":
        model = IsolationForest(n_estimators=cfg.iforest_estimators, random_state=seed).fit(x)
        return Baseline(name, model, mean, scale, {"iforest_estimators": cfg.iforest_estimators})
    if name == "knn":
        reference = reference_sample(x, cfg.reference_rows, seed)
        return Baseline(name, reference, mean, scale, knn_params(cfg, len(x)))
    if name == "ecod":
        reference = reference_sample(x, cfg.reference_rows, seed)
        return Baseline(name, np.sort(reference, axis=0), mean, scale, sample_params(cfg, len(x)))
    raise ModelConfigError(f"unknown baseline '{name}'; choose from {list(BASELINES)}")


def reference_sample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """``x`` (a copy) when it has at most ``rows`` rows, else a seeded sample of ``rows``
    of them in their original order: k-NN's distances and ECOD's tails from 20,000 rows
    rank as from all, while scoring and the registered file stay small on a tall table."""
    if len(x) <= rows:
        return x.copy()
    keep = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
    return x[keep]


def sample_params(cfg: Any, n_rows: int) -> dict[str, Any]:
    """The reference size, recorded only when it sampled (small tables keep their params)."""
    return {"reference_rows": cfg.reference_rows} if n_rows > cfg.reference_rows else {}


def knn_params(cfg: Any, n_rows: int) -> dict[str, Any]:
    return {"knn_neighbors": cfg.knn_neighbors, **sample_params(cfg, n_rows)}


def load_baseline(path: str | Path) -> Baseline:
    from aeops.data.preprocess import load_trusted

    state = load_trusted(path)
    return Baseline(**state)
