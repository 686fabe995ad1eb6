"""Readers that turn every supported source into one frame: feature columns plus the label.

Sources: scikit-learn's embedded ``digits`` (the offline default), MNIST IDX files, CSV/Parquet
tables, NumPy ``.npz`` files and folders of images, all read from local paths; nothing is
downloaded. Numeric features come out as float64, categorical (text) features as strings, and
labels, when the data has them, as strings exactly as the file writes them (``0``, ``"ok"``).
"""

from __future__ import annotations

import gzip
import logging
import re
import struct
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aeops.core.errors import SourceError
from aeops.core.sections import DataConfig
from aeops.data.schema import RESERVED_COLUMNS, DatasetMeta, pixel_columns
from aeops.data.streams import (
    SERIES_COLUMN,
    grouped,
    is_dates,
    parse_time,
    read_series_file,
    series_files,
)

if TYPE_CHECKING:
    from aeops.data.images import ImageScan

log = logging.getLogger(__name__)

__all__ = ["SourceError", "load_source"]

# a text column with more distinct values than this share of rows (and than 50) is an id
ID_LIKE_SHARE = 0.5
ID_LIKE_MIN = 50
# a name that says identifier: id, uuid, key, index, or ending in _id / Id (unit_id, userId)
ID_NAME = re.compile(r"(?i:^(id|uuid|guid|key|index|idx)$|[_\- ](id|uuid|key)$)|[a-z]Id$")


def load_source(cfg: DataConfig, seed: int) -> tuple[pd.DataFrame, DatasetMeta]:
    """Read the configured source into ``(frame, meta)``."""
    readers: dict[str, Callable[[DataConfig], tuple[pd.DataFrame, DatasetMeta]]] = {
        "digits": read_digits,
        "mnist": read_mnist,
        "table": read_table,
        "npz": read_npz,
        "image_folder": read_image_folder,
        "timeseries": read_timeseries,
    }
    frame, meta = readers[cfg.source](cfg)
    if cfg.max_rows is not None and len(frame) > cfg.max_rows:
        frame = frame.sample(n=cfg.max_rows, random_state=seed).sort_index().reset_index(drop=True)
    labels = meta.labels
    if meta.label_column is not None and cfg.labels is None:
        labels = sorted_labels(frame[meta.label_column].dropna().unique())
    return frame, replace(meta, n_rows=len(frame), labels=labels)


def label_strings(values: pd.Series | np.ndarray) -> pd.Series:
    """Labels as strings as the user wrote them: ``3`` (not ``3.0``), ``"ok"``; missing kept."""
    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        return series.astype(str).astype(object)
    if pd.api.types.is_numeric_dtype(series):
        present = series.dropna()
        if len(present) and (present == present.round()).all():
            out = series.astype(object)
            out[series.notna()] = present.astype(np.int64).astype(str)
            return out.where(series.notna(), None)
    return (
        series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))
    )


def sorted_labels(values) -> list[str]:
    """Label strings in natural order: numerically when they are all integers."""
    strings = sorted({str(v) for v in values})
    try:
        return sorted(strings, key=int)
    except ValueError:
        return strings


def _known_labels(cfg: DataConfig, seen) -> list[str]:
    return [str(v) for v in cfg.labels] if cfg.labels is not None else sorted_labels(seen)


def _image_frame(
    images: np.ndarray,
    labels: np.ndarray | None,
    cfg: DataConfig,
    source: str,
    origin: str,
    scale: float,
) -> tuple[pd.DataFrame, DatasetMeta]:
    """Flatten images (N, H, W) or (N, C, H, W) into pixel columns scaled to [0, 1]."""
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise SourceError(
            f"{origin}: expected images of shape (N, H, W) or (N, C, H, W), got {images.shape}"
        )
    if labels is not None and len(images) != len(labels):
        raise SourceError(
            f"{origin}: {len(images)} images but {len(labels)} labels; "
            "the image and label files must come from the same set"
        )
    flat = images.reshape(len(images), -1).astype(np.float64) / scale
    features = pixel_columns(flat.shape[1])
    frame = pd.DataFrame(flat, columns=features)
    label_column = cfg.label_column if labels is not None else None
    if label_column is not None:
        frame[label_column] = label_strings(labels).to_numpy()
    meta = DatasetMeta(
        source=source,
        origin=origin,
        features=features,
        label_column=label_column,
        labels=_known_labels(cfg, frame[label_column]) if label_column else [],
        n_rows=len(frame),
        image_shape=list(images.shape[1:]),
        value_range=cfg.value_range or [0.0, 1.0],
    )
    return frame, meta


