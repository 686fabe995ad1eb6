"""MLflow runs: the store set up for a stage, the experiment and its runs, found again by what
they hold (a model's SHA-256, a baseline's params digest, a detector's key), recreated when a
store lacks them, with the data as MLflow's Dataset."""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from aeops.config import Config
from aeops.core.env import git_commit
from aeops.tracking.names import (
    BASELINE_PARAMS_TAG,
    DETECTOR_KEY_TAG,
    MODEL_SHA_TAG,
    STORE_ID_TAG,
    data_label,
    flatten,
    params_digest,
)
from aeops.tracking.store import (
    artifact_location,
    check_store,
    project_root,
    rebase_copied_store,
    tracking_uri,
)


def setup_mlflow(cfg: Config, client=None) -> str:
    """Check the store (fast, one sentence when it cannot serve), keep a copied project's
    store inside it, point MLflow at it and make sure the experiment exists (with a store id);
    return the experiment's id. ``client``: one bound to the store (default: a new one)."""

    uri = tracking_uri(cfg)
    check_store(uri, writing=True)
    rebase_copied_store(uri, project_root(), cfg.mlflow.experiment, cfg.paths.mlflow_artifacts)
    mlflow.set_tracking_uri(uri)
    client = client or mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    if experiment is None:
        experiment_id = client.create_experiment(
            cfg.mlflow.experiment,
            artifact_location=artifact_location(cfg, uri),
            tags={STORE_ID_TAG: uuid.uuid4().hex},
        )
        return experiment_id
    if STORE_ID_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, STORE_ID_TAG, uuid.uuid4().hex)
    return experiment.experiment_id


@dataclass(frozen=True)
class Tracking:
    """A stage's one handle on the store: its URI, a client bound to it, and the experiment's
    id. Built once (:func:`open_tracking`) and passed down, so helpers build no clients."""

    uri: str
    client: Any  # mlflow.MlflowClient
    experiment_id: str


def open_tracking(cfg: Config) -> Tracking:
    """:func:`setup_mlflow`, returning the handle on the store it set up."""

    uri = tracking_uri(cfg)
    client = mlflow.MlflowClient(uri)
    return Tracking(uri, client, setup_mlflow(cfg, client))


def find_run(experiment_id: str, tag: str, value: str, client=None):
    """The newest active run of the experiment carrying ``tag=value``, or None."""
    return find_run_tagged(experiment_id, {tag: value}, client)


def find_run_tagged(experiment_id: str, tags: dict[str, str], client=None):
    """The newest active run of the experiment carrying every one of ``tags``, or None."""

    runs = (client or mlflow.MlflowClient()).search_runs(
        [experiment_id],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items())),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def find_detector(experiment_id: str, key: str):
    """The newest logged detector packing exactly these files (``detector_key``), or None."""

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{DETECTOR_KEY_TAG}` = '{key}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
        max_results=1,
        output_format="list",
    )
    return found[0] if found else None


def dataset_input(cfg: Config, data_hash: str | None) -> Any:
    """The data as MLflow's Dataset column shows it: name, source and the prepared split's
    digest (a :class:`~mlflow.data.meta_dataset.MetaDataset`: no rows are copied)."""

    if cfg.data.path:
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": both local
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(cfg.data.path))  # a local file: its path
    else:
        source = CodeDatasetSource({"loader": "sklearn.datasets.load_digits", "embedded": "true"})
    # MetaDataset's profile is None by design (no rows); mypy reads it as abstract
    return MetaDataset(source, name=data_label(cfg), digest=data_hash)  # type: ignore[abstract]


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


def family_run_id(
    experiment_id: str,
    family: str,
    model_sha: str,
    params: dict[str, Any],
    data_hash: str | None = None,
    client=None,
    name: str | None = None,
) -> str:
    """The training run that wrote the model with this SHA-256; recreated (params, tags, no
    epoch curves; named ``name``) when this store does not hold it, e.g. a new store, or
    outputs that DVC restored from its run cache."""

    client = client or mlflow.MlflowClient()
    run = find_run(experiment_id, MODEL_SHA_TAG, model_sha, client)
    if run is not None:
        return run.info.run_id
    tags = {**run_tags(family, data_hash), MODEL_SHA_TAG: model_sha, "aeops.recreated": "true"}
    created = client.create_run(experiment_id, run_name=name or family, tags=tags)
    flat = flatten(params)
    client.log_batch(
        created.info.run_id,
        params=[mlflow.entities.Param(k, str(v)[:6000]) for k, v in sorted(flat.items())],
    )
    return created.info.run_id


def detector_run(
    tracking: Tracking,
    name: str,
    params: dict,
    data_hash: str | None,
    title: str | None = None,
    marker: str = "baseline",
) -> str:
    """The MLflow run of detector ``name`` (a baseline, or the ensemble: ``marker``, a tag
    set to true) fitted with ``params`` on this data version: the one an earlier evaluate
    made (so re-running evaluate adds no runs), else a new one."""

    identity = {marker: "true", "family": name, BASELINE_PARAMS_TAG: params_digest(params)}
    tags = {**run_tags(name, data_hash), **identity}
    for key in ("data_hash", "dvc_exp_name"):  # the data version, and the DVC experiment
        if key in tags:
            identity[key] = tags[key]
    earlier = find_run_tagged(tracking.experiment_id, identity, tracking.client)
    if earlier is not None:
        return earlier.info.run_id
    run = tracking.client.create_run(tracking.experiment_id, run_name=title or name, tags=tags)
    tracking.client.log_batch(
        run.info.run_id,
        params=[mlflow_param(k, v) for k, v in sorted({"family": name, **params}.items())],
    )
    return run.info.run_id


def mlflow_param(key: str, value: Any):

    return mlflow.entities.Param(key, str(value)[:6000])


def training_logger(cfg: Config, family: str, data_hash: str, run_id: str | None) -> Any:
    """The Lightning logger of ``family``'s training run (a new run, or ``run_id`` continued
    when training resumes), in the project's store and experiment."""
    from pytorch_lightning.loggers import MLFlowLogger

    from aeops.tracking.names import run_name

    setup_mlflow(cfg)
    return MLFlowLogger(
        experiment_name=cfg.mlflow.experiment,
        tracking_uri=tracking_uri(cfg),
        run_name=run_name(cfg, family),
        run_id=run_id,
        tags=run_tags(family, data_hash),
        log_model=False,
        synchronous=True,
    )


def record_training(
    logger: Any, weights: Path, tags: dict[str, str], timings: dict[str, float]
) -> None:
    """What a finished training leaves in its run: the weights file (beside it, in the same
    folder, what the model saved) and its SHA-256 (how evaluate and register find the run
    again), the run's tags and its ``train/<name>`` timings."""
    from aeops.core.io import file_sha256

    client, run_id = logger.experiment, logger.run_id
    for path in sorted(p for p in weights.parent.iterdir() if p.is_file() and p.name != "run.json"):
        if not path.name.startswith("."):
            client.log_artifact(run_id, str(path), "weights")
    client.set_tag(run_id, MODEL_SHA_TAG, file_sha256(weights))
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    for name, seconds in timings.items():
        client.log_metric(run_id, f"train/{name}", seconds)


def log_lift(run_id: str, lift: float | None, figure: Path | None) -> None:
    """A trained model's lift over the best baseline and the run's shared figure."""
    with mlflow.start_run(run_id=run_id):
        if lift is not None:
            mlflow.log_metric("lift_over_best_baseline", lift)
        if figure is not None:
            mlflow.log_artifact(str(figure), "plots")
