"""Reading a scorer's input: a CSV or Parquet file opened once and read in chunks, so memory
is bounded by a chunk, not by the file.

:func:`open_input` opens the input once and owns every error reading it: an empty,
header-only, truncated or unreadable file is a sentence naming the file, not a traceback. A
Parquet file can also give its feature columns one column of one row group at a time, as
float32 (the numeric fast path), and its key-value metadata (where int8 codes keep their
scale).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from aeops.core.errors import AeopsError, ScoringInputError
from aeops.serving.checks import check_range

CSV_SUFFIXES = (".csv", ".gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
Item = TypeVar("Item")


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in PARQUET_SUFFIXES


class InputFile(abc.ABC):
    """An input opened once by :func:`open_input`: its column names, its row count when the
    format tells it before reading (else None), and its rows in chunks of ``chunk_rows``."""

    path: Path
    chunk_rows: int
    columns: list[str]
    rows: int | None = None

    @property
    def empty(self) -> bool:
        return self.rows == 0

    @abc.abstractmethod
    def frames(self) -> Iterator[pd.DataFrame]:
        """The rows, chunk by chunk, as frames."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the file (also when scoring stopped half-way)."""

    @abc.abstractmethod
    def read_errors(self) -> tuple[type[Exception], ...]:
        """The exceptions that mean the file cannot be read (not a bug)."""

    @abc.abstractmethod
    def unreadable(self, exc: Exception) -> ScoringInputError:
        """The sentence for a read error: the file, the format and the reader's reason."""

    def guarded(self, items: Iterator[Item]) -> Iterator[Item]:
        """``items``, a read error on the way turned into this file's sentence."""
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except AeopsError:
                raise
            except self.read_errors() as exc:
                raise self.unreadable(exc) from None
            yield item

    def __enter__(self) -> InputFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CsvInput(InputFile):
    """A CSV file (``.gz`` too) read by one pandas reader; its first chunk is read on opening,
    for the header, and given back first."""

    def __init__(self, path: Path, chunk_rows: int, sep: str = ",") -> None:
        self.path, self.chunk_rows, self.reader = path, chunk_rows, None
        try:
            self.reader = pd.read_csv(path, chunksize=chunk_rows, sep=sep)
            self.first: pd.DataFrame | None = next(self.reader, pd.DataFrame())
        except self.read_errors() as exc:
            self.close()
            raise self.unreadable(exc) from None
        self.columns = header_names(path, [str(c) for c in self.first.columns])
        refuse_other_delimiters(path, self.columns)

    @property
    def empty(self) -> bool:
        return self.first is not None and len(self.first) == 0

    def frames(self) -> Iterator[pd.DataFrame]:
        return self.guarded(self._frames())

    def _frames(self) -> Iterator[pd.DataFrame]:
        first, self.first = self.first, None  # not held past its turn
        yield first
        del first
        assert self.reader is not None  # opened in __init__
        yield from self.reader

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def read_errors(self) -> tuple[type[Exception], ...]:
        return (ValueError, OSError)

    def unreadable(self, exc: Exception) -> ScoringInputError:
        reason = str(exc).strip()[:200]
        return ScoringInputError(f"{self.path}: cannot be read as CSV ({reason})")


def header_names(path: Path, parsed: list[str]) -> list[str]:
    """The header as written: pandas renames a repeated name (``x``, ``x.1``), which would hide
    a duplicated feature column; the raw first line keeps it (pandas' names when it differs)."""
    import csv
    import gzip
    import io

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            line = handle.readline().decode("utf-8-sig", errors="replace")
    except OSError:
        return parsed
    raw = next(csv.reader(io.StringIO(line)), [])
    return raw if len(raw) == len(parsed) else parsed


def refuse_other_delimiters(path: Path, columns: list[str]) -> None:
    """A header read as one column that holds ``;``, tabs or ``|`` is another delimiter (a
    ``;``-separated export from a decimal-comma locale is the usual one): say so."""
    if len(columns) != 1:
        return
    for delimiter, name in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
        if delimiter in columns[0]:
            raise ScoringInputError(
                f"{path}: the header reads as one column, '{columns[0][:60]}', and looks "
                f"{name}-separated (a decimal-comma export, often); aeops reads comma-separated "
                "CSV with '.' decimals: export it that way, or as Parquet"
            )


