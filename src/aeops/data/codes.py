"""Latent codes as stored values: the dtypes ``aeops encode --dtype`` writes and how they map
back to float32 for ``aeops decode``.

- ``float32``: the code as the model computes it (4 bytes per dimension).
- ``float16``: half precision (2 bytes per dimension); a value beyond float16's range
  (|z| > 65504) is refused by its dimension, never stored as inf.
- ``int8``: linear quantization with one scale per dimension, ``scale_d = max|z_d| / 127``
  over the codes quantized together (a dimension that is all zero gets scale 1.0), codes
  ``round(z / scale)`` clipped to [-127, 127] (1 byte per dimension). The scale travels with
  the codes: ``aeops encode`` keeps it in the Parquet file's key-value metadata under
  :data:`CODE_SCALE_KEY` (a JSON list).

Pure numpy: nothing here imports torch.
"""

from __future__ import annotations

import re

import numpy as np

from aeops.core.errors import ScoringInputError

CODE_DTYPES = ("float32", "float16", "int8")
CODE_SCALE_KEY = "aeops.code_scale"  # Parquet key-value metadata: the int8 scale, JSON list
CODE_PREFIX = "z_"
INT8_LEVELS = 127  # symmetric: -127..127, so 0 is exact and the scale is one number per dim
_CODE_NAME = re.compile(rf"{CODE_PREFIX}\d+")
_FLOAT_LIMIT = {
    "float32": float(np.finfo(np.float32).max),
    "float16": float(np.finfo(np.float16).max),
}


def code_columns(dims: int) -> list[str]:
    """The column names of a ``dims``-dimensional code: ``z_0 .. z_{dims-1}``."""
    return [f"{CODE_PREFIX}{i}" for i in range(dims)]


def is_code_column(name: object) -> bool:
    """Whether ``name`` is named like a code column (``z_<n>``)."""
    return isinstance(name, str) and _CODE_NAME.fullmatch(name) is not None


def bytes_per_row(dims: int, dtype: str) -> int:
    """Bytes one row's code takes as ``dtype``: ``dims`` times the dtype's size.

    For ``int8`` this excludes the per-file scale (``dims`` numbers stored once per file, in
    its metadata), and for every dtype it is the values' raw size: a Parquet file's own
    encoding and compression, and carried columns, change what the file takes on disk."""
    check_dtype(dtype)
    return dims * np.dtype(dtype).itemsize


def check_dtype(dtype: str) -> None:
    if dtype not in CODE_DTYPES:
        raise ScoringInputError(f"code dtype '{dtype}' is not one of {list(CODE_DTYPES)}")


def max_abs(z: np.ndarray) -> np.ndarray:
    """max |z_d| per dimension (0 for no rows): what :func:`int8_scale` needs, so a file can be
    scanned chunk by chunk and the maxima combined with ``np.maximum``."""
    return np.max(np.abs(np.asarray(z, dtype=np.float64)), axis=0, initial=0.0)


def int8_scale(largest: np.ndarray) -> np.ndarray:
    """Per-dimension int8 scale from max |z_d|: ``largest / 127``; 1.0 for an all-zero dim."""
    largest = np.asarray(largest, dtype=np.float64)
    return np.where(largest > 0, largest / INT8_LEVELS, 1.0)


def quantize(
    z: np.ndarray, dtype: str, scale: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(codes, scale)``: ``z`` stored as ``dtype``; ``scale`` is None except for int8.

    For int8 the scale is computed from ``z`` unless given (a file quantizes every chunk with
    the scale of the whole file). A non-finite value, or one beyond a float dtype's range, is
    refused naming its dimension."""
    check_dtype(dtype)
    z = np.asarray(z, dtype=np.float64)
    check_finite_codes(z)
    if dtype != "int8":
        check_float_range(z, dtype)
        return z.astype(dtype), None
    scale = int8_scale(max_abs(z)) if scale is None else check_scale(scale, z.shape[1])
    codes = np.clip(np.rint(z / scale), -INT8_LEVELS, INT8_LEVELS).astype(np.int8)
    return codes, scale


def dequantize(codes: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """The float32 code: ``codes * scale`` for int8 codes, else ``codes`` as float32."""
    values = np.asarray(codes, dtype=np.float64)
    if scale is not None:
        values = values * check_scale(scale, values.shape[1])
    return values.astype(np.float32)


def check_scale(scale: np.ndarray, dims: int) -> np.ndarray:
    """``scale`` as float64 if it is ``dims`` finite positive numbers, else refused."""
    values = np.asarray(scale, dtype=np.float64)
    if values.shape != (dims,) or not (np.isfinite(values) & (values > 0)).all():
        raise ScoringInputError(
            f"the int8 code scale must be {dims} finite positive numbers, one per code "
            f"dimension; got {np.array2string(values.ravel()[:8], precision=4)}"
            f"{' ...' if values.size > 8 else ''} ({values.size} value(s))"
        )
    return values


def first_non_finite(z: np.ndarray) -> tuple[int, int] | None:
    """(row, column) of the first NaN or infinite value of ``z``, or None."""
    bad = np.argwhere(~np.isfinite(z))
    return (int(bad[0][0]), int(bad[0][1])) if len(bad) else None


def check_finite_codes(z: np.ndarray) -> None:
    found = first_non_finite(z)
    if found is not None:
        row, dim = found
        raise ScoringInputError(
            f"code column '{CODE_PREFIX}{dim}': value {z[row, dim]} is not a finite number; "
            "a code that overflowed cannot be stored"
        )


def check_float_range(z: np.ndarray, dtype: str) -> None:
    limit = _FLOAT_LIMIT[dtype]
    beyond = np.abs(z) > limit
    if beyond.any():
        row, dim = np.argwhere(beyond)[0]
        wider = "float32 or int8" if dtype == "float16" else "int8 (scaled per dimension)"
        raise ScoringInputError(
            f"code column '{CODE_PREFIX}{dim}': value {z[row, dim]:.6g} is beyond {dtype}'s "
            f"range (|z| <= {limit:.6g}); encode with --dtype {wider}"
        )
