"""Scoring rows with a trained detector; the MLflow pyfunc wrapper is in :mod:`aeops.pyfunc`.

A :class:`Detector` is everything needed to score raw feature rows in ingest's form: the
preprocessing fit on the training fold, the autoencoder, the feature order and the decision
threshold (with the method that chose it). The pyfunc carries all three files as artifacts,
so loading ``models:/<name>@champion`` needs nothing but the registry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import torch

from aeops.io import read_json, write_json

DETECTOR_FILE = "detector.json"
ARTIFACT_KEYS = ("model", "preprocessor", "detector")
SCORE_COLUMN = "anomaly_score"
FLAG_COLUMN = "is_anomaly"


class ScoringInputError(ValueError):
    """Rows that do not match the detector's features."""


@dataclass(frozen=True)
class DetectorInfo:
    family: str
    features: list[str]
    threshold: float
    threshold_method: str
    threshold_detail: str
    image_shape: list[int] | None = None

    def save(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: str | Path) -> DetectorInfo:
        return cls(**read_json(path))


class Detector:
    """Preprocessing + autoencoder + threshold: raw rows in, scores and flags out."""

    def __init__(self, net: torch.nn.Module, preprocessor: Any, info: DetectorInfo,
                 batch_size: int = 4096) -> None:
        self.net = net.eval()
        self.preprocessor = preprocessor
        self.info = info
        self.batch_size = batch_size

    @classmethod
    def from_files(cls, model: str | Path, preprocessor: str | Path,
                   detector: str | Path) -> Detector:
        from aeops.models.store import load_model

        net, _ = load_model(model)
        return cls(net, joblib.load(preprocessor), DetectorInfo.load(detector))

    def features_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The float32 feature matrix of ``frame`` in training order; a clear error naming the
        missing columns when they differ."""
        expected = self.info.features
        missing = [c for c in expected if c not in frame.columns]
        if missing and not (len(frame.columns) == len(expected)
                            and all(isinstance(c, int) for c in frame.columns)):
            raise ScoringInputError(
                f"input has {len(frame.columns)} columns but the model expects "
                f"{len(expected)} features; missing {missing[:10]}"
                f"{' ...' if len(missing) > 10 else ''}. Send the feature columns ingest wrote "
                f"({expected[0]} ... {expected[-1]})"
            )
        if missing:  # unnamed columns in training order
            return frame.to_numpy(np.float32)
        values = np.empty((len(frame), len(expected)), dtype=np.float32)
        for j, column in enumerate(expected):  # column by column: no copy of the whole frame
            values[:, j] = frame[column].to_numpy()
        return values

    def check_finite(self, values: np.ndarray, index: pd.Index) -> None:
        if np.isfinite(values).all():
            return
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ScoringInputError(f"row {index[row]}, column '{self.info.features[col]}': "
                                f"value {values[row, col]} is not a finite number")

    def score_array(self, raw: np.ndarray,
                    explain: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-row scores (and, with ``explain``, per-feature squared errors) for raw rows."""
        x = np.require(self.preprocessor.transform(raw), np.float32, ["C_CONTIGUOUS", "WRITEABLE"])
        scores = np.empty(len(x), dtype=np.float64)
        errors = np.empty(x.shape, dtype=np.float32) if explain else None
        with torch.inference_mode():
            for start in range(0, len(x), self.batch_size):
                stop = start + self.batch_size
                score, per_feature = self.net.score(torch.from_numpy(x[start:stop]))
                scores[start:stop] = score.numpy()
                if errors is not None:
                    errors[start:stop] = per_feature.numpy()
        return scores, errors

    def predict_values(self, values: np.ndarray, index: pd.Index, threshold: float | None = None,
                       explain: bool = False) -> pd.DataFrame:
        """Score a float32 feature matrix (columns in training order)."""
        self.check_finite(values, index)
        scores, errors = self.score_array(values, explain)
        cut = self.info.threshold if threshold is None else float(threshold)
        out = pd.DataFrame({SCORE_COLUMN: scores, FLAG_COLUMN: scores > cut}, index=index)
        if errors is not None:
            columns = [f"error_{c}" for c in self.info.features]
            out = pd.concat([out, pd.DataFrame(errors, columns=columns, index=index)], axis=1)
        return out

    def predict(self, frame: pd.DataFrame, threshold: float | None = None,
                explain: bool = False) -> pd.DataFrame:
        """``anomaly_score`` and ``is_anomaly`` per row; with ``explain``, per-feature errors."""
        return self.predict_values(self.features_of(frame), frame.index, threshold, explain)


def model_signature(info: DetectorInfo):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema([ColSpec("double", name) for name in info.features])
    outputs = Schema([ColSpec("double", SCORE_COLUMN), ColSpec("boolean", FLAG_COLUMN)])
    params = ParamSchema([ParamSpec("threshold", "double", info.threshold),
                          ParamSpec("explain", "boolean", False)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def pip_requirements() -> list[str]:
    """Pinned to what trained the model, so ``mlflow models serve`` rebuilds the same stack."""
    from importlib.metadata import version

    packages = ["torch", "scikit-learn", "pandas", "numpy", "joblib", "mlflow", "pyyaml",
                "pytorch-lightning", "torchmetrics"]
    return [f"{name}=={version(name)}" for name in packages]
