"""Scoring rows with a trained detector; the MLflow pyfunc wrapper is in :mod:`aeops.pyfunc`.

A :class:`Detector` is everything needed to score raw feature rows in ingest's form: the
preprocessing fit on the training fold, a scorer (an autoencoder, the ensemble of them, or a
PCA / Isolation Forest / k-NN / ECOD baseline), the input schema and the decision threshold
(with the method that chose it). It also encodes rows to their latent code, decodes codes
back to rows and reconstructs them, for an autoencoder (the ensemble: its lead member) and PCA.
The pyfunc carries all of it as artifacts, so loading ``models:/<name>@champion`` needs
nothing but the registry.

Every input is checked against the schema first: a missing feature column, an extra column
that belongs to the same feature family (``pixel_64`` for a 64-pixel model), a value that is
not a number, or a non-finite value is refused with a message naming it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from aeops.codes import code_columns, dequantize, first_non_finite, is_code_column
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import CATEGORICAL, describe_schema, feature_families
from aeops.errors import ScoringInputError
from aeops.io import read_json, write_json

__all__ = ["ScoringInputError", "Detector", "DetectorInfo", "AutoencoderScorer", "OUTPUTS"]

SCORE_COLUMN = "anomaly_score"
FLAG_COLUMN = "is_anomaly"
UNKNOWN_COLUMN = "unknown_categories"
OUTPUTS = ("score", "latent", "reconstruction")
SCORE_BATCH_ROWS = 8192  # rows per forward pass when scoring files (memory stays bounded)
FLOAT32_MAX = float(np.finfo(np.float32).max)  # the model computes in float32: |x| beyond is inf


class Scorer(Protocol):
    """What a detector's model does on model-input rows (float32, preprocessed)."""

    def run(self, x: np.ndarray, want: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Arrays named in ``want``: ``score`` (rows), ``per_feature`` (rows x inputs),
        ``z`` (the latent code), ``recon`` (the reconstruction, model space)."""
        ...

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The reconstruction (model space) of latent codes ``z`` (rows x code dims): what
        ``run`` gives as ``recon`` for the rows whose code ``z`` is (float32 for an
        autoencoder; a baseline gives the dtype its ``run`` does)."""
        ...


class AutoencoderScorer:
    """A trained autoencoder, run in batches in eval mode on the CPU: one forward pass gives
    every output that is asked for."""

    def __init__(self, net, batch_size: int) -> None:
        self.net = net.eval()
        self.batch_size = batch_size

    def run(self, x: np.ndarray, want: tuple[str, ...] = ("score",)) -> dict[str, np.ndarray]:
        import torch

        parts: dict[str, list[np.ndarray]] = {k: [] for k in want}
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                out = self.net.inspect(torch.from_numpy(x[start : start + self.batch_size]))
                for key in want:
                    parts[key].append(out[key].float().numpy())
        width = {"score": None, "per_feature": x.shape[1], "recon": x.shape[1], "z": 0}
        return {
            k: np.concatenate(v)
            if v
            else np.zeros((0,) if width[k] is None else (0, width[k]), np.float32)
            for k, v in parts.items()
        }

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The decoder alone, in batches: the VAE's decode of a code is its mean
        reconstruction."""
        import torch

        codes = np.ascontiguousarray(z, dtype=np.float32)
        parts = []
        with torch.inference_mode():
            for start in range(0, len(codes), self.batch_size):
                batch = torch.from_numpy(codes[start : start + self.batch_size])
                parts.append(self.net.decode(batch).float().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, self.net.input_dim), np.float32)


@dataclass(frozen=True)
class DetectorInfo:
    kind: str  # "autoencoder", "ensemble" or "baseline"
    family: str  # dense, conv, denoising, sparse, vae, ensemble, pca, iforest, knn, ecod
    schema: dict[str, Any]  # the input schema (aeops.data.schema.input_schema)
    threshold: float
    threshold_method: str
    threshold_detail: str
    artifacts: dict[str, str]  # SHA-256 of the model and preprocessor files, checked on load

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]

    @property
    def categorical(self) -> list[str]:
        return [f["name"] for f in self.schema["features"] if f["dtype"] == CATEGORICAL]

    @property
    def image_shape(self) -> list[int] | None:
        return self.schema.get("image_shape")

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> DetectorInfo:
        """Read ``detector.json``; a damaged or edited file is refused, not half-read."""
        try:
            data = read_json(path)
        except ValueError as exc:  # not JSON, or not UTF-8: damaged or tampered with
            raise ScoringInputError(
                f"{path}: the detector file is damaged or was tampered with ({str(exc)[:80]}); "
                "it is not loaded. Register the model again, or load a version you trust"
            ) from None
        if not isinstance(data, dict):
            raise ScoringInputError(
                f"{path}: the detector file is damaged or was tampered with (not a JSON "
                "object); it is not loaded"
            )
        known = [f.name for f in fields(cls)]
        missing = [name for name in known if name not in data]
        if missing:
            raise ScoringInputError(
                f"{path}: a detector from an older aeops (no {missing} "
                "recorded); retrain and register it again, or promote a "
                "newer version (`make promote VERSION=<n>`)"
            )
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ScoringInputError(
                f"{path}: a detector from a newer aeops (fields {unknown} "
                "unknown here); upgrade aeops to score with it"
            )
        return cls(**data)


def verify_artifacts(info: DetectorInfo, files: dict[str, str | Path]) -> None:
    from aeops.errors import AeopsError
    from aeops.tracking import file_sha256

    for name, path in files.items():
        expected = info.artifacts.get(name)
        actual = file_sha256(path)
        if expected != actual:
            raise AeopsError(
                f"{Path(path).name}: the {name} file differs from the one this "
                f"model was saved with (SHA-256 {actual[:12]}..., expected "
                f"{str(expected)[:12]}...); it was tampered with or damaged, so "
                "it is not loaded"
            )


def load_scorer(info: DetectorInfo, model_path: str | Path) -> Scorer:
    if info.kind == "baseline":
        from aeops.evaluation.baselines import load_baseline

        return load_baseline(model_path)
    if info.kind == "ensemble":
        from aeops.models.ensemble import load_ensemble

        return load_ensemble(model_path, SCORE_BATCH_ROWS)
    from aeops.models.store import load_model

    net, _ = load_model(model_path)
    return AutoencoderScorer(net, SCORE_BATCH_ROWS)


class Detector:
    """Preprocessing + scorer + threshold: raw rows in; scores and flags, latent codes or
    reconstructions out."""

    def __init__(self, scorer: Scorer, preprocessor: Preprocessor, info: DetectorInfo) -> None:
        self.scorer = scorer
        self.preprocessor = preprocessor
        self.info = info
        self._families = feature_families(info.features)
        groups = preprocessor.output_groups()
        self._groups = np.asarray(groups)  # model-input column -> feature index
        self._grouping = np.zeros((len(groups), len(info.features)), dtype=np.float32)
        self._grouping[np.arange(len(groups)), groups] = 1.0
        self._code_dims: int | None = None  # found on first use: see code_dims

    @classmethod
    def from_files(
        cls, model: str | Path, preprocessor: str | Path, detector: str | Path
    ) -> Detector:
        """Load a detector's files, each checked against the SHA-256 recorded when it was
        saved before anything reads it."""
        info = DetectorInfo.load(detector)
        verify_artifacts(info, {"model": model, "preprocessor": preprocessor})
        return cls(load_scorer(info, model), Preprocessor.load(preprocessor), info)

    @property
    def numeric_only(self) -> bool:
        return not self.info.categorical

    # -- input checks -------------------------------------------------------------------
    def check_columns(self, columns: list[Any], where: str = "input") -> None:
        """Refuse duplicated column names, missing feature columns and extra ones of the same
        feature family."""
        twice = [c for c, n in Counter(columns).items() if n > 1]
        if twice:
            raise ScoringInputError(
                f"{where}: column(s) {_few(sorted(set(map(str, twice))))} appear more than once; "
                "each column must have one name (rename or drop the copies)"
            )
        expected = self.info.features
        present = set(columns)
        missing = [c for c in expected if c not in present]
        known = set(expected)
        foreign = [
            c
            for c in columns
            if isinstance(c, str) and c not in known and any(p.fullmatch(c) for p in self._families)
        ]
        if missing or foreign:
            parts = []
            if missing:
                parts.append(f"missing feature column(s) {_few(missing)}")
            if foreign:
                parts.append(
                    f"extra column(s) {_few(foreign)} that look like features of another schema"
                )
            raise ScoringInputError(
                f"{where}: {' and '.join(parts)}; this model expects "
                f"{describe_schema(self.info.schema)}. Score it with files of that schema, "
                "or use the model registered for this data's schema (`aeops show`)"
            )

    def features_of(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The raw feature columns of ``frame`` in training order and types."""
        expected = self.info.features
        if len(frame.columns) == len(expected) and all(isinstance(c, int) for c in frame.columns):
            frame = frame.set_axis(expected, axis=1)  # unnamed columns in training order
        self.check_columns(list(frame.columns))
        out = {}
        categorical = set(self.info.categorical)
        for name in expected:
            column = frame[name]
            if name in categorical:
                out[name] = (
                    column.astype(object)
                    .where(column.notna(), None)
                    .map(lambda v: v if v is None else _as_text(v))
                )
            else:
                out[name] = _as_numbers(column, name, frame.index)
        return pd.DataFrame(out, index=frame.index)

    def check_values(self, values: np.ndarray, index: pd.Index, names: list[str]) -> None:
        """Numeric values must be finite (NaN allowed only when the model imputes) and within
        float32's range, which the model computes in."""
        bad = ~np.isfinite(values)
        if self.preprocessor.impute:
            bad &= ~np.isnan(values)
        if not bad.any():
            check_range(values, index, names)
            return
        row, col = np.argwhere(bad)[0]
        hint = (
            ""
            if self.preprocessor.impute
            else " (this model was trained with data.missing: fail, so values must be present)"
        )
        raise ScoringInputError(
            f"row {index[row]}, column '{names[col]}': value "
            f"{values[row, col]} is not a finite number{hint}"
        )

    def model_input(self, raw: pd.DataFrame) -> np.ndarray:
        numeric = self.preprocessor.numeric
        if numeric:
            self.check_values(raw[numeric].to_numpy(np.float64), raw.index, numeric)
        self.preprocessor.check_categories(raw, raw.index)
        with np.errstate(over="ignore"):  # an overflow is refused by name just below
            x = self.preprocessor.transform(raw)
        self.check_scaled(x, raw)
        return x

    def check_scaled(self, x: np.ndarray, raw: pd.DataFrame) -> None:
        """A value inside float32's range can still leave it once scaled (a column whose
        training values hardly varied); refuse it by row and column, never score it as inf."""
        bad = ~np.isfinite(x)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            name = self.info.features[int(self._groups[col])]
            raise ScoringInputError(
                f"row {raw.index[row]}, column '{name}': value {raw[name].iloc[row]!r} is out "
                "of range: scaled as the training data was, it exceeds float32 "
                f"(|x| <= {FLOAT32_MAX:.3g}), which the model computes in"
            )

    # -- outputs ------------------------------------------------------------------------
    def predict(
        self,
        frame: pd.DataFrame,
        threshold: float | None = None,
        explain: bool = False,
        output: str = "score",
    ) -> pd.DataFrame:
        """``anomaly_score`` and ``is_anomaly`` per row (with ``explain``, per-feature errors),
        or the latent code (``output="latent"``) or reconstruction (``"reconstruction"``)."""
        if output not in OUTPUTS:
            raise ScoringInputError(f"output '{output}' is not one of {list(OUTPUTS)}")
        raw = self.features_of(frame)
        if output == "latent":
            return self.encode_raw(raw)
        if output == "reconstruction":
            return self.reconstruct_raw(raw)
        scored = self._score(self.model_input(raw), raw.index, threshold, explain)
        if self.info.categorical:
            scored[UNKNOWN_COLUMN] = self.preprocessor.unknown_categories(raw)
        return scored

    def predict_values(
        self,
        values: np.ndarray,
        index: pd.Index,
        threshold: float | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        """Score a numeric feature matrix (columns in training order): the fast path for
        numeric-only models reading Parquet column by column."""
        self.check_values(values, index, self.info.features)
        x = self.preprocessor.transform(self.preprocessor.frame(values))
        return self._score(x, index, threshold, explain)

    def _score(
        self, x: np.ndarray, index: pd.Index, threshold: float | None, explain: bool
    ) -> pd.DataFrame:
        threshold = self.info.threshold if threshold is None else _finite(threshold)
        result = self.scorer.run(x, ("score", "per_feature") if explain else ("score",))
        scores = result["score"].astype(np.float64)
        self.check_scores(scores, x, index)
        out = pd.DataFrame({SCORE_COLUMN: scores, FLAG_COLUMN: scores > threshold}, index=index)
        if explain:
            errors = result["per_feature"] @ self._grouping
            columns = [f"error_{c}" for c in self.info.features]
            out = pd.concat([out, pd.DataFrame(errors, columns=columns, index=index)], axis=1)
        return out

    def check_scores(self, scores: np.ndarray, x: np.ndarray, index: pd.Index) -> None:
        """A score that overflowed (or is NaN) is refused, never written or flagged False."""
        bad = ~np.isfinite(scores)
        if not bad.any():
            return
        row = int(np.flatnonzero(bad)[0])
        name = self.info.features[int(self._groups[int(np.argmax(np.abs(x[row])))])]
        raise ScoringInputError(
            f"row {index[row]}: its anomaly score overflowed float32 (column '{name}' lies "
            "furthest from the training data); a row this far out cannot be scored: check "
            "the value or its units"
        )

    def encode_raw(self, raw: pd.DataFrame) -> pd.DataFrame:
        z = self.scorer.run(self.model_input(raw), ("z",))["z"]
        return pd.DataFrame(z, columns=[f"z_{i}" for i in range(z.shape[1])], index=raw.index)

    def reconstruct_raw(self, raw: pd.DataFrame) -> pd.DataFrame:
        recon = self.scorer.run(self.model_input(raw), ("recon",))["recon"]
        out = self.preprocessor.inverse_transform(recon)
        return out.set_axis(raw.index)

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame, output="latent")

    def reconstruct(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.predict(frame, output="reconstruction")

    # -- codes back to rows ---------------------------------------------------------------
    @property
    def code_dims(self) -> int:
        """k, the width of this model's latent code, from encoding one all-zero model-input
        row; a detector without a code (Isolation Forest, k-NN, ECOD) refuses it."""
        if self._code_dims is None:
            probe = np.zeros((1, len(self._groups)), dtype=np.float32)
            self._code_dims = int(self.scorer.run(probe, ("z",))["z"].shape[1])
        return self._code_dims

    def check_code_columns(self, columns: list[Any], where: str = "input") -> list[str]:
        """The code columns, ``z_0 .. z_{k-1}`` for this model's k; a missing, extra
        (``z_<n>`` beyond k) or duplicated one is refused in one sentence naming them."""
        expected = code_columns(self.code_dims)
        found = [c for c in columns if is_code_column(c)]
        twice = sorted({str(c) for c, n in Counter(columns).items() if n > 1})
        missing = [c for c in expected if c not in set(found)]
        extra = [c for c in dict.fromkeys(found) if c not in set(expected)]
        problems = []
        if twice:
            problems.append(f"column(s) {_few(twice)} appear more than once")
        if missing:
            problems.append(f"missing code column(s) {_few(missing)}")
        if extra:
            problems.append(f"extra code column(s) {_few(extra)}")
        if problems:
            raise ScoringInputError(
                f"{where}: {' and '.join(problems)}; this model's code has {len(expected)} "
                f"dimension(s), columns {expected[0]} .. {expected[-1]}: decode codes that "
                "`aeops encode` wrote with this model"
            )
        return expected

    def decode_codes(self, frame: pd.DataFrame, scale: np.ndarray | None = None) -> pd.DataFrame:
        """Rows in the input's units (the feature columns, indexed like ``frame``) from their
        latent codes ``z_0 .. z_{k-1}``: the inverse of :meth:`encode`, as
        :meth:`reconstruct` maps its reconstructions back. ``scale`` (one number per
        dimension) marks int8 codes, dequantized first. Other columns are ignored."""
        names = self.check_code_columns(list(frame.columns))
        z = self.code_values(frame, names)
        if scale is not None:
            z = dequantize(z, scale)
        recon = self.scorer.decode(z.astype(np.float32))
        self.check_decoded(recon, z, frame.index)
        return self.preprocessor.inverse_transform(recon).set_axis(frame.index)

    def code_values(self, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
        """The code columns as numbers (float64): each finite and within float32's range,
        which the model computes in; anything else is refused by row and column."""
        z = np.column_stack([_as_numbers(frame[name], name, frame.index) for name in names])
        found = first_non_finite(z)
        if found is not None:
            row, col = found
            raise ScoringInputError(
                f"row {frame.index[row]}, column '{names[col]}': value {z[row, col]} is not a "
                "finite number; a code must be one"
            )
        check_range(z, frame.index, names)
        return z

    def check_decoded(self, recon: np.ndarray, z: np.ndarray, index: pd.Index) -> None:
        """A decoded row that overflowed float32 is refused, never written as inf."""
        bad = ~np.isfinite(recon).all(axis=1)
        if not bad.any():
            return
        row = int(np.flatnonzero(bad)[0])
        dim = int(np.argmax(np.abs(z[row])))
        raise ScoringInputError(
            f"row {index[row]}: its code decodes beyond float32 (column 'z_{dim}' lies "
            "furthest out); a code this far from the ones the model writes cannot be decoded"
        )


def _finite(value: Any) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ScoringInputError(f"threshold {value} is not a finite number")
    return value


def _few(names: list[Any], n: int = 8) -> str:
    shown = [str(c) for c in names[:n]]
    return str(shown)[:-1] + (f", ... {len(names) - n} more]" if len(names) > n else "]")


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_range(values: np.ndarray, index: pd.Index, names: list[str]) -> None:
    """Finite values beyond float32's range (1e39, -1e308) are refused as out of range."""
    huge = np.abs(np.nan_to_num(values, nan=0.0)) > FLOAT32_MAX
    if huge.any():
        row, col = np.argwhere(huge)[0]
        raise ScoringInputError(
            f"row {index[row]}, column '{names[col]}': value {values[row, col]:.6g} is out of "
            f"range; the model computes in float32 (|x| <= {FLOAT32_MAX:.3g})"
        )


def _as_numbers(column: pd.Series, name: str, index: pd.Index) -> np.ndarray:
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
            f"row {index[row]}, column '{name}': {column.iloc[row]!r} is a boolean, not a "
            "number; the model expects numbers in this column (send 0/1 if that is meant)"
        )
    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ScoringInputError(
            f"row {index[row]}, column '{name}': {column.iloc[row]!r} is "
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


def model_signature(info: DetectorInfo):
    """Outputs and params only. The input schema is checked by the detector itself: MLflow's
    own input enforcement silently drops columns it does not know, which would let a
    784-pixel row be scored by a 64-pixel model on its first 64 pixels. The schema is
    recorded in ``detector.json`` and on the registered model instead."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    outputs = Schema([ColSpec("double", SCORE_COLUMN), ColSpec("boolean", FLAG_COLUMN)])
    params = ParamSchema(
        [
            ParamSpec("threshold", "double", info.threshold),
            ParamSpec("explain", "boolean", False),
            ParamSpec("output", "string", "score"),
        ]
    )
    return ModelSignature(inputs=None, outputs=outputs, params=params)


def pip_requirements() -> list[str]:
    """Pinned to what trained the model, so ``mlflow models serve`` rebuilds the same stack."""
    from importlib.metadata import PackageNotFoundError, version

    packages = [
        "torch",
        "scikit-learn",
        "skops",
        "safetensors",
        "pandas",
        "numpy",
        "mlflow",
        "pyyaml",
        "pytorch-lightning",
        "torchmetrics",
        "pydantic",
    ]
    pins = []
    for name in packages:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:  # e.g. mlflow-skinny (no UI) instead of mlflow
            if name == "mlflow":
                pins.append(f"mlflow-skinny=={version('mlflow-skinny')}")
            else:
                raise
    return pins
