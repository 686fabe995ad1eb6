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
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.env import git_commit
from aeops.errors import AeopsError, RegistryError, ScoringInputError
from aeops.io import read_json, write_json
from aeops.mlflow_store import SQLITE, check_store, rebase_copied_store, sqlite_path

log = logging.getLogger(__name__)

CHAMPION = "champion"
CHAMPION_RUN_TAG = "aeops.champion"  # on the run behind the champion version: its name and version
CHALLENGER = "challenger"
SCHEMA_TAG = "input_schema"  # on a registered model: its schema in one line
METRIC_TAG_PREFIX = "metric."  # a version's headline metrics: metric.val_auroc, ...
SCHEMA_HASH_TAG = "schema_hash"  # ... and the hash that tells schemas apart
MODEL_SHA_TAG = "aeops.model_sha256"
DETECTOR_KEY_TAG = "aeops.detector_key"
BASELINE_PARAMS_TAG = "aeops.baseline_params"  # digest of a baseline's params (one run per fit)
STORE_ID_TAG = "aeops.store_id"


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
        return SQLITE + str(project_root() / uri[len(SQLITE) :])
    return uri


def artifact_location(cfg: Config, uri: str) -> str | None:
    """Local artifact folder for a local SQLite store (in the project root); a tracking
    server chooses its own."""
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        return (project_root() / cfg.paths.mlflow_artifacts).resolve().as_uri()
    return None


