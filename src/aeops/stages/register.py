"""The register stage: make the MLflow store hold what the DVC-tracked outputs say.

DVC caches files, not MLflow's runs and registered versions, so this stage runs on every
``dvc repro`` (``always_changed``) and is cheap when nothing is to do: when the store it last
wrote to (its ``aeops.store_id``, read straight from SQLite) and the chosen detector (the key
of the files it packs) are unchanged, it stops there. Otherwise it

1. restores what the store lacks: every family's and baseline's run and logged detector
   (recreated from the tracked files: a new store, or outputs DVC restored from its run
   cache), so no result is ever assumed to be in MLflow;
2. registers the chosen detector under its schema's name, unless a version of exactly these
   files exists (a re-run after a crash finishes that version instead of adding another);
3. decides: ``champion`` only when it beats the current champion, re-scored on this run's
   validation fold with the same metric, by more than ``register.margin``, and never for a
   DVC experiment (``aeops promote`` does that); otherwise ``challenger``. A champion that
   cannot be scored blocks the promotion and the reason is recorded. The alias moves first,
   then the tags that describe the decision.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.files import BASELINE_FILE, DETECTOR_FILE, MODEL_FILE, PLOTS_DIR, RUN_FILE
from aeops.io import read_json, write_json
from aeops.tracking import CHALLENGER, CHAMPION, DETECTOR_KEY_TAG, detector_key, store_id


def detector_files(cfg: Config, name: str, kind: str) -> tuple[Path, Path, Path]:
    """(model file, preprocessor, detector.json) of a family or a baseline."""
    if kind == "baseline":
        folder = Path(cfg.paths.baselines_dir) / name
        return folder / BASELINE_FILE, Path(cfg.paths.preprocessor), folder / DETECTOR_FILE
    return (cfg.paths.model_dir(name) / MODEL_FILE, Path(cfg.paths.preprocessor),
            cfg.paths.family_eval_dir(name) / DETECTOR_FILE)


def experiment_name() -> str | None:
    """The DVC experiment this process runs for (None in the workspace)."""
    return os.environ.get("DVC_EXP_NAME") or None


def in_sync(cfg: Config, previous: dict | None, key: str) -> bool:
    """The last registration was of this detector, into the store configured now, for the
    same experiment (or the workspace)."""
    if not previous or previous.get("detector_key") != key:
        return False
    current = store_id(cfg)
    return current is not None and current == previous.get("store_id") and previous.get(
        "experiment") == experiment_name()


def register(cfg: Config) -> dict[str, Any]:
    metrics = read_json(cfg.paths.metrics)
    key = detector_key(*detector_files(cfg, metrics["family"], metrics["kind"]))
    report = Path(cfg.paths.registry_report)
    previous = read_json(report) if report.exists() else None
    if in_sync(cfg, previous, key):
        print(f"register: the store holds {previous['model_name']} v{previous['version']} "
              "for these files; nothing to do")
        return previous
    return synchronise(cfg, metrics, key)


def validation_rows(prepared, metric: str):
    """The validation rows ``metric`` is measured on: real rows, or real normal rows plus
    synthetic anomalies."""
    from aeops.data.split import SPLIT_COLUMN
    from aeops.data.synthetic import SYNTHETIC_COLUMN

    val = prepared.splits[prepared.splits[SPLIT_COLUMN] == "val"]
    synthetic = val[SYNTHETIC_COLUMN].astype(str) != ""
    if "synthetic" in metric:
        return val[~val["is_anomaly"] | synthetic]
    return val[~synthetic]


def score_on_validation(model_uri: str, prepared, metric: str) -> float:
    """Load a registered detector and compute ``metric`` on this run's validation fold."""
    import mlflow

    from aeops.evaluation.metrics import ranking_metric

    val = validation_rows(prepared, metric)
    model = mlflow.pyfunc.load_model(model_uri)
    scores = model.predict(val[prepared.meta.features])["anomaly_score"].to_numpy()
    is_anomaly = val["is_anomaly"].to_numpy(bool)
    return ranking_metric(metric)(is_anomaly, scores)


def decide(candidate: float, champion: float | None, margin: float) -> bool:
    """Promote when there is no champion, or the candidate beats it by more than ``margin``."""
    return champion is None or candidate > champion + margin


def restore_detectors(cfg: Config, prepared, metrics: dict, experiment_id: str) -> list[str]:
    """Log again every family's and baseline's detector that this store does not hold."""
    from aeops.pyfunc import log_detector
    from aeops.stages.evaluation import example_rows, family_run
    from aeops.tracking import find_detector, run_tags

    restored = []
    entries = [(n, "autoencoder", m) for n, m in metrics["models"].items()]
    entries += [(n, "baseline", m) for n, m in metrics["baselines"].items()]
    for name, kind, report in entries:
        files = detector_files(cfg, name, kind)
        if find_detector(experiment_id, detector_key(*files)) is not None:
            continue
        if kind == "baseline":
            import mlflow

            run_id = mlflow.MlflowClient().create_run(
                experiment_id, run_name=name,
                tags={**run_tags(name, prepared.data_hash), "baseline": "true",
                      "aeops.recreated": "true"}).info.run_id
            plots_dir = Path(cfg.paths.baselines_dir) / name / PLOTS_DIR
        else:
            run_id = family_run(cfg, prepared, name,
                                read_json(cfg.paths.model_dir(name) / RUN_FILE))
            plots_dir = cfg.paths.family_eval_dir(name) / PLOTS_DIR
        log_detector(run_id, report, sorted(plots_dir.glob("*.png")), *files,
                     example=example_rows(prepared))
        restored.append(name)
    return restored


