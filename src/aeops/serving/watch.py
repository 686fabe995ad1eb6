"""``aeops watch``: a stream scored row by row, as its rows arrive.

:class:`LiveScorer` keeps what a stream's model needs between rows: the series' warm-up (with
``data.scaler: series``, its first ``warmup_rows`` rows set its scale, and are scored once the
last of them arrives), the last ``window.size`` scaled rows, and how many rows in a row were
over the threshold (``--min-run``). Each row is scored as soon as it can be: the warm-up's
rows together when it completes, every later row the moment it arrives, from its own past
only (a row's window ends at it). Rows that arrive together (written while the last ones were
being scored) are scored in one call of the model, each still from its own window: that is how
a model slower than the stream's rate keeps up (``benchmarks/watch.py``). The scores are
those ``aeops score`` writes for the same file, as the rows arrive instead of all at once
(tests/integration/test_watch.py holds it).

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
        return self.push_many(np.asarray(raw, dtype=np.float64).reshape(1, -1))

    def push_many(self, raw: np.ndarray) -> list[Scored]:
        """Take the rows that arrived together (rows x features, in order); the rows scored
        because of them, scored in one call of the model (the scores are each row's alone:
        a block that arrives while the last one was scored is how a slow model keeps up)."""
        values = np.asarray(raw, dtype=np.float64).reshape(-1, len(self.features))
        if not (np.isfinite(values).all() and (np.abs(values) <= FLOAT32_MAX).all()):
            index = pd.RangeIndex(self.rows, self.rows + len(values))  # names the row
            self.pipeline.check_values(values, index, self.features)
        out: list[Scored] = []
        if self.warmup is not None and self.centre is None:
            take = min(len(values), self.warmup - len(self.pending))
            self.pending.extend(values[:take])
            self.rows += take
            values = values[take:]
            if len(self.pending) < self.warmup:
                return out
            out += self.release(np.stack(self.pending))
        if len(values):
            self.rows += len(values)
            out += self.score(self.scaled(self.base(values)), self.rows - len(values))
        return out

    def release(self, warm: np.ndarray) -> list[Scored]:
        """The warm-up complete: the series' scale from it, then each of its rows scored."""
        base = self.base(warm)
        self.centre = base.mean(axis=0)
        spread = base.std(axis=0)
        self.spread = np.where(spread > 1e-12, spread, 1.0)
        self.pending = []
        return self.score(self.scaled(base), self.rows - len(base))

    def scaled(self, base: np.ndarray) -> np.ndarray:
        if self.centre is None or self.spread is None:
            return base
        return (base - self.centre) / self.spread

    def score(self, scaled: np.ndarray, first: int) -> list[Scored]:
        """Score the newest rows (``first``: the first one's number): each row's window is
        the rows before it (the series' first row repeated before its start, as
        :func:`aeops.data.windows.row_windows` does)."""
        windows = []
        for row in scaled.astype(np.float32):
            if not self.recent:
                self.recent.extend([row] * (self.size - 1))
            self.recent.append(row)
            windows.append(np.concatenate(self.recent))
        scores = np.asarray(self.pipeline.detector.decision_function(np.stack(windows)), float)
        out = []
        for k, score in enumerate(scores):
            if not np.isfinite(score):
                raise ScoringInputError(
                    f"row {first + k}: its anomaly score overflowed float32; a row this far "
                    "out cannot be scored: check the value or its units"
                )
            over = bool(score > self.threshold)
            self.run = self.run + 1 if over else 0
            out.append(Scored(first + k, float(score), over, self.run >= self.min_run))
        return out


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
def arrivals(handle: Any, follow: bool) -> Iterator[list[str]]:
    """The whole lines that have arrived, a list at a time: what one read of the handle's
    file descriptor returns (a pipe hands over everything written so far, so rows written
    while the last ones were scored come together); with ``follow``, wait at the end of a
    file for more."""
    import os

    fd, partial = handle.fileno(), b""
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            if not follow:
                if partial.strip():
                    yield [partial.decode("utf-8")]
                return
            time.sleep(POLL_S)
            continue
        *complete, partial = (partial + data).split(b"\n")
        if complete:
            yield [line.decode("utf-8") for line in complete]


class RowReader:
    """Lines to rows (dicts): JSON lines, or CSV after its header line (read with the
    separator the header uses)."""

    def __init__(self) -> None:
        self.header: list[str] | None = None
        self.sep = ","
        self.json: bool | None = None

    def feed(self, lines: list[str]) -> list[dict[str, Any]]:
        from aeops.data.streams import DELIMITERS

        out = []
        for line in lines:
            if not line.strip():
                continue
            if self.json is None:
                self.json = line.lstrip().startswith("{")
                if not self.json:
                    self.sep = max(DELIMITERS, key=line.count)
                    self.header = next(csv.reader(io.StringIO(line), delimiter=self.sep))
                    continue
            if self.json:
                out.append(json.loads(line))
            else:
                cells = next(csv.reader(io.StringIO(line), delimiter=self.sep))
                out.append(dict(zip(self.header or [], cells, strict=False)))
        return out


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
    live, reader = LiveScorer(pipeline, min_run), RowReader()
    handle = sys.stdin if source == "-" else Path(source).open("rb")
    time_column = time_column_of(pipeline)
    stamps: dict[int, str] = {}
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([time_column or "row", SCORE_COLUMN, FLAG_COLUMN, ALARM_COLUMN])
    out.flush()
    try:
        for lines in arrivals(handle, follow and source != "-"):
            rows = reader.feed(lines)
            if not rows:
                continue
            first = live.rows  # the number of the first row that arrived now
            for k, record in enumerate(rows):
                stamp = record.get(time_column) if time_column else None
                stamps[first + k] = str(first + k if stamp is None else stamp)
            block = np.stack([values_of(r, live.features, first + k) for k, r in enumerate(rows)])
            for done in live.push_many(block):
                writer.writerow([stamps.pop(done.row), repr(done.score), done.over, done.alarm])
            out.flush()
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 0


def time_column_of(pipeline: DetectorPipeline) -> str | None:
    """The time column of the model's stream (carried to the output), if it had one."""
    stream = pipeline.preprocessor.stream
    return None if stream is None else stream.time_column
