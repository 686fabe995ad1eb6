"""What several stages share: loading the prepared folds, hashing data, running a stage."""

from __future__ import annotations

import hashlib
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aeops.config import Config, load_config
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold, load_fold
from aeops.env import disable_telemetry
from aeops.errors import AeopsError, MissingInputError


@dataclass
class Prepared:
    meta: DatasetMeta
    splits: pd.DataFrame
    preprocessor: Preprocessor
    data_hash: str

    def fold(self, name: str) -> Fold:
        return load_fold(self.splits, name, self.meta, self.preprocessor)


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
    require(cfg.paths.splits, "prepare")
    require(cfg.paths.preprocessor, "prepare")
    return Prepared(
        meta=DatasetMeta.load(cfg.paths.interim_meta),
        splits=pd.read_parquet(cfg.paths.splits),
        preprocessor=Preprocessor.load(cfg.paths.preprocessor),
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
    except AeopsError as exc:
        print(f"\n[aeops:{name}] FAILED: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        print(f"\n[aeops:{name}] FAILED with an unexpected error (traceback above)",
              file=sys.stderr)
        sys.exit(2)
