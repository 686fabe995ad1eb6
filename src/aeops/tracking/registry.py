"""The MLflow model registry: a registered model per input schema, named after the data; its
versions, their tags and the ``champion`` / ``challenger`` aliases; the look-ups a user's
command makes, each missing model, alias or version a sentence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from aeops.config import Config
from aeops.core.errors import RegistryError, ScoringInputError
from aeops.core.io import read_json
from aeops.data.schema import describe_schema, schema_hash
from aeops.tracking.names import (
    CHALLENGER,
    CHAMPION,
    CHAMPION_RUN_TAG,
    DETECTOR_KEY_TAG,
    SCHEMA_HASH_TAG,
    SCHEMA_TAG,
    champion_run_name,
    default_model_name,
    use_suffix,
)
from aeops.tracking.runs import Tracking, setup_mlflow
from aeops.tracking.store import require_store


def model_name(cfg: Config, schema: dict[str, Any], client=None) -> str:
    """``register.model_name``, or a name a person reads: ``aeops-<data>`` (``aeops-digits``,
    ``aeops-sensors`` for ``sensors.csv``). One name holds one input schema: when that name
    already holds another, this schema's hash is added (``aeops-sensors-1a2b3c4d``)."""

    if cfg.register.model_name:
        return cfg.register.model_name + use_suffix(cfg)
    name = default_model_name(cfg) + use_suffix(cfg)
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

        return cls(schema_hash(schema), describe_schema(schema))

    def tags(self) -> dict[str, str]:
        return {SCHEMA_HASH_TAG: self.hash, SCHEMA_TAG: self.description}


def registered_schema(name: str, client=None) -> RegisteredSchema | None:
    """The input schema the registered model ``name`` was trained on (None if no model).
    A model registered by an earlier aeops keeps its schema as JSON in ``input_schema``."""

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


def current_version(name: str, alias: str, client=None):
    """The model version behind ``alias``, or None when the model or alias does not exist."""

    try:
        return (client or mlflow.MlflowClient()).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def register_version(
    name: str,
    logged: tuple[str, str, str],
    schema: dict[str, Any],
    tags: dict[str, Any],
    description: str,
    client=None,
):
    """Register a logged detector (its model URI, run id and model id) as a new version of
    ``name`` (created with its input schema)."""
    model_uri, run_id, model_id = logged

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

    client = client or mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, str(value)[:5000])


def set_alias(name: str, alias: str, version: str, client=None) -> None:
    """Point ``alias`` at ``version``. When ``champion`` moves, the version it leaves is
    re-tagged (``decision`` challenger, ``replaced_by``), so no two versions say champion."""

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


def mark_champion_run(client: Any, run_id: str, champion: bool) -> None:
    """Put the champion mark on or off the run's name."""

    try:
        current = client.get_run(run_id).info.run_name or ""
    except MlflowException:  # the run is gone (a store restored without it)
        return
    wanted = champion_run_name(current, champion)
    if wanted != current:
        client.set_tag(run_id, "mlflow.runName", wanted)


def check_registered(uri: str) -> None:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` must exist in a store that
    serves, or say what does."""

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


def registry_lines(name: str | None = None) -> list[str]:
    """What ``aeops show`` prints: each registered model (or ``name``), its aliases, and a
    line per version with its kind, family, decision, threshold and why."""

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


def find_version(tracking: Tracking, name: str, key: str):
    """The registered version of exactly these files, if one exists."""

    try:
        versions = tracking.client.search_model_versions(
            f"name = '{name}' and tags.`{DETECTOR_KEY_TAG}` = '{key}'"
        )
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version)) if versions else None


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


def load_pyfunc(uri: str) -> Any:
    """The logged or registered pyfunc at ``uri`` (MLflow's loader)."""
    return mlflow.pyfunc.load_model(uri)
