"""Sliding windows over sensor streams, and each row's score from the windows that cover it.

A window is ``size`` consecutive rows of one series (never two), taken every ``stride``
rows; it is identified by its last row (its *end*). :class:`Windows` is a view: the series is
held once and a window is copied only when a batch of them is asked for, so a long stream
does not become ``size`` copies of itself. A window flattens time-major: value ``[t, f]``
(row ``t`` of the window, feature ``f``) is column ``t * n_features + f``, so dense models
read it as a row and sequence models reshape it to ``(size, n_features)``.

:func:`row_scores` turns window scores back into one score per row: ``causal`` (online: the
window that ends at the row, or the last one before it; a row never sees a later one) or
``cover`` (offline: the highest window that covers the row).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

RowScoring = Literal["causal", "cover"]


def series_starts(series: Sequence[object] | np.ndarray) -> np.ndarray:
    """The first row of each series, for rows whose series are contiguous."""
    ids = np.asarray(series)
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]).astype(np.int64)


def window_ends(starts: np.ndarray, n_rows: int, size: int, stride: int) -> np.ndarray:
    """The last row of every window: each series' first full window, then every ``stride``
    rows, none crossing into the next series (a series shorter than ``size`` has none)."""
    if size < 1 or stride < 1:
        raise ValueError(f"window size and stride must be at least 1, got {size} and {stride}")
    bounds = np.r_[starts, n_rows]
    ends = [
        np.arange(a + size - 1, b, stride) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return np.concatenate(ends).astype(np.int64) if ends else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Windows:
    """The windows of ``values`` (rows x features, series stacked, each contiguous)."""

    values: np.ndarray
    ends: np.ndarray
    size: int

    @classmethod
    def of(
        cls, values: np.ndarray, series: Sequence[object] | np.ndarray, size: int, stride: int
    ) -> Windows:
        rows = np.asarray(values)
        if rows.ndim != 2:
            raise ValueError(f"expected rows x features, got shape {rows.shape}")
        if len(series) != len(rows):
            raise ValueError(f"{len(rows)} rows but {len(series)} series ids")
        return cls(rows, window_ends(series_starts(series), len(rows), size, stride), size)

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def n_columns(self) -> int:
        return self.size * self.values.shape[1]

    def view(self) -> np.ndarray:
        """Every possible window as a read-only view ``(n_rows - size + 1, size, features)``
        of the series (no copy); :attr:`ends` pick the real ones (``end - size + 1``)."""
        view = np.lib.stride_tricks.sliding_window_view(self.values, self.size, axis=0)
        return view.transpose(0, 2, 1)

    def take(self, which: np.ndarray | slice | None = None) -> np.ndarray:
        """The windows ``which`` (indices into :attr:`ends`; all when None), flattened
        time-major: a copy of these windows only."""
        ends = self.ends if which is None else self.ends[which]
        picked = self.view()[ends - self.size + 1]
        return np.ascontiguousarray(picked).reshape(len(ends), self.n_columns)

    def batches(self, rows: int) -> Iterator[np.ndarray]:
        """All windows in order, ``rows`` windows at a time."""
        for start in range(0, len(self), rows):
            yield self.take(slice(start, start + rows))


def row_scores(
    window_scores: np.ndarray,
    ends: np.ndarray,
    series: Sequence[object] | np.ndarray,
    size: int,
    mode: RowScoring = "causal",
) -> np.ndarray:
    """One score per row from the scores of the windows ending at ``ends``.

    ``causal``: the score of the last window ending at or before the row in its series (the
    row's own window when the stride is 1); rows before a series' first window have none
    (NaN: the warm-up). ``cover``: the highest score of the windows containing the row (NaN
    where none does). Neither mixes two series."""
    scores = np.asarray(window_scores, dtype=np.float64)
    if scores.shape != ends.shape:
        raise ValueError(f"{len(scores)} window scores for {len(ends)} windows")
    n = len(series)
    starts = series_starts(series)
    out = np.full(n, np.nan)
    if mode == "causal":
        which = np.full(n, -1, dtype=np.int64)
        which[ends] = np.arange(len(ends))
        first = np.zeros(n, dtype=bool)
        first[starts] = True
        # carry the latest window forward, restarting at each series' first row
        marks = np.where(which >= 0, np.arange(n), np.where(first, -1, -2))
        latest = _carry_forward(marks)
        has = latest >= 0
        out[has] = scores[which[latest[has]]]
        return out
    if mode == "cover":
        for k, end in enumerate(ends):  # size is small next to the stream: a loop over windows
            lo = end - size + 1
            out[lo : end + 1] = np.fmax(out[lo : end + 1], scores[k])
        return out
    raise ValueError(f"row scoring '{mode}' is not one of causal, cover")


def _carry_forward(marks: np.ndarray) -> np.ndarray:
    """Each position's latest mark >= -1 at or before it (-2 means "no mark here": carry the
    one before; -1 resets at a series start)."""
    positions = np.where(marks >= -1, np.arange(len(marks)), 0)
    latest_pos = np.maximum.accumulate(positions)
    return marks[latest_pos]


def row_windows(values: np.ndarray, series: Sequence[object] | np.ndarray, size: int) -> np.ndarray:
    """One flattened window per row: the ``size`` rows of its series that end at it (its own
    and the ones before it, never a later one). A series' first ``size - 1`` rows have too
    little past: they see their series' first row repeated before them (a stream's warm-up).
    ``(rows, size * features)``, float32."""
    rows = np.asarray(values, dtype=np.float32)
    ids = np.asarray(series)
    if size == 1:
        return np.ascontiguousarray(rows)
    starts = series_starts(ids)
    pad = np.repeat(starts, size - 1)  # each series' first row, size - 1 times before it
    order = np.argsort(np.r_[pad, np.arange(len(rows))], kind="stable")
    padded = np.r_[rows[pad], rows][order]
    padded_ids = np.r_[ids[pad], ids][order]
    windows = Windows.of(padded, padded_ids, size, 1)
    assert len(windows) == len(rows)  # one window ends at each real row
    return windows.take()


@dataclass(frozen=True)
class SeriesScale:
    """Each series standardised by its own first ``warmup`` rows: their mean and standard
    deviation (1 where a column did not move), applied to every row of that series."""

    warmup: int

    def apply(self, values: np.ndarray, series: Sequence[object] | np.ndarray) -> np.ndarray:
        rows = np.asarray(values, dtype=np.float64)
        ids = np.asarray(series)
        out = np.empty_like(rows)
        bounds = np.r_[series_starts(ids), len(rows)]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            if b - a < self.warmup:
                raise ValueError(
                    f"series '{ids[a]}' has {b - a} rows; the model standardises each series "
                    f"by its first {self.warmup} rows (data.warmup_rows): give it at least "
                    f"{self.warmup} rows"
                )
            first = rows[a : a + self.warmup]
            scale = first.std(axis=0)
            out[a:b] = (rows[a:b] - first.mean(axis=0)) / np.where(scale > 1e-12, scale, 1.0)
        return out
