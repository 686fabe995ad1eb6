"""The comparison that ends the evaluate stage: every model and baseline side by side, the
honest choice (:mod:`aeops.evaluation.selection`, pure), the figures, ``metrics.json`` (a
:class:`~aeops.evaluation.results.Comparison`) and the task's headline ``summary.json``, the
summary table in the log and each model's lift over the best baseline in MLflow. Models that
could not use the data are listed with the reason.

What differs by the kind of model the task trains is in :data:`KINDS`: detectors are chosen
on their validation scores and drawn as ROC / PR curves; denoisers on their validation PSNR
and drawn beside the best classical denoiser.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE, METRICS_FILE, PLOTS_DIR, SCORES_FILE
from aeops.core.io import atomic_dir, write_json
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.evaluation.metrics import selection_metric
from aeops.evaluation.plots import curve_tables, plot_curves, plot_rate_distortion
from aeops.evaluation.results import Comparison, ModelResult
from aeops.evaluation.selection import baseline_note, select, selection_basis, selection_rows
from aeops.reporting.summary import (
    HEADLINE,
    USE_COLUMNS,
    rate_distortion_points,
    summary_table,
    test_note,
)
from aeops.stages.common import switch_rule
from aeops.stages.measure import Evaluation

log = logging.getLogger(__name__)


def load_results(ev: Evaluation) -> tuple[dict[str, ModelResult], dict[str, str], dict]:
    """(trained models and their ensemble, skipped ones with reasons, baselines)."""
    cfg = ev.cfg
    models: dict[str, ModelResult] = {}
    skipped: dict[str, str] = {}
    for family in cfg.models.families:
        result = ModelResult.load(cfg.paths.family_eval_dir(family) / METRICS_FILE, family)
        if result.skipped is not None:
            skipped[family] = result.skipped
        else:
            models[family] = result
    ensemble = cfg.paths.family_eval_dir(ENSEMBLE) / METRICS_FILE
    if ev.task.ensemble and cfg.models.ensemble and ensemble.exists():
        models[ENSEMBLE] = ModelResult.load(ensemble, ENSEMBLE)
    baselines = {
        name: ModelResult.load(Path(cfg.paths.baselines_dir) / name / METRICS_FILE, name)
        for name in measured_baselines(ev)
    }
    return models, skipped, baselines


def measured_baselines(ev: Evaluation) -> list[str]:
    from aeops.models.baselines import baselines

    return list(ev.task.baselines(baselines()))


def compare(ev: Evaluation, run_ids: dict[str, str]) -> Comparison:
    """Compare every model; ``run_ids`` are the trained models' MLflow runs (for the shared
    figure and each one's lift over the best baseline)."""
    cfg, task = ev.cfg, ev.task
    models, skipped, baselines = load_results(ev)
    if not models:
        raise AeopsError(
            "no model family could use this data: "
            + "; ".join(f"{f}: {why}" for f, why in skipped.items())
        )
    kind = KINDS[task.model_kind]
    records = {name: m.record() for name, m in {**models, **baselines}.items()}
    metric = selection_metric(cfg.register.metric, records)
    scores = kind.scores(cfg, {**models, **baselines})
    rows = {name: selection_rows(metric, frame) for name, frame in scores.items()}
    model_records = {n: records[n] for n in models}
    base_records = {n: records[n] for n in baselines}
    selection = select(
        model_records, base_records, metric, rows, switch_rule(cfg), cfg.register.candidates
    )
    chosen = {**models, **baselines}[selection.chosen]
    comparison = Comparison(
        chosen=selection.chosen,
        kind=selection.kind,
        metric=metric,
        basis=kind.basis(ev, metric, scores.get(selection.chosen)),
        selection=selection,
        candidates=cfg.register.candidates,
        models=models,
        baselines=baselines,
        skipped=skipped,
        references=task.references(ev.inputs, cfg.code, cfg.seed),
    )
    record = chosen.record()
    comparison.headline = {k: record[k] for k in HEADLINE if k in record}
    comparison.headline[metric] = record[metric]
    comparison.notes = kind.notes(ev, comparison, model_records, base_records)
    figure = kind.figures(ev, comparison, scores)
    comparison.save(cfg.paths.metrics)
    write_json(cfg.paths.summary, task.headline(comparison, cfg.code))
    log_comparison(comparison, figure, run_ids)
    log_summary(comparison)
    return comparison


