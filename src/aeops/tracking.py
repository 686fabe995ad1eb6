"""MLflow: tracking URI, experiments, runs, model logging, the registry and its aliases."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.env import git_commit

CHAMPION = "champion"
CHALLENGER = "challenger"


def tracking_uri(cfg: Config) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``mlflow.tracking_uri`` from params (SQLite)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri


def artifact_location(cfg: Config, uri: str) -> str | None:
    """Local artifact folder for a local SQLite store; a tracking server chooses its own."""
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        return Path(cfg.paths.mlflow_artifacts).resolve().as_uri()
    return None


def setup_mlflow(cfg: Config) -> str:
    """Point MLflow at the store and make sure the experiment exists; return its id."""
    import mlflow

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(cfg.mlflow.experiment,
                                    artifact_location=artifact_location(cfg, uri))


def run_tags(family: str) -> dict[str, str]:
    tags = {"family": family}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys, for MLflow params and registry tags."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def metric_values(report: dict[str, Any]) -> dict[str, float]:
    """The numeric entries of a metrics report, per-class AUROCs flattened."""
    values = {k: float(v) for k, v in report.items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for cls, value in (report.get("test_auroc_per_class") or {}).items():
        values[f"test_auroc_class_{cls}"] = float(value)
    return values


def log_detector(run_id: str, report: dict[str, Any], plots: list[Path], model_path: Path,
                 preprocessor_path: str | Path, detector_path: Path,
                 example: Any = None) -> tuple[str, str]:
    """Log metrics, plots and the self-contained pyfunc detector to ``run_id``."""
    import mlflow

    import aeops
    from aeops.scoring import DetectorInfo, model_signature, pip_requirements

    info = DetectorInfo.load(detector_path)
    with mlflow.start_run(run_id=run_id):
        mlflow.log_metrics(metric_values(report))
        mlflow.set_tags({"threshold_method": report.get("threshold_method", ""),
                         "threshold_detail": report.get("threshold_detail", "")})
        for plot in plots:
            mlflow.log_artifact(str(plot), "plots")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # MLflow's nudge to type hints
            model_info = mlflow.pyfunc.log_model(
                name="detector",
                python_model=str(Path(aeops.__file__).parent / "pyfunc_entry.py"),
                artifacts={"model": str(model_path), "preprocessor": str(preprocessor_path),
                           "detector": str(detector_path)},
                code_paths=[str(Path(aeops.__file__).parent)],
                signature=model_signature(info),
                input_example=example,
                pip_requirements=pip_requirements(),
            )
    return model_info.model_uri, model_info.model_id


def current_version(name: str, alias: str):
    """The model version behind ``alias``, or None when the model or alias does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(name: str, model_uri: str, run_id: str, tags: dict[str, Any],
                     description: str):
    """Register ``model_uri`` as a new version of ``name`` with tags and a description."""
    import mlflow

    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(
            name, description="aeops autoencoder anomaly detector (pyfunc: anomaly_score, "
                              "is_anomaly)")
    version = client.create_model_version(name, model_uri, run_id=run_id,
                                          tags={k: str(v)[:5000] for k, v in tags.items()},
                                          description=description)
    return version


def set_alias(name: str, alias: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