def find_version(name: str, key: str):
    """The registered version of exactly these files, if one exists."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        versions = mlflow.MlflowClient().search_model_versions(
            f"name = '{name}' and tags.`{DETECTOR_KEY_TAG}` = '{key}'")
    except MlflowException:
        return None
    return max(versions, key=lambda v: int(v.version)) if versions else None


def synchronise(cfg: Config, metrics: dict, key: str) -> dict[str, Any]:
    import mlflow

    from aeops.data.schema import schema_hash
    from aeops.stages.common import load_prepared
    from aeops.tracking import (
        check_registered_schema,
        current_version,
        find_detector,
        flatten,
        model_name,
        register_version,
        set_alias,
        set_version_tags,
        setup_mlflow,
    )

    prepared = load_prepared(cfg)
    experiment_id = setup_mlflow(cfg)
    restored = restore_detectors(cfg, prepared, metrics, experiment_id)
    if restored:
        print(f"register: this store lacked the runs of {restored}; logged them again from "
              "the tracked outputs")
    chosen, kind, metric = metrics["family"], metrics["kind"], metrics["selected_by"]
    logged = find_detector(experiment_id, key)
    schema = prepared.meta.schema()
    name = model_name(cfg, prepared.meta.source, schema)
    check_registered_schema(cfg, name, schema)
    candidate_score = float(metrics[metric])
    version = find_version(name, key)
    champion = current_version(name, CHAMPION)
    blocked = None
    if version is not None and version.tags.get("decision"):
        alias, promote = version.tags["decision"], version.tags.get("promoted") == "True"
        reason = version.description
        print(f"register: {name} v{version.version} already holds these files "
              f"(decided: {alias})")
    else:
        champion_score, note = None, "no champion yet"
        exp = experiment_name()
        if champion is not None and (version is None or champion.version != version.version):
            try:
                champion_score = score_on_validation(f"models:/{name}@{CHAMPION}", prepared,
                                                     metric)
                note = f"champion v{champion.version} scores {metric}={champion_score:.4f} here"
            except Exception as exc:  # noqa: BLE001 - the reason is recorded, promotion blocked
                blocked = f"champion v{champion.version} cannot be scored on this data ({exc})"
                note = blocked
        promote = (blocked is None and exp is None
                   and decide(candidate_score, champion_score, cfg.register.margin))
        alias = CHAMPION if promote else CHALLENGER
        pool = "autoencoders and baselines" if cfg.register.candidates == "all" else \
            "autoencoders"
        reason = (f"{chosen} ({kind}) chosen among the {pool} by {metrics['selection_basis']}"
                  f" = {candidate_score:.4f}; {note}; margin {cfg.register.margin}: "
                  f"{'promoted to champion' if promote else 'kept as challenger'}")
        if blocked:
            reason += " (promotion blocked: the champion could not be compared)"
        if exp is not None:
            reason += (f" (DVC experiment '{exp}': experiments register challengers only; "
                       "`aeops promote` moves the champion)")
        if metrics.get("selection"):
            reason += f". Why {chosen}: {metrics['selection']['reason']}"
        if metrics.get("baseline_note"):
            reason += f". Note: {metrics['baseline_note']}"
        if version is None:
            source = mlflow.MlflowClient().get_run(logged.source_run_id)
            model_metrics = (metrics["baselines"] if kind == "baseline"
                             else metrics["models"])[chosen]
            tags = {
                "family": chosen,
                "kind": kind,
                DETECTOR_KEY_TAG: key,
                "selected_by": metric,
                "selection_basis": metrics["selection_basis"],
                "schema_hash": schema_hash(schema),
                "data_hash": prepared.data_hash,
                "git_commit": source.data.tags.get("git_commit", "unknown"),
                "params": json.dumps(flatten(cfg.to_dict()), default=str),
                "metrics": json.dumps({k: v for k, v in model_metrics.items()
                                       if isinstance(v, (int, float))
                                       and not isinstance(v, bool)}),
                "threshold": model_metrics["threshold"],
                "threshold_method": model_metrics["threshold_method"],
            }
            if exp is not None:
                tags["dvc_exp_name"] = exp
            if metrics.get("baseline_note"):
                tags["baseline_beats_autoencoders"] = metrics["baseline_note"]
            if metrics.get("selection"):
                tags["selection_reason"] = metrics["selection"]["reason"]
            version = register_version(name, logged.model_uri, logged.source_run_id,
                                       logged.model_id, schema, tags, reason)
        else:
            print(f"register: finishing {name} v{version.version}, registered before a crash")
        set_alias(name, alias, version.version)  # the alias first, then what describes it
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
        "promoted": promote,
        "reason": reason,
        "detector_key": key,
        "store_id": store_id(cfg) or "",
        "experiment": experiment_name(),
        "restored": restored,
    }
    write_json(cfg.paths.registry_report, decision)
    write_serving_example(cfg, prepared)
    print(f"register: {name} v{version.version} -> @{alias}: {reason}")
    if blocked:
        print(f"register: to replace the champion anyway: make promote VERSION={version.version}"
              f" MODEL={name}  (or: aeops promote {version.version} --name {name})")
    return decision


def write_serving_example(cfg: Config, prepared) -> Path:
    """A request body for ``mlflow models serve`` (three validation rows), beside the report:
    ``curl ... -d @reports/serving_example.json``."""
    rows = validation_rows(prepared, "val_auroc").head(3)[prepared.meta.features]
    body = {"dataframe_split": {"columns": list(rows.columns),
                                "data": json.loads(rows.to_json(orient="values"))}}
    path = Path(cfg.paths.registry_report).with_name("serving_example.json")
    write_json(path, body)
    return path