class ParquetInput(InputFile):
    """A Parquet file whose row groups are read when they are needed, so memory stays
    flat."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        import pyarrow.parquet as pq

        self.path, self.chunk_rows = path, chunk_rows
        try:
            # pre_buffer=False: read each row group when it is needed, so memory stays flat
            self.handle = pq.ParquetFile(path, pre_buffer=False)
        except self.read_errors() as exc:
            raise self.unreadable(exc) from None
        self.rows, self.columns = self.handle.metadata.num_rows, self.handle.schema_arrow.names

    def frames(self) -> Iterator[pd.DataFrame]:
        return self.guarded(self._frames())

    def _frames(self) -> Iterator[pd.DataFrame]:
        """Each record batch as a frame, its Arrow buffers released as they are converted."""
        import pyarrow as pa

        for batch in self.handle.iter_batches(batch_size=self.chunk_rows):
            table = pa.Table.from_batches([batch])
            del batch
            frame = table.to_pandas(split_blocks=True, self_destruct=True)
            del table
            yield frame

    def feature_chunks(self, features: list[str]) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """(float32 features, other columns) in chunks, reading one column of one row group
        at a time: memory is bounded by one row group's features as float32, not by the
        file."""
        return self.guarded(self._feature_chunks(features))

    def _feature_chunks(self, features: list[str]) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        handle, names, chunk_rows = self.handle, self.columns, self.chunk_rows
        missing = [c for c in features if c not in names]
        if missing:
            raise ScoringInputError(
                f"{self.path}: missing feature column(s) {missing[:10]}; "
                f"the model expects {features[0]} ... {features[-1]}"
            )
        others = [c for c in names if c not in set(features)]
        sizes = [handle.metadata.row_group(g).num_rows for g in range(handle.num_row_groups)]
        # one buffer for every row group: each chunk is scored before the next group is read
        buffer = np.empty((max(sizes, default=0), len(features)), dtype=np.float32)
        self.check_feature_types(features)
        first_row = 0
        for group, n in enumerate(sizes):
            values = buffer[:n]
            for j, name in enumerate(features):
                column = handle.read_row_group(group, columns=[name], use_threads=False).column(0)
                values[:, j] = in_float32_range(column.to_numpy(), name, first_row)
            first_row += n
            kept = (
                handle.read_row_group(group, columns=others).to_pandas()
                if others
                else pd.DataFrame(index=pd.RangeIndex(n))
            )
            for start in range(0, n, chunk_rows):
                yield values[start : start + chunk_rows], kept.iloc[start : start + chunk_rows]

    def check_feature_types(self, features: list[str]) -> None:
        """Every feature column an integer or a float: a boolean, timestamp, text or list
        column is refused by name (Arrow would give booleans as 1.0, timestamps as ns)."""
        import pyarrow as pa

        schema = self.handle.schema_arrow
        for name in features:
            kind = schema.field(name).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                raise ScoringInputError(
                    f"{self.path}: column '{name}' is {kind}; the model expects numbers in "
                    "this column: convert it (e.g. 0/1, or seconds) as it was for training"
                )

    def metadata_value(self, key: str) -> str | None:
        """The file's key-value metadata entry ``key`` as text (None when absent)."""
        value = (self.handle.schema_arrow.metadata or {}).get(key.encode())
        return None if value is None else value.decode("utf-8", errors="replace")

    def int8_columns(self, names: list[str]) -> list[str]:
        """Those of ``names`` stored as int8."""
        import pyarrow as pa

        schema = self.handle.schema_arrow
        return [name for name in names if pa.types.is_int8(schema.field(name).type)]

    def close(self) -> None:
        self.handle.close()

    def read_errors(self) -> tuple[type[Exception], ...]:
        import pyarrow as pa

        return (pa.ArrowException, OSError)

    def unreadable(self, exc: Exception) -> ScoringInputError:
        return ScoringInputError(
            f"{self.path}: cannot be read as Parquet ({str(exc)[:200]}); is it complete?"
        )


def in_float32_range(values: np.ndarray, name: str, first_row: int) -> np.ndarray:
    """``values`` unchanged when float32 holds them; a finite value beyond it (1e39) is refused
    as out of range before the cast would make it inf."""
    if values.dtype == np.float32:
        return values  # float32 already: nothing finite in it lies beyond
    rows = pd.RangeIndex(first_row, first_row + len(values))
    check_range(values.astype(np.float64, copy=False)[:, None], rows, [name])
    return values


def open_input(path: Path, chunk_rows: int, as_written: bool = False) -> InputFile:
    """``path`` opened once, to be read in chunks of ``chunk_rows``; an empty, header-only,
    unreadable or unknown file is refused with a sentence naming it. ``as_written``: a CSV
    is read with the separator its header uses (a stream's file, as the
    ``timeseries`` source reads it); else commas."""
    if path.stat().st_size == 0:
        raise ScoringInputError(f"{path}: the file is empty; nothing to score")
    if is_parquet(path):
        source: InputFile = ParquetInput(path, chunk_rows)
    elif path.suffix.lower() in CSV_SUFFIXES:
        from aeops.data.streams import delimiter

        source = CsvInput(path, chunk_rows, delimiter(path) if as_written else ",")
    else:
        raise ScoringInputError(f"{path}: unknown format '{path.suffix}'; use .csv or .parquet")
    if source.empty:
        source.close()
        raise ScoringInputError(f"{path}: has a header but no rows; nothing to score")
    return source
