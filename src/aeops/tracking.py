"""MLflow: tracking URI, experiments, runs, model logging, the registry and its aliases."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.env import git_commit
from aeops.errors import RegistryError

CHAMPION = "champion"
CHALLENGER = "challenger"
SCHEMA_TAG = "input_schema"


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


def model_name(cfg: Config, source: str, schema: dict[str, Any]) -> str:
    """``register.model_name``, or ``aeops-<source>-<schema hash>`` derived from the data."""
    from aeops.data.schema import schema_hash

    if cfg.register.model_name:
        return cfg.register.model_name
    return f"aeops-{source.replace('_', '-')}-{schema_hash(schema)}"


def registered_schema(name: str) -> dict[str, Any] | None:
    """The input schema the registered model ``name`` was trained on (None if no model)."""
    import json

    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    text = model.tags.get(SCHEMA_TAG)
    if text is None:
        raise RegistryError(f"registered model '{name}' has no recorded input schema (it was "
                            "registered by an older aeops); set register.model_name to a new "
                            "name, or null to derive one from the data")
    return json.loads(text)


def check_registered_schema(cfg: Config, name: str, schema: dict[str, Any]) -> None:
    """Refuse to put a model of another input schema under an existing registered name."""
    from aeops.data.schema import describe_schema

    setup_mlflow(cfg)
    existing = registered_schema(name)
    if existing is not None and existing != schema:
        raise RegistryError(
            f"registered model '{name}' takes another input schema:\n"
            f"  registered: {describe_schema(existing)}\n"
            f"  this data:  {describe_schema(schema)}\n"
            "A model of one schema cannot replace or be compared with the other. Set "
            "register.model_name to a new name, or to null so the name follows the data.")


def current_version(name: str, alias: str):
    """The model version behind ``alias``, or None when the model or alias does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(name: str, model_uri: str, run_id: str, schema: dict[str, Any],
                     tags: dict[str, Any], description: str):
    """Register ``model_uri`` as a new version of ``name`` (created with its input schema)."""
    import json

    import mlflow

    from aeops.data.schema import describe_schema

    client = mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(
            name, tags={SCHEMA_TAG: json.dumps(schema, sort_keys=True)},
            description="aeops anomaly detector (pyfunc: anomaly_score, is_anomaly; "
                        f"output=latent|reconstruction) for input {describe_schema(schema)}")
    version = client.create_model_version(name, model_uri, run_id=run_id,
                                          tags={k: str(v)[:5000] for k, v in tags.items()},
                                          description=description)
    return version


def set_version_tags(name: str, version: str, tags: dict[str, Any]) -> None:
    import mlflow

    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:5000])


def set_alias(name: str, alias: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
