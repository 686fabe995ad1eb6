"""The register stage: champion/challenger in the MLflow Model Registry.

The best family (by validation metric) becomes a new registered version. It takes the
``champion`` alias only when it beats the current champion, re-scored on this run's
validation fold, by more than ``register.margin``; otherwise it is tagged ``challenger``.
"""

from __future__ import annotations

import json
from typing import Any

from aeops.config import Config
from aeops.evaluation.metrics import auroc, average_precision
from aeops.io import read_json, write_json
from aeops.stages.common import Prepared, load_prepared
from aeops.stages.evaluation import MODEL_INFO_FILE
from aeops.tracking import (
    CHALLENGER,
    CHAMPION,
    current_version,
    flatten,
    register_version,
    set_alias,
    setup_mlflow,
)


def score_on_validation(model_uri: str, prepared: Prepared, metric: str) -> float:
    """Load a registered detector and compute ``metric`` on this run's validation fold."""
    import mlflow

    val = prepared.splits[prepared.splits["split"] == "val"]
    model = mlflow.pyfunc.load_model(model_uri)
    scores = model.predict(val[prepared.meta.features])["anomaly_score"].to_numpy()
    is_anomaly = val["is_anomaly"].to_numpy(bool)
    fn = auroc if metric == "val_auroc" else average_precision
    return fn(is_anomaly, scores)


def decide(candidate: float, champion: float | None, margin: float) -> bool:
    """Promote when there is no champion, or the candidate beats it by more than ``margin``."""
    return champion is None or candidate > champion + margin


def register(cfg: Config) -> dict[str, Any]:
    import mlflow

    setup_mlflow(cfg)
    prepared = load_prepared(cfg)
    metrics = read_json(cfg.paths.metrics)
    family = metrics["family"]
    info = read_json(cfg.paths.family_eval_dir(family) / MODEL_INFO_FILE)
    name, metric = cfg.register.model_name, cfg.register.metric
    candidate_score = float(metrics["models"][family][metric])

    champion = current_version(name, CHAMPION)
    champion_score, note = None, "no champion yet"
    if champion is not None:
        try:
            champion_score = score_on_validation(f"models:/{name}@{CHAMPION}", prepared, metric)
            note = f"champion v{champion.version} scores {metric}={champion_score:.4f} here"
        except Exception as exc:  # noqa: BLE001 - any failure to score means "cannot compare"
            note = f"champion v{champion.version} cannot score this data ({exc})"
    promote = decide(candidate_score, champion_score, cfg.register.margin)
    reason = (f"{family} chosen among {cfg.models.families} by {metric}="
              f"{candidate_score:.4f}; {note}; margin {cfg.register.margin}: "
              f"{'promoted to champion' if promote else 'kept as challenger'}")
    model_metrics = metrics["models"][family]
    run_tags = mlflow.MlflowClient().get_run(info["run_id"]).data.tags
    tags = {
        "family": family,
        "selected_by": metric,
        "data_hash": prepared.data_hash,
        "git_commit": run_tags.get("git_commit", "unknown"),  # the commit that trained it
        "params": json.dumps(flatten(cfg.to_dict()), default=str),
        "metrics": json.dumps({k: v for k, v in model_metrics.items()
                               if isinstance(v, (int, float))}),
        "threshold": model_metrics["threshold"],
        "threshold_method": model_metrics["threshold_method"],
        "decision": "champion" if promote else "challenger",
    }
    version = register_version(name, info["model_uri"], info["run_id"], tags, reason)
    set_alias(name, CHAMPION if promote else CHALLENGER, version.version)
    decision = {
        "model_name": name,
        "version": int(version.version),
        "alias": CHAMPION if promote else CHALLENGER,
        "family": family,
        "metric": metric,
        "candidate_score": candidate_score,
        "champion_version": int(champion.version) if champion is not None else None,
        "champion_score": champion_score,
        "promoted": promote,
        "reason": reason,
    }
    write_json(cfg.paths.registry_report, decision)
    print(f"register: {name} v{version.version} -> @{decision['alias']}: {reason}")
    return decision

