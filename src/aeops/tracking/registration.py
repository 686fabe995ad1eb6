"""Registering the chosen model, for every task: ``gather -> decide -> apply``.

:func:`gather` reads what the rule needs from the store: the :class:`Candidate` (the model
evaluate chose, its logged pyfunc, a version already holding its files) and the
:class:`Champion` under the same registered name, re-scored on this run's validation data by
the caller's ``rescore`` (how depends on the model's kind: a detector's pyfunc, a denoiser's
PSNR). :func:`aeops.tracking.promotion.decide` is the one promotion rule, pure.
:func:`apply` carries the decision out: registers a new version (or finishes one a crash
left), moves the alias, then tags the decision. :func:`restore_runs` first logs again every
model the store lacks (a new store, or outputs DVC restored from its run cache), so no result
is ever assumed to be in MLflow. :class:`Registration` is what ``reports/register.json`` holds.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.core.errors import RegistryError
from aeops.evaluation.metric import USE_METRICS
from aeops.evaluation.results import Comparison, ModelResult
from aeops.tracking.names import CHAMPION, METRIC_TAG_PREFIX, flatten, run_name
from aeops.tracking.promotion import Candidate, Champion, Decision, Registered, to_compare
from aeops.tracking.runs import Tracking, find_detector, run_tags

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registration:
    """What the register stage did last (``reports/register.json``): the registered version,
    the decision and what it was about."""

    model_name: str
    model_uri: str
    version: int
    alias: str
    family: str
    kind: str
    metric: str
    selection_basis: str
    candidate_score: float
    champion_version: int | None
    promoted: bool
    reason: str
    detector_key: str
    store_id: str
    experiment: str | None
    restored: list[str]
    onnx: str | None = None

    def record(self) -> dict[str, Any]:
        return asdict(self)


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
    """``metric.<name>``, rounded to 4 places, for each metric a model can be chosen by (every
    task's), on validation and test: one short tag each, where the model page shows them.
    Every figure is a metric of the version's run."""
    names = ["val_auroc", "val_average_precision", *USE_METRICS, "val_psnr_db"]
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
    from aeops.tracking.names import DETECTOR_KEY_TAG

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
    }
    if "threshold" in report:
        tags.update(threshold=report["threshold"], threshold_method=report["threshold_method"])
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


def registration(
    candidate: Candidate, champion: Champion | None, decision: Decision, version: str, store: str
) -> Registration:
    """The register report of a decision carried out."""
    return Registration(
        model_name=candidate.name,
        model_uri=f"models:/{candidate.name}@{CHAMPION}",
        version=int(version),
        alias=decision.alias,
        family=candidate.family,
        kind=candidate.kind,
        metric=candidate.metric,
        selection_basis=candidate.selection_basis,
        candidate_score=candidate.score,
        champion_version=(
            int(champion.version) if champion is not None and champion.version is not None else None
        ),
        promoted=decision.promote,
        reason=decision.reason,
        detector_key=candidate.key,
        store_id=store,
        experiment=candidate.experiment,
        restored=[],
    )


@dataclass(frozen=True)
class Logged:
    """One model's files and how to log it again into a run: ``log(run_id)``."""

    name: str
    kind: str
    key: str
    weights: Path
    record: dict[str, Any] | None  # the training run's record (a trained model's run.json)
    log: Callable[[str], Any]


def restore_runs(
    tracking: Tracking, cfg: Config, data_hash: str, models: list[Logged]
) -> list[str]:
    """Log again every model this store does not hold (found by the key of its files); a
    trained model goes back to the run that trained its weights (recreated if missing), a
    baseline or ensemble to a run of its own. Returns the names restored."""
    from aeops.core.io import file_sha256
    from aeops.tracking.runs import family_run_id

    restored = []
    for model in models:
        if find_detector(tracking.experiment_id, model.key) is not None:
            continue
        if model.record is None:  # not trained by a run of its own
            run_id = tracking.client.create_run(
                tracking.experiment_id,
                run_name=run_name(cfg, model.name),
                tags={
                    **run_tags(model.name, data_hash),
                    model.kind: "true",
                    "aeops.recreated": "true",
                },
            ).info.run_id
        else:
            run_id = family_run_id(
                tracking.experiment_id,
                model.name,
                file_sha256(model.weights),
                model.record,
                data_hash,
                tracking.client,
                name=run_name(cfg, model.name),
            )
        model.log(run_id)
        restored.append(model.name)
    return restored


