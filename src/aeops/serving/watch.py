"""``aeops watch``: a stream scored row by row, as its rows arrive.

:class:`LiveScorer` keeps what a stream's model needs between rows: the series' warm-up (with
``data.scaler: series``, its first ``warmup_rows`` rows set its scale, and are scored once the
last of them arrives), the last ``window.size`` scaled rows, and how many rows in a row were
over the threshold (``--min-run``). Each row is scored as soon as it can be: the warm-up's
rows together when it completes, every later row the moment it arrives, from its own past
only (a row's window ends at it). The scores are those ``aeops score`` writes for the same
file, one row at a time instead of all at once (tests/integration/test_watch.py holds it).

:func:`watch` reads rows from stdin (``--input -``) or a file, ``--follow`` waiting for a
growing file's new lines; CSV with a header line (its separator as written) or JSON lines (one
object a row). It writes one CSV line a row to stdout, flushed: the time column when the input
has the model's (else the row's number), ``anomaly_score``, ``is_anomaly`` (over the
threshold, as ``aeops score`` flags) and ``alarm`` (the last ``--min-run`` rows all over it).
A row that cannot be scored stops the stream with a sentence naming it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.serving.checks import FLOAT32_MAX
from aeops.serving.pipeline import FLAG_COLUMN, SCORE_COLUMN, DetectorPipeline

ALARM_COLUMN = "alarm"
POLL_S = 0.05  # --follow: how often a file that has no new line is read again


@dataclass(frozen=True)
class Scored:
    """One row's result: its number in the stream (from 0), score, flag and alarm."""

    row: int
    score: float
    over: bool
    alarm: bool


class LiveScorer:
    """A detector pipeline's stream state (see the module docstring)."""

    def __init__(self, pipeline: DetectorPipeline, min_run: int, threshold: float | None = None):
        if min_run < 1:
            raise ScoringInputError(f"--min-run must be at least 1, got {min_run}")
        pre = pipeline.preprocessor
        if pre.categorical:
            raise ScoringInputError(
                "aeops watch reads sensors, numbers only; this model has categorical "
                f"features {pre.categorical}: score its files with aeops score"
            )
        self.pipeline, self.min_run = pipeline, min_run
        self.threshold = pipeline.info.threshold if threshold is None else float(threshold)
        self.size = pre.window
        self.warmup = pre.stream.warmup if pre.stream is not None else None
        self.centre: np.ndarray | None = None
        self.spread: np.ndarray | None = None
        self.pending: list[np.ndarray] = []  # warm-up rows, before the scale is known
        self.recent: deque[np.ndarray] = deque(maxlen=self.size)
        self.rows = 0  # rows received
        self.run = 0  # rows in a row over the threshold
        self.line = scaling_line(pre)

    @property
    def features(self) -> list[str]:
        return list(self.pipeline.info.features)

    def base(self, raw: np.ndarray) -> np.ndarray:
        """Raw rows (n x features, float64, checked) as the preprocessor scales a table: its
        line (no scaling, standard or min-max) in NumPy, else its own transformer (slower:
        scikit-learn's per-call cost is a millisecond a row)."""
        if self.line is not None:
            shift, scale, multiply = self.line
            return raw * scale + shift if multiply else (raw - shift) / scale
        frame = pd.DataFrame(raw, columns=self.features)
        return np.asarray(self.pipeline.preprocessor.transformer.transform(frame), np.float64)

    def push(self, raw: np.ndarray) -> list[Scored]:
        """Take one raw row (features in training order); the rows scored because of it."""
        values = np.asarray(raw, dtype=np.float64).reshape(1, -1)
        if not (np.isfinite(values).all() and (np.abs(values) <= FLOAT32_MAX).all()):
            index = pd.RangeIndex(self.rows, self.rows + 1)  # the sentence that names it
            self.pipeline.check_values(values, index, self.features)
        self.rows += 1
        if self.warmup is not None and self.centre is None:
            self.pending.append(values[0])
            if len(self.pending) < self.warmup:
                return []
            return self.release(np.stack(self.pending))
        return self.score(self.scaled(self.base(values)), self.rows - 1)

    def release(self, warm: np.ndarray) -> list[Scored]:
        """The warm-up complete: the series' scale from it, then each of its rows scored."""
        base = self.base(warm)
        self.centre = base.mean(axis=0)
        spread = base.std(axis=0)
        self.spread = np.where(spread > 1e-12, spread, 1.0)
        self.pending = []
        scaled = self.scaled(base)
        first = self.rows - len(scaled)
        return [out for i, row in enumerate(scaled) for out in self.score(row[None], first + i)]

    def scaled(self, base: np.ndarray) -> np.ndarray:
        if self.centre is None or self.spread is None:
            return base
        return (base - self.centre) / self.spread

    def score(self, scaled: np.ndarray, row: int) -> list[Scored]:
        """Score the newest row: its window is the rows before it (the series' first row
        repeated before its start, as :func:`aeops.data.windows.row_windows` does)."""
        current = scaled[0].astype(np.float32)
        if not self.recent:
            self.recent.extend([current] * (self.size - 1))
        self.recent.append(current)
        window = np.concatenate(self.recent)[None, :]
        score = float(self.pipeline.detector.decision_function(window)[0])
        if not np.isfinite(score):
            raise ScoringInputError(
                f"row {row}: its anomaly score overflowed float32; a row this far out cannot "
                "be scored: check the value or its units"
            )
        over = score > self.threshold
        self.run = self.run + 1 if over else 0
        return [Scored(row, score, over, self.run >= self.min_run)]


