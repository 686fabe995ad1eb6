"""The evaluate stage: measure every trained model, the families as one ensemble (where the
task builds one) and the classical baselines on validation and test, then compare them all
(:mod:`aeops.stages.compare`).

One process does it all: evaluation takes seconds per model, while starting a process that
imports torch, scikit-learn and MLflow takes several. Every model is measured by its kind
(:mod:`aeops.stages.measure`) and lands in ``reports/eval/<name>/`` with its figures, its
plots and a deployable pyfunc logged to its MLflow run, so any of them can become champion.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from aeops.config import Config
from aeops.core.files import ENSEMBLE, METRICS_FILE, PLOTS_DIR, RUN_FILE, SCORES_FILE
from aeops.core.io import atomic_dir, file_sha256, own_dir, read_json
from aeops.evaluation.results import Comparison, ModelResult
from aeops.evaluation.selection import ensemble_members, select_best, selection_rows
from aeops.stages.common import load_prepared, require, switch_rule
from aeops.stages.measure import (
    Entry,
    Evaluation,
    family_plots,
    measure_denoiser,
    measure_detector,
)
from aeops.tracking.names import params_digest, run_name
from aeops.tracking.runs import detector_run, family_run_id

log = logging.getLogger(__name__)


def summary_line(result: ModelResult) -> str:
    """The headline numbers a stage prints: what was measured, nothing else."""
    parts = []
    for key, label in (
        ("val_auroc", "val AUROC"),
        ("test_auroc", "test AUROC"),
        ("val_synthetic_auroc", "val AUROC (synthetic)"),
        ("test_synthetic_auroc", "test AUROC (synthetic)"),
        ("test_average_precision", "AP"),
    ):
        value = result.value(key)
        if value is not None:
            parts.append(f"{label} {value:.4f}")
    psnr = result.value("test_psnr_db")
    if psnr is not None:
        parts.append(f"test PSNR {psnr:.2f} dB")
    if result.threshold is not None:
        parts.append(
            f"threshold {result.threshold.value:.4g} ({result.threshold.method}), "
            f"flags {result.figures['test_flagged_share']:.1%} of test rows"
        )
    return "  ".join(parts)


def evaluate(cfg: Config) -> Comparison:
    """Every model in ``models.families``, then the ensemble, then the baselines, then the
    comparison; one handle on the MLflow store for all of it."""
    from aeops.stages.compare import compare
    from aeops.tracking.runs import open_tracking
    from aeops.training.engine import use_reproducible_kernels

    use_reproducible_kernels(cfg.train)  # the scores in reports/eval are DVC outputs too
    prepared = load_prepared(cfg)
    own_dir(cfg.paths.eval_dir)  # each model's folder inside is replaced whole
    ev = Evaluation(cfg, prepared, open_tracking(cfg))
    ev.inputs.sigmas = denoising_sigmas(cfg)
    run_ids: dict[str, str] = {}
    for family in cfg.models.families:
        run_id = evaluate_model(ev, family)
        if run_id is not None:
            run_ids[family] = run_id
    if ev.task.ensemble and cfg.models.ensemble and len(run_ids) >= 2:
        ensemble_id = evaluate_ensemble(ev, list(run_ids))
        if ensemble_id is not None:
            run_ids[ENSEMBLE] = ensemble_id
    evaluate_baselines(ev)
    return compare(ev, run_ids)


def denoising_sigmas(cfg: Config) -> list[float]:
    """Every sigma a trained denoiser is measured at: ``evaluate.denoise_sigmas`` and each
    denoiser's own (its training noise's, when it covers none of them)."""
    from aeops.data.noise import NoiseLevel
    from aeops.evaluation.denoising import headline_sigmas
    from aeops.models.registry import model_kind

    listed = list(cfg.evaluate.denoise_sigmas)
    own = [
        headline_sigmas(listed, NoiseLevel.of(cfg.models.family(f).sigma))
        for f in cfg.models.families
        if model_kind(f) == "denoiser"
    ]
    return sorted(set(listed).union(*own)) if own else []


def family_run(ev: Evaluation, family: str, record: dict) -> str:
    """The MLflow run that trained ``family``'s weights (recreated if this store lacks it)."""
    from aeops.models.registry import weights_file

    cfg = ev.cfg
    return family_run_id(
        ev.tracking.experiment_id,
        family,
        file_sha256(weights_file(cfg.paths.model_dir(family))),
        record,
        ev.prepared.data_hash,
        client=ev.tracking.client,
        name=run_name(cfg, family),
    )


