"""Writing a scorer's output: each chunk's result beside the input's carried columns, appended
to a CSV or Parquet file written to a temp file beside the output and renamed only when
complete, so memory is bounded by a chunk and a half-written file is never left in its place.

The output's format comes from its extension (:func:`output_format`); :func:`check_paths`
refuses a missing input, a folder, an unknown extension or an output that is the input.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.core.io import atomic_path
from aeops.serving.inputs import is_parquet

INPUT_PREFIX = "input_"  # an input column named like an output is carried as input_<name>


def carried(chunk: pd.DataFrame, features: set[str], outputs: list[str]) -> pd.DataFrame:
    """The input's non-feature columns, carried to the output beside the result; one named
    like an output (a ground-truth ``is_anomaly``, an earlier ``anomaly_score``) is renamed
    ``input_<name>``, so no header appears twice and a reader never mistakes it for the
    model's."""
    kept = chunk[[c for c in chunk.columns if c not in features]]
    clash = [c for c in kept.columns if c in set(outputs)]
    if not clash:
        return kept
    renamed = {c: f"{INPUT_PREFIX}{c}" for c in clash}
    taken = [n for n in renamed.values() if n in set(kept.columns) or n in set(outputs)]
    if taken:
        raise ScoringInputError(
            f"input columns {clash} are named like outputs, and {taken} are taken too; rename "
            "them before scoring"
        )
    return kept.rename(columns=renamed)


class ChunkWriter:
    """Append scored chunks to a CSV or Parquet file (written to a temp file, then renamed);
    ``metadata`` goes into a Parquet file's key-value metadata (a CSV has none)."""

    def __init__(
        self, tmp: Path, fmt: str, gzip: bool = False, metadata: dict[str, str] | None = None
    ) -> None:
        self.tmp, self.fmt, self.rows = tmp, fmt, 0
        self.compression = "gzip" if gzip else None  # the temp file's name does not say it
        self.writer: Any = None  # a pyarrow ParquetWriter once the first Parquet chunk comes
        self.metadata = {k.encode(): v.encode() for k, v in (metadata or {}).items()}

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":  # gzip: one member per chunk, which gzip readers join
            frame.to_csv(
                self.tmp,
                mode="a",
                header=self.rows == 0,
                index=False,
                compression=self.compression,
            )
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.writer is None:
                schema = table.schema.with_metadata(
                    {**(table.schema.metadata or {}), **self.metadata}
                )
                self.writer = pq.ParquetWriter(self.tmp, schema)
            self.writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def output_format(path: Path) -> str | None:
    """``csv`` for .csv and .csv.gz, ``parquet`` for .parquet and .pq; None for any other."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes[-1:] == [".csv"] or suffixes[-2:] == [".csv", ".gz"]:
        return "csv"
    return "parquet" if is_parquet(path) else None


def check_paths(input_path: Path, output_path: Path) -> None:
    """The input must be a file; the output must not be the input or a folder."""
    if not input_path.exists():
        raise ScoringInputError(f"{input_path}: input file not found")
    if input_path.is_dir():
        raise ScoringInputError(f"{input_path}: is a folder; give a .csv or .parquet file")
    if output_path.is_dir():
        raise ScoringInputError(
            f"{output_path}: is a folder; give the output file's name (.csv or .parquet)"
        )
    if output_format(output_path) is None:
        raise ScoringInputError(
            f"{output_path}: the output's format comes from its extension, and "
            f"'{''.join(output_path.suffixes) or '(none)'}' is not one: name it .csv, .csv.gz "
            "or .parquet"
        )
    if output_path.exists() and output_path.resolve() == input_path.resolve():
        raise ScoringInputError(
            f"{output_path}: is the input file; writing it would destroy "
            "the input. Choose another output path"
        )


def indexed(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Each chunk indexed by its rows' place in the file (0, 1, ... across chunks), so an
    error names the file's row."""
    first = 0
    for frame in frames:
        yield frame.set_axis(pd.RangeIndex(first, first + len(frame)))
        first += len(frame)


class ChunkProgress:
    """The progress bar of one pass over a file: its rows (None when unknown), its label."""

    def __init__(self, total: int | None, desc: str, enabled: bool) -> None:
        self.total, self.desc, self.enabled = total, desc, enabled

    def bar(self):
        from tqdm.auto import tqdm

        return tqdm(total=self.total, unit="rows", disable=not self.enabled, desc=self.desc)


def write_results(
    output_path: Path,
    fmt: str,
    pairs: Iterator[tuple[pd.DataFrame, pd.DataFrame]],
    inputs: set[str],
    progress: ChunkProgress,
    metadata: dict[str, str] | None = None,
) -> int:
    """Write each (chunk, result) as the chunk's carried columns (all but ``inputs``) beside
    the result, to a temp file renamed to ``output_path`` only when every chunk is written;
    returns the row count."""
    with atomic_path(output_path) as tmp:
        tmp.unlink()
        writer = ChunkWriter(tmp, fmt, gzip=output_path.suffix.lower() == ".gz", metadata=metadata)
        try:
            with progress.bar() as bar:
                for chunk, result in pairs:
                    kept = carried(chunk, inputs, list(result.columns))
                    writer.write(pd.concat([kept, result], axis=1))
                    bar.update(len(chunk))
        finally:
            writer.close()
    return writer.rows
