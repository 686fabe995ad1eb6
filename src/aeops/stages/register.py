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

The decision is a pure function: :func:`gather` reads what it needs from the store (a
:class:`Candidate` and a :class:`Champion`), :func:`decide` makes the :class:`Decision`, and
:func:`apply` carries it out in the store and writes the report. The stage opens one
:class:`~aeops.tracking.runs.Tracking` handle and passes it down.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aeops.config import Config
from aeops.core.errors import RegistryError
from aeops.core.files import (
    BASELINE_FILE,
    DETECTOR_FILE,
    ENSEMBLE,
    ENSEMBLE_FILE,
    MODEL_FILE,
    PLOTS_DIR,
    RUN_FILE,
)
from aeops.core.io import read_json, write_json
from aeops.tracking.names import (
    CHAMPION,
    DETECTOR_KEY_TAG,
    METRIC_TAG_PREFIX,
    detector_key,
)
from aeops.tracking.store import store_id

if TYPE_CHECKING:  # the no-op path (nothing to register) imports none of these: it starts fast
    from aeops.tracking.promotion import Candidate, Champion, Decision
    from aeops.tracking.runs import Tracking

log = logging.getLogger(__name__)


def detector_files(cfg: Config, name: str, kind: str) -> tuple[Path, Path, Path]:
    """(model file, preprocessor, detector.json) of a family, the ensemble or a baseline."""
    if kind == "baseline":
        folder = Path(cfg.paths.baselines_dir) / name
        return folder / BASELINE_FILE, Path(cfg.paths.preprocessor), folder / DETECTOR_FILE
    if kind == ENSEMBLE:
        folder = cfg.paths.family_eval_dir(name)
        return folder / ENSEMBLE_FILE, Path(cfg.paths.preprocessor), folder / DETECTOR_FILE
    return (
        cfg.paths.model_dir(name) / MODEL_FILE,
        Path(cfg.paths.preprocessor),
        cfg.paths.family_eval_dir(name) / DETECTOR_FILE,
    )


def experiment_name() -> str | None:
    """The DVC experiment this process runs for (None in the workspace)."""
    return os.environ.get("DVC_EXP_NAME") or None


def in_sync(previous: dict | None, key: str, store: str | None, experiment: str | None) -> bool:
    """The last registration (``previous``: the report) was of this detector, into the store
    configured now (its id ``store``), for the same experiment (or the workspace)."""
    if not previous or previous.get("detector_key") != key:
        return False
    return (
        store is not None
        and store == previous.get("store_id")
        and previous.get("experiment") == experiment
    )


def register(cfg: Config) -> dict[str, Any]:
    if cfg.task == "denoise":
        from aeops.stages.denoise_register import register_denoiser

        return register_denoiser(cfg)
    metrics = read_json(cfg.paths.metrics)
    key = detector_key(*detector_files(cfg, metrics["family"], metrics["kind"]))
    report = Path(cfg.paths.registry_report)
    previous = read_json(report) if report.exists() else None
    if previous is not None and in_sync(previous, key, store_id(cfg), experiment_name()):
        log.info(
            f"register: the store holds {previous['model_name']} v{previous['version']} "
            "for these files; nothing to do"
        )
        if not Path(cfg.paths.report).exists():  # a no-op stays fast: rebuilt only if gone
            from aeops.reporting.report import write_report

            write_report(cfg)
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


def score_on_validation(model_uri: str, prepared, metric: str, cfg: Config) -> float:
    """Load a registered detector and compute ``metric`` on this run's validation fold (a
    use's metric: as evaluate measures it; ``-inf`` for a detector without a code)."""
    import mlflow

    from aeops.evaluation.metrics import ranking_metric
    from aeops.evaluation.uses import USE_METRICS, Corruption, use_metric_of

    val = validation_rows(prepared, metric)
    model = mlflow.pyfunc.load_model(model_uri)
    if metric in USE_METRICS:
        normal = val[~val["is_anomaly"].to_numpy(bool)]
        pipeline = model.unwrap_python_model().detector
        noise = cfg.models.family("denoising")
        corruption = Corruption(noise.noise, noise.noise_level, cfg.seed)
        return use_metric_of(pipeline, normal, prepared.meta, corruption, metric)
    scores = model.predict(val[prepared.meta.features])["anomaly_score"].to_numpy()
    is_anomaly = val["is_anomaly"].to_numpy(bool)
    return ranking_metric(metric)(is_anomaly, scores)


