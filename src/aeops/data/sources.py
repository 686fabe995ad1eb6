"""Readers that turn every supported source into one frame: feature columns plus ``label``.

Sources: scikit-learn's embedded ``digits`` (the offline default), MNIST IDX files, CSV/Parquet
tables and NumPy ``.npz``/``.npy`` files, all read from local paths; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.config import DataConfig
from aeops.data.schema import DatasetMeta, pixel_columns


class SourceError(ValueError):
    """The source cannot be read; the message names the file and the fix."""


def load_source(cfg: DataConfig, seed: int) -> tuple[pd.DataFrame, DatasetMeta]:
    """Read the configured source into ``(frame, meta)``; features are float64, label int64."""
    readers: dict[str, Callable[[DataConfig], tuple[pd.DataFrame, DatasetMeta]]] = {
        "digits": read_digits,
        "mnist": read_mnist,
        "table": read_table,
        "npz": read_npz,
    }
    frame, meta = readers[cfg.source](cfg)
    if cfg.max_rows is not None and len(frame) > cfg.max_rows:
        frame = frame.sample(n=cfg.max_rows, random_state=seed).sort_index().reset_index(drop=True)
    meta = DatasetMeta(**{**meta.__dict__, "n_rows": len(frame)})
    return frame, meta


def _image_frame(
    images: np.ndarray, labels: np.ndarray, cfg: DataConfig, source: str, origin: str, scale: float
) -> tuple[pd.DataFrame, DatasetMeta]:
    """Flatten images (N, H, W) or (N, C, H, W) into pixel columns scaled to [0, 1]."""
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise SourceError(f"{origin}: expected images of shape (N, H, W) or (N, C, H, W), "
                          f"got {images.shape}")
    if len(images) != len(labels):
        raise SourceError(f"{origin}: {len(images)} images but {len(labels)} labels; "
                          "the image and label files must come from the same set")
    flat = images.reshape(len(images), -1).astype(np.float64) / scale
    features = pixel_columns(flat.shape[1])
    frame = pd.DataFrame(flat, columns=features)
    frame[cfg.label_column] = labels.astype(np.int64)
    meta = DatasetMeta(
        source=source,
        origin=origin,
        features=features,
        label_column=cfg.label_column,
        labels=cfg.labels or sorted(int(v) for v in np.unique(labels)),
        n_rows=len(frame),
        image_shape=list(images.shape[1:]),
        value_range=cfg.value_range or [0.0, 1.0],
    )
    return frame, meta


def read_digits(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """scikit-learn's embedded 8x8 digits (1,797 images, values 0..16), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = cfg.labels or list(range(10))
    cfg_known = DataConfig(**{**cfg.__dict__, "labels": labels})
    return _image_frame(
        bunch.images, bunch.target, cfg_known, "digits", "sklearn.datasets.load_digits", 16.0
    )


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise SourceError(f"{path}: not an IDX file (bad magic number); "
                          "point data.path at the MNIST *-idx?-ubyte[.gz] files")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise SourceError(f"{path}: unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise SourceError(f"{path}: truncated IDX file: header says {shape}, "
                          f"found {data.size} values")
    return data.reshape(shape)