class Detectors:
    """What a comparison of detectors does: rank on validation scores, draw ROC / PR."""

    @staticmethod
    def scores(cfg: Any, results: dict[str, ModelResult]) -> dict[str, pd.DataFrame]:
        return {
            name: pd.read_parquet(result_dir(cfg, name, m.kind) / SCORES_FILE)
            for name, m in results.items()
        }

    @staticmethod
    def basis(ev: Evaluation, metric: str, scores: pd.DataFrame | None) -> str:
        assert scores is not None
        return selection_basis(metric, scores)

    @staticmethod
    def notes(ev: Evaluation, c: Comparison, models: dict, baselines: dict) -> dict[str, Any]:
        """The baseline note, and (on test) the lift over the best baseline and a test note."""
        assert c.selection is not None
        candidates = ev.cfg.register.candidates
        notes: dict[str, Any] = {
            "baseline_note": baseline_note(c.selection, models, baselines, c.metric, candidates)
        }
        key = ranking(c)
        if c.baselines and c.winner.has(key) and all(b.has(key) for b in c.baselines.values()):
            top = max(b.figures[key] for b in c.baselines.values())
            notes["lift_over_best_baseline"] = c.winner.figures[key] - top
            notes["test_note"] = test_note(c.chosen, c.winner.record(), baselines, key)
        return notes

    @staticmethod
    def figures(ev: Evaluation, c: Comparison, scores: dict[str, pd.DataFrame]) -> Path:
        return write_figures(ev.cfg, c, scores)


class Denoisers:
    """What a comparison of denoisers does: PSNR measured on images, drawn beside the best
    classical denoiser."""

    @staticmethod
    def scores(cfg: Any, results: dict[str, ModelResult]) -> dict[str, pd.DataFrame]:
        return {}  # chosen by a measured value, not a ranking of scores

    @staticmethod
    def basis(ev: Evaluation, metric: str, scores: pd.DataFrame | None) -> str:
        counts = ev.inputs.counts()
        sigmas = ", ".join(f"{s:g}" for s in ev.inputs.sigmas)
        return f"{metric} on {counts['val']} validation images (noise at sigma {sigmas})"

    @staticmethod
    def notes(ev: Evaluation, c: Comparison, models: dict, baselines: dict) -> dict[str, Any]:
        return {"sigmas": ev.inputs.sigmas, "images": ev.inputs.counts()}

    @staticmethod
    def figures(ev: Evaluation, c: Comparison, scores: dict[str, pd.DataFrame]) -> Path:
        return write_denoiser_figures(ev, c)


KINDS: dict[str, Any] = {"autoencoder": Detectors, "denoiser": Denoisers}  # by model kind


def ranking(comparison: Comparison) -> str:
    """The test figure detectors are compared on: AUROC, or on synthetic anomalies."""
    return "test_auroc" if comparison.winner.has("test_auroc") else "test_synthetic_auroc"


def result_dir(cfg: Any, name: str, kind: str) -> Path:
    return (
        Path(cfg.paths.baselines_dir) / name
        if kind == "baseline"
        else cfg.paths.family_eval_dir(name)
    )


def test_curves(scores: dict[str, pd.DataFrame], synthetic: bool, baselines: Any) -> dict:
    """(is_anomaly, score) on test of each model whose test rows hold both classes."""
    curves = {}
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
    return curves


def write_figures(cfg: Any, c: Comparison, scores: dict[str, pd.DataFrame]) -> Path:
    """One ROC/PR figure of every model, the rate-distortion figure, the curve tables ``dvc
    plots`` draws, and each model's PNGs gathered in ``paths.plots_dir``."""
    synthetic = ranking(c) == "test_synthetic_auroc"
    curves = test_curves(scores, synthetic, c.baselines)
    with atomic_dir(cfg.paths.curves_dir) as curves_dir:
        curve_tables(curves, curves_dir)
    models = {n: m.record() for n, m in c.models.items()}
    baselines = {n: m.record() for n, m in c.baselines.items()}
    with atomic_dir(cfg.paths.plots_dir) as plots_dir:
        if curves and cfg.evaluate.plots:
            title = "test, synthetic anomalies" if synthetic else "test"
            plot_curves(curves, plots_dir / "roc_pr.png", title)
        points = rate_distortion_points(models, baselines, c.references)
        if points and cfg.evaluate.plots and "gzip_bytes_per_row" in c.references:
            lossless = {
                "raw float32": c.references["raw_float32_bytes_per_row"],
                "gzip, lossless": c.references["gzip_bytes_per_row"],
            }
            plot_rate_distortion(points, plots_dir / "rate_distortion.png", lossless)
        for name in c.models:
            for png in sorted((cfg.paths.family_eval_dir(name) / PLOTS_DIR).glob("*.png")):
                shutil.copy2(png, plots_dir / f"{name}_{png.name}")
        if cfg.evaluate.plots:
            cfg.use.plots(cfg, c, scores, plots_dir)
    return Path(cfg.paths.plots_dir) / "roc_pr.png"