def use_summary(report: dict[str, Any]) -> str:
    """One line of what a model does at the other uses (test normal rows), for its tags; ""
    for a model without a code."""
    parts = []
    if "test_psnr_gain_db" in report:
        parts.append(f"denoising {report['test_psnr_gain_db']:+.2f} dB PSNR")
    if "test_code_psnr_db" in report:
        parts.append(
            f"code {report['test_code_bytes_per_row']:.0f} B/row (int8 "
            f"{report['test_code_int8_bytes_per_row']:.0f}) at {report['test_code_psnr_db']:.1f} dB"
        )
    if "test_trustworthiness" in report:
        parts.append(f"trustworthiness {report['test_trustworthiness']:.3f}")
    if "test_knn_accuracy" in report:
        parts.append(f"k-NN accuracy {report['test_knn_accuracy']:.3f}")
    return "; ".join(parts)


def headline_metric_tags(report: dict[str, Any]) -> dict[str, float]:
    """``metric.<name>``, rounded to 4 places, for each metric a model can be chosen by
    (detection and the other uses), on validation and test: one short tag each, where the
    model page shows them. Every figure is a metric of the version's run."""
    from aeops.evaluation.uses import USE_METRICS

    names = ["val_auroc", "val_average_precision", *USE_METRICS]
    names += [name.replace("val_", "test_", 1) for name in names]
    return {
        f"{METRIC_TAG_PREFIX}{name}": round(float(report[name]), 4)
        for name in names
        if isinstance(report.get(name), (int, float)) and not isinstance(report.get(name), bool)
    }


def version_tags(candidate: Candidate, cfg: Config, git_commit: str) -> dict[str, Any]:
    """The tags a new version is registered with: what it is, how it was chosen, its data,
    code, a digest of its params (the run holds them, and ``aeops/params.json``) and its
    headline metrics."""
    from aeops.data.schema import schema_hash
    from aeops.tracking.names import flatten

    report = candidate.evaluation
    tags = {
        "family": candidate.family,
        "kind": candidate.kind,
        DETECTOR_KEY_TAG: candidate.key,
        "selected_by": candidate.metric,
        "selection_basis": candidate.selection_basis,
        "schema_hash": schema_hash(candidate.schema),
        "data_hash": candidate.data_hash,
        "git_commit": git_commit,
        "params_digest": hashlib.sha256(
            json.dumps(flatten(cfg.to_dict()), default=str, sort_keys=True).encode()
        ).hexdigest()[:12],
        **headline_metric_tags(report),
        "threshold": report["threshold"],
        "threshold_method": report["threshold_method"],
    }
    uses = use_summary(report)
    if uses:
        tags["uses"] = uses
    if candidate.experiment is not None:
        tags["dvc_exp_name"] = candidate.experiment
    if candidate.baseline_note:
        tags["baseline_beats_autoencoders"] = candidate.baseline_note
    if candidate.selection_reason is not None:
        tags["selection_reason"] = candidate.selection_reason
    return tags


def registry_report(
    candidate: Candidate,
    champion: Champion | None,
    decision: Decision,
    version: str,
    store: str,
    restored: list[str],
) -> dict[str, Any]:
    """``reports/register.json``: the registered version, the decision and what it was
    about."""
    return {
        "model_name": candidate.name,
        "model_uri": f"models:/{candidate.name}@{CHAMPION}",
        "version": int(version),
        "alias": decision.alias,
        "family": candidate.family,
        "kind": candidate.kind,
        "metric": candidate.metric,
        "selection_basis": candidate.selection_basis,
        "candidate_score": candidate.score,
        "champion_version": (
            int(champion.version) if champion is not None and champion.version is not None else None
        ),
        "promoted": decision.promote,
        "reason": decision.reason,
        "detector_key": candidate.key,
        "store_id": store,
        "experiment": candidate.experiment,
        "restored": restored,
    }


