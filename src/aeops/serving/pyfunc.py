"""The MLflow pyfunc every aeops model ships through the registry as (:class:`AeopsModel`: a
:class:`~aeops.serving.pipeline.DetectorPipeline`, or a denoiser), and how each is logged
(metrics, plots and the model, tagged with the key of its files)."""

import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

import aeops
from aeops.core.errors import AeopsError
from aeops.core.logs import settle_libraries
from aeops.serving.pipeline import FLAG_COLUMN, SCORE_COLUMN, DetectorInfo, DetectorPipeline
from aeops.tracking.names import DETECTOR_KEY_TAG, detector_key


class AeopsModel(PythonModel):
    """The pyfunc of any aeops model, by the artifacts it was logged with.

    A detector (``model``, ``preprocessor``, ``detector`` artifacts):
    ``predict(rows, params={"threshold": ..., "explain": ..., "output": ...})`` on raw rows.
    ``output`` is ``score`` (``anomaly_score``, ``is_anomaly``), ``latent`` (the code, for
    dimensionality reduction or compression) or ``reconstruction`` (denoised rows in the
    input's units). The input is checked against the logged signature by MLflow, then by the
    detector itself (schema, numbers, finite values). The ``pd.DataFrame`` hint tells MLflow
    to hand over the frame as it is (no type-hint schema inference on top of the signature).

    A denoiser (a ``denoiser`` artifact: its folder): ``predict`` takes grey images as a float
    array in [0, 1], ``(height, width)`` or ``(images, height, width)`` of any size, and
    returns them denoised, same shape."""

    detector: DetectorPipeline | None = None
    denoiser: Any = None

    def load_context(self, context) -> None:
        artifacts = context.artifacts
        if DENOISER in artifacts:
            from aeops.models.denoisers import load_denoiser

            self.denoiser = load_denoiser(artifacts[DENOISER])
            return
        self.detector = DetectorPipeline.from_files(
            artifacts["model"], artifacts["preprocessor"], artifacts["detector"]
        )

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        if self.denoiser is not None:
            return self.denoise(model_input)
        assert self.detector is not None  # loaded by load_context
        params = params or {}
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        try:
            return self.detector.predict(
                model_input,
                threshold=params.get("threshold"),
                explain=bool(params.get("explain", False)),
                output=str(params.get("output") or "score"),
            )
        except AeopsError as exc:  # the sentence goes to the caller (HTTP 400 `message`)
            raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from None

    def denoise(self, model_input: Any) -> np.ndarray:
        images = np.asarray(model_input, dtype=np.float32)
        if images.ndim == 2:
            return self.denoiser.denoise(images)
        return np.stack([self.denoiser.denoise(image) for image in images])


AnomalyDetectorModel = AeopsModel  # the name the models logged before it kept
DENOISER = "denoiser"  # a denoiser's artifact: its folder


def portable(path: str | Path) -> str:
    """A path as the logged MLmodel records it: relative to the project, never a path of
    the machine that trained it (when the file lies in the project)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def metric_values(report: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics report, per-class AUROCs flattened."""
    values = {
        k: float(v)
        for k, v in report.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for cls, value in (report.get("test_auroc_per_class") or {}).items():
        values[f"test_auroc_class_{cls}"] = float(value)
    return values


def log_detector(
    run_id: str,
    report: dict[str, Any],
    plots: list[Path],
    files: tuple[Path, Path, Path],
    example: Any = None,
    dataset: Any = None,
) -> tuple[str, str]:
    """Log metrics, plots and the self-contained pyfunc detector to ``run_id`` (with
    ``dataset``, an MLflow Dataset, as its evaluation input); the logged model is tagged with
    its :func:`detector_key`. ``files``: the model, the preprocessor and ``detector.json``."""
    settle_libraries()  # MLflow's "Validating input example" INFO lines stay back by default
    model_path, preprocessor_path, detector_path = files
    info = DetectorInfo.load(detector_path)
    key = detector_key(*files)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metric_values(report))
        if dataset is not None:
            mlflow.log_input(dataset, context="evaluation")
        mlflow.set_tags(
            {
                "threshold_method": report.get("threshold_method", ""),
                "threshold_detail": report.get("threshold_detail", ""),
            }
        )
        for plot in plots:
            mlflow.log_artifact(str(plot), "plots")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # MLflow's nudge to type hints
            model_info = mlflow.pyfunc.log_model(
                name="detector",
                python_model=portable(Path(aeops.__file__).parent / "serving" / "pyfunc_entry.py"),
                artifacts={
                    "model": portable(model_path),
                    "preprocessor": portable(preprocessor_path),
                    "detector": portable(detector_path),
                },
                code_paths=[str(Path(aeops.__file__).parent)],
                signature=model_signature(info),
                input_example=example,
                pip_requirements=pip_requirements(),
                tags={DETECTOR_KEY_TAG: key, "family": info.family, "kind": info.kind},
            )
    return model_info.model_uri, model_info.model_id


def model_signature(info: DetectorInfo) -> ModelSignature:
    """Outputs and params only. The input schema is checked by the detector itself: MLflow's
    own input enforcement silently drops columns it does not know, which would let a
    784-pixel row be scored by a 64-pixel model on its first 64 pixels. The schema is
    recorded in ``detector.json`` and on the registered model instead."""
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


def log_denoiser(
    run_id: str, report: dict[str, Any], plots: list[Path], folder: Path, key: str
) -> tuple[str, str]:
    """Log a denoiser's figures (numbers only), plots and pyfunc (its folder the one artifact,
    so ``aeops denoise --model models:/...`` downloads it and runs without MLflow's loader) to
    ``run_id``; the logged model is tagged with ``key``."""
    from mlflow.types import TensorSpec

    settle_libraries()
    images = Schema([TensorSpec(np.dtype("float32"), (-1, -1, -1))])
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metric_values(report))
        for plot in plots:
            mlflow.log_artifact(str(plot), "plots")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model_info = mlflow.pyfunc.log_model(
                name="denoiser",
                python_model=portable(Path(aeops.__file__).parent / "serving" / "pyfunc_entry.py"),
                artifacts={DENOISER: portable(folder)},
                code_paths=[str(Path(aeops.__file__).parent)],
                signature=ModelSignature(inputs=images, outputs=images),
                pip_requirements=pip_requirements(),
                tags={DETECTOR_KEY_TAG: key, "family": str(report.get("family")), "kind": DENOISER},
            )
    return model_info.model_uri, model_info.model_id


def downloaded(uri: str, into: Path) -> Path:
    """The denoiser folder of a logged or registered model ``uri``, downloaded into ``into``."""
    from mlflow.artifacts import download_artifacts

    from aeops.models.denoisers import SPEC

    root = Path(download_artifacts(artifact_uri=uri, dst_path=str(into)))
    found = sorted(root.rglob(SPEC))
    if not found:
        raise AeopsError(f"{uri}: is not a denoiser (no {SPEC} in its files)")
    return found[0].parent
