"""Scoring rows with a trained detector; the MLflow pyfunc wrapper is in
:mod:`aeops.serving.pyfunc`.

A :class:`DetectorPipeline` is everything needed to score raw feature rows in ingest's form:
the preprocessing fit on the training fold, a :class:`~aeops.models.base.Detector` (an
autoencoder, the ensemble of them, or a PCA / Isolation Forest / k-NN / ECOD baseline), the
input schema and the decision threshold (with the method that chose it). It also encodes rows
to their latent code, decodes codes back to rows and reconstructs them, for an autoencoder
(the ensemble: its lead member) and PCA. The pyfunc carries all of it as artifacts, so
loading ``models:/<name>@champion`` needs nothing but the registry.

Every input is checked against the schema first (:mod:`aeops.serving.checks`): a missing
feature column, an extra column that belongs to the same feature family (``pixel_64`` for a
64-pixel model), a value that is not a number, or a non-finite value is refused with a
message naming it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.core.io import read_json, write_json
from aeops.data.codes import code_columns, dequantize, first_non_finite, is_code_column
from aeops.data.preprocess import Preprocessor
from aeops.data.schema import CATEGORICAL, describe_schema, feature_families
from aeops.serving.checks import (
    FLOAT32_MAX,
    as_numbers,
    as_text,
    check_range,
    few,
    finite,
    is_plain_number,
    plain,
)

if TYPE_CHECKING:
    from aeops.models.base import Detector

__all__ = ["ScoringInputError", "DetectorPipeline", "DetectorInfo", "OUTPUTS"]

SCORE_COLUMN = "anomaly_score"
FLAG_COLUMN = "is_anomaly"
UNKNOWN_COLUMN = "unknown_categories"
OUTPUTS = ("score", "latent", "reconstruction")
SCORE_BATCH_ROWS = 8192  # rows per forward pass when scoring files (memory stays bounded)


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
    from aeops.core.errors import AeopsError
    from aeops.core.io import file_sha256

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


class DetectorPipeline:
    """Preprocessing + detector + threshold: raw rows in; scores and flags, latent codes or
    reconstructions out. It is a :class:`~aeops.serving.scorer.Scorer` as it is."""

    def __init__(self, detector: Detector, preprocessor: Preprocessor, info: DetectorInfo) -> None:
        self.detector = detector
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
    ) -> DetectorPipeline:
        """Load a detector's files, each checked against the SHA-256 recorded when it was
        saved before anything reads it."""
        info = DetectorInfo.load(detector)
        verify_artifacts(info, {"model": model, "preprocessor": preprocessor})
        from aeops.models.registry import load_detector

        loaded = load_detector(model, SCORE_BATCH_ROWS)
        loaded.threshold_ = info.threshold
        return cls(loaded, Preprocessor.load(preprocessor), info)

    # -- as a scorer (aeops.serving.scorer.Scorer) ----------------------------------------
    @property
    def features(self) -> list[str]:
        return self.info.features

    @property
    def threshold(self) -> float:
        return self.info.threshold

    @property
    def numeric_only(self) -> bool:
        return not self.info.categorical

    @property
    def whole_input(self) -> bool:
        return self.preprocessor.stream is not None

    @property
    def pipeline(self) -> DetectorPipeline:
        """Itself: the aeops detector ``aeops export`` writes and Spark reads the schema of."""
        return self

    def check_decodable(self) -> None:
        """An aeops detector has a decoder to call (one without a code, or the ONNX export,
        refuses by name once it is asked to decode)."""

    @property
    def imputes(self) -> bool:
        """Whether missing values are imputed (else refused by row and column)."""
        return bool(self.preprocessor.impute)

    # -- input checks -------------------------------------------------------------------
    def check_columns(self, columns: list[Any], where: str = "input") -> None:
        """Refuse duplicated column names, missing feature columns and extra ones of the same
        feature family."""
        twice = [c for c, n in Counter(columns).items() if n > 1]
        if twice:
            raise ScoringInputError(
                f"{where}: column(s) {few(sorted(set(map(str, twice))))} appear more than once; "
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
                parts.append(f"missing feature column(s) {few(missing)}")
            if foreign:
                parts.append(
                    f"extra column(s) {few(foreign)} that look like features of another schema"
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
        if not self.info.categorical:  # all numbers already: one conversion, no column loop
            block = frame[expected]
            if all(is_plain_number(kind) for kind in block.dtypes):
                return block.astype(np.float64)
        out = {}
        categorical = set(self.info.categorical)
        for name in expected:
            column = frame[name]
            if name in categorical:
                out[name] = (
                    column.astype(object)
                    .where(column.notna(), None)
                    .map(lambda v: v if v is None else as_text(v))
                )
            else:
                out[name] = as_numbers(column, name, frame.index)
        return pd.DataFrame(out, index=frame.index)

    def check_values(self, values: np.ndarray, index: pd.Index, names: list[str]) -> None:
        """Numeric values must be finite (NaN allowed only when the model imputes) and within
        float32's range, which the model computes in."""
        bad = ~np.isfinite(values)
        if self.imputes:
            bad &= ~np.isnan(values)
        if not bad.any():
            check_range(values, index, names)
            return
        row, col = np.argwhere(bad)[0]
        hint = (
            ""
            if self.imputes
            else " (this model was trained with data.missing: fail, so values must be present)"
        )
        raise ScoringInputError(
            f"row {index[row]}, column '{names[col]}': value "
            f"{values[row, col]} is not a finite number{hint}"
        )

    def model_input(self, raw: pd.DataFrame) -> Any:
        """Checked raw rows as the model's input (an array here; the ONNX scorer's graph
        feeds)."""
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
                f"row {raw.index[row]}, column '{name}': value {plain(raw[name].iloc[row])!r} is "
                "out of range: scaled as the training data was, it exceeds float32 "
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
        threshold = self.info.threshold if threshold is None else finite(threshold)
        scores = np.asarray(self.detector.decision_function(x), dtype=np.float64)
        self.check_scores(scores, x, index)
        out = pd.DataFrame({SCORE_COLUMN: scores, FLAG_COLUMN: scores > threshold}, index=index)
        if explain:
            errors = self.detector.feature_errors(x) @ self._grouping
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
        z = self.detector.encode(self.model_input(raw))
        return pd.DataFrame(z, columns=[f"z_{i}" for i in range(z.shape[1])], index=raw.index)

    def reconstruct_raw(self, raw: pd.DataFrame) -> pd.DataFrame:
        recon = self.detector.reconstruct(self.model_input(raw))
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
            self._code_dims = int(self.detector.encode(probe).shape[1])
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
            problems.append(f"column(s) {few(twice)} appear more than once")
        if missing:
            problems.append(f"missing code column(s) {few(missing)}")
        if extra:
            problems.append(f"extra code column(s) {few(extra)}")
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
        recon = self.detector.decode(z.astype(np.float32))
        self.check_decoded(recon, z, frame.index)
        return self.preprocessor.inverse_transform(recon).set_axis(frame.index)

    def code_values(self, frame: pd.DataFrame, names: list[str]) -> np.ndarray:
        """The code columns as numbers (float64): each finite and within float32's range,
        which the model computes in; anything else is refused by row and column."""
        z = np.column_stack([as_numbers(frame[name], name, frame.index) for name in names])
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
