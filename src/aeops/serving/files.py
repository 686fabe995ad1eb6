"""Scoring files: a CSV or Parquet input read in chunks, each chunk scored (or encoded, or
reconstructed, or decoded from its latent codes) and appended to a CSV or Parquet output, so
memory is bounded by a chunk, not by the file.

:func:`open_input` opens the input once and owns every error reading it: an empty,
header-only, truncated or unreadable file is a sentence naming the file, not a traceback.
The output is written to a temp file beside it and renamed only when complete.

Codes are stored as float32, float16 or int8 (:mod:`aeops.data.codes`); int8 codes share one
per-dimension scale over the whole file, found in a first pass over the input and kept in the
Parquet output's key-value metadata (:data:`~aeops.data.codes.CODE_SCALE_KEY`), where decoding
reads it back.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from aeops.core.errors import AeopsError, ScoringInputError
from aeops.core.io import atomic_path
from aeops.data.codes import (
    CODE_SCALE_KEY,
    check_dtype,
    check_finite_codes,
    check_scale,
    int8_scale,
    is_code_column,
    max_abs,
    quantize,
)
from aeops.serving.checks import check_range
from aeops.serving.pipeline import FLAG_COLUMN, UNKNOWN_COLUMN, DetectorPipeline

INPUT_PREFIX = "input_"  # an input column named like an output is carried as input_<name>

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

    def __init__(self, path: Path, chunk_rows: int) -> None:
        self.path, self.chunk_rows, self.reader = path, chunk_rows, None
        try:
            self.reader = pd.read_csv(path, chunksize=chunk_rows)
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


def open_input(path: Path, chunk_rows: int) -> InputFile:
    """``path`` opened once, to be read in chunks of ``chunk_rows``; an empty, header-only,
    unreadable or unknown file is refused with a sentence naming it."""
    if path.stat().st_size == 0:
        raise ScoringInputError(f"{path}: the file is empty; nothing to score")
    if is_parquet(path):
        source: InputFile = ParquetInput(path, chunk_rows)
    elif path.suffix.lower() in CSV_SUFFIXES:
        source = CsvInput(path, chunk_rows)
    else:
        raise ScoringInputError(f"{path}: unknown format '{path.suffix}'; use .csv or .parquet")
    if source.empty:
        source.close()
        raise ScoringInputError(f"{path}: has a header but no rows; nothing to score")
    return source


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


def input_pieces(
    source: InputFile, detector: DetectorPipeline | None, output: str
) -> Iterator[tuple[np.ndarray | None, pd.DataFrame]]:
    """(features, frame) per chunk: a numeric-only detector scoring Parquet gets the features
    read column by column as float32; anything else gets whole frames (features None)."""
    if (
        detector is not None
        and detector.numeric_only
        and output == "score"
        and isinstance(source, ParquetInput)
    ):
        return source.feature_chunks(detector.info.features)
    return ((None, chunk) for chunk in source.frames())


def score_chunk(
    model,
    values: np.ndarray | None,
    chunk: pd.DataFrame,
    threshold: float | None,
    explain: bool,
    output: str,
) -> pd.DataFrame:
    """One chunk's result columns, indexed like ``chunk`` (its rows' place in the file)."""
    if values is not None:
        return model.predict_values(values, chunk.index, threshold, explain)
    if isinstance(model, DetectorPipeline):
        return model.predict(chunk, threshold=threshold, explain=explain, output=output)
    params = {"explain": explain, "output": output} | (
        {"threshold": threshold} if threshold is not None else {}
    )
    return model.predict(chunk, params=params).set_axis(chunk.index)


@dataclass
class Tally:
    """What a scored file holds, counted while it is written: rows flagged as anomalies and
    rows with a category never seen in training."""

    rows: int = 0
    flagged: int = 0
    unseen: int = 0

    def count(
        self, pairs: Iterator[tuple[pd.DataFrame, pd.DataFrame]]
    ) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
        for chunk, result in pairs:
            self.rows += len(result)
            if FLAG_COLUMN in result:
                self.flagged += int(result[FLAG_COLUMN].sum())
            if UNKNOWN_COLUMN in result:
                self.unseen += int((result[UNKNOWN_COLUMN] > 0).sum())
            yield chunk, result

    def line(self, threshold: float | None) -> str:
        """``N of M rows flagged (threshold T); K rows with unseen categories``."""
        at = f" (threshold {threshold:.4g})" if threshold is not None else ""
        text = f"{self.flagged:,} of {self.rows:,} rows flagged{at}"
        return text + f"; {self.unseen:,} rows with unseen categories"


@dataclass(frozen=True)
class FileJob:
    """One pass of a model over ``input`` into ``output`` (what the file commands run):
    ``kind`` is ``score``, ``latent``, ``reconstruction`` or ``decode``; ``engine`` is
    ``local`` or ``spark``; ``model`` is a model URI (None: this project's champion)."""

    model: str | None
    input: Path
    output: Path
    kind: str = "score"
    chunk_rows: int = 100_000
    threshold: float | None = None
    explain: bool = False
    keep_features: bool = False
    dtype: str = "float32"
    progress: bool = True
    engine: str = "local"
    spark_master: str = "local[*]"


def score_file(model, job: FileJob, tally: Tally | None = None) -> int:
    """Score (or encode, or reconstruct) ``job.input`` chunk by chunk into ``job.output``;
    returns the row count (``tally``, when given, also counts flagged rows and rows with
    unseen categories).

    Columns that are not model features (ids, labels) are carried through to the output, and
    with ``keep_features`` the features too (one named like an output becomes ``input_<name>``).
    Latent codes are stored as ``dtype`` (:data:`~aeops.data.codes.CODE_DTYPES`); int8 reads the
    input twice, first for the whole file's scale, which only a Parquet output can keep."""
    input_path, output_path, output = Path(job.input), Path(job.output), job.kind
    chunk_rows, dtype, progress = job.chunk_rows, job.dtype, job.progress
    check_paths(input_path, output_path)
    fmt = output_format(output_path) or "csv"  # check_paths refused any other extension
    if output == "latent":
        check_code_output(output_path, fmt, dtype)
    detector = model if isinstance(model, DetectorPipeline) else None
    scale = (
        file_code_scale(model, input_path, chunk_rows, progress)
        if output == "latent" and dtype == "int8"
        else None
    )
    dropped = set() if detector is None or job.keep_features else set(detector.info.features)
    with open_input(input_path, chunk_rows) as source:
        if detector is not None:  # refuse a header that does not fit before writing anything
            detector.check_columns(source.columns, where=str(input_path))
        pairs = results(model, source, job.threshold, job.explain, output)
        if output == "latent":
            pairs = ((chunk, stored_codes(codes, dtype, scale)) for chunk, codes in pairs)
        if tally is not None:
            pairs = tally.count(pairs)
        return write_results(
            output_path,
            fmt,
            pairs,
            dropped,
            ChunkProgress(source.rows, output, progress),
            code_metadata(scale),
        )


def decode_file(model, job: FileJob) -> int:
    """Decode the latent codes in ``job.input`` (``z_0 .. z_{k-1}`` as ``aeops encode`` wrote
    them, in any of its dtypes) chunk by chunk into rows in the input's units in
    ``job.output``; returns the row count. Other columns are carried through."""
    input_path, output_path = Path(job.input), Path(job.output)
    chunk_rows, progress = job.chunk_rows, job.progress
    detector = require_detector(model, "decode")
    check_paths(input_path, output_path)
    fmt = output_format(output_path) or "csv"  # check_paths refused any other extension
    with open_input(input_path, chunk_rows) as source:
        names = detector.check_code_columns(source.columns, where=str(input_path))
        scale = stored_code_scale(source, names)
        pairs = ((chunk, detector.decode_codes(chunk, scale)) for chunk in indexed(source.frames()))
        return write_results(
            output_path, fmt, pairs, set(names), ChunkProgress(source.rows, "decode", progress)
        )


def require_detector(model, command: str) -> DetectorPipeline:
    if not isinstance(model, DetectorPipeline):
        raise ScoringInputError(
            f"{command} needs an aeops detector, and this model is another MLflow pyfunc "
            "(it has no decoder aeops can call); give a model registered by aeops"
        )
    return model


def indexed(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Each chunk indexed by its rows' place in the file (0, 1, ... across chunks), so an
    error names the file's row."""
    first = 0
    for frame in frames:
        yield frame.set_axis(pd.RangeIndex(first, first + len(frame)))
        first += len(frame)


def results(
    model, source: InputFile, threshold: float | None, explain: bool, output: str
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(chunk, its result) per chunk of ``source``, both indexed by the rows' place in the
    file."""
    detector = model if isinstance(model, DetectorPipeline) else None
    first = 0
    for values, chunk in input_pieces(source, detector, output):
        chunk = chunk.set_axis(pd.RangeIndex(first, first + len(chunk)))
        yield chunk, score_chunk(model, values, chunk, threshold, explain, output)
        first += len(chunk)


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


# -- stored codes -----------------------------------------------------------------------
def check_code_output(output_path: Path, fmt: str, dtype: str) -> None:
    """A known code dtype, and int8 only to Parquet: its scale lives in the file's metadata."""
    check_dtype(dtype)
    if dtype == "int8" and fmt == "csv":
        raise ScoringInputError(
            f"{output_path}: int8 codes need their per-dimension scale to be decoded and a "
            "CSV has nowhere to keep it, so name the output .parquet (the scale goes in its "
            "metadata) or use --dtype float16 or float32 for a CSV"
        )


def file_code_scale(model, input_path: Path, chunk_rows: int, progress: bool) -> np.ndarray:
    """The int8 scale of a whole file's codes (max |z_d| / 127 per dimension): a first pass
    over the input that keeps one number per dimension, so memory stays bounded by a chunk."""
    largest: np.ndarray | None = None
    with open_input(input_path, chunk_rows) as source:
        if isinstance(model, DetectorPipeline):
            model.check_columns(source.columns, where=str(input_path))
        with ChunkProgress(source.rows, "code scale", progress).bar() as bar:
            for chunk, result in results(model, source, None, False, "latent"):
                z = code_block(result).to_numpy(np.float64)
                check_finite_codes(z)
                largest = max_abs(z) if largest is None else np.maximum(largest, max_abs(z))
                bar.update(len(chunk))
    if largest is None:  # open_input refuses a file without rows
        raise ScoringInputError(f"{input_path}: has no rows; nothing to encode")
    return int8_scale(largest)


def code_block(result: pd.DataFrame) -> pd.DataFrame:
    return result[[c for c in result.columns if is_code_column(c)]]


def stored_codes(result: pd.DataFrame, dtype: str, scale: np.ndarray | None) -> pd.DataFrame:
    """``result`` with its code columns stored as ``dtype`` (int8 with the file's scale)."""
    block = code_block(result)
    codes, _ = quantize(block.to_numpy(np.float64), dtype, scale)
    return result.assign(**{name: codes[:, j] for j, name in enumerate(block.columns)})


def code_metadata(scale: np.ndarray | None) -> dict[str, str] | None:
    """The Parquet key-value metadata that keeps an int8 file's scale (JSON list)."""
    return None if scale is None else {CODE_SCALE_KEY: json.dumps(scale.tolist())}


def stored_code_scale(source: InputFile, names: list[str]) -> np.ndarray | None:
    """The int8 scale a Parquet codes file keeps in its metadata, or None (float codes, a CSV);
    int8 code columns without one are refused by name: their scale is unknown."""
    if not isinstance(source, ParquetInput):
        return None
    text = source.metadata_value(CODE_SCALE_KEY)
    if text is None:
        int8 = source.int8_columns(names)
        if int8:
            raise ScoringInputError(
                f"{source.path}: code column(s) {int8[:4]} are int8 codes, but "
                f"the file keeps no '{CODE_SCALE_KEY}' in its metadata, so their scale is "
                "unknown; encode the rows again with `aeops encode --dtype int8` to .parquet"
            )
        return None
    try:
        values = np.asarray(json.loads(text), dtype=np.float64)
        return check_scale(values, len(names))
    except (ValueError, TypeError) as exc:  # ScoringInputError is a ValueError too
        raise ScoringInputError(
            f"{source.path}: its '{CODE_SCALE_KEY}' metadata is damaged or does not fit this "
            f"model ({str(exc)[:160]}); encode the rows again with this model"
        ) from None