def restore_detectors(cfg: Config, prepared, metrics: dict, tracking: Tracking) -> list[str]:
    """Log again every family's and baseline's detector that this store does not hold."""
    from aeops.core.io import file_sha256
    from aeops.serving.pyfunc import log_detector
    from aeops.stages.common import example_rows
    from aeops.tracking.names import run_name
    from aeops.tracking.runs import dataset_input, family_run_id, find_detector, run_tags

    restored = []
    entries = [(n, m.get("kind", "autoencoder"), m) for n, m in metrics["models"].items()]
    entries += [(n, "baseline", m) for n, m in metrics["baselines"].items()]
    for name, kind, report in entries:
        files = detector_files(cfg, name, kind)
        if find_detector(tracking.experiment_id, detector_key(*files)) is not None:
            continue
        if kind in ("baseline", ENSEMBLE):  # not trained by a run of their own
            run_id = tracking.client.create_run(
                tracking.experiment_id,
                run_name=run_name(cfg, name),
                tags={
                    **run_tags(name, prepared.data_hash),
                    kind: "true",
                    "aeops.recreated": "true",
                },
            ).info.run_id
            plots_dir = files[2].parent / PLOTS_DIR
        else:  # the run that trained the family's weights (recreated if this store lacks it)
            run_id = family_run_id(
                tracking.experiment_id,
                name,
                file_sha256(files[0]),
                read_json(cfg.paths.model_dir(name) / RUN_FILE),
                prepared.data_hash,
                tracking.client,
                name=run_name(cfg, name),
            )
            plots_dir = cfg.paths.family_eval_dir(name) / PLOTS_DIR
        log_detector(
            run_id,
            report,
            sorted(plots_dir.glob("*.png")),
            files,
            example=example_rows(prepared),
            dataset=dataset_input(cfg, prepared.data_hash),
        )
        restored.append(name)
    return restored


def gather(
    cfg: Config, tracking: Tracking, prepared, metrics: dict, key: str
) -> tuple[Candidate, Champion | None]:
    """Read what :func:`decide` needs: the chosen detector (``metrics.json``, its logged
    detector, a version already holding its files) and what the store holds under its name,
    the champion re-scored on this run's validation fold when the rule compares with it."""
    from aeops.tracking.promotion import Candidate, Champion, Registered, to_compare
    from aeops.tracking.registry import current_version, find_version, model_name, registered_schema
    from aeops.tracking.runs import find_detector

    chosen, kind, metric = metrics["family"], metrics["kind"], metrics["selected_by"]
    logged = find_detector(tracking.experiment_id, key)
    schema = prepared.meta.schema()
    name = model_name(cfg, schema, tracking.client)
    schema_registered = registered_schema(name, tracking.client)
    version = find_version(tracking, name, key)
    current = current_version(name, CHAMPION, tracking.client)
    candidate = Candidate(
        name=name,
        key=key,
        family=chosen,
        kind=kind,
        metric=metric,
        selection_basis=metrics["selection_basis"],
        score=float(metrics[metric]),
        schema=schema,
        experiment=experiment_name(),
        selection_reason=(metrics["selection"]["reason"] if metrics.get("selection") else None),
        baseline_note=metrics.get("baseline_note") or None,
        registered=None
        if version is None
        else Registered(
            version.version,
            version.tags.get("decision") or None,
            version.tags.get("promoted") == "True",
            version.description,
        ),
        evaluation=(metrics["baselines"] if kind == "baseline" else metrics["models"])[chosen],
        data_hash=prepared.data_hash,
        model_uri=logged.model_uri if logged is not None else None,
        run_id=logged.source_run_id if logged is not None else None,
        model_id=logged.model_id if logged is not None else None,
    )
    if schema_registered is None and current is None:
        return candidate, None
    champion = Champion(schema_registered, current.version if current is not None else None)
    if to_compare(candidate, champion):
        try:
            champion = replace(
                champion,
                score=score_on_validation(f"models:/{name}@{CHAMPION}", prepared, metric, cfg),
            )
        except Exception as exc:  # noqa: BLE001 - the reason is recorded, promotion blocked
            champion = replace(champion, error=str(exc))
    return candidate, champion


