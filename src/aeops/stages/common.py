"""What several stages share: loading the prepared folds, hashing data, running a stage."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold, load_fold
from aeops.errors import MissingInputError


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

    @cached_property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor.load(self.preprocessor_path)

    @property
    def unit_range(self) -> bool:
        """Model inputs lie in [0, 1] (sigmoid outputs, bce allowed): read from the data."""
        x = self.fold("train").normal
        return bool(len(x) and x.min() >= 0.0 and x.max() <= 1.0)

    def fold(self, name: str) -> Fold:
        return load_fold(self.splits, name, self.meta, self.model_input)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        data_hash=splits_hash(cfg),
    )


def splits_hash(cfg: Config) -> str:
    """The prepared data's short hash (the split file's SHA-256): what MLflow's Dataset
    column, version tags and the report name the data by."""
    return file_sha256(cfg.paths.splits)[:16]