def setup_mlflow(cfg: Config, client=None) -> str:
    """Check the store (fast, one sentence when it cannot serve), keep a copied project's
    store inside it, point MLflow at it and make sure the experiment exists (with a store id);
    return the experiment's id. ``client``: one bound to the store (default: a new one)."""
    import uuid

    import mlflow

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
    import mlflow

    uri = tracking_uri(cfg)
    client = mlflow.MlflowClient(uri)
    return Tracking(uri, client, setup_mlflow(cfg, client))


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
                (cfg.mlflow.experiment, STORE_ID_TAG),
            ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def file_sha256(*paths: str | Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(partial(handle.read, 1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def detector_key(model: Path, preprocessor: str | Path, detector: Path) -> str:
    """What identifies a deployable detector: the files it packs."""
    return file_sha256(model, preprocessor, detector)[:16]


def find_run(experiment_id: str, tag: str, value: str, client=None):
    """The newest active run of the experiment carrying ``tag=value``, or None."""
    return find_run_tagged(experiment_id, {tag: value}, client)


def find_run_tagged(experiment_id: str, tags: dict[str, str], client=None):
    """The newest active run of the experiment carrying every one of ``tags``, or None."""
    import mlflow

    runs = (client or mlflow.MlflowClient()).search_runs(
        [experiment_id],
        filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items())),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def params_digest(params: dict[str, Any]) -> str:
    """A short stable digest of a model's params (what tells two fits of one baseline apart)."""

    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def find_detector(experiment_id: str, key: str):
    """The newest logged detector packing exactly these files (``detector_key``), or None."""
    import mlflow

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{DETECTOR_KEY_TAG}` = '{key}'",
        order_by=[{"field_name": "creation_time", "ascending": False}],
        max_results=1,
        output_format="list",
    )
    return found[0] if found else None


def data_label(cfg: Config) -> str:
    """The data in one word: the source's file or folder name (``sensors`` for
    ``sensors.csv``), or the source kind (``digits``)."""
    path = cfg.data.path
    named = Path(path).name.split(".")[0] if path and cfg.data.source != "digits" else None
    return named or cfg.data.source


def run_name(cfg: Config, family: str) -> str:
    """What the MLflow runs table shows: the data and the family (``digits/denoising``,
    ``sensors/dense`` for ``sensors.csv``), so runs of different data tell apart."""
    return f"{data_label(cfg)}/{family}"


def dataset_input(cfg: Config, data_hash: str | None) -> Any:
    """The data as MLflow's Dataset column shows it: name, source and the prepared split's
    digest (a :class:`~mlflow.data.meta_dataset.MetaDataset`: no rows are copied)."""
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

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


MODEL_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def model_name(cfg: Config, schema: dict[str, Any], client=None) -> str:
    """``register.model_name``, or a name a person reads: ``aeops-<data>`` (``aeops-digits``,
    ``aeops-sensors`` for ``sensors.csv``). One name holds one input schema: when that name
    already holds another, this schema's hash is added (``aeops-sensors-1a2b3c4d``)."""
    from aeops.data.schema import schema_hash

    if cfg.register.model_name:
        return cfg.register.model_name
    name = "aeops-" + MODEL_NAME_CHARS.sub("-", data_label(cfg).replace("_", "-")).strip("-.")
    held = registered_schema(name, client)
    if held is None or held.hash == schema_hash(schema):
        return name
    return f"{name}-{schema_hash(schema)}"


@dataclass(frozen=True)
class RegisteredSchema:
    """What a registered model records of its input schema: the hash that tells schemas
    apart and the one-line summary a person reads (the tags ``schema_hash`` and
    ``input_schema``)."""

    hash: str
    description: str

    @classmethod
    def of(cls, schema: dict[str, Any]) -> RegisteredSchema:
        from aeops.data.schema import describe_schema, schema_hash

        return cls(schema_hash(schema), describe_schema(schema))

    def tags(self) -> dict[str, str]:
        return {SCHEMA_HASH_TAG: self.hash, SCHEMA_TAG: self.description}


def registered_schema(name: str, client=None) -> RegisteredSchema | None:
    """The input schema the registered model ``name`` was trained on (None if no model).
    A model registered by an earlier aeops keeps its schema as JSON in ``input_schema``."""

    import mlflow
    from mlflow.exceptions import MlflowException

    client = client or mlflow.MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        return None
    tags = model.tags
    if SCHEMA_HASH_TAG in tags:
        return RegisteredSchema(tags[SCHEMA_HASH_TAG], tags.get(SCHEMA_TAG, ""))
    text = tags.get(SCHEMA_TAG)
    if text is None or not text.startswith("{"):
        raise RegistryError(
            f"registered model '{name}' has no recorded input schema (it was "
            "registered by an older aeops); set register.model_name to a new "
            "name, or null to derive one from the data"
        )
    return RegisteredSchema.of(json.loads(text))


def schema_conflict(
    name: str, registered: RegisteredSchema | None, schema: dict[str, Any]
) -> str | None:
    """Why a model of ``schema`` cannot go under ``name``, registered with ``registered``
    (None when it can: a new name, or the same schema)."""
    this = RegisteredSchema.of(schema)
    if registered is None or registered.hash == this.hash:
        return None
    return (
        f"registered model '{name}' takes another input schema:\n"
        f"  registered: {registered.description}\n"
        f"  this data:  {this.description}\n"
        "A model of one schema cannot replace or be compared with the other. Set "
        "register.model_name to a new name, or to null so the name follows the data."
    )


def check_registered_schema(cfg: Config, name: str, schema: dict[str, Any]) -> None:
    """Refuse to put a model of another input schema under an existing registered name."""
    setup_mlflow(cfg)
    conflict = schema_conflict(name, registered_schema(name), schema)
    if conflict is not None:
        raise RegistryError(conflict)


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
    import mlflow

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


def current_version(name: str, alias: str, client=None):
    """The model version behind ``alias``, or None when the model or alias does not exist."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return (client or mlflow.MlflowClient()).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(
    name: str,
    model_uri: str,
    run_id: str,
    model_id: str,
    schema: dict[str, Any],
    tags: dict[str, Any],
    description: str,
    client=None,
):
    """Register ``model_uri`` as a new version of ``name`` (created with its input schema)."""

    import mlflow

    client = client or mlflow.MlflowClient()
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        recorded = RegisteredSchema.of(schema)
        client.create_registered_model(
            name,
            tags=recorded.tags(),
            description="aeops anomaly detector (pyfunc: anomaly_score, is_anomaly; "
            f"output=latent|reconstruction) for input {recorded.description}",
        )
    version = client.create_model_version(
        name,
        model_uri,
        run_id=run_id,
        model_id=model_id,
        tags={k: str(v)[:5000] for k, v in tags.items()},
        description=description,
    )
    return version


def set_version_tags(name: str, version: str, tags: dict[str, Any], client=None) -> None:
    import mlflow

    client = client or mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:5000])


def set_alias(name: str, alias: str, version: str, client=None) -> None:
    """Point ``alias`` at ``version``. When ``champion`` moves, the version it leaves is
    re-tagged (``decision`` challenger, ``replaced_by``), so no two versions say champion."""
    import mlflow

    client = client or mlflow.MlflowClient()
    before = current_version(name, alias, client) if alias == CHAMPION else None
    client.set_registered_model_alias(name, alias, version)
    if alias != CHAMPION:
        return
    now = client.get_model_version(name, version)
    if "replaced_by" in now.tags:
        client.delete_model_version_tag(name, version, "replaced_by")  # champion again
    if now.run_id:  # the runs table marks the champion's run: a tag, and in its name
        client.set_tag(now.run_id, CHAMPION_RUN_TAG, f"{name} v{version}")
        mark_champion_run(client, now.run_id, True)
    if before is not None and str(before.version) != str(version):
        if before.run_id and before.run_id != now.run_id:
            client.delete_tag(before.run_id, CHAMPION_RUN_TAG)
            mark_champion_run(client, before.run_id, False)
        set_version_tags(
            name,
            before.version,
            {"decision": CHALLENGER, "promoted": False, "replaced_by": f"v{version}"},
            client,
        )


CHAMPION_MARK = " \u2605 champion"  # " ★ champion" after the run name, while it is one


def champion_run_name(run_name: str, champion: bool) -> str:
    """``digits/knn`` -> ``digits/knn ★ champion`` (short: the runs table cuts names); the
    tag ``aeops.champion`` names the version. ``False`` takes the mark off again."""
    plain = run_name.split(CHAMPION_MARK)[0]
    return f"{plain}{CHAMPION_MARK}" if champion else plain


def mark_champion_run(client: Any, run_id: str, champion: bool) -> None:
    """Put the champion mark on or off the run's name."""
    from mlflow.exceptions import MlflowException

    try:
        current = client.get_run(run_id).info.run_name or ""
    except MlflowException:  # the run is gone (a store restored without it)
        return
    wanted = champion_run_name(current, champion)
    if wanted != current:
        client.set_tag(run_id, "mlflow.runName", wanted)


def recorded_metric(version: Any, metric: str) -> float | None:
    """``metric`` as the version recorded it at registration: its ``metric.<name>`` tag, or
    the ``metrics`` JSON tag of an earlier aeops (None: not recorded)."""
    tagged = version.tags.get(f"{METRIC_TAG_PREFIX}{metric}")
    if tagged is not None:
        try:
            return float(tagged)
        except ValueError:
            return None
    try:
        value = json.loads(version.tags.get("metrics") or "{}").get(metric)
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) else None


def promotion_warning(name: str, new: Any, old: Any) -> str | None:
    """A sentence when the version promoted by hand recorded a lower value of the metric the
    champion it replaces was chosen by (each as measured at its own registration)."""
    metric = old.tags.get("selected_by") if old is not None else None
    if not metric or str(new.version) == str(old.version):
        return None
    ours, theirs = recorded_metric(new, metric), recorded_metric(old, metric)
    if ours is None or theirs is None or ours >= theirs:
        return None
    return (
        f"warning: {name} v{new.version} recorded {metric}={ours:.4f} at registration, below "
        f"v{old.version}'s {theirs:.4f} (the champion it replaces); `aeops promote "
        f"{old.version} --name {name}` puts v{old.version} back"
    )


# -- the registry for a user: look-ups that say what is missing, promotion by hand ---------


def require_store(writing: bool = False) -> None:
    """The configured store must exist and serve (:func:`check_store`): a SQLite store that
    does not exist is refused (MLflow would create an empty one)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise ScoringInputError(
            "no MLflow store configured: run this in the project folder "
            "(its params.yaml names the store), or set MLFLOW_TRACKING_URI"
        )
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise ScoringInputError(
            f"no MLflow store at {path}; run `make train` here first, "
            "or set MLFLOW_TRACKING_URI to the store that holds the model"
        )
    check_store(uri, writing=writing)


def check_registered(uri: str) -> None:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` must exist in a store that
    serves, or say what does."""
    import mlflow
    from mlflow.exceptions import MlflowException

    require_store()
    name, _, rest = uri[len("models:/") :].partition("@")
    version = None
    if not rest and "/" in name:
        name, version = name.split("/", 1)
    client = mlflow.MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models()]
        raise ScoringInputError(
            f"no registered model '{name}' in this store (it holds "
            f"{names or 'none'}); `aeops show` lists them"
        ) from None
    if rest and rest not in model.aliases:
        raise ScoringInputError(
            f"registered model '{name}' has no alias '{rest}' (aliases: "
            f"{sorted(model.aliases) or 'none'})"
        )
    if version is not None:
        try:
            client.get_model_version(name, version)
        except MlflowException:
            raise ScoringInputError(
                f"registered model '{name}' has no version {version}; `aeops show` lists them"
            ) from None


