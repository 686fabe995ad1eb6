"""Raw feature rows to model input, fit on normal training rows only.

A scikit-learn ``ColumnTransformer`` does the work: numeric columns are imputed (median, with
``data.missing: impute``) and scaled; categorical columns are imputed (most frequent) and
one-hot encoded, with rare values grouped (``data.max_categories``) and unseen values at scoring
time encoded as all zeros (or the rare group) and counted. It is saved with ``skops`` (data,
not a pickle) and loaded with an explicit list of trusted types, so loading runs no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.core.io import atomic_path
from aeops.data.schema import DatasetMeta

# The only non-default types a saved preprocessor or baseline may hold (skops refuses others).
TRUSTED_TYPES = ["numpy.dtype", "sklearn.tree._tree.Tree", "aeops.data.tails.TailGaussScaler"]
SCALERS = ("none", "minmax", "standard", "quantile", "log_counts", "series")
COUNTS_TOTAL = 1e4  # log_counts: each row's counts scaled to this total before log1p


def log_counts(values: np.ndarray) -> np.ndarray:
    """Count rows log-normalised as single-cell data usually is: each row scaled to
    :data:`COUNTS_TOTAL` in all, then ``log1p``; missing values stay missing (left to the
    imputer), a row of zeros stays zeros."""
    values = np.asarray(values, dtype=np.float64)
    total = np.nansum(values, axis=1, keepdims=True)
    return np.log1p(values / np.where(total > 0, total, 1.0) * COUNTS_TOTAL)


def check_counts(rows: pd.DataFrame, columns: list[str]) -> None:
    """``data.scaler: log_counts`` reads counts: a negative value is refused by row and column."""
    values = rows[columns].to_numpy(dtype=np.float64)
    bad = np.argwhere(values < 0)
    if len(bad):
        i, j = bad[0]
        raise ScoringInputError(
            f"row {rows.index[i]}, column '{columns[j]}': {values[i, j]:g} is not a count; "
            "data.scaler: log_counts reads non-negative counts per row (genes per cell); "
            "give raw counts, or choose another data.scaler"
        )


def with_log_counts(rows: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """``rows`` with the numeric columns log-normalised (:func:`log_counts`)."""
    check_counts(rows, numeric)
    out = rows.copy()
    out[numeric] = log_counts(rows[numeric].to_numpy(dtype=np.float64))
    return out


def resolve_scaler(kind: str, meta: DatasetMeta) -> str:
    """``auto``: images keep their [0, 1] pixels; tables are standardised."""
    if kind != "auto":
        return kind
    return "none" if meta.is_image else "standard"


def _numeric_steps(scaler: str, impute: bool) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    from aeops.data.tails import TailGaussScaler

    scalers = {"minmax": MinMaxScaler, "standard": StandardScaler, "quantile": TailGaussScaler}
    if scaler not in SCALERS:
        raise ValueError(f"unknown scaler '{scaler}'; choose from {list(SCALERS)}")
    steps = [SimpleImputer(strategy="median")] if impute else []
    if scaler in scalers:
        steps.append(scalers[scaler]())
    return make_pipeline(*steps) if steps else "passthrough"


def _categorical_steps(max_categories: int, impute: bool) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encoder = OneHotEncoder(
        handle_unknown="infrequent_if_exist",
        max_categories=max_categories,
        sparse_output=False,
        dtype=np.float32,
    )
    steps = [SimpleImputer(strategy="most_frequent")] if impute else []
    return make_pipeline(*steps, encoder)


@dataclass(frozen=True)
class StreamShape:
    """What a stream's rows become before the model sees them: ``warmup`` (each series
    standardised by its own first rows, ``data.scaler: series``; None: not) and ``window``
    (each row with the rows before it, flattened; 1: the row alone). Rows of one series
    arrive together, in time order, named in ``series_column`` (absent: one series)."""

    series_column: str
    window: int = 1
    warmup: int | None = None
    time_column: str | None = None  # carried to a live scorer's output (aeops watch)

    def apply(self, x: np.ndarray, rows: pd.DataFrame, n_numeric: int) -> np.ndarray:
        from aeops.data.windows import SeriesScale, row_windows

        series = (
            rows[self.series_column].astype(str).to_numpy()
            if self.series_column in rows
            else np.zeros(len(rows), dtype=np.int64)
        )
        if self.warmup is not None and len(x):
            try:
                x[:, :n_numeric] = SeriesScale(self.warmup).apply(x[:, :n_numeric], series)
            except ValueError as exc:
                raise ScoringInputError(str(exc)) from None
        return row_windows(x, series, self.window) if self.window > 1 else x


@dataclass
class Preprocessor:
    """The fitted transformer plus what scoring needs to know about its inputs and outputs
    (and, for a stream, how its rows become windows: :class:`StreamShape`)."""

    numeric: list[str]
    categorical: list[str]
    scaler: str
    impute: bool
    transformer: Any  # sklearn ColumnTransformer
    stream: StreamShape | None = None

    @classmethod
    def fit(
        cls,
        rows: pd.DataFrame,
        meta: DatasetMeta,
        scaler: str,
        impute: bool,
        max_categories: int,
        stream: StreamShape | None = None,
    ) -> Preprocessor:
        from sklearn.compose import ColumnTransformer

        scaler = resolve_scaler(scaler, meta)
        if scaler == "log_counts":
            rows = with_log_counts(rows, meta.numeric)
        parts = []
        if meta.numeric:
            parts.append(("numeric", _numeric_steps(scaler, impute), meta.numeric))
        if meta.categorical:
            parts.append(
                ("categorical", _categorical_steps(max_categories, impute), meta.categorical)
            )
        transformer = ColumnTransformer(
            parts, verbose_feature_names_out=False, sparse_threshold=0.0
        )
        transformer.fit(rows[meta.features])
        return cls(meta.numeric, meta.categorical, scaler, impute, transformer, stream)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def window(self) -> int:
        """Rows per model input (1: each row alone)."""
        return 1 if self.stream is None else self.stream.window

    @property
    def row_names(self) -> list[str]:
        """The model-input columns one row becomes."""
        return [str(n) for n in self.transformer.get_feature_names_out()]

    @property
    def output_names(self) -> list[str]:
        """Each model-input column; in a window, ``<column>@t-<k>``, ``k`` rows before the
        scored one (time-major, the scored row last)."""
        names = self.row_names
        if self.window == 1:
            return names
        return [f"{n}@t-{k}" for k in range(self.window - 1, -1, -1) for n in names]

    @property
    def n_outputs(self) -> int:
        return len(self.output_names)

    def _encoder(self):
        if not self.categorical:
            return None
        return self.transformer.named_transformers_["categorical"][-1]

    def output_groups(self) -> np.ndarray:
        """For each model-input column, the index (in :attr:`features`) of the raw feature it
        came from: one-hot columns point back at their categorical column."""
        groups = list(range(len(self.numeric)))
        encoder = self._encoder()
        if encoder is not None:
            for j, categories in enumerate(encoder.categories_):
                infrequent = encoder.infrequent_categories_[j]
                width = len(categories) - (len(infrequent) - 1 if infrequent is not None else 0)
                groups += [len(self.numeric) + j] * width
        return np.tile(np.asarray(groups), self.window)

    def frame(self, values: np.ndarray) -> pd.DataFrame:
        """A numeric feature matrix (columns in :attr:`features` order) as the frame the
        transformer expects (no copy for a single float block)."""
        return pd.DataFrame(values, columns=self.features, copy=False)

    def transform(self, rows: pd.DataFrame) -> np.ndarray:
        """Model input (float32, C-contiguous) for raw rows holding the feature columns."""
        if self.scaler == "log_counts":
            rows = with_log_counts(rows, self.numeric)
        out = self.transformer.transform(rows[self.features])
        if self.stream is not None:
            out = self.stream.apply(np.asarray(out, dtype=np.float64), rows, len(self.numeric))
        return np.require(out, np.float32, ["C_CONTIGUOUS", "WRITEABLE"])

    def inverse_transform(self, x: np.ndarray) -> pd.DataFrame:
        """Model-space rows back to raw features: numeric unscaled, one-hot blocks to the most
        likely category. A window gives back its scored (last) row; a series standardised
        by its own rows stays in those units (its scale is the stream's, not the model's)."""
        x = np.asarray(x)[:, -len(self.row_names) :] if self.window > 1 else x
        out = pd.DataFrame(index=pd.RangeIndex(len(x)))
        n_num = len(self.numeric)
        if self.numeric:
            block = np.asarray(x[:, :n_num], dtype=np.float64)
            steps = self.transformer.named_transformers_["numeric"]
            scaler = steps[-1] if self.scaler in ("minmax", "standard", "quantile") else None
            if scaler is not None:
                block = scaler.inverse_transform(block)
            if self.scaler == "log_counts":  # counts per COUNTS_TOTAL: a row's total is not kept
                block = np.expm1(block)
            for j, name in enumerate(self.numeric):
                out[name] = block[:, j]
        encoder = self._encoder()
        if encoder is not None:
            decoded = encoder.inverse_transform(np.asarray(x[:, n_num:], dtype=np.float64))
            for j, name in enumerate(self.categorical):
                out[name] = decoded[:, j]
        return out[self.features]

    def unknown_categories(self, rows: pd.DataFrame) -> np.ndarray:
        """Per row, how many categorical values were never seen in training."""
        counts = np.zeros(len(rows), dtype=np.int64)
        encoder = self._encoder()
        if encoder is None:
            return counts
        for name, categories in zip(self.categorical, encoder.categories_, strict=True):
            values = rows[name]
            counts += (~values.isin(list(categories)) & values.notna()).to_numpy()
        return counts

    def check_categories(self, rows: pd.DataFrame, index: pd.Index) -> None:
        """Refuse missing categorical values unless the model imputes them."""
        if self.impute:
            return
        for name in self.categorical:
            missing = rows[name].isna().to_numpy()
            if missing.any():
                row = index[int(np.flatnonzero(missing)[0])]
                raise ScoringInputError(
                    f"row {row}, column '{name}': missing value; this model "
                    "was trained with data.missing: fail, so every "
                    "categorical value must be present"
                )

    def save(self, path: str | Path) -> None:
        state = {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "scaler": self.scaler,
            "impute": self.impute,
            "transformer": self.transformer,
        }
        if self.stream is not None:  # a table's file stays as it was written before streams
            state["stream"] = vars(self.stream)
        dump_trusted(state, path)

    @classmethod
    def load(cls, path: str | Path) -> Preprocessor:
        state = load_trusted(path)
        stream = state.pop("stream", None)
        return cls(**state, stream=None if stream is None else StreamShape(**stream))


def trusted_bytes(state: Any) -> bytes:
    """``state`` as skops bytes, byte for byte the same for the same state, so DVC hashes
    (and ``dvc.lock``) do not change from run to run: skops names objects by their memory
    address and stamps the archive with the time; both are replaced by stable values (the
    addresses by their order of appearance)."""
    import io
    import re
    import zipfile

    import skops.io as sio

    source = zipfile.ZipFile(io.BytesIO(sio.dumps(state)))
    schema = source.read("schema.json").decode()
    stable: dict[str, str] = {}
    for match in re.finditer(r'"__id__": (\d+)|"file": "(\d+)\.npy"', schema):
        address = match.group(1) or match.group(2)
        stable.setdefault(address, str(len(stable) + 1))

    def renumber(match: re.Match) -> str:
        if match.group(1):
            return f'"__id__": {stable[match.group(1)]}'
        return f'"file": "{stable[match.group(2)]}.npy"'

    schema = re.sub(r'"__id__": (\d+)|"file": "(\d+)\.npy"', renumber, schema)

    def stable_name(name: str) -> str:
        if name.endswith(".npy") and name[:-4] in stable:
            return f"{stable[name[:-4]]}.npy"
        return name

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in sorted(source.infolist(), key=lambda i: stable_name(i.filename)):
            name = stable_name(item.filename)
            data = schema.encode() if name == "schema.json" else source.read(item.filename)
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = item.compress_type
            entry.external_attr = item.external_attr
            target.writestr(entry, data)
    return buffer.getvalue()


def dump_trusted(state: Any, path: str | Path) -> None:
    """Write ``state`` with skops to ``path``, the same bytes for the same state
    (:func:`trusted_bytes`)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(trusted_bytes(state))


def load_trusted(path: str | Path) -> Any:
    """A skops file, loading only default-trusted types plus :data:`TRUSTED_TYPES`."""
    return load_trusted_bytes(Path(path).read_bytes(), str(path))


def load_trusted_bytes(data: bytes, where: str = "the model") -> Any:
    """What :func:`trusted_bytes` wrote, loading only default-trusted types plus
    :data:`TRUSTED_TYPES`; ``where`` names it in the refusal."""
    import skops.io as sio

    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
    if untrusted:
        from aeops.core.errors import AeopsError

        raise AeopsError(
            f"{where}: holds types aeops does not trust {untrusted}; it was not "
            "written by aeops (or was tampered with), so it is not loaded"
        )
    return sio.loads(data, trusted=TRUSTED_TYPES)
