"""The models as a notebook makes them: PyOD's style, on NumPy arrays or frames.

Each family, baseline and the denoiser has a public constructor (``from aeops import
DenseAE``) whose keywords override the defaults of the project's params.yaml (packaged as
:mod:`aeops.core.defaults`): the family's own block (``latent``, ``hidden``, ``beta``, ...)
and the training settings of ``train:`` (``max_epochs``, ``batch_size``, ...). ``fit`` builds
exactly what the pipeline would train for those rows (sizes, score kind, seed bag, a search
over a listed setting) and the fitted object then *is* that detector:

>>> import numpy as np
>>> from aeops import DenseAE
>>> X = np.random.default_rng(0).normal(size=(120, 10)).astype("float32")
>>> detector = DenseAE(latent=8).fit(X)
>>> detector.decision_function(X[:3]).shape  # higher = more anomalous
(3,)
>>> bool(detector.predict(X[:1] + 25).all())  # far off the training rows: flagged
True
>>> detector.encode(X[:3]).shape
(3, 8)

``save(folder)`` writes the same file the pipeline writes, and :func:`aeops.load` reads it
back (threshold included). Without validation rows, ``fit`` holds a seeded tenth of ``X``
out to stop early and set the threshold (the 99th percentile of their scores); pass
``val=(rows, is_anomaly)`` to let labelled anomalies choose the score kind and options.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from aeops.core.defaults import default_block, default_params
from aeops.core.errors import ModelConfigError
from aeops.core.sections import AutoSizeConfig, BaselinesConfig, TrainerConfig
from aeops.data.schema import DatasetMeta, pixel_columns
from aeops.evaluation.selection import SwitchRule
from aeops.models.autoencoders.bag import family_detector
from aeops.models.autoencoders.settings import (
    ScoreSettings,
    TrainingSpec,
    family,
    resolve_seeds,
)
from aeops.models.base import BaseDetector
from aeops.models.baselines import baselines
from aeops.models.denoisers.unet import UNetDenoiser
from aeops.models.ensemble import EnsembleDetector
from aeops.models.registry import load_model

if TYPE_CHECKING:
    from aeops.data.split import Fold

__all__ = [
    "ECOD",
    "KNN",
    "PCA",
    "VAE",
    "CoderAE",
    "ConvAE",
    "DenoisingAE",
    "DenseAE",
    "Ensemble",
    "IForest",
    "SparseAE",
    "UNetDenoiser",
    "load_model",
]

TRAIN_KEYS = tuple(TrainerConfig.model_fields)
SCORE_KEYS = ("score", "score_neighbors", "seeds")


class FamilyEstimator(BaseDetector):
    """An autoencoder family built from keywords (see the module docstring). Fitted, it
    holds ``detector_``: one network, a seed bag or a search, exactly as the pipeline
    builds them, and answers every verb with it."""

    family_name: ClassVar[str]
    kind = "autoencoder"
    has_code = True

    def __init__(self, image_shape: list[int] | None = None, **settings: Any):
        self.seed = int(settings.pop("seed", default_params()["seed"]))
        self.image_shape = image_shape
        self.train_settings = {k: settings.pop(k) for k in list(settings) if k in TRAIN_KEYS}
        self.score_settings = {k: settings.pop(k) for k in list(settings) if k in SCORE_KEYS}
        self.params = family(self.family_name).params(
            **{**default_block("models", self.family_name), **settings}
        )
        self.detector_: Any = None

    @property
    def name(self) -> str:
        return self.family_name

    def spec_for(self, train: Fold) -> TrainingSpec:
        """What the pipeline would train on these rows with these settings."""
        n = train.x.shape[1]
        features = pixel_columns(n) if self.image_shape else [f"f{i}" for i in range(n)]
        meta = DatasetMeta(
            "memory", "rows", features, None, [], len(train.x), image_shape=self.image_shape
        )
        models = {**default_block("models"), **self.score_settings}
        rule = default_block("register")
        evaluate = default_block("evaluate")
        switch = SwitchRule(
            confidence=rule["switch_confidence"],
            min_anomalies=rule["switch_min_anomalies"],
            n_boot=evaluate["bootstrap"],
            seed=self.seed,
            ci=evaluate["ci"],
        )
        normal = train.normal
        return TrainingSpec(
            family=self.family_name,
            params=self.params,
            auto_size=AutoSizeConfig(**models["auto_size"]),
            train=TrainerConfig(**{**default_block("train"), **self.train_settings}),
            score=ScoreSettings(models["score"], models["score_neighbors"], switch),
            seed=self.seed,
            meta=meta,
            unit_range=bool(len(normal) and normal.min() >= 0.0 and normal.max() <= 1.0),
            seeds=resolve_seeds(models["seeds"], meta, False, len(normal)),
        )

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        self.detector_ = family_detector(self.spec_for(train))
        self.detector_.fit(train, val, hooks)

    def fitted(self) -> Any:
        if self.detector_ is None:
            raise ModelConfigError(f"the {self.name} detector is not fitted yet; call fit()")
        self.detector_.threshold_ = self.threshold_
        return self.detector_

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self.fitted().decision_function(np.asarray(x, np.float32))

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        return self.fitted().feature_errors(np.asarray(x, np.float32))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.fitted().encode(np.asarray(x, np.float32))

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.fitted().decode(np.asarray(z, np.float32))

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.fitted().reconstruct(np.asarray(x, np.float32))

    def torch_module(self) -> Any:
        return self.fitted().torch_module()

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.fitted().state()

    def save(self, folder: str | Path) -> Path:
        return self.fitted().save(folder)


class DenseAE(FamilyEstimator):
    """An undercomplete MLP autoencoder (``models.dense``): ``hidden``, ``latent``,
    ``dropout``, ``code_activation``."""

    family_name = "dense"


class ConvAE(FamilyEstimator):
    """A convolutional autoencoder for images (``models.conv``: ``channels``, ``latent``);
    give ``image_shape=[channels, height, width]`` of the pixel rows."""

    family_name = "conv"


class DenoisingAE(FamilyEstimator):
    """A denoising autoencoder (``models.denoising``): trained to rebuild rows from
    corrupted ones (``noise``, ``noise_level``)."""

    family_name = "denoising"


class SparseAE(FamilyEstimator):
    """A sparse autoencoder (``models.sparse``): an L1 or KL penalty on its code."""

    family_name = "sparse"


class VAE(FamilyEstimator):
    """A variational autoencoder (``models.vae``): ``beta`` one value, or a list validation
    chooses among."""

    family_name = "vae"


class CoderAE(FamilyEstimator):
    """The coder (``models.coder``): built for its code (compression, dimensionality
    reduction)."""

    family_name = "coder"


def baseline_settings(settings: dict[str, Any]) -> BaselinesConfig:
    return BaselinesConfig(**{**default_block("baselines"), **settings})


class PCA(baselines()["pca"]):  # type: ignore[misc]  # found by name
    """PCA reconstruction error (``baselines.pca_components``: variance kept or a count)."""

    def __init__(self, **settings: Any) -> None:
        seed = int(settings.pop("seed", default_params()["seed"]))
        super().__init__(baseline_settings(settings), seed)


class IForest(baselines()["iforest"]):  # type: ignore[misc]
    """Isolation Forest (``baselines.iforest_estimators`` trees)."""

    def __init__(self, **settings: Any) -> None:
        seed = int(settings.pop("seed", default_params()["seed"]))
        super().__init__(baseline_settings(settings), seed)


class KNN(baselines()["knn"]):  # type: ignore[misc]
    """Distance to the k-th nearest normal training row (``baselines.knn_neighbors``)."""

    def __init__(self, **settings: Any) -> None:
        seed = int(settings.pop("seed", default_params()["seed"]))
        super().__init__(baseline_settings(settings), seed)


class ECOD(baselines()["ecod"]):  # type: ignore[misc]
    """Empirical-CDF outlier detection: each feature's tail probability, combined."""

    def __init__(self, **settings: Any) -> None:
        seed = int(settings.pop("seed", default_params()["seed"]))
        super().__init__(baseline_settings(settings), seed)


Ensemble = EnsembleDetector
