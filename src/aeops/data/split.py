"""Deterministic novel-class split and the preprocessing fit on the training fold only.

Protocol: rows whose label is in ``data.normal_labels`` are normal, all others anomalies.
Normal rows are split (stratified by label) into train / val / test; anomalies go only to val
and test. Training and early stopping see normal rows only; val and test carry both, for
threshold choice (val) and the honest final numbers (test).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

from aeops.config import DataConfig

SPLIT_COLUMN = "split"
ANOMALY_COLUMN = "is_anomaly"
SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """The data cannot be split as configured."""


def _stratify(labels: np.ndarray) -> np.ndarray | None:
    """Stratify by label when every label has at least two rows to share out."""
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 else None


def assign_splits(frame: pd.DataFrame, cfg: DataConfig, seed: int) -> pd.DataFrame:
    """Return ``frame`` with ``is_anomaly`` and ``split`` columns added (row order kept)."""
    labels = frame[cfg.label_column].to_numpy()
    normal = np.isin(labels, cfg.normal_labels)
    if normal.sum() < 3:
        raise SplitError(f"only {int(normal.sum())} rows have a normal label "
                         f"{cfg.normal_labels}; check data.normal_labels")
    split = np.full(len(frame), "", dtype=object)
    normal_idx = np.flatnonzero(normal)
    holdout = cfg.split.val_fraction + cfg.split.test_fraction
    train_idx, rest_idx = train_test_split(
        normal_idx, test_size=holdout, random_state=seed, stratify=_stratify(labels[normal_idx])
    )
    val_idx, test_idx = train_test_split(
        rest_idx,
        test_size=cfg.split.test_fraction / holdout,
        random_state=seed,
        stratify=_stratify(labels[rest_idx]),
    )
    split[train_idx], split[val_idx], split[test_idx] = "train", "val", "test"
    anomaly_idx = np.flatnonzero(~normal)
    if len(anomaly_idx) >= 2:
        a_val, a_test = train_test_split(
            anomaly_idx,
            test_size=1 - cfg.split.anomaly_val_fraction,
            random_state=seed,
            stratify=_stratify(labels[anomaly_idx]),
        )
        split[a_val], split[a_test] = "val", "test"
    elif len(anomaly_idx) == 1:
        split[anomaly_idx] = "test"
    out = frame.copy()
    out[ANOMALY_COLUMN] = ~normal
    out[SPLIT_COLUMN] = split
    return out


def make_scaler(kind: str) -> TransformerMixin:
    if kind == "minmax":
        return MinMaxScaler()
    if kind == "standard":
        return StandardScaler()
    if kind == "none":
        return FunctionTransformer(validate=False, check_inverse=False)
    raise ValueError(f"unknown scaler '{kind}'; choose none, minmax or standard")


def fit_preprocessor(train_features: np.ndarray, kind: str) -> TransformerMixin:
    """Fit the scaler on the training fold only (no leakage into val or test)."""
    scaler = make_scaler(kind)
    scaler.fit(train_features)
    return scaler


@dataclass
class Fold:
    """One split as arrays: features (already preprocessed), labels and anomaly flags."""

    x: np.ndarray
    label: np.ndarray
    is_anomaly: np.ndarray

    @property
    def normal(self) -> np.ndarray:
        return self.x[~self.is_anomaly]


def load_fold(
    splits: pd.DataFrame, name: str, features: list[str], label: str, preprocessor
) -> Fold:
    part = splits[splits[SPLIT_COLUMN] == name]
    x = preprocessor.transform(part[features].to_numpy(dtype=np.float64)).astype(np.float32)
    return Fold(x, part[label].to_numpy(), part[ANOMALY_COLUMN].to_numpy(dtype=bool))
