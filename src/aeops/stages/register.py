"""The register stage: champion/challenger in the MLflow Model Registry, one model per schema.

The model chosen by ``report`` becomes a new version of the registered model for this data's
input schema (``register.model_name``, or ``aeops-<source>-<schema hash>``). It takes the
``champion`` alias only when it beats the current champion, re-scored on this run's
validation fold with the same metric, by more than ``register.margin``; otherwise it is the
``challenger``. A champion that cannot be scored blocks the promotion and the reason is
recorded. Tags that describe the decision are written after the alias moves.
"""

from __future__ import annotations

import json
from typing import Any

from aeops.config import Config
from aeops.data.schema import schema_hash
from aeops.data.split import SPLIT_COLUMN
from aeops.data.synthetic import SYNTHETIC_COLUMN
from aeops.evaluation.metrics import auroc, average_precision
from aeops.files import MODEL_INFO_FILE
from aeops.io import read_json, write_json
from aeops.stages.common import Prepared, load_prepared
from aeops.stages.report import model_dir
from aeops.tracking import (
    CHALLENGER,
    CHAMPION,
    check_registered_schema,
    current_version,
    flatten,
    model_name,
    register_version,
    set_alias,
    set_version_tags,
    setup_mlflow,
)


def validation_rows(prepared: Prepared, metric: str):
    """The validation rows ``metric`` is measured on: real rows, or real normal rows plus
    synthetic anomalies."""
    val = prepared.splits[prepared.splits[SPLIT_COLUMN] == "val"]
    synthetic = val[SYNTHETIC_COLUMN].astype(str) != ""
    if "synthetic" in metric:
        return val[~val["is_anomaly"] | synthetic]
    return val[~synthetic]


def score_on_validation(model_uri: str, prepared: Prepared, metric: str) -> float:
    """Load a registered detector and compute ``metric`` on this run's validation fold."""
    import mlflow

    val = validation_rows(prepared, metric)
    model = mlflow.pyfunc.load_model(model_uri)
    scores = model.predict(val[prepared.meta.features])["anomaly_score"].to_numpy()
    is_anomaly = val["is_anomaly"].to_numpy(bool)
    fn = auroc if metric.endswith("auroc") else average_precision
    return fn(is_anomaly, scores)


def decide(candidate: float, champion: float | None, margin: float) -> bool:
    """Promote when there is no champion, or the candidate beats it by more than ``margin``."""
    return champion is None or candidate > champion + margin


def register(cfg: Config) -> dict[str, Any]:
    import mlflow

    setup_mlflow(cfg)
    prepared = load_prepared(cfg)
    metrics = read_json(cfg.paths.metrics)
    chosen, kind, metric = metrics["family"], metrics["kind"], metrics["selected_by"]
    info = read_json(model_dir(cfg, chosen, kind) / MODEL_INFO_FILE)
    schema = prepared.meta.schema()
    name = model_name(cfg, prepared.meta.source, schema)
    check_registered_schema(cfg, name, schema)
    candidate_score = float(metrics[metric])

    champion = current_version(name, CHAMPION)
    champion_score, blocked = None, None
    note = "no champion yet"
    if champion is not None:
        try:
            champion_score = score_on_validation(f"models:/{name}@{CHAMPION}", prepared, metric)
            note = f"champion v{champion.version} scores {metric}={champion_score:.4f} here"
        except Exception as exc:  # noqa: BLE001 - the reason is recorded, promotion blocked
            blocked = f"champion v{champion.version} cannot be scored on this data ({exc})"
            note = blocked
    promote = blocked is None and decide(candidate_score, champion_score, cfg.register.margin)
    alias = CHAMPION if promote else CHALLENGER
    pool = "autoencoders and baselines" if cfg.register.candidates == "all" else "autoencoders"
    reason = (f"{chosen} ({kind}) chosen among the {pool} by {metrics['selection_basis']} "
              f"= {candidate_score:.4f}; {note}; margin {cfg.register.margin}: "
              f"{'promoted to champion' if promote else 'kept as challenger'}")
    if blocked:
        reason += " (promotion blocked: the champion could not be compared)"
    if metrics.get("baseline_note"):
        reason += f". Note: {metrics['baseline_note']}"
    model_metrics = (metrics["baselines"] if kind == "baseline" else metrics["models"])[chosen]
    run_tags = mlflow.MlflowClient().get_run(info["run_id"]).data.tags
    tags = {
        "family": chosen,
        "kind": kind,
        "selected_by": metric,
        "selection_basis": metrics["selection_basis"],
        "schema_hash": schema_hash(schema),
        "data_hash": prepared.data_hash,
        "git_commit": run_tags.get("git_commit", "unknown"),  # the commit that trained it
        "params": json.dumps(flatten(cfg.to_dict()), default=str),
        "metrics": json.dumps({k: v for k, v in model_metrics.items()
                               if isinstance(v, (int, float)) and not isinstance(v, bool)}),
        "threshold": model_metrics["threshold"],
        "threshold_method": model_metrics["threshold_method"],
    }
    if metrics.get("baseline_note"):
        tags["baseline_beats_autoencoders"] = metrics["baseline_note"]
    version = register_version(name, info["model_uri"], info["run_id"], schema, tags, reason)
    set_alias(name, alias, version.version)
    set_version_tags(name, version.version, {"decision": alias, "promoted": promote})
    decision = {
        "model_name": name,
        "model_uri": f"models:/{name}@{CHAMPION}",
        "version": int(version.version),
        "alias": alias,
        "family": chosen,
        "kind": kind,
        "metric": metric,
        "selection_basis": metrics["selection_basis"],
        "candidate_score": candidate_score,
        "champion_version": int(champion.version) if champion is not None else None,
        "champion_score": champion_score,
        "promoted": promote,
        "reason": reason,
    }
    write_json(cfg.paths.registry_report, decision)
    print(f"register: {name} v{version.version} -> @{alias}: {reason}")
    return decision
