"""The data stages: ingest, validate, prepare."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.data.expectations import DataValidationError, NotValidatedError, validate_frame
from aeops.data.schema import DatasetMeta
from aeops.data.sources import load_source
from aeops.data.split import ANOMALY_COLUMN, SPLIT_COLUMN, SPLITS, assign_splits, fit_preprocessor
from aeops.io import atomic_dir, atomic_path, read_json, write_json, write_parquet

VALIDATION_SUMMARY = "summary.json"
DATA_DOCS = "data_docs"


def ingest(cfg: Config) -> DatasetMeta:
    """Read the configured source; write it as Parquet plus the schema metadata."""
    frame, meta = load_source(cfg.data, cfg.seed)
    write_parquet(cfg.paths.interim_data, frame)
    meta.save(cfg.paths.interim_meta)
    shape = "x".join(map(str, meta.image_shape)) if meta.image_shape else "table"
    print(f"ingest: {meta.n_rows} rows x {meta.n_features} features ({shape}) from "
          f"{meta.origin} -> {cfg.paths.interim_data}")
    return meta


def validate(cfg: Config) -> dict:
    """Run the GX suite; write Data Docs and a JSON summary; raise on any failure."""
    meta = DatasetMeta.load(cfg.paths.interim_meta)
    frame = pd.read_parquet(cfg.paths.interim_data)
    out_dir = Path(cfg.paths.validation_dir)
    with atomic_dir(out_dir) as tmp:
        report = validate_frame(frame, meta, cfg.data.min_rows, tmp / DATA_DOCS)
        summary = {**report.summary(), "data": cfg.paths.interim_data,
                   "data_docs": str(out_dir / DATA_DOCS / "index.html")}
        write_json(tmp / VALIDATION_SUMMARY, summary)
    print(f"validate: {report.evaluated - len(report.failures)}/{report.evaluated} expectations "
          f"passed; data docs: {summary['data_docs']}")
    if not report.success:
        raise DataValidationError(cfg.paths.interim_data, report)
    return summary


def prepare(cfg: Config) -> pd.DataFrame:
    """Seeded novel-class split; the scaler is fit on normal training rows only."""
    summary_path = Path(cfg.paths.validation_dir) / VALIDATION_SUMMARY
    if not summary_path.exists() or not read_json(summary_path).get("success"):
        raise NotValidatedError(
            f"{summary_path}: the data has not passed validation; run `dvc repro validate`"
        )
    meta = DatasetMeta.load(cfg.paths.interim_meta)
    frame = assign_splits(pd.read_parquet(cfg.paths.interim_data), cfg.data, cfg.seed)
    train_rows = frame[(frame[SPLIT_COLUMN] == "train") & ~frame[ANOMALY_COLUMN]]
    preprocessor = fit_preprocessor(train_rows[meta.features].to_numpy(np.float64),
                                    cfg.data.scaler)
    write_parquet(cfg.paths.splits, frame)
    with atomic_path(cfg.paths.preprocessor) as tmp:
        joblib.dump(preprocessor, tmp)
    counts = frame.groupby([SPLIT_COLUMN, ANOMALY_COLUMN]).size()
    for split in SPLITS:
        normal = int(counts.get((split, False), 0))
        anomalies = int(counts.get((split, True), 0))
        print(f"prepare: {split:5s} {normal:6d} normal {anomalies:6d} anomalies")
    return frame
