"""Sensor streams: series files read as written, each row's time, and the steps between rows.

A stream is one or more *series* (an experiment, a machine), each a run of rows in time order.
Rows are read in the order the files hold them and never re-sorted: a series whose time goes
backwards, repeats or leaves a long gap is refused by validate (:func:`step_problems`), naming
the series and the rows, rather than silently reordered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.core.errors import SourceError
from aeops.core.sections import DataConfig
from aeops.data.schema import DatasetMeta

SERIES_COLUMN = "series"  # the series' name when each file is one series
STREAM_SUFFIXES = (".csv", ".txt", ".gz", ".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
SHOWN = 5  # rows named in a message


def series_files(path: Path) -> list[Path]:
    """The stream's files: ``path`` itself, or the CSV/Parquet files in the folder ``path`` (in
    natural order: ``2.csv`` before ``10.csv``)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(
            f"{path}: no such file or folder; set data.path to a .csv/.parquet file or a folder "
            "of them (one series a file)"
        )
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in STREAM_SUFFIXES]
    if not files:
        raise SourceError(
            f"{path}: the folder holds no .csv or .parquet file; point data.path at one"
        )
    return sorted(files, key=natural_key)


def natural_key(path: Path) -> list[int | str]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def delimiter(path: Path) -> str:
    """The separator a CSV's header line uses (``,`` ``;`` tab or ``|``), as written."""
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    return max(DELIMITERS, key=header.count)


def read_series_file(path: Path) -> pd.DataFrame:
    """One series file as written (CSV with its own separator, or Parquet)."""
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=delimiter(path))
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: cannot read the series file ({exc})") from exc
    if frame.empty:
        raise SourceError(f"{path}: the file has no rows; remove it or fill it")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def parse_time(values: pd.Series, column: str, origin: str) -> pd.Series:
    """A time column as numbers (seconds) or naive UTC date-times; a value that is neither is
    refused, naming the rows (counted from 0, in file order)."""
    if pd.api.types.is_bool_dtype(values):
        raise SourceError(f"{origin}: time column '{column}' holds true/false, not times")
    if pd.api.types.is_numeric_dtype(values):
        parsed: pd.Series = values.astype(np.float64)
        bad = parsed.isna() | ~np.isfinite(parsed.to_numpy())
    elif pd.api.types.is_datetime64_any_dtype(values):
        parsed = _naive_utc(values)
        bad = parsed.isna()
    else:
        parsed = _naive_utc(pd.to_datetime(values, errors="coerce", utc=True, format="mixed"))
        bad = parsed.isna()
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())
        shown = [str(v) for v in values.iloc[rows[:SHOWN]]]
        raise SourceError(
            f"{origin}: time column '{column}' has {len(rows)} value(s) that are not a time "
            f"(rows {rows[:SHOWN].tolist()}: {shown}); write each row's time as seconds or a "
            "date and time (2020-03-09 10:14:33), or set data.time_column to the time column"
        )
    return parsed


