"""Synthetic anomalies made from held-out normal rows, for choosing a model without labels.

When the validation fold holds no labelled anomaly (normal-only or unlabeled data), the
families and baselines are compared on how well they separate held-out normal rows from
corrupted copies of other held-out normal rows. The corruptions are the usual ones in the
literature and work in the raw feature space, so every detector sees them the same way:

- ``swap`` (tables): a fifth of the features take their values from other random rows, which
  keeps every column's distribution but breaks the relations between columns;
- ``noise`` (tables with numeric features): a fifth of the numeric features move by one to
  three standard deviations of the normal training rows (a column never negative there, such
  as counts, stays non-negative);
- ``patch`` (images): a square of a quarter of the side is filled with one random intensity;
- ``cutpaste`` (images): a square of the image is copied onto another place of it.

These are a proxy: a model that separates them well has learned the normal data's structure,
which is what an unknown anomaly breaks. Reports say when a choice rested on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aeops.data.schema import SYNTHETIC_COLUMN, DatasetMeta

FEATURE_SHARE = 0.2


def kinds_for(meta: DatasetMeta) -> tuple[str, ...]:
    if meta.is_image:
        return ("patch", "cutpaste")
    return ("swap", "noise") if meta.numeric else ("swap",)


def make_synthetic(
    base: pd.DataFrame, pool: pd.DataFrame, meta: DatasetMeta, rng: np.random.Generator
) -> pd.DataFrame:
    """One corrupted copy of each row of ``base``; ``pool`` (normal training rows) supplies the
    swapped values and the column scales. Kinds alternate row by row."""
    kinds = kinds_for(meta)
    out = base.copy().reset_index(drop=True)
    kind_of_row = np.array([kinds[i % len(kinds)] for i in range(len(out))], dtype=object)
    for kind in kinds:
        rows = np.flatnonzero(kind_of_row == kind)
        if len(rows):
            corrupt = {"swap": _swap, "noise": _noise, "patch": _patch, "cutpaste": _cutpaste}[kind]
            corrupt(out, rows, pool, meta, rng)
    out[SYNTHETIC_COLUMN] = kind_of_row
    return out


def _chosen(n_rows: int, columns: list[str], rng: np.random.Generator) -> np.ndarray:
    """A (rows, columns) mask with a fifth of the columns (at least one) chosen in each row."""
    k = max(1, int(round(FEATURE_SHARE * len(columns))))
    order = np.argsort(rng.random((n_rows, len(columns))), axis=1)
    mask = np.zeros((n_rows, len(columns)), dtype=bool)
    np.put_along_axis(mask, order[:, :k], True, axis=1)
    return mask


def _swap(
    out: pd.DataFrame,
    rows: np.ndarray,
    pool: pd.DataFrame,
    meta: DatasetMeta,
    rng: np.random.Generator,
) -> None:
    mask = _chosen(len(rows), meta.features, rng)
    for j, column in enumerate(meta.features):
        target = rows[mask[:, j]]
        donors = rng.integers(len(pool), size=len(target))
        out.loc[target, column] = pool[column].to_numpy()[donors]


def _noise(
    out: pd.DataFrame,
    rows: np.ndarray,
    pool: pd.DataFrame,
    meta: DatasetMeta,
    rng: np.random.Generator,
) -> None:
    numeric = meta.numeric
    scale = pool[numeric].std(ddof=0).fillna(0.0).replace(0.0, 1.0)
    low, high = meta.value_range or (-np.inf, np.inf)
    mask = _chosen(len(rows), numeric, rng)
    for j, column in enumerate(numeric):
        target = rows[mask[:, j]]
        shift = rng.uniform(1.0, 3.0, len(target)) * rng.choice([-1.0, 1.0], len(target))
        values = out.loc[target, column].to_numpy(np.float64) + shift * scale[column]
        # a column never negative in the normal rows (counts, amounts) stays non-negative
        floor = max(low, 0.0) if pool[column].min() >= 0 else low
        out.loc[target, column] = np.clip(values, floor, high)


def _square(meta: DatasetMeta, rng: np.random.Generator) -> tuple[int, int, int]:
    _, h, w = meta.image_shape or (1, 1, 1)
    side = max(1, min(h, w) // 4)
    return side, int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))


def _images(out: pd.DataFrame, meta: DatasetMeta) -> np.ndarray:
    return (
        out[meta.features]
        .to_numpy(np.float64, copy=True)
        .reshape(len(out), *(meta.image_shape or []))
    )


def _patch(
    out: pd.DataFrame,
    rows: np.ndarray,
    pool: pd.DataFrame,
    meta: DatasetMeta,
    rng: np.random.Generator,
) -> None:
    images = _images(out, meta)
    low, high = meta.value_range or (0.0, 1.0)
    for i in rows:
        side, top, left = _square(meta, rng)
        images[i, :, top : top + side, left : left + side] = rng.uniform(low, high)
    out[meta.features] = images.reshape(len(out), -1)


def _cutpaste(
    out: pd.DataFrame,
    rows: np.ndarray,
    pool: pd.DataFrame,
    meta: DatasetMeta,
    rng: np.random.Generator,
) -> None:
    images = _images(out, meta)
    for i in rows:
        side, top, left = _square(meta, rng)
        _, to_top, to_left = _square(meta, rng)
        patch = images[i, :, top : top + side, left : left + side].copy()
        images[i, :, to_top : to_top + side, to_left : to_left + side] = patch
    out[meta.features] = images.reshape(len(out), -1)