def scaling_line(pre: Any) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """(shift, scale, multiply) of a preprocessor that scales each numeric column on a line
    and imputes nothing (``x * scale + shift`` when ``multiply``, else ``(x - shift) /
    scale``), as fitted; None for any other (its transformer then runs)."""
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

    if pre.impute or pre.categorical:
        return None
    fitted = pre.transformer.named_transformers_["numeric"]
    steps = list(fitted) if hasattr(fitted, "steps") else []
    n = len(pre.numeric)
    if isinstance(fitted, FunctionTransformer) and fitted.func is None:  # passthrough
        return np.zeros(n), np.ones(n), False
    if len(steps) == 1 and isinstance(steps[0], StandardScaler):
        return steps[0].mean_, steps[0].scale_, False
    if len(steps) == 1 and isinstance(steps[0], MinMaxScaler):
        return steps[0].min_, steps[0].scale_, True
    return None


# -- reading rows as they arrive ----------------------------------------------------------
def lines(handle: TextIO, follow: bool) -> Iterator[str]:
    """Whole lines as they are written; with ``follow``, wait at the end for more."""
    partial = ""
    while True:
        line = handle.readline()
        if not line:
            if not follow:
                if partial.strip():
                    yield partial
                return
            time.sleep(POLL_S)
            continue
        partial += line
        if partial.endswith("\n"):
            yield partial
            partial = ""


def records(stream: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Each row as a dict: JSON lines, or CSV after its header (the separator the header
    uses)."""
    from aeops.data.streams import DELIMITERS

    first = next((line for line in stream if line.strip()), None)
    if first is None:
        return
    if first.lstrip().startswith("{"):
        yield json.loads(first)
        for line in stream:
            if line.strip():
                yield json.loads(line)
        return
    sep = max(DELIMITERS, key=first.count)
    header = next(csv.reader(io.StringIO(first), delimiter=sep))
    for line in stream:
        if line.strip():
            yield dict(
                zip(header, next(csv.reader(io.StringIO(line), delimiter=sep)), strict=False)
            )


def values_of(record: dict[str, Any], features: list[str], row: int) -> np.ndarray:
    """The features of one row as numbers, or a sentence naming the row and column."""
    missing = [name for name in features if name not in record]
    if missing:
        raise ScoringInputError(
            f"row {row}: missing feature column(s) {missing[:5]}; the model reads {features}"
        )
    out = np.empty(len(features))
    for j, name in enumerate(features):
        value = record[name]
        try:
            out[j] = float(value) if value not in ("", None) else np.nan
        except (TypeError, ValueError):
            raise ScoringInputError(
                f"row {row}, column '{name}': {value!r} is not a number"
            ) from None
    return out


def watch(model: str | None, source: str, min_run: int, follow: bool, out: TextIO) -> int:
    """Score the rows of ``source`` (``-``: stdin) as they arrive, one CSV line each to
    ``out``; see the module docstring."""
    from aeops.serving.loading import default_model, load_scorer

    pipeline = load_scorer(model or default_model()).pipeline
    if pipeline is None:
        raise ScoringInputError("aeops watch needs a model aeops registered (a detector)")
    live = LiveScorer(pipeline, min_run)
    handle = sys.stdin if source == "-" else Path(source).open(encoding="utf-8")
    time_column = time_column_of(pipeline)
    stamps: dict[int, str] = {}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([time_column or "row", SCORE_COLUMN, FLAG_COLUMN, ALARM_COLUMN])
    out.flush()
    try:
        for row, record in enumerate(records(lines(handle, follow and source != "-"))):
            stamps[row] = str(record.get(time_column, row)) if time_column else str(row)
            for done in live.push(values_of(record, live.features, row)):
                stamp = stamps.pop(done.row)
                writer.writerow([stamp, repr(done.score), done.over, done.alarm])
                out.flush()
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 0


def time_column_of(pipeline: DetectorPipeline) -> str | None:
    """The time column of the model's stream (carried to the output), if it had one."""
    stream = pipeline.preprocessor.stream
    return None if stream is None else stream.time_column