def load_detector(uri: str):
    """A pyfunc from the registry (or any MLflow URI, or a model folder); our Detector when it
    wraps one. A missing model, alias or version is a sentence, not a traceback."""
    import mlflow
    import yaml
    from mlflow.exceptions import MlflowException

    if uri.startswith("models:/"):
        check_registered(uri)
    elif not uri.startswith(("runs:/", "models:/")) and not Path(uri).exists():
        raise ScoringInputError(
            f"{uri}: no such model folder; give a folder holding an "
            "MLmodel file, or a models:/<name>@<alias> URI"
        )
    try:
        model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise ScoringInputError(f"{uri}: cannot load the model ({exc.message[:300]})") from None
    except AeopsError:  # the detector's own refusal (a changed file, another version): as is
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        # an MLmodel file that is not what MLflow wrote: damaged or edited by hand
        raise ScoringInputError(
            f"{uri}: the model's files are damaged or were tampered with "
            f"({type(exc).__name__}: {str(exc)[:200]}); it is not loaded"
        ) from None
    try:
        return model.unwrap_python_model().detector
    except AttributeError:
        return model


def default_report(params: Path = Path("params.yaml")) -> Path:
    """The register stage's report of this project (in the working directory)."""
    from aeops.config import load_config

    report = Path(load_config(params).paths.registry_report) if params.exists() else None
    if report is None or not report.exists():
        raise ScoringInputError(
            "no --model given and no registered champion in this project "
            "(run `make train`, or pass --model models:/<name>@champion; "
            "`aeops show` lists the registered models)"
        )
    return report


