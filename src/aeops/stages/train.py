"""The train stage: fit one family on the prepared folds, or record why it cannot use them."""

from __future__ import annotations

import logging
from pathlib import Path

from aeops.config import Config
from aeops.files import MODEL_FILE, RUN_FILE
from aeops.io import own_dir, write_json
from aeops.models.registry import unusable_reason
from aeops.stages.common import load_prepared

log = logging.getLogger(__name__)


def train(cfg: Config, family: str):
    from aeops.training import train_family

    prepared = load_prepared(cfg)
    out_dir = own_dir(cfg.paths.model_dir(family))  # marked: a later stage knows it is ours
    reason = unusable_reason(family, prepared.meta)
    if reason is not None:
        return skip(out_dir, family, reason)
    result = train_family(
        cfg,
        family,
        prepared.meta,
        prepared.unit_range,
        prepared.fold("train"),
        prepared.fold("val"),
        out_dir,
        prepared.data_hash,
    )
    sizes = {k: v for k, v in result.architecture.items() if k in ("hidden", "latent", "channels")}
    loss = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4g}"
    if result.stopped_by == "max_time":
        log.warning(
            f"train[{family}]: stopped by train.max_time ({cfg.train.max_time:g} s) after "
            f"{result.epochs} epochs, before early stopping; the best weights so far are kept"
        )
    if result.stopped_by == "max_samples":
        rows = len(prepared.fold("train").normal)
        log.info(
            f"train[{family}]: {result.epochs} epochs, the most train.max_samples "
            f"({cfg.train.max_samples:,} rows seen) allows for {rows:,} training rows"
        )
    log.info(
        f"train[{family}]: {result.epochs} epochs, best val_loss {loss} -> "
        f"{out_dir / MODEL_FILE} (MLflow run {result.run_id}); sizes {sizes}; "
        f"score {result.architecture['score_reason']}"
    )
    return result


def skip(out_dir: Path, family: str, reason: str) -> dict:
    """A family that cannot use this data leaves a record saying why, and the run goes on."""
    record = {"family": family, "skipped": True, "reason": reason}
    write_json(out_dir / RUN_FILE, record)
    log.info(f"train[{family}]: skipped: {reason}")
    return record
