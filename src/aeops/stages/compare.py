"""The comparison that ends the evaluate stage: every model and baseline side by side, the
honest choice (:mod:`aeops.evaluation.selection`, pure), the figures, ``metrics.json`` and the
headline ``summary.json``, the summary table in the log and each family's lift over the best
baseline in MLflow. Families that could not use the data are listed with the reason.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from aeops.config import Config
from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE, METRICS_FILE, PLOTS_DIR, SCORES_FILE
from aeops.core.io import atomic_dir, read_json, write_json
from aeops.core.sections import CODED_TASKS, BaselinesConfig
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.evaluation.metrics import selection_metric
from aeops.evaluation.plots import curve_tables, plot_curves, plot_rate_distortion
from aeops.evaluation.selection import (
    Selection,
    baseline_note,
    check_measured,
    choose,
    choose_for_use,
    selection_basis,
    selection_rows,
)
from aeops.evaluation.uses import USE_METRICS, UseRows, classical_denoisers, jpeg_points
from aeops.reporting.summary import (
    HEADLINE,
    USE_COLUMNS,
    headline,
    rate_distortion_points,
    summary_table,
    test_note,
    use_headline,
)
from aeops.stages.common import switch_rule

log = logging.getLogger(__name__)


def load_metrics(cfg: Config) -> tuple[dict[str, dict], dict[str, str], dict[str, dict]]:
    """(trained families and their ensemble, skipped families with reasons, baselines)."""
    models: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for family in cfg.models.families:
        m = read_json(cfg.paths.family_eval_dir(family) / METRICS_FILE)
        if m.get("skipped"):
            skipped[family] = m["reason"]
        else:
            models[family] = m
    ensemble = cfg.paths.family_eval_dir(ENSEMBLE) / METRICS_FILE
    if cfg.models.ensemble and cfg.task == "detect" and ensemble.exists():
        models[ENSEMBLE] = read_json(ensemble)
    baselines = {
        name: read_json(Path(cfg.paths.baselines_dir) / name / METRICS_FILE)
        for name in run_baselines(cfg)
    }
    return models, skipped, baselines


def model_dir(cfg: Config, name: str, kind: str) -> Path:
    return (
        Path(cfg.paths.baselines_dir) / name
        if kind == "baseline"
        else cfg.paths.family_eval_dir(name)
    )


def compare(cfg: Config, run_ids: dict[str, str], folds: dict[str, UseRows | None]) -> dict:
    """Compare every model; ``run_ids`` are the families' MLflow runs (for the shared figure
    and each family's lift over the best baseline); ``folds`` the use measures' rows (for
    the classical references that are not detectors)."""
    models, skipped, baselines = load_metrics(cfg)
    if not models:
        raise AeopsError(
            "no model family could use this data: "
            + "; ".join(f"{f}: {why}" for f, why in skipped.items())
        )
    metric = selection_metric(cfg.register.metric, {**models, **baselines})
    scores = {
        name: pd.read_parquet(model_dir(cfg, name, m["kind"]) / SCORES_FILE)
        for name, m in {**models, **baselines}.items()
    }
    selection = select(cfg, models, baselines, metric, scores)
    best = selection.chosen
    chosen = {**models, **baselines}[best]
    metrics = {
        "family": best,
        "kind": selection.kind,
        "selected_by": metric,
        "selection_basis": selection_basis(metric, scores[best]),
        "selection": selection.record(),
        "candidates": cfg.register.candidates,
        "baseline_note": baseline_note(
            selection, models, baselines, metric, cfg.register.candidates
        ),
        "skipped": skipped,
        **{k: chosen[k] for k in HEADLINE if k in chosen},
        metric: chosen[metric],
        "models": models,
        "baselines": baselines,
        "uses": use_references(
            folds,
            cfg.code_size if cfg.task == "reduce" else None,
            cfg.seed,
            denoisers=cfg.task == "detect",
        ),
    }
    ranking = "test_auroc" if "test_auroc" in chosen else "test_synthetic_auroc"
    if ranking in chosen and all(ranking in b for b in baselines.values()):
        top = max(b[ranking] for b in baselines.values())
        metrics["lift_over_best_baseline"] = chosen[ranking] - top
        metrics["test_note"] = test_note(best, chosen, baselines, ranking)
    figures = write_figures(cfg, models, baselines, scores, ranking, metrics["uses"])
    write_json(cfg.paths.metrics, metrics)
    if cfg.task in CODED_TASKS:
        write_json(cfg.paths.summary, use_headline(metrics, cfg.task, cfg.code.precision))
    else:
        write_json(cfg.paths.summary, headline(metrics, ranking))
    log_comparison(models, baselines, ranking, figures, run_ids)
    log_summary(models, baselines, skipped, metrics)
    return metrics


def select(
    cfg: Config,
    models: dict[str, dict],
    baselines: dict[str, dict],
    metric: str,
    scores: dict[str, pd.DataFrame],
) -> Selection:
    """The choice (:mod:`aeops.evaluation.selection`): by a use's metric, or by detection
    on each model's validation scores."""
    if metric in USE_METRICS:
        check_measured(metric, models)
        return choose_for_use(models, baselines, metric, cfg.register.candidates)
    rows = {name: selection_rows(metric, frame) for name, frame in scores.items()}
    return choose(models, baselines, metric, rows, switch_rule(cfg), cfg.register.candidates)


