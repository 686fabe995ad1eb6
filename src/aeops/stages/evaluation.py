"""The evaluate stage: score every trained family, the families as one ensemble and the
classical baselines on val and test, then compare them all (:mod:`aeops.stages.report`).

One process does it all: evaluation takes seconds per model, while starting a process that
imports torch, scikit-learn and MLflow takes several. Every model ends the same way
(:func:`finish_detector`): metrics chosen honestly for what the folds hold, the threshold
picked on validation, a score histogram, and a deployable pyfunc detector logged to the
model's MLflow run, so any of them can become champion.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.data.preprocess import resolve_scaler
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.data.split import Fold
from aeops.evaluation.baselines import BASELINES, CODED, fit_baseline
from aeops.evaluation.metrics import score_report
from aeops.evaluation.plots import (
    plot_denoising,
    plot_latent,
    plot_reconstructions,
    plot_score_histogram,
)
from aeops.evaluation.uses import UseRows, measure, use_rows
from aeops.files import (
    BASELINE_FILE,
    DETECTOR_FILE,
    ENSEMBLE,
    ENSEMBLE_FILE,
    METRICS_FILE,
    MODEL_FILE,
    PLOTS_DIR,
    RUN_FILE,
    SCORES_FILE,
)
from aeops.io import atomic_dir, own_dir, read_json, write_json, write_parquet
from aeops.models.ensemble import MIN_MEMBERS
from aeops.scoring import AutoencoderScorer, DetectorInfo
from aeops.stages.common import Prepared, load_prepared, require
from aeops.tracking import Tracking

log = logging.getLogger(__name__)


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


def finish_detector(
    cfg: Config,
    prepared: Prepared,
    name: str,
    kind: str,
    run_id: str,
    val_scores: np.ndarray,
    test_scores: np.ndarray,
    model_path: Path,
    out_dir: Path,
    extra_plots: list[Path] | None = None,
    use_metrics: dict[str, float] | None = None,
) -> dict:
    """Metrics (the anomaly ones, and ``use_metrics`` when the model has a code), scores,
    histogram, ``detector.json`` and the logged pyfunc for one model (to the store the
    stage's :class:`~aeops.tracking.Tracking` handle set up)."""
    from aeops.pyfunc import log_detector

    val, test = prepared.fold("val"), prepared.fold("test")
    report: dict[str, Any] = score_report(
        val,
        val_scores,
        test,
        test_scores,
        cfg.evaluate.threshold,
        cfg.evaluate.bootstrap,
        cfg.evaluate.ci,
        cfg.seed,
        cfg.data.contamination,
    )
    report.update(use_metrics or {})
    report["family"], report["kind"] = name, kind
    write_parquet(
        out_dir / SCORES_FILE, scores_frame({"val": (val, val_scores), "test": (test, test_scores)})
    )
    plots = [*(extra_plots or [])]
    if cfg.evaluate.plots:
        plots.insert(
            0,
            plot_score_histogram(
                test_scores,
                test.is_anomaly,
                test.synthetic,
                report["threshold"],
                f"{name}: test scores",
                out_dir / PLOTS_DIR / "score_histogram.png",
            ),
        )
    from aeops.tracking import dataset_input, file_sha256

    info = DetectorInfo(
        kind,
        name,
        prepared.meta.schema(),
        float(report["threshold"]),
        str(report["threshold_method"]),
        str(report["threshold_detail"]),
        {"model": file_sha256(model_path), "preprocessor": file_sha256(cfg.paths.preprocessor)},
    )
    info.save(out_dir / DETECTOR_FILE)
    log_detector(
        run_id,
        report,
        plots,
        model_path,
        cfg.paths.preprocessor,
        out_dir / DETECTOR_FILE,
        example=example_rows(prepared),
        dataset=dataset_input(cfg, prepared.data_hash),
    )
    write_json(out_dir / METRICS_FILE, report)
    return report


def example_rows(prepared: Prepared):
    """A few validation rows, logged with each detector as its input example."""
    return prepared.splits[prepared.meta.features].head(5)


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
    """Every family in ``models.families``, then the baselines, then the comparison; one
    handle on the MLflow store for all of it."""
    from aeops.engine import use_reproducible_kernels
    from aeops.stages.report import report
    from aeops.tracking import open_tracking

    use_reproducible_kernels(cfg.train)  # the scores in reports/eval are DVC outputs too
    prepared = load_prepared(cfg)
    own_dir(cfg.paths.eval_dir)  # each family's folder inside is replaced whole
    tracking = open_tracking(cfg)
    folds = use_folds(cfg, prepared)
    run_ids: dict[str, str] = {}
    for family in cfg.models.families:
        run_id = evaluate_family(cfg, prepared, family, tracking, folds)
        if run_id is not None:
            run_ids[family] = run_id
    if cfg.models.ensemble and len(run_ids) >= MIN_MEMBERS:
        run_ids[ENSEMBLE] = evaluate_ensemble(cfg, prepared, list(run_ids), tracking)
    baselines(cfg, prepared, tracking, folds)
    return report(cfg, run_ids, folds)


def use_folds(cfg: Config, prepared: Prepared) -> dict[str, UseRows | None]:
    """Validation's and test's normal rows for the use measures, corrupted once with the
    denoising family's configured noise (so every model meets the same noisy rows)."""
    train = prepared.fold("train").normal
    shape = prepared.meta.image_shape
    folds = {}
    for offset, split in enumerate(("val", "test")):
        fold = prepared.fold(split)
        folds[split] = use_rows(
            fold.normal,
            fold.group[~fold.is_anomaly],
            train,
            cfg.models.denoising.noise,
            cfg.models.denoising.noise_level,
            cfg.seed + offset,
            tuple(shape) if shape else None,
        )
    return folds


def family_run(
    cfg: Config, prepared: Prepared, family: str, record: dict, tracking: Tracking
) -> str:
    """The MLflow run that trained ``family``'s weights (recreated if this store lacks it)."""
    from aeops.tracking import family_run_id, file_sha256, run_name

    model_sha = file_sha256(cfg.paths.model_dir(family) / MODEL_FILE)
    return family_run_id(
        tracking.experiment_id,
        family,
        model_sha,
        record,
        prepared.data_hash,
        client=tracking.client,
        name=run_name(cfg, family),
    )


def evaluate_family(
    cfg: Config,
    prepared: Prepared,
    family: str,
    tracking: Tracking,
    folds: dict[str, UseRows | None],
) -> str | None:
    """Score val and test; choose the threshold on val; write metrics, scores and plots; log
    them and the deployable pyfunc to the family's MLflow run (returned; None if skipped)."""
    run = read_json(require(cfg.paths.model_dir(family) / RUN_FILE, f"train@{family}"))
    out_dir = cfg.paths.family_eval_dir(family)
    if run.get("skipped"):
        record = {"family": family, "kind": "autoencoder", "skipped": True, "reason": run["reason"]}
        with atomic_dir(out_dir) as tmp:
            write_json(tmp / METRICS_FILE, record)
        log.info(f"evaluate[{family}]: skipped: {run['reason']}")
        return None
    from aeops.models.store import load_model

    model_path = cfg.paths.model_dir(family) / MODEL_FILE
    net, _ = load_model(model_path)
    scorer = AutoencoderScorer(net, cfg.evaluate.batch_size)
    val, test = prepared.fold("val"), prepared.fold("test")
    val_scores = scorer.run(val.x, ("score",))["score"]
    test_out = scorer.run(test.x, ("score", "recon", "z"))
    with atomic_dir(out_dir) as tmp:
        plots = []
        if cfg.evaluate.plots:
            plots.append(
                plot_latent(
                    test_out["z"], test.group, test.is_anomaly, tmp / PLOTS_DIR / "latent.png"
                )
            )
        shape = prepared.meta.image_shape
        if cfg.evaluate.plots and shape is not None:
            test_rows = prepared.splits[prepared.splits[SPLIT_COLUMN] == "test"]
            raw = test_rows[prepared.meta.features].to_numpy(np.float64)
            recon = test_out["recon"].astype(np.float64)
            if resolve_scaler(cfg.data.scaler, prepared.meta) != "none":
                recon = prepared.preprocessor.inverse_transform(recon).to_numpy(np.float64)
            plots.append(
                plot_reconstructions(
                    raw, recon, test_out["score"], shape, tmp / PLOTS_DIR / "reconstructions.png"
                )
            )
            rows = folds.get("test")
            if rows is not None:
                noisy = rows.noisy[:8]
                plots.append(
                    plot_denoising(
                        rows.clean[:8],
                        noisy,
                        scorer.run(noisy, ("recon",))["recon"],
                        shape,
                        tmp / PLOTS_DIR / "denoising.png",
                        f"{family}: clean, noisy ({cfg.models.denoising.noise} "
                        f"{cfg.models.denoising.noise_level}), denoised (test rows)",
                    )
                )
        run_id = family_run(cfg, prepared, family, run, tracking)
        report = finish_detector(
            cfg,
            prepared,
            family,
            "autoencoder",
            run_id,
            val_scores,
            test_out["score"],
            model_path,
            tmp,
            plots,
            measure(scorer.run, scorer.decode, folds, cfg.seed),
        )
    log.info(f"evaluate[{family}]: {summary_line(report)}")
    return run_id


def evaluate_ensemble(
    cfg: Config, prepared: Prepared, families: list[str], tracking: Tracking
) -> str:
    """The trained ``families`` as one detector (:mod:`aeops.models.ensemble`), its scales
    fitted on validation's normal rows and its lead the family best on validation; scored,
    thresholded and logged like any model (its own MLflow run); returns the run id."""
    from aeops.evaluation.metrics import selection_metric
    from aeops.models.ensemble import about, fit_ensemble, save_ensemble
    from aeops.models.store import load_model
    from aeops.stages.report import select_best
    from aeops.tracking import file_sha256, params_digest, run_name

    members, args = [], []
    for family in families:
        net, saved = load_model(cfg.paths.model_dir(family) / MODEL_FILE)
        members.append(AutoencoderScorer(net, cfg.evaluate.batch_size))
        args.append(saved["args"])
    reports = {f: read_json(cfg.paths.family_eval_dir(f) / METRICS_FILE) for f in families}
    lead = select_best(reports, selection_metric(cfg.register.metric, reports))
    val, test = prepared.fold("val"), prepared.fold("test")
    normal = val.x[val.real & ~val.is_anomaly]
    if len(normal) < 2:  # a fold of anomalies only: the training rows set the scales
        normal = prepared.fold("train").normal
    ensemble = fit_ensemble(families, members, normal, lead)
    out_dir = cfg.paths.family_eval_dir(ENSEMBLE)
    with atomic_dir(out_dir) as tmp:
        model_path = tmp / ENSEMBLE_FILE
        save_ensemble(model_path, ensemble, args)
        weights = {f: file_sha256(cfg.paths.model_dir(f) / MODEL_FILE) for f in families}
        params = {**about(ensemble), "members_sha256": params_digest(weights)}
        run_id = detector_run(
            tracking, ENSEMBLE, params, prepared.data_hash, run_name(cfg, ENSEMBLE), ENSEMBLE
        )
        report = finish_detector(
            cfg,
            prepared,
            ENSEMBLE,
            ENSEMBLE,
            run_id,
            ensemble.run(val.x)["score"],
            ensemble.run(test.x)["score"],
            model_path,
            tmp,
        )
    log.info(f"evaluate[{ENSEMBLE} of {', '.join(families)}]: {summary_line(report)}")
    return run_id


def detector_run(
    tracking: Tracking,
    name: str,
    params: dict,
    data_hash: str | None,
    title: str | None = None,
    marker: str = "baseline",
) -> str:
    """The MLflow run of detector ``name`` (a baseline, or the ensemble: ``marker``, a tag
    set to true) fitted with ``params`` on this data version: the one an earlier evaluate
    made (so re-running evaluate adds no runs), else a new one."""
    from aeops.tracking import BASELINE_PARAMS_TAG, find_run_tagged, params_digest, run_tags

    identity = {marker: "true", "family": name, BASELINE_PARAMS_TAG: params_digest(params)}
    tags = {**run_tags(name, data_hash), **identity}
    for key in ("data_hash", "dvc_exp_name"):  # the data version, and the DVC experiment
        if key in tags:
            identity[key] = tags[key]
    earlier = find_run_tagged(tracking.experiment_id, identity, tracking.client)
    if earlier is not None:
        return earlier.info.run_id
    run = tracking.client.create_run(tracking.experiment_id, run_name=title or name, tags=tags)
    tracking.client.log_batch(
        run.info.run_id,
        params=[mlflow_param(k, v) for k, v in sorted({"family": name, **params}.items())],
    )
    return run.info.run_id


def mlflow_param(key: str, value: Any):
    import mlflow

    return mlflow.entities.Param(key, str(value)[:6000])


def baselines(
    cfg: Config, prepared: Prepared, tracking: Tracking, folds: dict[str, UseRows | None]
) -> dict:
    """PCA, Isolation Forest, k-NN and ECOD on the same split, each its own MLflow
    run with a deployable detector (so a baseline can be registered when it wins); one run
    per baseline, params and data version, however often evaluate runs."""
    from aeops.tracking import run_name

    train_fold, val, test = (prepared.fold(s) for s in ("train", "val", "test"))
    results = {}
    with atomic_dir(cfg.paths.baselines_dir) as root:
        for name in BASELINES:
            model = fit_baseline(name, train_fold.normal, cfg.baselines, cfg.seed)
            out_dir = root / name
            model.save(out_dir / BASELINE_FILE)
            run_id = detector_run(
                tracking, name, model.params, prepared.data_hash, run_name(cfg, name)
            )
            report = finish_detector(
                cfg,
                prepared,
                name,
                "baseline",
                run_id,
                model.score(val.x),
                model.score(test.x),
                out_dir / BASELINE_FILE,
                out_dir,
                use_metrics=(
                    measure(model.run, model.decode, folds, cfg.seed) if name in CODED else None
                ),
            )
            results[name] = report
            log.info(f"baselines[{name}]: {summary_line(report)}")
    return results
