"""The register stage: make the MLflow store hold what the DVC-tracked outputs say, for every
task by one rule.

DVC caches files, not MLflow's runs and registered versions, so this stage runs on every
``dvc repro`` (``always_changed``) and is cheap when nothing is to do: when the store it last
wrote to (its ``aeops.store_id``, read straight from SQLite) and the chosen model (the key of
the files it packs) are unchanged, it stops there. Otherwise it

1. restores what the store lacks: every model's run and logged pyfunc (recreated from the
   tracked files: a new store, or outputs DVC restored from its run cache);
2. registers the chosen model under its schema's and task's name, unless a version of exactly
   these files exists (a re-run after a crash finishes that version instead of adding one);
3. decides with the one promotion rule (:func:`aeops.tracking.promotion.decide`):
   ``champion`` only when it beats the current champion, re-scored on this run's validation
   data with the same metric, by more than ``register.margin``, and never for a DVC
   experiment (``aeops promote`` does that); otherwise ``challenger``. A champion that cannot
   be scored blocks the promotion and the reason is recorded.

The MLflow work is :mod:`aeops.tracking.registration`'s (gather, apply, restore); what
differs by the kind of model (its files, how a champion is re-scored, how it is logged, what
travels with it: a detector's ONNX export) is here, in :data:`KINDS`.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aeops.config import Config
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
from aeops.tracking.names import CHAMPION, detector_key
from aeops.tracking.store import store_id

if TYPE_CHECKING:  # the no-op path (nothing to register) imports none of these: it starts fast
    from aeops.evaluation.results import Comparison
    from aeops.stages.common import Prepared
    from aeops.tracking.registration import Logged
    from aeops.tracking.runs import Tracking

log = logging.getLogger(__name__)


def experiment_name() -> str | None:
    """The DVC experiment this process runs for (None in the workspace)."""
    return os.environ.get("DVC_EXP_NAME") or None


def in_sync(previous: dict | None, key: str, store: str | None, experiment: str | None) -> bool:
    """The last registration (``previous``: the report) was of this model, into the store
    configured now (its id ``store``), for the same experiment (or the workspace)."""
    if not previous or previous.get("detector_key") != key:
        return False
    return (
        store is not None
        and store == previous.get("store_id")
        and previous.get("experiment") == experiment
    )


def chosen_of(metrics: dict[str, Any]) -> tuple[str, str]:
    """(the chosen model, its kind), read from metrics.json without parsing the rest."""
    return metrics["family"], metrics["kind"]


def register(cfg: Config) -> dict[str, Any]:
    metrics = read_json(cfg.paths.metrics)
    chosen, kind = chosen_of(metrics)
    key = detector_key(*model_files(cfg, chosen, kind))
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
    return synchronise(cfg, key)


# -- what differs by the kind of model the task trains ------------------------------------


def validation_rows(prepared: Prepared, metric: str):
    """The validation rows ``metric`` is measured on: real rows, or real normal rows plus
    synthetic anomalies."""
    from aeops.data.split import SPLIT_COLUMN
    from aeops.data.synthetic import SYNTHETIC_COLUMN

    val = prepared.splits[prepared.splits[SPLIT_COLUMN] == "val"]
    synthetic = val[SYNTHETIC_COLUMN].astype(str) != ""
    if "synthetic" in metric:
        return val[~val["is_anomaly"] | synthetic]
    return val[~synthetic]


class Detectors:
    """A detector (a family, the ensemble or a baseline): its model file with the
    preprocessor and ``detector.json``; re-scored through its pyfunc; logged with an input
    example; exported to ONNX beside the registered version."""

    @staticmethod
    def files(cfg: Config, name: str, kind: str) -> tuple[Path, ...]:
        preprocessor = Path(cfg.paths.preprocessor)
        if kind == "baseline":
            folder = Path(cfg.paths.baselines_dir) / name
            return folder / BASELINE_FILE, preprocessor, folder / DETECTOR_FILE
        if kind == ENSEMBLE:
            folder = cfg.paths.family_eval_dir(name)
            return folder / ENSEMBLE_FILE, preprocessor, folder / DETECTOR_FILE
        folder = cfg.paths.family_eval_dir(name)
        return cfg.paths.model_dir(name) / MODEL_FILE, preprocessor, folder / DETECTOR_FILE

    @staticmethod
    def rescore(cfg: Config, prepared: Prepared, metric: str, uri: str) -> float:
        """A registered detector's ``metric`` on this run's validation fold (a use's metric:
        as evaluate measures it; ``-inf`` for a detector without a code)."""
        from aeops.evaluation.metrics import ranking_metric
        from aeops.evaluation.selection import is_measured
        from aeops.evaluation.uses import Corruption, use_metric_of
        from aeops.tracking.registry import load_pyfunc

        val = validation_rows(prepared, metric)
        model = load_pyfunc(uri)
        if is_measured(metric):
            normal = val[~val["is_anomaly"].to_numpy(bool)]
            pipeline = model.unwrap_python_model().detector
            noise = cfg.models.family("denoising")
            corruption = Corruption(noise.noise, noise.noise_level, cfg.seed)
            return use_metric_of(pipeline, normal, prepared.meta, corruption, metric)
        scores = model.predict(val[prepared.meta.features])["anomaly_score"].to_numpy()
        is_anomaly = val["is_anomaly"].to_numpy(bool)
        return ranking_metric(metric)(is_anomaly, scores)

    @staticmethod
    def logger(cfg: Config, prepared: Prepared, files: tuple, report: dict) -> Any:
        """How to log this detector again into a run (its plots beside ``detector.json``)."""
        from aeops.serving.pyfunc import log_detector
        from aeops.stages.common import example_rows
        from aeops.tracking.runs import dataset_input

        def log(run_id: str) -> Any:
            example, dataset = example_rows(prepared), dataset_input(cfg, prepared.data_hash)
            pngs = sorted((files[-1].parent / PLOTS_DIR).glob("*.png"))
            return log_detector(run_id, report, pngs, files, example=example, dataset=dataset)

        return log

    @staticmethod
    def publish(
        cfg: Config, tracking: Tracking, decided: tuple, record: Any, prepared: Prepared
    ) -> Any:
        """The version's ONNX export (and the champion's, in ``paths.onnx``) and the serving
        example beside the reports."""
        from dataclasses import replace

        record = replace(record, onnx=attach_export(cfg, tracking, decided, prepared))
        write_serving_example(cfg, prepared)
        return record


class Denoisers:
    """A denoiser: its weights and record; re-scored by its validation PSNR; served by
    ``aeops denoise`` (no ONNX export)."""

    @staticmethod
    def files(cfg: Config, name: str, kind: str) -> tuple[Path, ...]:
        from aeops.models.denoisers.unet import SPEC, WEIGHTS

        folder = cfg.paths.model_dir(name)
        return folder / WEIGHTS, folder / SPEC

    @staticmethod
    def rescore(cfg: Config, prepared: Prepared, metric: str, uri: str) -> float:
        """A registered denoiser's validation PSNR over its headline sigmas, on this run's
        noisy validation images (what evaluate measured the trained ones on)."""
        import tempfile

        import numpy as np

        from aeops.evaluation.denoising import headline_sigmas, measure
        from aeops.models.denoisers import load_denoiser
        from aeops.serving.pyfunc import downloaded
        from aeops.stages.measure import evaluation_inputs

        with tempfile.TemporaryDirectory() as tmp:
            held = load_denoiser(downloaded(uri, Path(tmp)))
        inputs = evaluation_inputs(cfg, prepared)
        sigmas = headline_sigmas(list(cfg.evaluate.denoise_sigmas), held.noise)
        scores = [measure(inputs.noisy(s)[0], held.denoise)["psnr_db"] for s in sigmas]
        return float(np.mean(scores))

    @staticmethod
    def logger(cfg: Config, prepared: Prepared, files: tuple, report: dict) -> Any:
        """How to log this denoiser again into a run (its folder, tagged with its key)."""
        from aeops.serving.pyfunc import log_denoiser

        key = detector_key(*files)
        return lambda run_id: log_denoiser(run_id, report, [], files[0].parent, key)

    @staticmethod
    def publish(
        cfg: Config, tracking: Tracking, decided: tuple, record: Any, prepared: Prepared
    ) -> Any:
        return record  # served by `aeops denoise` from the registry: nothing else travels


KINDS: dict[str, Any] = {"autoencoder": Detectors, "denoiser": Denoisers}  # the task's kind


def model_files(cfg: Config, name: str, kind: str) -> tuple[Path, ...]:
    """The files a deployable model packs: a detector's model file, preprocessor and
    ``detector.json``; a denoiser's weights and record."""
    return KINDS[cfg.use.model_kind].files(cfg, name, kind)