EXAMPLES = 4  # test images in the denoising figure


def write_denoiser_figures(ev: Evaluation, c: Comparison) -> Path:
    """PSNR by sigma of every model and classical denoiser (``dvc plots``' table) and the
    chosen model's denoised test images beside the best classical denoiser's."""
    from aeops.evaluation.denoising import classical_output
    from aeops.evaluation.plots import plot_denoised_photos
    from aeops.models.registry import load_model

    cfg = ev.cfg
    points = [
        {"model": name, "sigma": float(s), "test_psnr_db": by["test"]["psnr_db"]}
        for name, m in c.models.items()
        for s, by in m.figures["by_sigma"].items()
    ]
    points += [
        {"model": name, "sigma": float(s), "test_psnr_db": refs[name]["test"]["psnr_db"]}
        for s, refs in c.references.items()
        for name in refs
    ]
    with atomic_dir(cfg.paths.curves_dir) as tmp:
        write_json(tmp / "psnr_by_sigma.json", points)
    sigma = c.winner.figures["headline_sigmas"][0]
    images = ev.inputs.noisy(sigma)[1]
    best = max(
        c.references[f"{sigma:g}"], key=lambda n: c.references[f"{sigma:g}"][n]["val"]["psnr_db"]
    )
    chosen = load_model(cfg.paths.model_dir(c.chosen))
    setting = c.references[f"{sigma:g}"][best]["setting"]
    panels = {
        f"noisy (sigma {sigma:g})": images.noisy[:EXAMPLES],
        c.chosen: [chosen.denoise(n) for n in images.noisy[:EXAMPLES]],  # type: ignore[attr-defined]
        best: classical_output(best, setting, images, EXAMPLES),
    }
    with atomic_dir(cfg.paths.plots_dir) as tmp:
        title = f"test images: {c.chosen} against the best classical denoiser ({best})"
        plot_denoised_photos(images.clean[:EXAMPLES], panels, tmp / "denoising.png", title)
    return Path(cfg.paths.plots_dir) / "denoising.png"


def log_summary(c: Comparison) -> None:
    """The summary table (rounded), the skipped models, the choice and why."""
    models = {n: m.record() for n, m in c.models.items()}
    baselines = {n: m.record() for n, m in c.baselines.items()}
    table = summary_table(models, baselines)
    if c.metric in table.columns:
        table = table.sort_values(c.metric, ascending=False)
    uses = summary_table(models, baselines, USE_COLUMNS)
    if c.metric in uses.columns:
        uses = uses.sort_values(c.metric, ascending=False)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 20, "display.float_format", "{:.4f}".format
    ):
        if not table.empty:
            log.info("\n" + table.to_string(na_rep="-"))
        if not uses.empty:
            log.info("\nother uses, on test's normal rows (models with a code):")
            log.info(
                uses.rename(columns=lambda col: col.removeprefix("test_")).to_string(na_rep="-")
            )
    for family, why in c.skipped.items():
        log.info(f"skipped {family}: {why}")
    log.info(f"\nchosen: {c.chosen} ({c.kind}) by {c.basis}")
    log.info(f"  why: {c.reason}")
    log.info(headline_line(c))
    for key in ("baseline_note", "test_note"):
        if c.note(key):
            log.warning(c.note(key))


def headline_line(c: Comparison) -> str:
    """The chosen model's test figures in one line."""
    figures = c.headline
    line = "".join(
        f"  {name} {figures[name]:.4f}"
        for name in ("test_auroc", "test_synthetic_auroc")
        if name in figures
    )
    threshold = c.winner.threshold
    if threshold is not None:
        line += (
            f"  threshold {threshold.value:.4g} ({threshold.method}), "
            f"flags {c.winner.figures['test_flagged_share']:.1%} of test rows"
        )
    psnr = c.winner.value("test_psnr_db")
    if psnr is not None:
        line += f"  test PSNR {psnr:.2f} dB"
    return line


def log_comparison(c: Comparison, figure: Path, run_ids: dict[str, str]) -> None:
    """Every trained model's MLflow run gets its lift over the best baseline (on the test
    figure detectors are ranked by) and the shared figure."""
    from aeops.tracking.runs import log_lift

    key = ranking(c) if c.winner.threshold is not None else ""
    tops = [b.figures[key] for b in c.baselines.values() if key and b.has(key)]
    for name, m in c.models.items():
        lift = m.figures[key] - max(tops) if tops and m.has(key) else None
        log_lift(run_ids[name], lift, figure if figure.exists() else None)
