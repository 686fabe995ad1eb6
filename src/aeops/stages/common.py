"""What several stages share: loading the prepared folds, hashing data, running a stage."""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd

from aeops.config import Config, ConfigError, load_config
from aeops.data.expectations import DataValidationError, NotValidatedError
from aeops.data.schema import DatasetMeta
from aeops.data.sources import SourceError
from aeops.data.split import Fold, SplitError, load_fold
from aeops.env import disable_telemetry
from aeops.models.registry import ModelConfigError
from aeops.scoring import ScoringInputError

USER_ERRORS = (ConfigError, SourceError, DataValidationError, NotValidatedError, SplitError,
               ModelConfigError,
               ScoringInputError, FileNotFoundError)


@dataclass
class Prepared:
    meta: DatasetMeta
    splits: pd.DataFrame
    preprocessor: object
    data_hash: str

    def fold(self, name: str) -> Fold:
        return load_fold(self.splits, name, self.meta.features, self.meta.label_column,
                         self.preprocessor)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_prepared(cfg: Config) -> Prepared:
    """The outputs of ``ingest`` and ``prepare``, with a clear error when one is missing."""
    for path, stage in ((cfg.paths.interim_meta, "ingest"), (cfg.paths.splits, "prepare"),
                        (cfg.paths.preprocessor, "prepare")):
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} is missing; run `dvc repro {stage}` first")
    return Prepared(
        meta=DatasetMeta.load(cfg.paths.interim_meta),
        splits=pd.read_parquet(cfg.paths.splits),
        preprocessor=joblib.load(cfg.paths.preprocessor),
        data_hash=file_sha256(cfg.paths.splits)[:16],
    )


def run_family_stage(name: str, body: Callable[[Config, str], object]) -> None:
    """``python pipeline/<name>.py <family>``: run ``body`` for one model family."""
    import argparse

    parser = argparse.ArgumentParser(description=f"DVC stage {name}@<family>")
    parser.add_argument("family", help="model family, one of models.families in params.yaml")
    family = parser.parse_args().family
    run_stage(f"{name}@{family}", lambda cfg: body(cfg, family))


def run_stage(name: str, body: Callable[[Config], object], params: str = "params.yaml") -> None:
    """Run one stage: telemetry off, params parsed, user errors printed without a traceback."""
    disable_telemetry()
    try:
        body(load_config(params))
    except USER_ERRORS as exc:
        print(f"\n[aeops:{name}] FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print(f"\n[aeops:{name}] FAILED with an unexpected error (traceback above)",
              file=sys.stderr)
        sys.exit(2)
