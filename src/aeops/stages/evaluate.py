"""The evaluate stage: score every trained family, the families as one ensemble and the
classical baselines on val and test, then compare them all (:mod:`aeops.stages.compare`).

One process does it all: evaluation takes seconds per model, while starting a process that
imports torch, scikit-learn and MLflow takes several. Every model is a
:class:`~aeops.models.base.Detector` and ends the same way (:func:`finish`): metrics chosen
honestly for what the folds hold, the threshold picked on validation, a score histogram, and
a deployable pyfunc detector logged to the model's MLflow run, so any of them can become
champion.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.core.files import (
    DETECTOR_FILE,
    ENSEMBLE,
    METRICS_FILE,
    MODEL_FILE,
    PLOTS_DIR,
    RUN_FILE,
    SCORES_FILE,
)
from aeops.core.io import atomic_dir, file_sha256, own_dir, read_json, write_json, write_parquet
from aeops.data.preprocess import resolve_scaler
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.data.split import Fold
from aeops.evaluation.metrics import ReportSettings, Scored, score_report, selection_metric
from aeops.evaluation.plots import (
    plot_denoising,
    plot_latent,
    plot_reconstructions,
    plot_score_histogram,
)
from aeops.evaluation.selection import ensemble_members, select_best, selection_rows
from aeops.evaluation.uses import Corruption, UseRows, measure, use_rows
from aeops.models.base import Detector
from aeops.models.ensemble import MIN_MEMBERS, EnsembleDetector
from aeops.models.registry import load_detector
from aeops.serving.pipeline import DetectorInfo
from aeops.stages.common import Prepared, example_rows, load_prepared, require, switch_rule
from aeops.tracking.names import params_digest, run_name
from aeops.tracking.runs import Tracking, dataset_input, detector_run, family_run_id

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What every model's evaluation shares: params, the prepared data, the store, and the
    rows the use measures run on (validation's and test's normal rows, corrupted once)."""

    cfg: Config
    prepared: Prepared
    tracking: Tracking
    uses: dict[str, UseRows | None] = field(default_factory=dict)

    @cached_property
    def train(self) -> Fold:
        return self.prepared.fold("train")

    @cached_property
    def val(self) -> Fold:
        return self.prepared.fold("val")

    @cached_property
    def test(self) -> Fold:
        return self.prepared.fold("test")

    def settings(self) -> ReportSettings:
        cfg = self.cfg
        return ReportSettings(
            cfg.evaluate.threshold,
            cfg.evaluate.bootstrap,
            cfg.evaluate.ci,
            cfg.seed,
            cfg.data.contamination,
        )


@dataclass(frozen=True)
class Entry:
    """One model being evaluated: the detector, its MLflow run, its file and its folder."""

    detector: Detector
    run_id: str
    model_path: Path
    out_dir: Path


def scores_frame(scored: dict[str, tuple[Fold, np.ndarray]]) -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                SPLIT_COLUMN: split,
                "group": fold.group,
                ANOMALY_COLUMN: fold.is_anomaly,
                SYNTHETIC_COLUMN: fold.synthetic,
                "score": scores,
            }
        )
        for split, (fold, scores) in scored.items()
    ]
    return pd.concat(frames, ignore_index=True)


def finish(
    ev: Evaluation, entry: Entry, extra_plots: list[Path], measure_uses: bool
) -> dict[str, Any]:
    """Metrics (the anomaly ones, and the use measures with ``measure_uses``), scores,
    histogram, ``detector.json`` and the logged pyfunc for one model (to the store the
    stage's :class:`~aeops.tracking.runs.Tracking` handle set up)."""
    from aeops.serving.pyfunc import log_detector

    cfg, detector, out_dir = ev.cfg, entry.detector, entry.out_dir
    val_scores = detector.decision_function(ev.val.x)
    test_scores = detector.decision_function(ev.test.x)
    report = score_report(Scored(ev.val, val_scores), Scored(ev.test, test_scores), ev.settings())
    if measure_uses:
        report.update(measure(detector, ev.uses, cfg.seed))
    report["family"], report["kind"] = detector.name, detector.kind
    detector.threshold_ = float(report["threshold"])
    write_parquet(
        out_dir / SCORES_FILE,
        scores_frame({"val": (ev.val, val_scores), "test": (ev.test, test_scores)}),
    )
    plots = list(extra_plots)
    if cfg.evaluate.plots:
        plots.insert(
            0,
            plot_score_histogram(
                test_scores,
                ev.test.is_anomaly,
                ev.test.synthetic,
                report["threshold"],
                f"{detector.name}: test scores",
                out_dir / PLOTS_DIR / "score_histogram.png",
            ),
        )
    info = DetectorInfo(
        detector.kind,
        detector.name,
        ev.prepared.meta.schema(),
        float(report["threshold"]),
        str(report["threshold_method"]),
        str(report["threshold_detail"]),
        {
            "model": file_sha256(entry.model_path),
            "preprocessor": file_sha256(cfg.paths.preprocessor),
        },
    )
    info.save(out_dir / DETECTOR_FILE)
    log_detector(
        entry.run_id,
        report,
        plots,
        (entry.model_path, Path(cfg.paths.preprocessor), out_dir / DETECTOR_FILE),
        example=example_rows(ev.prepared),
        dataset=dataset_input(cfg, ev.prepared.data_hash),
    )
    write_json(out_dir / METRICS_FILE, report)
    return report


