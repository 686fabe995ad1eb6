"""The ingest stage: read the configured source into one table plus its schema."""

from __future__ import annotations

import logging

from aeops.config import Config
from aeops.core.io import write_parquet
from aeops.data.schema import DatasetMeta, describe_schema
from aeops.data.sources import load_source
from aeops.data.streams import stream_line

log = logging.getLogger(__name__)


def ingest(cfg: Config) -> DatasetMeta:
    """Read the configured source; write it as Parquet plus the schema metadata."""
    frame, meta = load_source(cfg.data, cfg.seed)
    write_parquet(cfg.paths.interim_data, frame)
    meta.save(cfg.paths.interim_meta)
    log.info(f"ingest: {meta.n_rows} rows from {meta.origin} -> {cfg.paths.interim_data}")
    log.info(f"ingest: schema {describe_schema(meta.schema())}")
    if meta.label_column:
        counts = frame[meta.label_column].value_counts(dropna=False)
        shown = ", ".join(f"{k}: {v}" for k, v in counts.sort_index().items())
        log.info(f"ingest: label column '{meta.label_column}' -> {shown}")
    if meta.is_stream:
        log.info(f"ingest: {stream_line(frame, meta)}")
    if meta.skipped:
        log.info(f"ingest: {len(meta.skipped)} unreadable file(s) skipped")
    return meta