def read_digits(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """scikit-learn's embedded 8x8 digits (1,797 images, values 0..16), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    labels = bunch.target if cfg.label_column is not None else None
    return _image_frame(bunch.images, labels, cfg, "digits", "sklearn.datasets.load_digits", 16.0)


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (MNIST's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise SourceError(
            f"{path}: not an IDX file (bad magic number); "
            "point data.path at the MNIST *-idx?-ubyte[.gz] files"
        )
    dtypes = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if raw[2] not in dtypes:
        raise SourceError(f"{path}: unknown IDX data type 0x{raw[2]:02x}")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=dtypes[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise SourceError(
            f"{path}: truncated IDX file: header says {shape}, found {data.size} values"
        )
    return data.reshape(shape)


def read_mnist(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """MNIST-format IDX files in the folder ``data.path`` (train and t10k sets, if both exist)."""
    folder = Path(cfg.path or "")
    if not folder.is_dir():
        raise SourceError(
            f"{folder}: data.path must be a folder holding MNIST IDX files "
            "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], ...)"
        )
    image_files = sorted(folder.glob("*images-idx3-ubyte*"))
    if not image_files:
        raise SourceError(
            f"{folder}: no '*images-idx3-ubyte[.gz]' file; put the MNIST IDX "
            "files there (nothing is downloaded)"
        )
    images, labels = [], []
    for image_file in image_files:
        images.append(read_idx(image_file))
        if cfg.label_column is None:
            continue
        label_file = Path(str(image_file).replace("images-idx3", "labels-idx1"))
        if not label_file.exists():
            raise SourceError(
                f"{image_file}: no matching label file {label_file.name}; add it "
                "or set data.label_column: null for unlabeled images"
            )
        labels.append(read_idx(label_file))
    return _image_frame(
        np.concatenate(images),
        np.concatenate(labels) if labels else None,
        cfg,
        "mnist",
        str(folder),
        255.0,
    )


def read_npz(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """A NumPy ``.npz`` holding ``x`` (N, features) or images (N, H, W[, C]) and, when the data
    is labeled, ``y`` (N,)."""
    path = Path(cfg.path or "")
    if not path.is_file():
        raise SourceError(
            f"{path}: file not found; set data.path to a .npz file with arrays 'x' and 'y'"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            x_key = next((k for k in ("x", "X", "images") if k in keys), None)
            y_key = next((k for k in ("y", "labels", "label") if k in keys), None)
            if x_key is None:
                raise SourceError(
                    f"{path}: expected an array 'x', found {sorted(keys)}; "
                    "save with np.savez(path, x=..., y=...)"
                )
            if y_key is None and cfg.label_column is not None:
                raise SourceError(
                    f"{path}: no label array 'y' (found {sorted(keys)}); save "
                    "labels as y=..., or set data.label_column: null for "
                    "unlabeled data"
                )
            x = archive[x_key]
            y = archive[y_key] if (y_key is not None and cfg.label_column is not None) else None
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
    if y is not None:
        if len(y) != len(frame):
            raise SourceError(f"{path}: {len(frame)} rows in 'x' but {len(y)} labels in 'y'")
        frame[cfg.label_column] = y
    return _table_meta(frame, cfg, "npz", str(path))


def read_table(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """A CSV or Parquet table: numeric and text feature columns, plus an optional label."""
    path = Path(cfg.path or "")
    if not path.is_file():
        raise SourceError(f"{path}: file not found; set data.path to a .csv or .parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path)
        else:
            raise SourceError(f"{path}: unknown table format '{path.suffix}'; use .csv or .parquet")
    except (OSError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{path}: cannot read table ({exc})") from exc
    if frame.empty:
        raise SourceError(f"{path}: the table has no rows")
    return _table_meta(frame, cfg, "table", str(path))


def read_timeseries(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """Sensor streams: one CSV/Parquet file or a folder of them, one series a file (named by
    the file) or per ``data.series_column``; rows kept in the order read, the time column
    parsed, carried beside the features (never one of them)."""
    root = Path(cfg.path or "")
    time, named = cfg.time_column or "", cfg.series_column
    series = named or SERIES_COLUMN
    parts, kinds = [], {}
    files = series_files(root)
    stems = [p.stem for p in files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if named is None and twice:
        raise SourceError(
            f"{root}: files {twice} name the same series (one series a file, named by the "
            "file); keep one file per name, or set data.series_column"
        )
    for path in files:
        frame = read_series_file(path)
        _require_columns(frame, [time], str(path), "data.time_column")
        _require_columns(frame, [named] if named else [], str(path), "data.series_column")
        if named is None:
            if SERIES_COLUMN in frame.columns:
                raise SourceError(
                    f"{path}: a column is named '{SERIES_COLUMN}', the name aeops gives each "
                    "file's series; set data.series_column: series if it names the series, "
                    "or rename it"
                )
            frame[SERIES_COLUMN] = path.stem if root.is_dir() else root.stem
        frame[time] = parse_time(frame[time], time, str(path))
        kinds[path.name] = "dates" if is_dates(frame[time]) else "seconds"
        parts.append(frame)
    if len(set(kinds.values())) > 1:
        raise SourceError(
            f"{root}: '{time}' holds dates in some files and seconds in others ({kinds}); "
            "write every file's times the same way"
        )
    frame = grouped(pd.concat(parts, ignore_index=True), series)
    frame[series] = frame[series].astype(str)
    stream_cfg = cfg.model_copy(update={"exclude": [*cfg.exclude, time, series]})
    out, meta = _table_meta(frame, stream_cfg, "timeseries", str(root))
    out.insert(0, time, frame[time])
    out.insert(0, series, frame[series])
    return out, replace(meta, time_column=time, series_column=series, extra_columns=[series, time])


def _table_meta(
    frame: pd.DataFrame, cfg: DataConfig, source: str, origin: str
) -> tuple[pd.DataFrame, DatasetMeta]:
    """A read table's feature and label columns, checked and typed, and its meta."""
    frame.columns = [str(c) for c in frame.columns]
    label = cfg.label_column
    features = _checked_features(frame, cfg, origin)
    out, categorical = _typed_columns(frame, features, cfg, origin)
    image_shape = _checked_image_shape(cfg.image_shape, features, categorical, origin)
    meta = DatasetMeta(
        source=source,
        origin=origin,
        features=list(features),
        label_column=label,
        labels=_known_labels(cfg, out[label].dropna().unique()) if label else [],
        n_rows=len(out),
        categorical=categorical,
        image_shape=image_shape,
        value_range=cfg.value_range,
    )
    return out.reset_index(drop=True), meta


def _checked_features(frame: pd.DataFrame, cfg: DataConfig, origin: str) -> list[str]:
    """The feature columns (``data.features``, or all but the label and ``data.exclude``),
    refused with the fix where the settings name columns the file lacks or clash."""
    label = cfg.label_column
    if label is not None and label not in frame.columns:
        raise SourceError(
            f"{origin}: no label column '{label}' (columns: "
            f"{_some(frame.columns)}); set data.label_column to the column that "
            "holds the labels, or to null for unlabeled data"
        )
    _require_columns(frame, cfg.exclude, origin, "data.exclude")
    dropped = {*cfg.exclude, *([label] if label else [])}
    features = cfg.features or [c for c in frame.columns if c not in dropped]
    _require_columns(frame, features, origin, "data.features")
    _require_columns(frame, cfg.categorical, origin, "data.categorical")
    not_features = [c for c in cfg.categorical if c not in features]
    if not_features:
        raise SourceError(
            f"{origin}: data.categorical lists {not_features}, which are not "
            "features (excluded or the label); remove them from data.categorical"
        )
    if not features:
        raise SourceError(
            f"{origin}: no feature columns left after the label and "
            "data.exclude; check data.features and data.exclude"
        )
    reserved = [c for c in [*features, *([label] if label else [])] if c in RESERVED_COLUMNS]
    if reserved:
        raise SourceError(
            f"{origin}: column(s) {reserved} have names aeops uses for its own "
            f"columns {list(RESERVED_COLUMNS)}; rename them or add them to "
            "data.exclude"
        )
    return features


def _typed_columns(
    frame: pd.DataFrame, features: list[str], cfg: DataConfig, origin: str
) -> tuple[pd.DataFrame, list[str]]:
    """The features as float64 (numeric) or strings (categorical), then the label as strings;
    and the categorical features' names."""
    columns: dict[str, Any] = {}  # built whole, then one frame (no column-by-column inserts)
    categorical = []
    for column in features:
        kind = _feature_kind(frame[column], column, cfg, origin)
        warn_if_id_like(frame[column], column, kind, cfg, origin)
        if kind == "numeric":
            columns[column] = pd.to_numeric(frame[column]).astype(np.float64)
        else:
            categorical.append(column)
            columns[column] = (
                label_strings(frame[column]).astype("str").where(frame[column].notna(), None)
            )
    label = cfg.label_column
    if label is not None:
        columns[label] = pd.Series(label_strings(frame[label]).to_numpy(), index=frame.index)
    return pd.DataFrame(columns, index=frame.index), categorical


def warn_if_id_like(column: pd.Series, name: str, kind: str, cfg: DataConfig, origin: str) -> None:
    """A feature named like an identifier (``unit_id``) is used as the data says, but the
    user hears of it: an id is rarely a measurement, and a model learns its values."""
    if cfg.features is not None and name in cfg.features or not ID_NAME.search(str(name)):
        return
    log.warning(
        f"{origin}: column '{name}' looks like an identifier ({column.nunique(dropna=True)} "
        f"distinct values) and is used as a {kind} feature; add it to data.exclude if it "
        "is not a measurement (or list it in data.features to keep it and silence this)"
    )


def _feature_kind(column: pd.Series, name: str, cfg: DataConfig, origin: str) -> str:
    """``numeric`` or ``categorical``; timestamps and id-like text are refused with the fix."""
    if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(column):
        raise SourceError(
            f"{origin}: column '{name}' holds timestamps (dtype {column.dtype}); "
            "add it to data.exclude, or turn it into numbers (e.g. hour of day) "
            "first"
        )
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if numeric and name not in cfg.categorical:
        return "numeric"
    distinct = column.nunique(dropna=True)
    explicit = name in cfg.categorical or (cfg.features is not None and name in cfg.features)
    if not explicit and distinct > ID_LIKE_MIN and distinct > ID_LIKE_SHARE * len(column):
        raise SourceError(
            f"{origin}: text column '{name}' has {distinct} distinct values in "
            f"{len(column)} rows, so it looks like an identifier; add it to "
            "data.exclude (or list it in data.features to use it anyway)"
        )
    return "categorical"


def _require_columns(frame: pd.DataFrame, columns: list[str], origin: str, key: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{origin}: {key} names column(s) {missing} that the file does not "
            f"have (columns: {_some(frame.columns)}); fix {key}"
        )


def _some(columns, n: int = 12) -> str:
    names = [str(c) for c in columns]
    return str(names[:n])[:-1] + (f", ... {len(names) - n} more]" if len(names) > n else "]")


def _checked_image_shape(
    shape: list[int] | None, features: list[str], categorical: list[str], origin: str
) -> list[int] | None:
    """``data.image_shape`` as [channels, height, width], checked against the feature count."""
    if shape is None:
        return None
    if categorical:
        raise SourceError(
            f"{origin}: data.image_shape is set but column(s) {categorical[:5]} "
            "are text; pixel tables must be all numeric"
        )
    full = [1, *shape] if len(shape) == 2 else list(shape)
    if len(full) != 3 or int(np.prod(full)) != len(features):
        raise SourceError(
            f"{origin}: data.image_shape {shape} does not fit {len(features)} "
            "feature columns; give [height, width] or [channels, height, width]"
        )
    return full


def read_image_folder(cfg: DataConfig) -> tuple[pd.DataFrame, DatasetMeta]:
    """Images under ``data.path``: class subfolders (the folder name is the label) or, with
    ``data.label_column: null``, any layout. Resized to ``data.image_size``, grayscale or RGB."""
    from aeops.data import images

    root = Path(cfg.path or "")
    if not root.is_dir():
        raise SourceError(
            f"{root}: data.path must be a folder of images ({', '.join(images.IMAGE_SUFFIXES)})"
        )
    files = images.image_files(root)
    if not files:
        raise SourceError(f"{root}: no image files ({', '.join(images.IMAGE_SUFFIXES)}) found")
    labels = _folder_labels(cfg, root, files)
    scanned = images.scan(files, labels)
    good = _readable(cfg, root, scanned, files)
    good_files = [files[i] for i in good]
    size = _image_size(cfg, scanned, good_files, root)
    channels = cfg.channels or (3 if any(scanned.colour[f] for f in good_files) else 1)
    pixels = images.load_pixels(good_files, size, channels)
    frame = pd.DataFrame(pixels, columns=pixel_columns(pixels.shape[1]))
    if labels is not None:
        frame[cfg.label_column] = [labels[i] for i in good]
    frame["path"] = [str(f.relative_to(root)) for f in good_files]
    meta = DatasetMeta(
        source="image_folder",
        origin=str(root),
        features=pixel_columns(pixels.shape[1]),
        label_column=cfg.label_column,
        labels=_known_labels(cfg, [labels[i] for i in good]) if labels is not None else [],
        n_rows=len(frame),
        image_shape=[channels, *size],
        value_range=[0.0, 1.0],
        extra_columns=["path"],
        skipped=[str(p) for p in scanned.bad],
    )
    return frame, meta


def _folder_labels(cfg: DataConfig, root: Path, files: list[Path]) -> list[str] | None:
    """Each file's class subfolder (its label), or None where the data is unlabeled; refused
    where the images do not all lie in class subfolders."""
    if cfg.label_column is None:
        return None
    loose = [f for f in files if len(f.relative_to(root).parts) == 1]
    if len(loose) == len(files):
        raise SourceError(
            f"{root}: the images are not in class subfolders (good/, "
            "defect/, ...); put them there, or set data.label_column: null "
            "for unlabeled images"
        )
    if loose:
        raise SourceError(
            f"{root}: {len(loose)} image(s) lie outside the class subfolders "
            f"(e.g. {loose[0].name}); move them into a class folder"
        )
    return [f.relative_to(root).parts[0] for f in files]


def _readable(cfg: DataConfig, root: Path, scanned: ImageScan, files: list[Path]) -> list[int]:
    """The indices of the files that can be read; the others refused (``data.on_bad_image:
    fail``) or left out with a word in the log (``skip``)."""
    if scanned.bad:
        shown = [f"{p} ({why})" for p, why in list(scanned.bad.items())[:10]]
        if cfg.on_bad_image == "fail":
            raise SourceError(
                f"{root}: {len(scanned.bad)} image(s) cannot be read:\n  "
                + "\n  ".join(shown)
                + "\nRemove or replace them, or set "
                "data.on_bad_image: skip to leave them out"
            )
        log.info(
            f"ingest: skipped {len(scanned.bad)} unreadable image(s) "
            f"(data.on_bad_image: skip): " + "; ".join(shown[:3])
        )
    good = [i for i, f in enumerate(files) if f not in scanned.bad]
    if not good:
        raise SourceError(f"{root}: none of the {len(files)} image files can be read")
    return good


def _image_size(
    cfg: DataConfig, scanned: ImageScan, files: list[Path], root: Path
) -> tuple[int, int]:
    if cfg.image_size is not None:
        return int(cfg.image_size[0]), int(cfg.image_size[1])
    sizes = {scanned.sizes[f] for f in files}
    if len(sizes) == 1:
        return sizes.pop()
    examples: dict[tuple[int, int], Path] = {}
    for f in files:
        examples.setdefault(scanned.sizes[f], f)
    shown = ", ".join(f"{h}x{w} ({p.name})" for (h, w), p in list(examples.items())[:3])
    raise SourceError(
        f"{root}: the images have {len(sizes)} different sizes (e.g. {shown}); "
        "set data.image_size: [height, width] to resize them all"
    )