def default_model() -> str:
    """This project's champion, from the register stage's report."""
    return read_json(default_report())["model_uri"]


def promote(name: str, version: int) -> tuple[str, str]:
    """Move ``champion`` of ``name`` to registered ``version`` by hand (the only way an
    experiment's challenger becomes champion) and tag that version; returns the version and
    the champion before it (``v<n>``, or ``none``)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    check_registered(f"models:/{name}")
    try:
        found = mlflow.MlflowClient().get_model_version(name, str(version))
    except MlflowException:
        raise ScoringInputError(
            f"registered model '{name}' has no version {version}; `aeops show` lists them"
        ) from None
    before = current_version(name, CHAMPION)
    warning = promotion_warning(name, found, before)
    if warning:
        log.warning(warning)
    set_alias(name, CHAMPION, found.version)
    previous = f"v{before.version}" if before is not None else "none"
    set_version_tags(
        name,
        found.version,
        {
            "decision": CHAMPION,
            "promoted": True,
            "promoted_by": f"aeops promote (champion before: {previous})",
        },
    )
    return found.version, previous


def note_promotion(report: Path, name: str, version: int, previous: str) -> None:
    """Keep ``reports/register.json`` true after a promotion by hand when it describes the
    promoted version (the register stage's report is the default model's record)."""
    if not report.exists():
        return
    decision = read_json(report)
    if decision.get("model_name") != name or decision.get("version") != version:
        return
    decision.update(
        alias="champion",
        promoted=True,
        reason=f"{decision['reason']}; promoted by hand with `aeops promote` "
        f"(champion before: {previous})",
    )
    write_json(report, decision)


def registry_lines(name: str | None = None) -> list[str]:
    """What ``aeops show`` prints: each registered model (or ``name``), its aliases, and a
    line per version with its kind, family, decision, threshold and why."""
    import mlflow

    require_store()
    client = mlflow.MlflowClient()
    names = [name] if name else [m.name for m in client.search_registered_models()]
    if not names:
        return ["no registered models yet; run `make train`"]
    lines = []
    for each in names:
        model = client.get_registered_model(each)
        lines.append(f"{model.name}: aliases {model.aliases}")
        for version in client.search_model_versions(f"name='{each}'"):
            tags = version.tags
            lines.append(
                f"  v{version.version}: {tags.get('kind', 'autoencoder')} "
                f"{tags.get('family')} decision={tags.get('decision')} "
                f"threshold={tags.get('threshold')} -- {version.description}"
            )
    return lines
