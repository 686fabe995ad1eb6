"""The values a scoring request may hold, checked before any model sees them: numbers that are
numbers (no boolean read as 1.0, no timestamp read as nanoseconds), finite, and within
float32's range, which the model computes in. Each refusal is one sentence naming the row and
column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model computes in float32: |x| beyond is inf


def plain(value: Any) -> Any:
    """A cell as Python writes it in a sentence: ``3e+38``, not ``np.float64(3e+38)``."""
    return value.item() if isinstance(value, np.generic) else value


def finite(value: Any) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ScoringInputError(f"threshold {value} is not a finite number")
    return value


def few(names: list[Any], n: int = 8) -> str:
    shown = [str(c) for c in names[:n]]
    return str(shown)[:-1] + (f", ... {len(names) - n} more]" if len(names) > n else "]")


def as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_range(values: np.ndarray, index: pd.Index, names: list[str]) -> None:
    """Finite values beyond float32's range (1e39, -1e308) are refused as out of range."""
    if values.dtype == np.float32 or values.dtype.kind in "iub" and values.dtype.itemsize <= 2:
        return  # nothing finite of these types lies beyond float32's range
    huge = np.abs(np.nan_to_num(values, nan=0.0)) > FLOAT32_MAX
    if huge.any():
        row, col = np.argwhere(huge)[0]
        raise ScoringInputError(
            f"row {index[row]}, column '{names[col]}': value {values[row, col]:.6g} is out of "
            f"range; the model computes in float32 (|x| <= {FLOAT32_MAX:.3g})"
        )


def as_numbers(column: pd.Series, name: str, index: pd.Index) -> np.ndarray:
    kind = not_a_number_kind(column.dtype)
    if kind is not None:
        raise ScoringInputError(
            f"column '{name}': holds {kind} values (dtype {column.dtype}); the model expects "
            "numbers in this column: convert it (e.g. 0/1, or seconds) as it was for training"
        )
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(np.float64)
    flags = column.map(lambda v: isinstance(v, (bool, np.bool_))).to_numpy(bool)
    if flags.any():  # JSON's true among numbers: pandas would read it as 1.0
        row = int(np.flatnonzero(flags)[0])
        raise ScoringInputError(
            f"row {index[row]}, column '{name}': {plain(column.iloc[row])!r} is a boolean, not a "
            "number; the model expects numbers in this column (send 0/1 if that is meant)"
        )
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ScoringInputError(
            f"row {index[row]}, column '{name}': {plain(column.iloc[row])!r} is "
            "not a number; the model expects numbers in this column"
        )
    return converted.to_numpy(np.float64)


def not_a_number_kind(dtype: Any) -> str | None:
    """What a column of this dtype holds when it is a number-like that must not be read as
    one (a boolean as 1.0, a timestamp as nanoseconds), else None."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    return None


def is_plain_number(dtype: Any) -> bool:
    """An integer or float dtype (not a boolean, timestamp or duration read as a number)."""
    return bool(pd.api.types.is_numeric_dtype(dtype)) and not_a_number_kind(dtype) is None