def apply(
    decision: Decision,
    candidate: Candidate,
    champion: Champion | None,
    cfg: Config,
    tracking: Tracking,
    prepared,
    restored: list[str],
) -> dict[str, Any]:
    """Carry ``decision`` out: register a new version (or finish one a crash left), move the
    alias, then tag the decision; write the report and the serving example."""
    from aeops.reporting.report import write_report
    from aeops.tracking.names import flatten
    from aeops.tracking.registry import register_version, set_alias, set_version_tags

    name, client = candidate.name, tracking.client
    registered = candidate.registered
    if decision.recorded and registered is not None:
        version = registered.version
        log.info(
            f"register: {name} v{version} already holds these files (decided: {decision.alias})"
        )
    else:
        if registered is None:
            if not (candidate.model_uri and candidate.run_id and candidate.model_id):
                raise RegistryError(
                    f"{name}: the chosen detector was not found in the store "
                    "(no logged model to register); rerun `dvc repro evaluate`"
                )
            source = client.get_run(candidate.run_id)
            tags = version_tags(candidate, cfg, source.data.tags.get("git_commit", "unknown"))
            client.log_dict(candidate.run_id, flatten(cfg.to_dict()), "aeops/params.json")
            logged = (candidate.model_uri, candidate.run_id, candidate.model_id)
            version = register_version(
                name, logged, candidate.schema, tags, decision.reason, client
            ).version
        else:
            version = registered.version
            log.info(f"register: finishing {name} v{version}, registered before a crash")
        set_alias(name, decision.alias, version, client)  # the alias first, then what describes it
        set_version_tags(name, version, decision.tags, client)
        if candidate.run_id:  # the run's description in the MLflow UI: why it was chosen
            client.set_tag(
                candidate.run_id,
                "mlflow.note.content",
                f"v{version} @{decision.alias}: {decision.reason}",
            )
    report = registry_report(candidate, champion, decision, version, store_id(cfg) or "", restored)
    report["onnx"] = attach_export(cfg, candidate, (version, decision), tracking, prepared)
    write_json(cfg.paths.registry_report, report)
    write_serving_example(cfg, prepared)
    page = write_report(cfg)
    if candidate.run_id:  # the report travels with the chosen run; the version links to it
        for path in (page, page.with_suffix(".md")):
            client.log_artifact(candidate.run_id, str(path), "report")
        set_version_tags(
            name, version, {"report": f"runs:/{candidate.run_id}/report/{page.name}"}, client
        )
    log.info(f"register: {name} v{version} -> @{decision.alias}: {decision.reason}")
    if decision.blocked:
        log.info(
            f"register: to replace the champion anyway: make promote VERSION={version}"
            f" MODEL={name}  (or: aeops promote {version} --name {name})"
        )
    return report


def attach_export(
    cfg: Config, candidate: Candidate, decided: tuple[str, Decision], tracking: Tracking, prepared
) -> str | None:
    """The registered detector as an ONNX folder (:mod:`aeops.serving.export`), attached to
    the version (its run's ``onnx/`` artifacts, the version's ``onnx`` tag); a champion's is
    also written to ``paths.onnx``, what ``aeops score --engine onnx`` scores with. Returns
    that folder, or the one the champion already has (None: none yet)."""
    import tempfile

    from aeops.serving.export import export_onnx
    from aeops.serving.pipeline import DetectorPipeline
    from aeops.tracking.registry import set_version_tags

    version, decision = decided
    files = detector_files(cfg, candidate.family, candidate.kind)
    pipeline = DetectorPipeline.from_files(*files)
    val = validation_rows(prepared, "val_auroc")
    reference = val[~val["is_anomaly"].to_numpy(bool)]
    made_from = {"model_uri": f"models:/{candidate.name}/{version}", "detector_key": candidate.key}
    local = Path(cfg.paths.onnx)
    with tempfile.TemporaryDirectory(prefix="aeops-onnx-") as scratch:
        # a version that is not the champion is exported beside, logged, then removed
        exported = local if decision.alias == CHAMPION else Path(scratch) / "onnx"
        export_onnx(pipeline, exported, made_from, reference)
        if candidate.run_id:
            tracking.client.log_artifacts(candidate.run_id, str(exported), "onnx")
            tag = {"onnx": f"runs:/{candidate.run_id}/onnx"}
            set_version_tags(candidate.name, version, tag, tracking.client)
    return str(local) if local.exists() else None


def synchronise(cfg: Config, metrics: dict, key: str) -> dict[str, Any]:
    """Restore what the store lacks, then gather, decide and apply (the stage past its quick
    check)."""
    from aeops.stages.common import load_prepared
    from aeops.tracking.promotion import decide
    from aeops.tracking.runs import open_tracking

    prepared = load_prepared(cfg)
    tracking = open_tracking(cfg)
    restored = restore_detectors(cfg, prepared, metrics, tracking)
    if restored:
        log.info(
            f"register: this store lacked the runs of {restored}; logged them again from "
            "the tracked outputs"
        )
    candidate, champion = gather(cfg, tracking, prepared, metrics, key)
    return apply(
        decide(candidate, champion, cfg.register),
        candidate,
        champion,
        cfg,
        tracking,
        prepared,
        restored,
    )


def write_serving_example(cfg: Config, prepared) -> Path:
    """A request body for ``mlflow models serve`` (three validation rows), beside the report:
    ``curl ... -d @reports/serving_example.json``."""
    rows = validation_rows(prepared, "val_auroc").head(3)[prepared.meta.features]
    body = {
        "dataframe_split": {
            "columns": list(rows.columns),
            "data": json.loads(rows.to_json(orient="values")),
        }
    }
    path = Path(cfg.paths.registry_report).with_name("serving_example.json")
    write_json(path, body)
    return path
