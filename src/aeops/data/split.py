"""Deterministic novel-class split, and synthetic anomalies when no labelled one is held out.

Protocol: rows whose label is in ``data.normal_labels`` are normal, all others anomalies; with
``data.label_column: null`` every row is taken as normal. Normal rows are split (stratified by
label) into train / val / test; anomalies go only to val and test. Training and early stopping
see normal rows only; val and test carry both, for threshold and model choice (val) and the
honest final numbers (test). When the validation fold holds no labelled anomaly, val and test
get synthetic anomalies made from their own normal rows (:mod:`aeops.data.synthetic`), marked in
the ``synthetic`` column, so the choice of model still rests on held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from aeops.core.errors import SplitError
from aeops.core.sections import DataConfig
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, DatasetMeta
from aeops.data.synthetic import SYNTHETIC_COLUMN, make_synthetic

__all__ = [
    "ANOMALY_COLUMN",
    "SPLIT_COLUMN",
    "SPLITS",
    "SYNTHETIC_COLUMN",
    "Fold",
    "SplitError",
    "assign_splits",
    "add_synthetic",
    "as_fold",
    "fold_pair",
    "load_fold",
    "scale_rows",
]

SPLITS = ("train", "val", "test")


def _stratify(labels: np.ndarray | None) -> np.ndarray | None:
    """Stratify by label when every label has at least two rows to share out."""
    if labels is None or len(labels) == 0:
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def normal_mask(frame: pd.DataFrame, meta: DatasetMeta, cfg: DataConfig) -> np.ndarray:
    """Which rows are normal: labels in ``data.normal_labels`` (as strings), or all rows."""
    if meta.label_column is None:
        return np.ones(len(frame), dtype=bool)
    wanted = cfg.normal_label_values
    if wanted is None:
        raise SplitError(
            f"{meta.origin}: data.normal_labels is not set; the labels in the data "
            f"are {meta.labels}: set data.normal_labels to the normal ones"
        )
    unknown = [v for v in wanted if v not in set(meta.labels)]
    if unknown:
        raise SplitError(
            f"{meta.origin}: data.normal_labels {unknown} do not occur in column "
            f"'{meta.label_column}' (labels there: {meta.labels}); labels match as "
            "written in the file"
        )
    return frame[meta.label_column].astype(str).isin(wanted).to_numpy()


def assign_splits(
    frame: pd.DataFrame, meta: DatasetMeta, cfg: DataConfig, seed: int
) -> pd.DataFrame:
    """Return ``frame`` with ``is_anomaly`` and ``split`` columns added (row order kept):
    in time for a stream (:func:`time_splits`), else the seeded novel-class split."""
    normal = normal_mask(frame, meta, cfg)
    if meta.is_stream:
        out = frame.copy()
        out[ANOMALY_COLUMN] = ~normal
        out[SPLIT_COLUMN] = time_splits(frame, meta, cfg)
        return out
    if normal.sum() < 3:
        raise SplitError(
            f"only {int(normal.sum())} rows are normal "
            f"({cfg.normal_labels}); check data.normal_labels"
        )
    labels = frame[meta.label_column].astype(str).to_numpy() if meta.label_column else None
    split = np.full(len(frame), "", dtype=object)
    normal_idx = np.flatnonzero(normal)
    holdout = cfg.split.val_fraction + cfg.split.test_fraction
    strat = labels[normal_idx] if labels is not None else None
    train_idx, rest_idx = train_test_split(
        normal_idx, test_size=holdout, random_state=seed, stratify=_stratify(strat)
    )
    val_idx, test_idx = train_test_split(
        rest_idx,
        test_size=cfg.split.test_fraction / holdout,
        random_state=seed,
        stratify=_stratify(labels[rest_idx] if labels is not None else None),
    )
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    anomaly_idx = np.flatnonzero(~normal)
    if len(anomaly_idx) >= 2:
        a_val, a_test = train_test_split(
            anomaly_idx,
            test_size=1 - cfg.split.anomaly_val_fraction,
            random_state=seed,
            stratify=_stratify(labels[anomaly_idx] if labels is not None else None),
        )
        split[a_val], split[a_test] = "val", "test"
    elif len(anomaly_idx) == 1:
        split[anomaly_idx] = "test"
    out = frame.copy()
    out[ANOMALY_COLUMN] = ~normal
    out[SPLIT_COLUMN] = split
    return out


def time_splits(frame: pd.DataFrame, meta: DatasetMeta, cfg: DataConfig) -> np.ndarray:
    """Each series cut in time, never at random: its first rows train (``split.train_rows``,
    or the share ``1 - val_fraction - test_fraction``), the next share of what follows
    validates, the rest tests. Nothing crosses a series boundary; labelled anomalies stay
    where they happened (training fits the normal rows among its own)."""
    split = np.empty(len(frame), dtype=object)
    series = frame[meta.series_column].astype(str)
    held = cfg.split.val_fraction + cfg.split.test_fraction
    for name, rows in series.groupby(series, sort=False).indices.items():
        n = len(rows)
        n_train = cfg.split.train_rows or int(round(n * (1.0 - held)))
        if n_train >= n - 1 or n_train < 1:
            raise SplitError(
                f"{meta.origin}: series '{name}' has {n} rows, so data.split.train_rows "
                f"({n_train}) leaves none to validate and test; lower data.split.train_rows "
                "or remove the series"
            )
        n_val = max(1, int(round((n - n_train) * cfg.split.val_fraction / held)))
        n_val = min(n_val, n - n_train - 1)
        cut = [n_train, n_train + n_val]
        split[rows] = np.select(
            [np.arange(n) < cut[0], np.arange(n) < cut[1]], ["train", "val"], "test"
        )
    return split


def add_synthetic(frame: pd.DataFrame, meta: DatasetMeta, seed: int) -> pd.DataFrame:
    """Append synthetic anomalies to val and test when val holds no labelled anomaly.

    Each split's synthetic rows are made from that split's normal rows (values swapped in
    come from normal training rows), one per normal row."""
    out = frame.assign(**{SYNTHETIC_COLUMN: ""})
    val = out[SPLIT_COLUMN] == "val"
    if out.loc[val, ANOMALY_COLUMN].any():
        return out
    rng = np.random.default_rng(seed)
    pool = out[(out[SPLIT_COLUMN] == "train") & ~out[ANOMALY_COLUMN]]
    parts = [out]
    for name in ("val", "test"):
        base = out[(out[SPLIT_COLUMN] == name) & ~out[ANOMALY_COLUMN]]
        if base.empty:
            continue
        fake = make_synthetic(base, pool, meta, rng)
        fake[ANOMALY_COLUMN] = True
        if meta.label_column:
            fake[meta.label_column] = "synthetic:" + fake[SYNTHETIC_COLUMN].astype(str)
        for column in meta.extra_columns:
            if column == meta.time_column:  # made, not observed: no time of its own
                fake[column] = pd.NaT if meta_time_is_date(out[column]) else np.nan
            else:
                fake[column] = "synthetic:" + fake[column].astype(str)
        parts.append(fake)
    return pd.concat(parts, ignore_index=True)


def meta_time_is_date(times: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(times))


@dataclass
class Fold:
    """One split as arrays: model input, group names, anomaly and synthetic flags."""

    x: np.ndarray
    group: np.ndarray  # the label as written, "synthetic:<kind>", or "" (unlabeled)
    is_anomaly: np.ndarray
    synthetic: np.ndarray  # bool: a synthetic anomaly
    series: np.ndarray | None = None  # a stream: each row's series (rows of one are together)
    time: np.ndarray | None = None  # a stream: each row's time in seconds

    @property
    def normal(self) -> np.ndarray:
        return self.x[~self.is_anomaly]

    def windows(self, size: int, stride: int) -> Fold:
        """A stream's training windows: every ``stride``-th row whose window of ``size``
        rows lies within its series (a series' first ``size - 1`` rows see made-up rows
        before them: the model never learns those as normal)."""
        if size == 1 and stride == 1:
            return self
        keep = np.ones(len(self.x), dtype=bool)
        if size > 1 and self.series is not None:
            from aeops.data.windows import series_starts

            starts = series_starts(self.series)
            place = np.arange(len(keep)) - np.repeat(starts, np.diff(np.r_[starts, len(keep)]))
            keep = place >= size - 1
        picked = np.flatnonzero(keep)[::stride]
        return self.take(picked)

    def take(self, rows: np.ndarray | slice) -> Fold:
        """These rows of the fold."""
        pick = rows
        return Fold(
            self.x[pick],
            self.group[pick],
            self.is_anomaly[pick],
            self.synthetic[pick],
            None if self.series is None else self.series[pick],
            None if self.time is None else self.time[pick],
        )

    @property
    def real(self) -> np.ndarray:
        return ~self.synthetic

    @property
    def has_real_anomalies(self) -> bool:
        return bool((self.is_anomaly & self.real).any())

    @property
    def has_synthetic(self) -> bool:
        return bool(self.synthetic.any())


HOLDOUT = 0.1  # fit(X) without validation rows: this seeded share of X validates
HOLDOUT_MIN_ROWS = 20  # ... when X has at least this many rows (else X validates itself)


def as_fold(x: Any, is_anomaly: Any = None) -> Fold:
    """Model-input rows (a NumPy array or an all-numeric frame, float32) as a
    :class:`Fold`; every row normal unless ``is_anomaly`` flags some."""
    if isinstance(x, Fold):
        return x
    if isinstance(x, pd.DataFrame):
        text = [str(c) for c, kind in x.dtypes.items() if not pd.api.types.is_numeric_dtype(kind)]
        if text:
            raise ValueError(
                f"columns {text[:5]} are not numbers; a detector fits model-input rows "
                "(encode text columns first, or run the pipeline, which does)"
            )
        x = x.to_numpy(np.float32)
    rows = np.asarray(x, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"expected rows x features (2 dimensions), got shape {rows.shape}")
    flags = np.zeros(len(rows), bool) if is_anomaly is None else np.asarray(is_anomaly, bool)
    if flags.shape != (len(rows),):
        raise ValueError(f"{len(rows)} rows but {flags.size} anomaly flags")
    groups = np.where(flags, "anomaly", "normal").astype(object)
    return Fold(rows, groups, flags, np.zeros(len(rows), bool))


def fold_pair(x: Any, val: Any = None, seed: int = 0) -> tuple[Fold, Fold]:
    """(training fold, validation fold) from what ``fit`` was given: folds as they are;
    arrays or frames as all-normal rows; ``val`` as rows, ``(rows, is_anomaly)`` or None (a
    seeded :data:`HOLDOUT` of ``x`` validates, the rest trains; fewer than
    :data:`HOLDOUT_MIN_ROWS` rows validate themselves)."""
    train = as_fold(x)
    if val is not None:
        return train, as_fold(*val) if isinstance(val, tuple) else as_fold(val)
    if isinstance(x, Fold) or len(train.x) < HOLDOUT_MIN_ROWS:
        return train, train
    held = np.zeros(len(train.x), bool)
    chosen = np.random.default_rng(seed).choice(len(held), int(round(HOLDOUT * len(held))), False)
    held[chosen] = True
    return as_fold(train.x[~held]), as_fold(train.x[held])


def scale_rows(train: Fold, val: Fold) -> np.ndarray:
    """The normal rows a detector's score scales and default threshold are fitted on:
    validation's real normal rows, or the normal training rows when validation holds fewer
    than two (no anomaly is ever seen)."""
    normal = val.x[val.real & ~val.is_anomaly]
    return normal if len(normal) >= 2 else train.normal


def load_fold(splits: pd.DataFrame, name: str, meta: DatasetMeta, model_input: np.ndarray) -> Fold:
    """Fold ``name``; ``model_input`` holds every row of ``splits`` already preprocessed."""
    rows = (splits[SPLIT_COLUMN] == name).to_numpy()
    part = splits[rows]
    synthetic = (
        (part[SYNTHETIC_COLUMN].astype(str) != "").to_numpy()
        if SYNTHETIC_COLUMN in part
        else np.zeros(len(part), dtype=bool)
    )
    if meta.label_column:
        group = part[meta.label_column].astype(str).to_numpy(dtype=object)
    else:
        group = np.where(
            synthetic, "synthetic:" + part.get(SYNTHETIC_COLUMN, "").astype(str), ""
        ).astype(object)
    fold = Fold(model_input[rows], group, part[ANOMALY_COLUMN].to_numpy(dtype=bool), synthetic)
    if not meta.is_stream or meta.series_column is None or meta.time_column is None:
        return fold
    from aeops.data.streams import seconds

    fold.series = part[meta.series_column].astype(str).to_numpy(dtype=object)
    fold.time = seconds(part[meta.time_column])
    return fold


def splits_hash(path: str | Path) -> str:
    """The prepared data's short hash (the split file's SHA-256): what MLflow's Dataset
    column, version tags and the report name the data by."""
    from aeops.core.io import file_sha256

    return file_sha256(path)[:16]