def write_figures(
    cfg: Config,
    models: dict[str, dict],
    baselines: dict[str, dict],
    scores: dict[str, pd.DataFrame],
    ranking: str,
    uses: dict[str, Any],
) -> Path:
    """One ROC/PR figure of every model, the rate-distortion figure, the curve tables ``dvc
    plots`` draws, and each family's PNGs gathered in ``paths.plots_dir``."""
    synthetic = ranking == "test_synthetic_auroc"
    curves = {}
    with atomic_dir(cfg.paths.curves_dir) as curves_dir:
        for name, frame in scores.items():
            test = frame[frame[SPLIT_COLUMN] == "test"]
            test = (
                test[test[SYNTHETIC_COLUMN] | ~test[ANOMALY_COLUMN]]
                if synthetic
                else test[~test[SYNTHETIC_COLUMN]]
            )
            if not (test[ANOMALY_COLUMN].any() and (~test[ANOMALY_COLUMN]).any()):
                continue
            label = f"{name} (baseline)" if name in baselines else name
            curves[label] = (test[ANOMALY_COLUMN].to_numpy(bool), test["score"].to_numpy())
        curve_tables(curves, curves_dir)
    with atomic_dir(cfg.paths.plots_dir) as plots_dir:
        figure = plots_dir / "roc_pr.png"
        if curves and cfg.evaluate.plots:
            plot_curves(curves, figure, "test, synthetic anomalies" if synthetic else "test")
        points = rate_distortion_points(models, baselines, uses)
        if points and cfg.evaluate.plots:
            lossless = {
                "raw float32": uses["raw_float32_bytes_per_row"],
                "gzip, lossless": uses["gzip_bytes_per_row"],
            }
            plot_rate_distortion(points, plots_dir / "rate_distortion.png", lossless)
        for name in models:
            for png in sorted((cfg.paths.family_eval_dir(name) / PLOTS_DIR).glob("*.png")):
                shutil.copy2(png, plots_dir / f"{name}_{png.name}")
    return Path(cfg.paths.plots_dir) / "roc_pr.png"