def summary_line(report: dict) -> str:
    """The headline numbers a stage prints: what was measured, nothing else."""
    parts = []
    for key, label in (
        ("val_auroc", "val AUROC"),
        ("test_auroc", "test AUROC"),
        ("val_synthetic_auroc", "val AUROC (synthetic)"),
        ("test_synthetic_auroc", "test AUROC (synthetic)"),
        ("test_average_precision", "AP"),
    ):
        if key in report:
            parts.append(f"{label} {report[key]:.4f}")
    parts.append(
        f"threshold {report['threshold']:.4g} ({report['threshold_method']}), "
        f"flags {report['test_flagged_share']:.1%} of test rows"
    )
    return "  ".join(parts)


def evaluate(cfg: Config) -> dict:
    """Every family in ``models.families``, then the ensemble, then the baselines, then the
    comparison; one handle on the MLflow store for all of it."""
    from aeops.stages.compare import compare
    from aeops.tracking.runs import open_tracking
    from aeops.training.engine import use_reproducible_kernels

    use_reproducible_kernels(cfg.train)  # the scores in reports/eval are DVC outputs too
    if cfg.task == "denoise":
        from aeops.stages.denoise_evaluate import evaluate_denoisers

        return evaluate_denoisers(cfg)
    prepared = load_prepared(cfg)
    own_dir(cfg.paths.eval_dir)  # each family's folder inside is replaced whole
    ev = Evaluation(cfg, prepared, open_tracking(cfg))
    ev.uses = use_folds(cfg, prepared)
    run_ids: dict[str, str] = {}
    for family in cfg.models.families:
        run_id = evaluate_family(ev, family)
        if run_id is not None:
            run_ids[family] = run_id
    # the ensemble is a detector (no code of its own): it has no place in compress / reduce
    if cfg.models.ensemble and cfg.task == "detect" and len(run_ids) >= MIN_MEMBERS:
        ensemble_id = evaluate_ensemble(ev, list(run_ids))
        if ensemble_id is not None:
            run_ids[ENSEMBLE] = ensemble_id
    evaluate_baselines(ev)
    return compare(cfg, run_ids, ev.uses)


def use_folds(cfg: Config, prepared: Prepared) -> dict[str, UseRows | None]:
    """Validation's and test's normal rows for the use measures, corrupted once with the
    denoising family's configured noise (so every model meets the same noisy rows)."""
    train = prepared.fold("train").normal
    shape = prepared.meta.image_shape
    noise = cfg.models.family("denoising")
    folds = {}
    for offset, split in enumerate(("val", "test")):
        fold = prepared.fold(split)
        folds[split] = use_rows(
            fold.normal,
            fold.group[~fold.is_anomaly],
            train,
            Corruption(noise.noise, noise.noise_level, cfg.seed + offset),
            tuple(shape) if shape else None,
        )
    return folds


def family_run(ev: Evaluation, family: str, record: dict) -> str:
    """The MLflow run that trained ``family``'s weights (recreated if this store lacks it)."""
    cfg = ev.cfg
    return family_run_id(
        ev.tracking.experiment_id,
        family,
        file_sha256(cfg.paths.model_dir(family) / MODEL_FILE),
        record,
        ev.prepared.data_hash,
        client=ev.tracking.client,
        name=run_name(cfg, family),
    )


def evaluate_family(ev: Evaluation, family: str) -> str | None:
    """Score val and test; choose the threshold on val; write metrics, scores and plots; log
    them and the deployable pyfunc to the family's MLflow run (returned; None if skipped)."""
    cfg = ev.cfg
    run = read_json(require(cfg.paths.model_dir(family) / RUN_FILE, f"train@{family}"))
    out_dir = cfg.paths.family_eval_dir(family)
    if run.get("skipped"):
        record = {"family": family, "kind": "autoencoder", "skipped": True, "reason": run["reason"]}
        with atomic_dir(out_dir) as tmp:
            write_json(tmp / METRICS_FILE, record)
        log.info(f"evaluate[{family}]: skipped: {run['reason']}")
        return None
    model_path = cfg.paths.model_dir(family) / MODEL_FILE
    detector = load_detector(model_path, cfg.evaluate.batch_size)
    with atomic_dir(out_dir) as tmp:
        plots = family_plots(ev, detector, tmp / PLOTS_DIR) if cfg.evaluate.plots else []
        run_id = family_run(ev, family, run)
        report = finish(ev, Entry(detector, run_id, model_path, tmp), plots, measure_uses=True)
    log.info(f"evaluate[{family}]: {summary_line(report)}")
    return run_id


