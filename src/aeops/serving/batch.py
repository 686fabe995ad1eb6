"""Running a scorer over a file (what ``aeops score``, ``encode``, ``reconstruct`` and
``decode`` do): the input read chunk by chunk (:mod:`aeops.serving.inputs`), each chunk scored
(or encoded, or reconstructed, or decoded from its latent codes) by a
:class:`~aeops.serving.scorer.Scorer` and appended to a CSV or Parquet output
(:mod:`aeops.serving.outputs`), so memory is bounded by a chunk, not by the file.

Latent codes are stored as float32, float16 or int8 (:mod:`aeops.serving.stored_codes`); int8
reads the input twice, first for the whole file's per-dimension scale
(:func:`file_code_scale`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.data.codes import int8_scale
from aeops.serving.inputs import InputFile, ParquetInput, open_input
from aeops.serving.outputs import ChunkProgress, check_paths, indexed, output_format, write_results
from aeops.serving.pipeline import FLAG_COLUMN, UNKNOWN_COLUMN
from aeops.serving.scorer import Scorer
from aeops.serving.stored_codes import (
    check_code_output,
    code_metadata,
    stored_code_scale,
    stored_codes,
    widest_codes,
)


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


WHOLE_FILE = 2**40  # rows per chunk that read any file in one piece


def score_file(scorer: Scorer, job: FileJob, tally: Tally | None = None) -> int:
    """Score (or encode, or reconstruct) ``job.input`` chunk by chunk into ``job.output``;
    returns the row count (``tally``, when given, also counts flagged rows and rows with
    unseen categories).

    Columns that are not model features (ids, labels) are carried through to the output, and
    with ``keep_features`` the features too (one named like an output becomes ``input_<name>``).
    Latent codes are stored as ``dtype`` (:data:`~aeops.data.codes.CODE_DTYPES`); int8 reads the
    input twice, first for the whole file's scale, which only a Parquet output can keep."""
    input_path, output_path, output = Path(job.input), Path(job.output), job.kind
    chunk_rows, dtype, progress = job.chunk_rows, job.dtype, job.progress
    if scorer.whole_input:  # a stream: windows and the warm-up span the whole file
        chunk_rows = WHOLE_FILE
    check_paths(input_path, output_path)
    fmt = output_format(output_path) or "csv"  # check_paths refused any other extension
    if output == "latent":
        check_code_output(output_path, fmt, dtype)
    scale = (
        file_code_scale(scorer, input_path, chunk_rows, progress)
        if output == "latent" and dtype == "int8"
        else None
    )
    features = scorer.features
    dropped = set() if features is None or job.keep_features else set(features)
    with open_input(input_path, chunk_rows, scorer.whole_input) as source:
        # refuse a header that does not fit before writing anything
        scorer.check_columns(source.columns, where=str(input_path))
        pairs = results(scorer, source, job.threshold, job.explain, output)
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


def decode_file(scorer: Scorer, job: FileJob) -> int:
    """Decode the latent codes in ``job.input`` (``z_0 .. z_{k-1}`` as ``aeops encode`` wrote
    them, in any of its dtypes) chunk by chunk into rows in the input's units in
    ``job.output``; returns the row count. Other columns are carried through."""
    input_path, output_path = Path(job.input), Path(job.output)
    chunk_rows, progress = job.chunk_rows, job.progress
    scorer.check_decodable()
    check_paths(input_path, output_path)
    fmt = output_format(output_path) or "csv"  # check_paths refused any other extension
    with open_input(input_path, chunk_rows) as source:
        names = scorer.check_code_columns(source.columns, where=str(input_path))
        scale = stored_code_scale(source, names)
        pairs = ((chunk, scorer.decode_codes(chunk, scale)) for chunk in indexed(source.frames()))
        return write_results(
            output_path, fmt, pairs, set(names), ChunkProgress(source.rows, "decode", progress)
        )


def file_code_scale(
    scorer: Scorer, input_path: Path, chunk_rows: int, progress: bool
) -> np.ndarray:
    """The int8 scale of a whole file's codes (max |z_d| / 127 per dimension): a first pass
    over the input that keeps one number per dimension, so memory stays bounded by a chunk."""
    largest: np.ndarray | None = None
    with open_input(input_path, chunk_rows) as source:
        scorer.check_columns(source.columns, where=str(input_path))
        with ChunkProgress(source.rows, "code scale", progress).bar() as bar:
            for chunk, result in results(scorer, source, None, False, "latent"):
                largest = widest_codes(result, largest)
                bar.update(len(chunk))
    if largest is None:  # open_input refuses a file without rows
        raise ScoringInputError(f"{input_path}: has no rows; nothing to encode")
    return int8_scale(largest)


def results(
    scorer: Scorer, source: InputFile, threshold: float | None, explain: bool, output: str
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """(chunk, its result) per chunk of ``source``, both indexed by the rows' place in the
    file."""
    first = 0
    for values, chunk in input_pieces(source, scorer, output):
        chunk = chunk.set_axis(pd.RangeIndex(first, first + len(chunk)))
        yield chunk, score_chunk(scorer, values, chunk, threshold, explain, output)
        first += len(chunk)


def input_pieces(
    source: InputFile, scorer: Scorer, output: str
) -> Iterator[tuple[np.ndarray | None, pd.DataFrame]]:
    """(features, frame) per chunk: a numeric-only detector scoring Parquet gets the features
    read column by column as float32; anything else gets whole frames (features None)."""
    features = scorer.features
    if (
        features is not None
        and scorer.numeric_only
        and output == "score"
        and isinstance(source, ParquetInput)
    ):
        return source.feature_chunks(features)
    return ((None, chunk) for chunk in source.frames())


def score_chunk(
    scorer: Scorer,
    values: np.ndarray | None,
    chunk: pd.DataFrame,
    threshold: float | None,
    explain: bool,
    output: str,
) -> pd.DataFrame:
    """One chunk's result columns, indexed like ``chunk`` (its rows' place in the file)."""
    if values is not None:
        return scorer.predict_values(values, chunk.index, threshold, explain)
    return scorer.predict(chunk, threshold=threshold, explain=explain, output=output)