def logged_models(cfg: Config, comparison: Comparison, prepared: Prepared) -> list[Logged]:
    """Every model evaluate logged, with how to log it again (a store that lacks it)."""
    from aeops.tracking.registration import Logged

    ops = KINDS[cfg.use.model_kind]
    out = []
    for name, result in comparison.everyone.items():
        files = ops.files(cfg, name, result.kind)
        trained = result.kind not in ("baseline", ENSEMBLE)
        record = read_json(cfg.paths.model_dir(name) / RUN_FILE) if trained else None
        log = ops.logger(cfg, prepared, files, result.record())
        out.append(Logged(name, result.kind, detector_key(*files), files[0], record, log))
    return out


def synchronise(cfg: Config, key: str) -> dict[str, Any]:
    """Restore what the store lacks, then gather, decide and apply (the stage past its quick
    check); then what travels with the version, and the reports."""
    from dataclasses import replace
    from functools import partial

    from aeops.evaluation.results import Comparison
    from aeops.stages.common import load_prepared
    from aeops.tracking.promotion import decide
    from aeops.tracking.registration import apply, gather, registration, restore_runs
    from aeops.tracking.runs import open_tracking

    comparison = Comparison.load(cfg.paths.metrics)
    prepared = load_prepared(cfg)
    tracking = open_tracking(cfg)
    restored = restore_runs(
        tracking, cfg, prepared.data_hash, logged_models(cfg, comparison, prepared)
    )
    if restored:
        log.info(
            f"register: this store lacked the runs of {restored}; logged them again from "
            "the tracked outputs"
        )
    rescore = KINDS[cfg.use.model_kind].rescore
    context = (prepared.meta.schema(), prepared.data_hash, experiment_name())
    candidate, champion = gather(
        tracking, cfg, comparison, key, context, partial(rescore, cfg, prepared, comparison.metric)
    )
    decision = decide(candidate, champion, cfg.register)
    version = apply(tracking, cfg, decision, candidate)
    record = registration(candidate, champion, decision, version, store_id(cfg) or "")
    record = replace(record, restored=restored)
    return publish(cfg, tracking, (candidate, version, decision), record, prepared)


