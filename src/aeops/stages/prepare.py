"""The prepare stage: the seeded split, synthetic anomalies when needed, the preprocessor
and every row's model input."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.core.errors import NotValidatedError, SplitError
from aeops.core.files import VALIDATION_SUMMARY
from aeops.core.io import atomic_path, read_json, write_parquet
from aeops.data.preprocess import Preprocessor, StreamShape
from aeops.data.schema import DatasetMeta
from aeops.data.split import ANOMALY_COLUMN, SPLIT_COLUMN, SPLITS, add_synthetic, assign_splits
from aeops.data.synthetic import SYNTHETIC_COLUMN

log = logging.getLogger(__name__)


def stream_shape(cfg: Config, meta: DatasetMeta) -> StreamShape | None:
    """How a stream's rows become model input (None: rows as they are)."""
    if not meta.is_stream or meta.series_column is None:
        return None
    size, warmup = cfg.data.window.size or 1, cfg.data.warmup_rows
    if size == 1 and warmup is None:
        return None
    return StreamShape(meta.series_column, size, warmup, meta.time_column)


def prepare(cfg: Config) -> pd.DataFrame:
    """Seeded novel-class split (plus synthetic anomalies when validation has no labelled
    one); the preprocessor is fit on normal training rows only."""
    summary_path = Path(cfg.paths.validation_dir) / VALIDATION_SUMMARY
    if not summary_path.exists() or not read_json(summary_path).get("success"):
        raise NotValidatedError(
            f"{summary_path}: the data has not passed validation; run `dvc repro validate`"
        )
    meta = DatasetMeta.load(cfg.paths.interim_meta)
    if cfg.register.model_name:
        from aeops.tracking.names import use_suffix
        from aeops.tracking.registry import check_registered_schema

        name = cfg.register.model_name + use_suffix(cfg)
        check_registered_schema(cfg, name, meta.schema())
    frame = assign_splits(pd.read_parquet(cfg.paths.interim_data), meta, cfg.data, cfg.seed)
    frame = add_synthetic(frame, meta, cfg.seed)
    shape = stream_shape(cfg, meta)
    if shape is not None and (frame[SYNTHETIC_COLUMN] != "").any():
        raise SplitError(
            f"{meta.origin}: no validation row is a labelled fault, and a stream seen in "
            "windows or scaled per series cannot be measured on made-up rows; label the faults "
            "(data.label_column), or set data.window.size: null and a scaler other than series"
        )
    train_rows = frame[(frame[SPLIT_COLUMN] == "train") & ~frame[ANOMALY_COLUMN]]
    preprocessor = Preprocessor.fit(
        train_rows,
        meta,
        cfg.data.scaler,
        cfg.data.missing == "impute",
        cfg.data.max_categories,
        shape,
    )
    write_parquet(cfg.paths.splits, frame)
    with atomic_path(cfg.paths.model_input) as tmp:
        with tmp.open("wb") as handle:  # a file handle: np.save adds no ".npy" to the name
            np.save(handle, preprocessor.transform(frame), allow_pickle=False)
    preprocessor.save(cfg.paths.preprocessor)
    synthetic = frame[SYNTHETIC_COLUMN] != ""
    for split in SPLITS:
        part = frame[frame[SPLIT_COLUMN] == split]
        normal = int((~part[ANOMALY_COLUMN]).sum())
        real = int((part[ANOMALY_COLUMN] & ~synthetic[part.index]).sum())
        fake = int(synthetic[part.index].sum())
        extra = f" + {fake:5d} synthetic" if fake else ""
        log.info(f"prepare: {split:5s} {normal:6d} normal {real:6d} anomalies{extra}")
    if synthetic.any():
        log.info(
            "prepare: no labelled anomaly in validation, so models will be compared on "
            "synthetic anomalies made from held-out normal rows"
        )
    notes = [f"{preprocessor.scaler} scaling"]
    if meta.categorical:
        notes.append(f"{len(meta.categorical)} categorical column(s) one-hot encoded")
    if preprocessor.impute:
        notes.append("missing values imputed")
    if shape is not None and shape.window > 1:
        notes.append(f"each row seen with its {shape.window - 1} rows before it")
    log.info(f"prepare: model input {preprocessor.n_outputs} columns ({', '.join(notes)})")
    return frame