def evaluate_model(ev: Evaluation, family: str) -> str | None:
    """Measure trained model ``family`` (its kind's way) into ``reports/eval/<family>/`` and
    log it to its MLflow run (returned; None: it was skipped)."""
    from aeops.models.registry import load_model, model_kind

    cfg = ev.cfg
    folder = cfg.paths.model_dir(family)
    run = read_json(require(folder / RUN_FILE, f"train@{family}"))
    out_dir = cfg.paths.family_eval_dir(family)
    if run.get("skipped"):
        with atomic_dir(out_dir) as tmp:
            ModelResult(family, "autoencoder", skipped=run["reason"]).save(tmp / METRICS_FILE)
        log.info(f"evaluate[{family}]: skipped: {run['reason']}")
        return None
    model = load_model(folder, cfg.evaluate.batch_size)
    with atomic_dir(out_dir) as tmp:
        entry = Entry(model, family_run(ev, family, run), weights(folder), tmp)
        result = MEASURES[model_kind(family)](ev, entry)
    log.info(f"evaluate[{family}]: {summary_line(result)}")
    return entry.run_id


def measure_family(ev: Evaluation, entry: Entry) -> ModelResult:
    """A family: its plots, then every detection figure and its other uses' measures."""
    plots = (
        family_plots(ev, entry.model, entry.out_dir / PLOTS_DIR) if ev.cfg.evaluate.plots else []
    )
    return measure_detector(ev, entry, plots, uses=ev.task.use_measures)


MEASURES = {"autoencoder": measure_family, "denoiser": measure_denoiser}  # by model kind


def weights(folder: Path) -> Path:
    from aeops.models.registry import weights_file

    return weights_file(folder)


def evaluate_ensemble(ev: Evaluation, trained: list[str]) -> str | None:
    """The ``trained`` families that validation does not show reliably worse than the best
    (:func:`~aeops.evaluation.selection.ensemble_members`) as one detector
    (:mod:`aeops.models.ensemble`), its scales fitted on validation's normal rows and its
    lead the family best on validation; scored, thresholded and logged like any model (its
    own MLflow run); returns the run id, or None when fewer than two families are left."""
    from aeops.models.ensemble import MIN_MEMBERS, EnsembleDetector
    from aeops.models.registry import load_detector

    cfg = ev.cfg
    results = {f: ModelResult.load(cfg.paths.family_eval_dir(f) / METRICS_FILE, f) for f in trained}
    reports = {f: r.record() for f, r in results.items()}
    metric = selection_metric_of(cfg, reports)
    val_rows = {
        f: selection_rows(metric, pd.read_parquet(cfg.paths.family_eval_dir(f) / SCORES_FILE))
        for f in trained
    }
    families, why = ensemble_members(reports, metric, val_rows, switch_rule(cfg))
    if len(families) < MIN_MEMBERS:
        shutil.rmtree(cfg.paths.family_eval_dir(ENSEMBLE), ignore_errors=True)  # an old one
        log.info(f"evaluate[{ENSEMBLE}]: not built: {why}")
        return None
    members = {
        f: load_detector(weights(cfg.paths.model_dir(f)), cfg.evaluate.batch_size) for f in families
    }
    lead = select_best({f: reports[f] for f in families}, metric)
    ensemble = EnsembleDetector(members, lead).fit(ev.train, ev.val)
    with atomic_dir(cfg.paths.family_eval_dir(ENSEMBLE)) as tmp:
        model_path = ensemble.save(tmp)
        sha = {f: file_sha256(weights(cfg.paths.model_dir(f))) for f in families}
        params = {**ensemble.describe(), "members_sha256": params_digest(sha)}
        title = run_name(cfg, ENSEMBLE)
        run_id = detector_run(ev.tracking, ENSEMBLE, params, ev.prepared.data_hash, title, ENSEMBLE)
        result = measure_detector(ev, Entry(ensemble, run_id, model_path, tmp), [], uses=False)
    log.info(f"evaluate[{ENSEMBLE}]: members {why}")
    log.info(f"evaluate[{ENSEMBLE} of {', '.join(families)}]: {summary_line(result)}")
    return run_id


def selection_metric_of(cfg: Config, reports: dict[str, dict]) -> str:
    from aeops.evaluation.metrics import selection_metric

    return selection_metric(cfg.register.metric, reports)


def evaluate_baselines(ev: Evaluation) -> dict[str, ModelResult]:
    """The task's baselines on the same split, each its own MLflow run with a deployable
    detector (so a baseline can be registered when it wins); one run per baseline, params
    and data version, however often evaluate runs. The folder is written even when the task
    measures none (a DVC output)."""
    from aeops.models.baselines import baselines

    cfg, task, results = ev.cfg, ev.task, {}
    settings = task.baseline_settings(cfg.baselines, cfg.code)
    with atomic_dir(cfg.paths.baselines_dir) as root:
        for name, kind in task.baselines(baselines()).items():
            model = kind(settings, cfg.seed).fit(ev.train, ev.val)
            out_dir = root / name
            model_path = model.save(out_dir)
            run_id = detector_run(
                ev.tracking, name, model.params, ev.prepared.data_hash, run_name(cfg, name)
            )
            entry = Entry(model, run_id, model_path, out_dir)
            uses = model.has_code and task.use_measures
            results[name] = measure_detector(ev, entry, [], uses=uses)
            log.info(f"baselines[{name}]: {summary_line(results[name])}")
    return results