def gather(
    tracking: Tracking,
    cfg: Config,
    comparison: Comparison,
    key: str,
    context: tuple[dict[str, Any], str | None, str | None],
    rescore: Callable[[str], float],
) -> tuple[Candidate, Champion | None]:
    """Read what :func:`~aeops.tracking.promotion.decide` needs: the chosen model (its
    logged pyfunc, a version already holding its files) and what the store holds under its
    name, the champion re-scored by ``rescore(model_uri)`` when the rule compares with it.
    ``context``: (the input schema, the data's hash, the DVC experiment or None)."""
    from aeops.tracking.registry import current_version, model_name, registered_schema

    name = model_name(cfg, context[0], tracking.client)
    candidate = candidate_of(tracking, comparison, key, name, context)
    schema_registered = registered_schema(name, tracking.client)
    current = current_version(name, CHAMPION, tracking.client)
    if schema_registered is None and current is None:
        return candidate, None
    champion = Champion(schema_registered, current.version if current is not None else None)
    if to_compare(candidate, champion):
        try:
            champion = replace(champion, score=rescore(f"models:/{name}@{CHAMPION}"))
        except Exception as exc:  # noqa: BLE001 - the reason is recorded, promotion blocked
            champion = replace(champion, error=str(exc))
    return candidate, champion


def candidate_of(
    tracking: Tracking, comparison: Comparison, key: str, name: str, context: tuple
) -> Candidate:
    """The chosen model as the rule sees it."""
    from aeops.tracking.registry import find_version

    schema, data_hash, experiment = context
    logged = find_detector(tracking.experiment_id, key)
    version = find_version(tracking, name, key)
    winner: ModelResult = comparison.winner
    return Candidate(
        name=name,
        key=key,
        family=comparison.chosen,
        kind=comparison.kind,
        metric=comparison.metric,
        selection_basis=comparison.basis,
        score=float(comparison.headline[comparison.metric]),
        schema=schema,
        experiment=experiment,
        selection_reason=comparison.reason,
        baseline_note=comparison.note("baseline_note") or None,
        registered=None
        if version is None
        else Registered(
            version.version,
            version.tags.get("decision") or None,
            version.tags.get("promoted") == "True",
            version.description,
        ),
        evaluation=winner.record(),
        data_hash=data_hash,
        model_uri=logged.model_uri if logged is not None else None,
        run_id=logged.source_run_id if logged is not None else None,
        model_id=logged.model_id if logged is not None else None,
    )


def apply(tracking: Tracking, cfg: Config, decision: Decision, candidate: Candidate) -> str:
    """Carry ``decision`` out: register a new version (or finish one a crash left), move the
    alias, then tag the decision. Returns the version."""
    from aeops.tracking.registry import register_version, set_alias, set_version_tags

    name, client = candidate.name, tracking.client
    registered = candidate.registered
    if decision.recorded and registered is not None:
        log.info(
            f"register: {name} v{registered.version} already holds these files "
            f"(decided: {decision.alias})"
        )
        return registered.version
    if registered is None:
        if not (candidate.model_uri and candidate.run_id and candidate.model_id):
            raise RegistryError(
                f"{name}: the chosen model was not found in the store "
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
        note = f"v{version} @{decision.alias}: {decision.reason}"
        client.set_tag(candidate.run_id, "mlflow.note.content", note)
    return version


def attach_report(tracking: Tracking, candidate: Candidate, version: str, page: Path) -> None:
    """The run's report (HTML and the Markdown beside it) travels with the chosen run; the
    version's ``report`` tag links to it."""
    from aeops.tracking.registry import set_version_tags

    if not candidate.run_id:
        return
    for path in (page, page.with_suffix(".md")):
        tracking.client.log_artifact(candidate.run_id, str(path), "report")
    tag = {"report": f"runs:/{candidate.run_id}/report/{page.name}"}
    set_version_tags(candidate.name, version, tag, tracking.client)


def attach_folder(
    tracking: Tracking, candidate: Candidate, version: str, name: str, folder: Path
) -> None:
    """A folder (the ONNX export) logged to the chosen run as ``name/``; the version's
    ``name`` tag links to it."""
    from aeops.tracking.registry import set_version_tags

    if not candidate.run_id:
        return
    tracking.client.log_artifacts(candidate.run_id, str(folder), name)
    tag = {name: f"runs:/{candidate.run_id}/{name}"}
    set_version_tags(candidate.name, version, tag, tracking.client)