def log_summary(
    models: dict[str, dict], baselines: dict[str, dict], skipped: dict[str, str], metrics: dict
) -> None:
    """The summary table (rounded), the skipped families, the choice and why."""
    table = summary_table(models, baselines)
    key = metrics["selected_by"]
    if key in table.columns:
        table = table.sort_values(key, ascending=False)
    uses = summary_table(models, baselines, USE_COLUMNS)
    if key in uses.columns:
        uses = uses.sort_values(key, ascending=False)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format
    ):
        log.info("\n" + table.to_string(na_rep="-"))
        if not uses.empty:
            log.info("\nother uses, on test's normal rows (models with a code):")
            log.info(uses.rename(columns=lambda c: c.removeprefix("test_")).to_string(na_rep="-"))
    for family, why in skipped.items():
        log.info(f"skipped {family}: {why}")
    log.info(f"\nchosen: {metrics['family']} ({metrics['kind']}) by {metrics['selection_basis']}")
    log.info(f"  why: {metrics['selection']['reason']}")
    headline = "".join(
        f"  {name} {metrics[name]:.4f}"
        for name in ("test_auroc", "test_synthetic_auroc")
        if name in metrics
    )
    log.info(
        f"{headline}  threshold {metrics['threshold']:.4g} ({metrics['threshold_method']}), "
        f"flags {metrics['test_flagged_share']:.1%} of test rows"
    )
    if metrics["baseline_note"]:
        log.warning(metrics["baseline_note"])
    if metrics.get("test_note"):
        log.warning(metrics["test_note"])


def log_comparison(
    models: dict[str, dict],
    baselines: dict[str, dict],
    ranking: str,
    figure: Path,
    run_ids: dict[str, str],
) -> None:
    """Every family's MLflow run gets its lift over the best baseline and the shared figure."""

    tops = [b[ranking] for b in baselines.values() if ranking in b]
    for name, m in models.items():
        with mlflow.start_run(run_id=run_ids[name]):
            if tops and ranking in m:
                mlflow.log_metric("lift_over_best_baseline", m[ranking] - max(tops))
            if figure.exists():
                mlflow.log_artifact(str(figure), "plots")


def use_references(
    folds: dict[str, UseRows | None],
    umap_dims: int | None = None,
    seed: int = 0,
    denoisers: bool = True,
) -> dict[str, Any]:
    """What the classical methods that are not detectors do on the same rows: scikit-image's
    denoisers and JPEG (images), gzip of the raw rows, and with ``umap_dims`` (``task:
    reduce``) UMAP at as many dimensions on the test rows; PCA projection is the ``pca``
    baseline's own use measures. ``denoisers``: False skips the image denoisers (``task:
    compress | reduce``, where no model denoises)."""
    from aeops.evaluation.uses import gzip_bytes_per_row, psnr

    val, test = folds.get("val"), folds.get("test")
    if test is None:
        return {}
    out: dict[str, Any] = {
        "rows": {split: len(rows.clean) for split, rows in folds.items() if rows is not None},
        "raw_float32_bytes_per_row": float(4 * test.clean.shape[1]),
        "gzip_bytes_per_row": gzip_bytes_per_row(test.clean),
        "test_psnr_noisy_db": psnr(test.clean, test.noisy, test.data_range),
    }
    if val is not None and test.shape is not None:
        if denoisers:
            out["denoisers"] = classical_denoisers(val, test)
        out["jpeg"] = jpeg_points(test)
    if umap_dims is not None:
        from aeops.evaluation.uses import umap_reference

        out["umap"] = umap_reference(test, umap_dims, seed)
    return out


def run_baselines(cfg: Config) -> dict[str, Any]:
    """The baselines a run measures, by name (their classes): every one for ``task: detect``;
    for ``task: compress | reduce`` only those with a code (PCA), the reference at the same
    code size."""
    from aeops.models.baselines import baselines

    found = baselines()
    if cfg.task in CODED_TASKS:
        return {name: kind for name, kind in found.items() if kind.has_code}
    return found


def baseline_settings(cfg: Config) -> BaselinesConfig:
    """``baselines:``, with PCA at ``code.size`` components under ``task: compress | reduce``
    (the classical method at the same code size, not at its own variance rule)."""
    if cfg.code_size is None:
        return cfg.baselines
    return cfg.baselines.model_copy(update={"pca_components": cfg.code_size})
