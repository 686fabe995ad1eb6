"""The validate stage: the Great Expectations suite, Data Docs and a verdict."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from aeops.config import Config
from aeops.core.files import VALIDATION_SUMMARY
from aeops.core.io import atomic_dir, write_json
from aeops.data.expectations import DataValidationError, StreamRules, validate_frame
from aeops.data.schema import DatasetMeta
from aeops.data.streams import min_series_rows

log = logging.getLogger(__name__)


def validate(cfg: Config) -> dict:
    """Run the GX suite; write Data Docs and a JSON summary; raise on any failure."""
    meta = DatasetMeta.load(cfg.paths.interim_meta)
    frame = pd.read_parquet(cfg.paths.interim_data)
    out_dir = Path(cfg.paths.validation_dir)
    with atomic_dir(out_dir) as tmp, atomic_dir(cfg.paths.data_docs) as docs:
        report = validate_frame(
            frame,
            meta,
            cfg.data.min_rows,
            docs,
            allow_missing=cfg.data.missing == "impute",
            stream=StreamRules(cfg.data.max_gap, min_series_rows(cfg.data)),
        )
        summary = {
            **report.summary(),
            "data": cfg.paths.interim_data,
            "data_docs": str(Path(cfg.paths.data_docs) / "index.html"),
        }
        write_json(tmp / VALIDATION_SUMMARY, summary)
    log.info(
        f"validate: {report.evaluated - len(report.failures)}/{report.evaluated} expectations "
        f"passed; data docs: {summary['data_docs']}"
    )
    if not report.success:
        raise DataValidationError(cfg.paths.interim_data, report)
    return summary
