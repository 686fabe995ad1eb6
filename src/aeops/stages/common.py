"""What several stages share: the prepared folds, the data's hash, and the objects the
params become for the layers below (a training spec, the switch rule)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.core.errors import MissingInputError
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold, load_fold, splits_hash
from aeops.evaluation.selection import SwitchRule

if TYPE_CHECKING:
    from aeops.models.autoencoders.settings import TrainingSpec


@dataclass
class Prepared:
    """What ``prepare`` wrote. The model input of every row is read from ``model_input``
    (written once by ``prepare``), so stages that only need folds never load the
    preprocessor (loading it imports every estimator skops trusts: seconds per stage)."""

    meta: DatasetMeta
    splits: pd.DataFrame
    model_input: np.ndarray
    preprocessor_path: Path
    data_hash: str
    train_stride: int = 1  # a stream's training takes every stride-th window
    window: int = 1  # rows per model input (a stream seen in windows)

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor.load(self.preprocessor_path)

    @property
    def unit_range(self) -> bool:
        """Model inputs lie in [0, 1] (sigmoid outputs, bce allowed): read from the data."""
        x = self.fold("train").normal
        return bool(len(x) and x.min() >= 0.0 and x.max() <= 1.0)

    def fold(self, name: str) -> Fold:
        fold = load_fold(self.splits, name, self.meta, self.model_input)
        return fold.windows(self.window, self.train_stride) if name == "train" else fold


def example_rows(prepared: Prepared) -> pd.DataFrame:
    """A few rows, logged with each detector as its input example: five, or for a stream
    the first series' rows its scorer needs before it scores (``data.warmup_rows``)."""
    pre = prepared.preprocessor if prepared.meta.is_stream else None
    warmup = pre.stream.warmup if pre is not None and pre.stream is not None else None
    return prepared.splits[prepared.meta.features].head(max(5, warmup or 0))


def require(path: str | Path, stage: str) -> Path:
    """``path``, or a clear error naming the stage that writes it."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"{path} is missing; run `dvc repro {stage}` first")
    return path


def load_prepared(cfg: Config) -> Prepared:
    """The outputs of ``ingest`` and ``prepare``, with a clear error when one is missing."""
    require(cfg.paths.interim_meta, "ingest")
    for path in (cfg.paths.splits, cfg.paths.model_input, cfg.paths.preprocessor):
        require(path, "prepare")
    return Prepared(
        meta=DatasetMeta.load(cfg.paths.interim_meta),
        splits=pd.read_parquet(cfg.paths.splits),
        model_input=np.load(cfg.paths.model_input, allow_pickle=False),
        preprocessor_path=Path(cfg.paths.preprocessor),
        data_hash=splits_hash(cfg.paths.splits),
        train_stride=cfg.data.window.stride,
        window=cfg.data.window.size or 1,
    )


def switch_rule(cfg: Config) -> SwitchRule:
    """When validation shows one ranking reliably better (``register.switch_*``,
    ``evaluate.bootstrap``, ``evaluate.ci``)."""
    return SwitchRule(
        cfg.register.switch_confidence,
        cfg.register.switch_min_anomalies,
        cfg.evaluate.bootstrap,
        cfg.seed,
        cfg.evaluate.ci,
    )


def training_spec(cfg: Config, family: str, prepared: Prepared) -> TrainingSpec:
    """What training autoencoder ``family`` on the prepared data needs, from params and
    what the task says of the code."""
    from aeops.models.autoencoders.settings import ScoreSettings, TrainingSpec, resolve_seeds

    use = cfg.use
    normal_rows = int((~prepared.fold("train").is_anomaly).sum())
    return TrainingSpec(
        family=family,
        params=cfg.models.family(family),
        auto_size=cfg.models.auto_size,
        train=cfg.train,
        score=ScoreSettings(cfg.models.score, cfg.models.score_neighbors, switch_rule(cfg)),
        seed=cfg.seed,
        meta=prepared.meta,
        unit_range=prepared.unit_range,
        code_size=use.code_size(cfg.code),
        code_step=use.code_step(cfg.code),
        seeds=resolve_seeds(cfg.models.seeds, prepared.meta, use.code_is_product, normal_rows),
        code_is_product=use.code_is_product,
        window=prepared.window,
    )


def denoiser(cfg: Config, family: str, prepared: Prepared):
    """Denoiser ``family`` configured by its params block, for the prepared images."""
    from aeops.models.denoisers import denoisers

    return denoisers()[family](
        cfg.models.family(family),
        cfg.train.max_time,
        image_shape=prepared.meta.image_shape,
        seed=cfg.seed,
    )
