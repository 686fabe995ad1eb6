"""MLflow: tracking URI, experiments, runs, model logging, the registry and its aliases.

What the pipeline leaves in MLflow is found again by content, never by ids kept in DVC-tracked
files (which would differ on every run and every machine): a training run carries the SHA-256
of the ``model.safetensors`` it wrote (``aeops.model_sha256``), and a logged detector the key of the
files it packs (``aeops.detector_key``). The store itself carries an id
(``aeops.store_id``), so the register stage can tell in milliseconds whether the store it last
wrote to is still the configured one.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.env import git_commit
from aeops.errors import RegistryError

CHAMPION = "champion"
CHALLENGER = "challenger"
SCHEMA_TAG = "input_schema"
MODEL_SHA_TAG = "aeops.model_sha256"
DETECTOR_KEY_TAG = "aeops.detector_key"
STORE_ID_TAG = "aeops.store_id"
SQLITE = "sqlite:///"


def project_root() -> Path:
    """The project's root: DVC's ``DVC_ROOT`` (the real repository, also for ``dvc exp run
    --temp`` and queued experiments, which run in a temporary copy), else the working dir."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def tracking_uri(cfg: Config) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``mlflow.tracking_uri`` from params; a relative
    SQLite path is resolved against the project root, so every experiment of the project,
    wherever DVC runs it, logs to the project's one store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return SQLITE + str(project_root() / uri[len(SQLITE):])
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len(SQLITE):]) if uri.startswith(SQLITE) else None


def artifact_location(cfg: Config, uri: str) -> str | None:
    """Local artifact folder for a local SQLite store (in the project root); a tracking
    server chooses its own."""
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        return (project_root() / cfg.paths.mlflow_artifacts).resolve().as_uri()
    return None


def setup_mlflow(cfg: Config) -> str:
    """Point MLflow at the store and make sure the experiment exists (with a store id);
    return the experiment's id."""
    import uuid

    import mlflow

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        experiment_id = client.create_experiment(
            cfg.mlflow.experiment, artifact_location=artifact_location(cfg, uri),
            tags={STORE_ID_TAG: uuid.uuid4().hex})
        return experiment_id
    if STORE_ID_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, STORE_ID_TAG, uuid.uuid4().hex)
    return experiment.experiment_id


def store_id(cfg: Config) -> str | None:
    """The id of the configured store's experiment, read from a SQLite store directly (no
    MLflow import: milliseconds); None for a missing store or a tracking server."""
    import sqlite3

    path = sqlite_path(tracking_uri(cfg))
    if path is None or not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT t.value FROM experiment_tags t JOIN experiments e "
                "ON e.experiment_id = t.experiment_id WHERE e.name = ? AND t.key = ? "
                "AND e.lifecycle_stage = 'active'",
                (cfg.mlflow.experiment, STORE_ID_TAG)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def file_sha256(*paths: str | Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def detector_key(model: Path, preprocessor: str | Path, detector: Path) -> str:
    """What identifies a deployable detector: the files it packs."""
    return file_sha256(model, preprocessor, detector)[:16]


def find_run(experiment_id: str, tag: str, value: str):
    """The newest active run of the experiment carrying ``tag=value``, or None."""
    import mlflow

    runs = mlflow.MlflowClient().search_runs(
        [experiment_id], filter_string=f"tags.`{tag}` = '{value}'",
        order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0] if runs else None


def find_detector(experiment_id: str, key: str):
    """The newest logged detector packing exactly these files (``detector_key``), or None."""
    import mlflow

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string=f"tags.`{DETECTOR_KEY_TAG}` = '{key}'",
        order_by=[{"field_name": "creation_time", "ascending": False}], max_results=1,
        output_format="list")
    return found[0] if found else None


def run_tags(family: str, data_hash: str | None = None) -> dict[str, str]:
    """What a run is: its family, the commit, the DVC experiment and the data version."""
    tags = {"family": family}
    if data_hash:
        tags["data_hash"] = data_hash
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


def family_run_id(experiment_id: str, family: str, model_sha: str, params: dict[str, Any],
                  data_hash: str | None = None) -> str:
    """The training run that wrote the model with this SHA-256; recreated (params, tags, no
    epoch curves) when this store does not hold it, e.g. a new store, or outputs that DVC
    restored from its run cache."""
    import mlflow

    run = find_run(experiment_id, MODEL_SHA_TAG, model_sha)
    if run is not None:
        return run.info.run_id
    client = mlflow.MlflowClient()
    tags = {**run_tags(family, data_hash), MODEL_SHA_TAG: model_sha, "aeops.recreated": "true"}
    created = client.create_run(experiment_id, run_name=family, tags=tags)
    flat = flatten(params)
    client.log_batch(created.info.run_id, params=[
        mlflow.entities.Param(k, str(v)[:6000]) for k, v in sorted(flat.items())])
    return created.info.run_id


def current_version(name: str, alias: str):
    """The model version behind ``alias``, or None when the model or alias does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(name: str, model_uri: str, run_id: str, model_id: str,
                     schema: dict[str, Any], tags: dict[str, Any], description: str):
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
    version = client.create_model_version(name, model_uri, run_id=run_id, model_id=model_id,
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