def read_mnist(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """MNIST-format IDX files in the folder ``data.path`` (train and t10k sets, if both exist)."""
    folder = Path(cfg.path or "")
    if not folder.is_dir():
        raise SourceError(f"{folder}: data.path must be a folder holding MNIST IDX files "
                          "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], ...)")
    image_files = sorted(folder.glob("*images-idx3-ubyte*"))
    if not image_files:
        raise SourceError(f"{folder}: no '*images-idx3-ubyte[.gz]' file; put the MNIST IDX "
                          "files there (nothing is downloaded)")
    images, labels = [], []
    for image_file in image_files:
        label_file = Path(str(image_file).replace("images-idx3", "labels-idx1"))
        if not label_file.exists():
            raise SourceError(f"{image_file}: no matching label file {label_file.name}")
        images.append(read_idx(image_file))
        labels.append(read_idx(label_file))
    return _image_frame(
        np.concatenate(images), np.concatenate(labels), cfg, "mnist", str(folder), 255.0
    )


def read_npz(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """A NumPy ``.npz`` holding ``x`` (N, features) or images (N, H, W[, C]) and ``y`` (N,)."""
    path = Path(cfg.path or "")
    if not path.exists():
        raise SourceError(f"{path}: file not found; set data.path to a .npz file with arrays "
                          "'x' and 'y'")
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_key = next((k for k in ("x", "X", "images") if k in keys), None)
            y_key = next((k for k in ("y", "labels", "label") if k in keys), None)
            if x_key is None or y_key is None:
                raise SourceError(f"{path}: expected arrays 'x' and 'y', found {sorted(keys)}; "
                                  "save with np.savez(path, x=..., y=...)")
            x, y = archive[x_key], archive[y_key]
    except (OSError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{path}: cannot read as .npz ({exc})") from exc
    if x.ndim >= 3:
        scale = 255.0 if x.dtype == np.uint8 else 1.0
        return _image_frame(x, y, cfg, "npz", str(path), scale)
    if x.ndim != 2:
        raise SourceError(f"{path}: 'x' must be 2-D (rows, features) or images, got {x.shape}")
    frame = pd.DataFrame(x.astype(np.float64), columns=[f"f{i}" for i in range(x.shape[1])])
    frame[cfg.label_column] = y
    return _table_meta(frame, cfg, "npz", str(path))


def read_table(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """A CSV or Parquet table: numeric feature columns plus an integer label column."""
    path = Path(cfg.path or "")
    if not path.exists():
        raise SourceError(f"{path}: file not found; set data.path to a .csv or .parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path)
        else:
            raise SourceError(f"{path}: unknown table format '{path.suffix}'; use .csv or "
                              ".parquet")
    except (OSError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{path}: cannot read table ({exc})") from exc
    return _table_meta(frame, cfg, "table", str(path))


def _table_meta(
    frame: pd.DataFrame, cfg: DataConfig, source: str, origin: str
) -> tuple[pd.DataFrame, DatasetMeta]:
    label = cfg.label_column
    if label not in frame.columns:
        raise SourceError(f"{origin}: no label column '{label}' (columns: "
                          f"{list(frame.columns)[:10]}...); set data.label_column")
    features = cfg.features or [c for c in frame.columns if c != label]
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise SourceError(f"{origin}: missing feature column(s) {missing}; add them to the "
                          "file or remove them from data.features")
    for column in features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise SourceError(f"{origin}: column '{column}' is not numeric "
                              f"(dtype {frame[column].dtype}); encode it as numbers or leave it "
                              "out of data.features")
    labels = pd.to_numeric(frame[label], errors="coerce")
    bad = labels.isna() | (labels != labels.round())
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SourceError(f"{origin}: label column '{label}' has a non-integer value "
                          f"{frame[label].iloc[row]!r} at row {row}; labels must be integers")
    out = frame[features].astype(np.float64)
    out[label] = labels.astype(np.int64)
    image_shape = _checked_image_shape(cfg.image_shape, len(features), origin)
    meta = DatasetMeta(
        source=source,
        origin=origin,
        features=list(features),
        label_column=label,
        labels=cfg.labels or sorted(int(v) for v in labels.unique()),
        n_rows=len(out),
        image_shape=image_shape,
        value_range=cfg.value_range,
    )
    return out, meta


def _checked_image_shape(shape: list[int] | None, n_features: int, origin: str) -> list[int] | None:
    """``data.image_shape`` as [channels, height, width], checked against the feature count."""
    if shape is None:
        return None
    full = [1, *shape] if len(shape) == 2 else list(shape)
    if len(full) != 3 or int(np.prod(full)) != n_features:
        raise SourceError(f"{origin}: data.image_shape {shape} does not fit {n_features} "
                          "feature columns; give [height, width] or [channels, height, width]")
    return full
