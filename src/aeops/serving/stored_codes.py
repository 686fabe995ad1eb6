"""How latent codes are stored: as float32, float16 or int8 (:mod:`aeops.data.codes`); int8
codes share one per-dimension scale over the whole file, found in a first pass over the input
(:func:`widest_codes` per chunk) and kept in the Parquet output's key-value metadata
(:data:`~aeops.data.codes.CODE_SCALE_KEY`), where decoding reads it back
(:func:`stored_code_scale`). A CSV has nowhere to keep a scale, so int8 goes to Parquet only.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.data.codes import (
    CODE_SCALE_KEY,
    check_dtype,
    check_finite_codes,
    check_scale,
    is_code_column,
    max_abs,
    quantize,
)
from aeops.serving.inputs import InputFile, ParquetInput


def check_code_output(output_path: Path, fmt: str, dtype: str) -> None:
    """A known code dtype, and int8 only to Parquet: its scale lives in the file's metadata."""
    check_dtype(dtype)
    if dtype == "int8" and fmt == "csv":
        raise ScoringInputError(
            f"{output_path}: int8 codes need their per-dimension scale to be decoded and a "
            "CSV has nowhere to keep it, so name the output .parquet (the scale goes in its "
            "metadata) or use --dtype float16 or float32 for a CSV"
        )


def widest_codes(result: pd.DataFrame, largest: np.ndarray | None) -> np.ndarray:
    """The largest |z_d| per dimension so far, ``result``'s codes (each checked finite) taken
    in: one number per dimension is all the int8 scale's first pass keeps."""
    z = code_block(result).to_numpy(np.float64)
    check_finite_codes(z)
    return max_abs(z) if largest is None else np.maximum(largest, max_abs(z))


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