def _naive_utc(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def is_dates(times: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(times))


def seconds(times: pd.Series) -> np.ndarray:
    """Each row's time in seconds (date-times from the epoch), as float64."""
    if is_dates(times):
        stamps = times.astype("datetime64[ns]").to_numpy().astype(np.int64)
        return stamps / 1e9
    return times.to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class StepProblem:
    """Rows of one series whose step from the row before breaks a rule."""

    series: str
    what: str  # "goes backwards", "repeats", "leaves a gap"
    rows: list[int]  # the first few frame rows (from 0), each the row after the step
    steps: list[float]  # the step in seconds at each of them
    count: int  # how many rows of the series break the rule

    def sentence(self, time_column: str, max_gap: float | None) -> str:
        shown = ", ".join(
            f"{row} ({step:+g} s)" for row, step in zip(self.rows, self.steps, strict=True)
        )
        more = f" and {self.count - len(self.rows)} more" if self.count > len(self.rows) else ""
        fixes = {
            "goes backwards": "sort the series by time, or fix the times of those rows",
            "repeats": "drop or merge the rows that share a time",
            "leaves a gap": (
                f"split the series at the gap (data.series_column), fill it, or raise "
                f"data.max_gap above {max_gap:g} s"
            ),
        }
        return (
            f"series '{self.series}': '{time_column}' {self.what} at row(s) "
            f"{shown}{more} (counted from 0 in the series); {fixes[self.what]}"
        )


def steps(frame: pd.DataFrame, time_column: str, series_column: str) -> pd.DataFrame:
    """One row per step between consecutive rows of a series (rows of a series are
    contiguous): ``series``, ``row`` (the later row's position in its series, from 0) and
    ``step_seconds``."""
    time = seconds(frame[time_column])
    series = frame[series_column].astype(str).to_numpy()
    position = frame.groupby(series_column, sort=False).cumcount().to_numpy()
    rows = np.flatnonzero(series[1:] == series[:-1]) + 1
    return pd.DataFrame(
        {
            "series": series[rows],
            "row": position[rows],
            "step_seconds": time[rows] - time[rows - 1],
        }
    )


def step_problems(table: pd.DataFrame, max_gap: float | None) -> list[StepProblem]:
    """Every series' steps that go backwards, repeat a time or exceed ``max_gap``."""
    rules = {
        "goes backwards": table["step_seconds"] < 0,
        "repeats": table["step_seconds"] == 0,
        "leaves a gap": (
            table["step_seconds"] > max_gap if max_gap is not None else table["row"] < 0
        ),
    }
    problems = []
    for what, broken in rules.items():
        for name, part in table[broken.to_numpy()].groupby("series", sort=False):
            problems.append(
                StepProblem(
                    str(name),
                    what,
                    part["row"].astype(int).tolist()[:SHOWN],
                    part["step_seconds"].astype(float).tolist()[:SHOWN],
                    len(part),
                )
            )
    return problems


def min_series_rows(cfg: DataConfig) -> int:
    """The fewest rows a series needs: for :func:`time_splits`, its training rows, then at
    least one to validate and one to test; and one whole window (``data.window.size``)."""
    return max(_split_rows(cfg), cfg.window.size or 1)


def _split_rows(cfg: DataConfig) -> int:
    if cfg.split.train_rows is not None:
        return cfg.split.train_rows + 2
    held = cfg.split.val_fraction + cfg.split.test_fraction
    n = 3
    while int(round(n * (1.0 - held))) >= n - 1 or int(round(n * (1.0 - held))) < 1:
        n += 1
    return n


def series_lengths(frame: pd.DataFrame, series_column: str) -> pd.Series:
    """Rows per series, in the order the series first appear."""
    return frame[series_column].astype(str).value_counts(sort=False)


def grouped(frame: pd.DataFrame, series_column: str) -> pd.DataFrame:
    """The rows of each series together, series in order of first appearance, each series'
    rows in the order read (a stable reordering: a file that interleaves machines)."""
    order = pd.factorize(frame[series_column].astype(str))[0]
    return frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)


def sampling_interval(table: pd.DataFrame) -> float | None:
    """The median step between rows, in seconds (None for a stream of single rows)."""
    return float(np.median(table["step_seconds"])) if len(table) else None


def stream_line(frame: pd.DataFrame, meta: DatasetMeta) -> str:
    """``16 series of 1,075 to 1,154 rows, one row every 1 s (median step)``."""
    series, time = meta.series_column or "", meta.time_column or ""
    lengths = series_lengths(frame, series)
    interval = sampling_interval(steps(frame, time, series))
    every = f", one row every {interval:g} s (median step)" if interval is not None else ""
    return (
        f"{len(lengths)} series of {lengths.min():,} to {lengths.max():,} rows in "
        f"'{series}', time in '{time}'{every}"
    )