def family_plots(ev: Evaluation, detector: Detector, folder: Path) -> list[Path]:
    """The test rows' latent space and, for images, reconstructions and denoised rows."""
    test, prepared = ev.test, ev.prepared
    plots = [
        plot_latent(detector.encode(test.x), test.group, test.is_anomaly, folder / "latent.png")
    ]
    shape = prepared.meta.image_shape
    if shape is None:
        return plots
    test_rows = prepared.splits[prepared.splits[SPLIT_COLUMN] == "test"]
    raw = test_rows[prepared.meta.features].to_numpy(np.float64)
    recon = detector.reconstruct(test.x).astype(np.float64)
    if resolve_scaler(ev.cfg.data.scaler, prepared.meta) != "none":
        recon = prepared.preprocessor.inverse_transform(recon).to_numpy(np.float64)
    scores = detector.decision_function(test.x)
    plots.append(plot_reconstructions(raw, recon, scores, shape, folder / "reconstructions.png"))
    rows = ev.uses.get("test")
    if rows is not None:
        noise = ev.cfg.models.family("denoising")
        noisy = rows.noisy[:8]
        plots.append(
            plot_denoising(
                rows.clean[:8],
                noisy,
                detector.reconstruct(noisy),
                shape,
                folder / "denoising.png",
                f"{detector.name}: clean, noisy ({noise.noise} {noise.noise_level}), "
                "denoised (test rows)",
            )
        )
    return plots


def evaluate_ensemble(ev: Evaluation, trained: list[str]) -> str | None:
    """The ``trained`` families that validation does not show reliably worse than the best
    (:func:`~aeops.evaluation.selection.ensemble_members`) as one detector
    (:mod:`aeops.models.ensemble`), its scales fitted on validation's normal rows and its
    lead the family best on validation; scored, thresholded and logged like any model (its
    own MLflow run); returns the run id, or None when fewer than two families are left."""
    cfg = ev.cfg
    reports = {f: read_json(cfg.paths.family_eval_dir(f) / METRICS_FILE) for f in trained}
    metric = selection_metric(cfg.register.metric, reports)
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
        f: load_detector(cfg.paths.model_dir(f) / MODEL_FILE, cfg.evaluate.batch_size)
        for f in families
    }
    lead = select_best({f: reports[f] for f in families}, metric)
    ensemble = EnsembleDetector(members, lead).fit(ev.train, ev.val)
    with atomic_dir(cfg.paths.family_eval_dir(ENSEMBLE)) as tmp:
        model_path = ensemble.save(tmp)
        weights = {f: file_sha256(cfg.paths.model_dir(f) / MODEL_FILE) for f in families}
        params = {**ensemble.describe(), "members_sha256": params_digest(weights)}
        run_id = detector_run(
            ev.tracking,
            ENSEMBLE,
            params,
            ev.prepared.data_hash,
            run_name(cfg, ENSEMBLE),
            ENSEMBLE,
        )
        report = finish(ev, Entry(ensemble, run_id, model_path, tmp), [], measure_uses=False)
    log.info(f"evaluate[{ENSEMBLE}]: members {why}")
    log.info(f"evaluate[{ENSEMBLE} of {', '.join(families)}]: {summary_line(report)}")
    return run_id


def evaluate_baselines(ev: Evaluation) -> dict[str, dict]:
    """PCA, Isolation Forest, k-NN and ECOD on the same split, each its own MLflow run with a
    deployable detector (so a baseline can be registered when it wins); one run per baseline,
    params and data version, however often evaluate runs."""
    from aeops.stages.compare import baseline_settings, run_baselines

    cfg, results = ev.cfg, {}
    with atomic_dir(cfg.paths.baselines_dir) as root:
        for name, kind in run_baselines(cfg).items():
            model = kind(baseline_settings(cfg), cfg.seed).fit(ev.train, ev.val)
            out_dir = root / name
            model_path = model.save(out_dir)
            run_id = detector_run(
                ev.tracking, name, model.params, ev.prepared.data_hash, run_name(cfg, name)
            )
            entry = Entry(model, run_id, model_path, out_dir)
            results[name] = finish(ev, entry, [], measure_uses=model.has_code)
            log.info(f"baselines[{name}]: {summary_line(results[name])}")
    return results