def publish(cfg: Config, tracking: Tracking, decided: tuple, record: Any, prepared: Prepared):
    """What travels with the registered version (the kind's own: a detector's ONNX export),
    the register report and the run report."""
    from aeops.reporting.report import write_report
    from aeops.tracking.registration import attach_report

    candidate, version, decision = decided
    record = KINDS[cfg.use.model_kind].publish(cfg, tracking, decided, record, prepared)
    write_json(cfg.paths.registry_report, record.record())
    page = write_report(cfg)
    attach_report(tracking, candidate, version, page)
    log.info(f"register: {candidate.name} v{version} -> @{decision.alias}: {decision.reason}")
    if decision.blocked:
        log.info(
            f"register: to replace the champion anyway: make promote VERSION={version}"
            f" MODEL={candidate.name}  (or: aeops promote {version} --name {candidate.name})"
        )
    return record.record()


def attach_export(
    cfg: Config, tracking: Tracking, decided: tuple, prepared: Prepared
) -> str | None:
    """The registered detector as an ONNX folder (:mod:`aeops.serving.export`), attached to
    the version (its run's ``onnx/`` artifacts, the version's ``onnx`` tag); a champion's is
    also written to ``paths.onnx``, what ``aeops score --engine onnx`` scores with. Returns
    that folder, or the one the champion already has (None: none yet)."""
    import tempfile

    from aeops.serving.export import export_onnx
    from aeops.serving.pipeline import DetectorPipeline
    from aeops.tracking.registration import attach_folder

    candidate, version, decision = decided
    files = model_files(cfg, candidate.family, candidate.kind)
    pipeline = DetectorPipeline.from_files(*files)
    val = validation_rows(prepared, "val_auroc")
    reference = val[~val["is_anomaly"].to_numpy(bool)]
    made_from = {"model_uri": f"models:/{candidate.name}/{version}", "detector_key": candidate.key}
    local = Path(cfg.paths.onnx)
    with tempfile.TemporaryDirectory(prefix="aeops-onnx-") as scratch:
        # a version that is not the champion is exported beside, logged, then removed
        exported = local if decision.alias == CHAMPION else Path(scratch) / "onnx"
        export_onnx(pipeline, exported, made_from, reference)
        attach_folder(tracking, candidate, version, "onnx", exported)
    return str(local) if local.exists() else None


def write_serving_example(cfg: Config, prepared: Prepared) -> Path:
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
