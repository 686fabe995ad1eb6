"""The train stage: fit one family on the prepared folds."""

from __future__ import annotations

from aeops.config import Config
from aeops.models.store import MODEL_FILE
from aeops.stages.common import load_prepared
from aeops.training import TrainResult, train_family


def train(cfg: Config, family: str) -> TrainResult:
    prepared = load_prepared(cfg)
    out_dir = cfg.paths.model_dir(family)
    result = train_family(cfg, family, prepared.meta, prepared.fold("train"),
                          prepared.fold("val"), out_dir, prepared.data_hash)
    print(f"train[{family}]: {result.epochs} epochs, best val_loss {result.best_val_loss} "
          f"-> {out_dir / MODEL_FILE} (MLflow run {result.run_id})")
    return result
