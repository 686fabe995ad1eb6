"""Scoring with an exported ONNX graph (``aeops export``): ONNX Runtime, NumPy and the file
reader only, no torch, scikit-learn, skops or MLflow, so ``aeops score --engine onnx`` starts
in well under a second and a machine with only ``onnxruntime`` installed can score.

:class:`OnnxPipeline` keeps the Python detector's contract: the same input checks and the same
sentences (it is a :class:`~aeops.serving.pipeline.DetectorPipeline` whose preprocessing and
model are the graph), the same ``anomaly_score`` / ``is_anomaly`` / ``error_<feature>`` /
``unknown_categories`` columns, and the codes (``output="latent"``). The graph and
``detector.json`` are checked against the SHA-256 ``export.json`` records before they are read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError
from aeops.core.io import file_sha256
from aeops.data.preprocess import check_counts
from aeops.data.schema import feature_families
from aeops.serving.checks import FLOAT32_MAX, finite, plain
from aeops.serving.pipeline import (
    FLAG_COLUMN,
    OUTPUTS,
    SCORE_COLUMN,
    UNKNOWN_COLUMN,
    DetectorInfo,
    DetectorPipeline,
)

ONNX_FILE = "model.onnx"
EXPORT_FILE = "export.json"
DETECTOR_FILE = "detector.json"
ONNX_BATCH_ROWS = 4096  # rows per session run: cache-sized, and memory bounded on a tall file


def read_export(folder: Path) -> dict[str, Any]:
    """``export.json`` of ``folder``, its files checked against the hashes it records."""
    spec_path = folder / EXPORT_FILE
    if not spec_path.exists():
        raise ScoringInputError(
            f"{folder}: not an aeops ONNX export (no {EXPORT_FILE}); make one with "
            "`aeops export --output <folder>`"
        )
    try:
        spec = json.loads(spec_path.read_text())
    except ValueError as exc:
        raise ScoringInputError(f"{spec_path}: damaged ({str(exc)[:80]}); export again") from None
    for name, expected in spec.get("sha256", {}).items():
        path = folder / name
        if not path.exists() or file_sha256(path) != expected:
            raise ScoringInputError(
                f"{path}: differs from the file this export was made with (SHA-256); it was "
                "changed or damaged, so it is not loaded: export again"
            )
    return spec


class OnnxPipeline(DetectorPipeline):
    """An exported detector: raw rows in; scores and flags (with ``explain``, per-feature
    errors) or codes out, the preprocessing and the model inside the ONNX graph."""

    def __init__(self, session: Any, spec: dict[str, Any], info: DetectorInfo) -> None:
        self.session = session
        self.spec = spec
        self.info = info
        self._families = feature_families(info.features)
        self._code_dims = int(spec["code_dims"])
        self.numeric = list(spec["numeric"])
        self.categorical = [c["name"] for c in spec["categorical"]]
        self.categories = [set(c["categories"]) for c in spec["categorical"]]
        scaling = spec.get("numeric_scaling") or {}
        self.shift = np.asarray(scaling.get("shift", np.zeros(len(self.numeric))), np.float64)
        self.scale = np.asarray(scaling.get("scale", np.ones(len(self.numeric))), np.float64)
        self.multiply = scaling.get("kind") == "minmax"
        self.counts = scaling.get("kind") == "log_counts"  # the graph log-normalises rows
        # unscaled input (images, scaler none): check_values' float32 check already covers it
        self.identity = not self.multiply and not self.shift.any() and bool((self.scale == 1).all())

    @classmethod
    def from_folder(cls, folder: str | Path, threads: int | None = None) -> OnnxPipeline:
        import onnxruntime as ort

        folder = Path(folder)
        spec = read_export(folder)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # no busy-waiting between runs: the thread that reads and checks the next chunk needs
        # the cores ONNX Runtime's idle threads would spin on (steadier rows/s on few cores)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            str(folder / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )
        return cls(session, spec, DetectorInfo.load(folder / DETECTOR_FILE))

    @property
    def whole_input(self) -> bool:
        return self.spec.get("stream") is not None

    @property
    def imputes(self) -> bool:
        return bool(self.spec["impute"])

    # -- raw rows to the graph's inputs -----------------------------------------------------
    def model_input(self, raw: pd.DataFrame) -> dict[str, np.ndarray]:
        """The graph's inputs for checked raw rows (refusing what the Python detector
        refuses: non-finite or out-of-range numbers, missing categories without imputing,
        and numbers that leave float32 once scaled)."""
        feeds: dict[str, np.ndarray] = {}
        warmup = (self.spec.get("stream") or {}).get("warmup")
        if warmup is not None and len(raw) < warmup:
            raise ScoringInputError(
                f"series '0' has {len(raw)} rows; the model standardises each series by its "
                f"first {warmup} rows (data.warmup_rows): give it at least {warmup} rows"
            )
        values = raw[self.numeric].to_numpy(np.float64) if self.numeric else np.zeros((len(raw), 0))
        if self.numeric:
            self.check_values(values, raw.index, self.numeric)
            if self.counts:
                check_counts(raw, self.numeric)
            self.check_scaled_numeric(values, raw)
        feeds["numeric"] = np.ascontiguousarray(values)
        if self.categorical:
            block = raw[self.categorical]
            missing = block.isna().to_numpy()
            if missing.any() and not self.imputes:
                row, col = np.argwhere(missing)[0]
                raise ScoringInputError(
                    f"row {raw.index[row]}, column '{self.categorical[col]}': missing value; "
                    "this model was trained with data.missing: fail, so every categorical "
                    "value must be present"
                )
            feeds["categorical"] = block.fillna("").to_numpy(dtype=str).astype(object)
        return feeds

    def check_scaled_numeric(self, values: np.ndarray, raw: pd.DataFrame) -> None:
        if self.identity:
            return
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (
                values * self.scale + self.shift
                if self.multiply
                else (values - self.shift) / self.scale
            )
        bad = np.isinf(scaled) | (np.abs(np.nan_to_num(scaled)) > FLOAT32_MAX)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            name = self.numeric[col]
            raise ScoringInputError(
                f"row {raw.index[row]}, column '{name}': value {plain(raw[name].iloc[row])!r} is "
                "out of range: scaled as the training data was, it exceeds float32 "
                f"(|x| <= {FLOAT32_MAX:.3g}), which the model computes in"
            )

    def run(self, feeds: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
        """The graph's ``outputs`` (of score, flag, errors, code) on ``feeds``, in batches;
        ONNX Runtime runs only the nodes those outputs need."""
        rows = len(next(iter(feeds.values())))
        step = int(self.spec.get("rows_per_run", ONNX_BATCH_ROWS))
        if rows <= step or step == 0:  # 0: a stream's series, whole
            return self.session.run(outputs, feeds)
        parts = [
            self.session.run(outputs, {k: v[i : i + step] for k, v in feeds.items()})
            for i in range(0, rows, step)
        ]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(outputs))]

    # -- outputs ------------------------------------------------------------------------
    def predict(
        self,
        frame: pd.DataFrame,
        threshold: float | None = None,
        explain: bool = False,
        output: str = "score",
    ) -> pd.DataFrame:
        if output not in OUTPUTS:
            raise ScoringInputError(f"output '{output}' is not one of {list(OUTPUTS)}")
        raw = self.features_of(frame)
        if output == "reconstruction":
            raise ScoringInputError(
                "the ONNX export scores rows and encodes them; reconstructions and decoding "
                "need the Python detector (aeops score without --engine onnx)"
            )
        feeds = self.model_input(raw)
        if output == "latent":
            return self.encode_feeds(feeds, raw.index)
        scored = self._score(feeds, raw.index, threshold, explain)
        if self.categorical:
            scored[UNKNOWN_COLUMN] = self.unknown_categories(raw)
        return scored

    def predict_values(
        self,
        values: np.ndarray,
        index: pd.Index,
        threshold: float | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        """A numeric feature matrix (columns in training order): the Parquet fast path."""
        self.check_values(values, index, self.info.features)  # as read (float32 from Parquet)
        values = np.ascontiguousarray(values, dtype=np.float64)  # the graph's input type
        if not self.identity:
            frame = pd.DataFrame(values, columns=self.numeric, index=index, copy=False)
            self.check_scaled_numeric(values, frame)
        return self._score({"numeric": values}, index, threshold, explain)

    def _score(
        self, x: Any, index: pd.Index, threshold: float | None, explain: bool
    ) -> pd.DataFrame:
        wanted = ["anomaly_score", "is_anomaly", *(["errors"] if explain else [])]
        score, flag, *errors = self.run(x, wanted)
        scores = np.asarray(score, dtype=np.float64)
        if not np.isfinite(scores).all():
            row = int(np.flatnonzero(~np.isfinite(scores))[0])
            raise ScoringInputError(
                f"row {index[row]}: its anomaly score overflowed float32 (column "
                f"'{self.furthest(x, row)}' lies furthest from the training data); a row this "
                "far out cannot be scored: check the value or its units"
            )
        flags = flag if threshold is None else scores > finite(threshold)
        out = pd.DataFrame({SCORE_COLUMN: scores, FLAG_COLUMN: flags}, index=index)
        if explain:
            columns = [f"error_{c}" for c in self.info.features]
            out = pd.concat([out, pd.DataFrame(errors[0], columns=columns, index=index)], axis=1)
        return out

    def furthest(self, feeds: dict[str, np.ndarray], row: int) -> str:
        """The numeric column of ``row`` furthest out once scaled (else the first feature)."""
        if not self.numeric:
            return self.info.features[0]
        values = np.nan_to_num(feeds["numeric"][row])
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = (
                values * self.scale + self.shift
                if self.multiply
                else (values - self.shift) / self.scale
            )
        return self.numeric[int(np.argmax(np.abs(np.nan_to_num(scaled))))]

    def encode_feeds(self, feeds: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
        if not self._code_dims:
            raise ScoringInputError(
                f"a {self.info.family} detector has no latent code or reconstruction; ask it "
                "for output 'score'"
            )
        code = self.run(feeds, ["code"])[0]
        return pd.DataFrame(code, columns=[f"z_{i}" for i in range(code.shape[1])], index=index)

    def unknown_categories(self, raw: pd.DataFrame) -> np.ndarray:
        counts = np.zeros(len(raw), dtype=np.int64)
        for name, known in zip(self.categorical, self.categories, strict=True):
            values = raw[name]
            counts += (~values.isin(list(known)) & values.notna()).to_numpy()
        return counts

    @property
    def code_dims(self) -> int:
        if not self._code_dims:
            raise ScoringInputError(
                f"a {self.info.family} detector has no latent code or reconstruction; ask it "
                "for output 'score'"
            )
        return self._code_dims

    def decode_codes(self, frame: pd.DataFrame, scale: np.ndarray | None = None) -> pd.DataFrame:
        raise ScoringInputError(
            "the ONNX export scores rows and encodes them; decoding codes needs the Python "
            "detector (aeops decode without --engine onnx)"
        )


def default_export(params: Path = Path("params.yaml")) -> Path:
    """This project's champion as the register stage exported it (``reports/register.json``
    names the folder); read with YAML alone, so the ONNX path parses no config models."""
    import yaml

    report = None
    if params.exists():
        paths = (yaml.safe_load(params.read_text()) or {}).get("paths") or {}
        report = Path(paths.get("registry_report", "reports/register.json"))
    if report is None or not report.exists():
        raise ScoringInputError(
            "no --model given and no registered champion in this project (run `make train`, "
            "or pass --model <folder of an ONNX export>; `aeops export` makes one)"
        )
    folder = json.loads(report.read_text()).get("onnx")
    if not folder:
        raise ScoringInputError(
            f"{report}: the champion was registered without an ONNX export; run `make train` "
            "again, or make one with `aeops export --output <folder>`"
        )
    return Path(folder)
