"""How the evaluate stage measures one model, by the model's kind: a detector (a family, the
ensemble, a baseline) and a denoiser. Either way the result is a
:class:`~aeops.evaluation.results.ModelResult` written as the model's ``metrics.json``, with
its figures and plots logged to the model's MLflow run beside its deployable pyfunc, so any of
them can become champion.

- A detector scores validation and test; the threshold is chosen on validation; metrics are
  chosen honestly for what the folds hold; a model with a code also gets the other uses'
  measures; its per-row scores (``scores.parquet``), a score histogram and ``detector.json``
  (schema, threshold, file hashes) are written beside.
- A denoiser denoises the same noisy validation and test images at every sigma measured
  (:mod:`aeops.evaluation.denoising`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aeops.config import Config
from aeops.core.files import DETECTOR_FILE, METRICS_FILE, PLOTS_DIR, SCORES_FILE
from aeops.core.io import file_sha256, write_parquet
from aeops.data.preprocess import resolve_scaler
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.data.split import Fold
from aeops.evaluation.inputs import EvaluationInputs
from aeops.evaluation.metrics import ReportSettings, Scored, Threshold, score_report
from aeops.evaluation.plots import (
    plot_denoising,
    plot_latent,
    plot_reconstructions,
    plot_score_histogram,
)
from aeops.evaluation.results import ModelResult
from aeops.evaluation.uses import use_measures
from aeops.stages.common import Prepared, example_rows
from aeops.tasks.base import Task
from aeops.tracking.runs import Tracking, dataset_input

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """What every model's evaluation shares: params, the task, the prepared data, the store,
    and the rows every model is measured on (:class:`EvaluationInputs`, made once)."""

    cfg: Config
    prepared: Prepared
    tracking: Tracking
    task: Task = field(init=False)

    def __post_init__(self) -> None:
        self.task = self.cfg.use

    @cached_property
    def train(self) -> Fold:
        return self.prepared.fold("train")

    @cached_property
    def val(self) -> Fold:
        return self.prepared.fold("val")

    @cached_property
    def test(self) -> Fold:
        return self.prepared.fold("test")

    @cached_property
    def inputs(self) -> EvaluationInputs:
        return evaluation_inputs(self.cfg, self.prepared)

    def settings(self) -> ReportSettings:
        cfg = self.cfg
        return ReportSettings(
            cfg.evaluate.threshold,
            cfg.evaluate.bootstrap,
            cfg.evaluate.ci,
            cfg.seed,
            cfg.data.contamination,
        )


def evaluation_inputs(cfg: Config, prepared: Prepared) -> EvaluationInputs:
    """The rows every model of this run is measured on (made once, when asked for)."""
    noise = cfg.models.family("denoising")
    folds = {split: prepared.fold(split) for split in ("train", "val", "test")}
    corruption = (noise.noise, noise.noise_level)
    return EvaluationInputs(folds, prepared.meta.image_shape, corruption, cfg.seed)


@dataclass(frozen=True)
class Entry:
    """One model being evaluated: the model, its MLflow run, its file and its folder."""

    model: Any
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


def measure_detector(ev: Evaluation, entry: Entry, plots: list[Path], uses: bool) -> ModelResult:
    """Score val and test; choose the threshold on val; figures (and with ``uses`` the other
    uses' measures), scores, histogram, ``detector.json``, ``metrics.json`` and the logged
    pyfunc (to the run the stage's :class:`~aeops.tracking.runs.Tracking` handle set up)."""
    cfg, detector, out_dir = ev.cfg, entry.model, entry.out_dir
    val_scores = detector.decision_function(ev.val.x)
    test_scores = detector.decision_function(ev.test.x)
    train_scores = (
        detector.decision_function(ev.train.normal)
        if cfg.evaluate.threshold.method == "train"
        else None
    )
    report = score_report(
        Scored(ev.val, val_scores), Scored(ev.test, test_scores), ev.settings(), train_scores
    )
    scored = {"val": (ev.val, val_scores), "test": (ev.test, test_scores)}
    report.update(cfg.use.fold_figures(scored, float(report["threshold"]), cfg))
    if uses:
        report.update(use_measures(detector, ev.inputs.uses, cfg.seed))
    report["family"], report["kind"] = detector.name, detector.kind
    result = ModelResult.from_record(detector.name, report)
    assert result.threshold is not None  # score_report always chooses one
    detector.threshold_ = result.threshold.value
    write_parquet(
        out_dir / SCORES_FILE,
        scores_frame(scored),
    )
    figures = list(plots)
    if cfg.evaluate.plots:
        title = f"{detector.name}: test scores"
        figures.insert(0, histogram(ev, test_scores, result.threshold, title, out_dir))
    files = write_info(ev, entry, result.threshold)
    log_model(ev, entry, result, figures, files)
    result.save(out_dir / METRICS_FILE)
    return result


def histogram(ev: Evaluation, scores: np.ndarray, threshold: Threshold, title: str, out: Path):
    return plot_score_histogram(
        scores,
        ev.test.is_anomaly,
        ev.test.synthetic,
        threshold.value,
        title,
        out / PLOTS_DIR / "score_histogram.png",
    )


def write_info(ev: Evaluation, entry: Entry, threshold: Threshold) -> tuple[Path, Path, Path]:
    """``detector.json`` (kind, name, schema, threshold, the files' hashes); the files a
    deployable detector packs."""
    from aeops.serving.pipeline import DetectorInfo

    cfg, detector = ev.cfg, entry.model
    info = DetectorInfo(
        detector.kind,
        detector.name,
        ev.prepared.meta.schema(),
        threshold.value,
        threshold.method,
        threshold.detail,
        {
            "model": file_sha256(entry.model_path),
            "preprocessor": file_sha256(cfg.paths.preprocessor),
        },
    )
    info.save(entry.out_dir / DETECTOR_FILE)
    return entry.model_path, Path(cfg.paths.preprocessor), entry.out_dir / DETECTOR_FILE


def log_model(
    ev: Evaluation, entry: Entry, result: ModelResult, plots: list[Path], files: tuple
) -> None:
    """A detector's figures, plots and deployable pyfunc, logged to its run."""
    from aeops.serving.pyfunc import log_detector

    log_detector(
        entry.run_id,
        result.record(),
        plots,
        files,
        example=example_rows(ev.prepared),
        dataset=dataset_input(ev.cfg, ev.prepared.data_hash),
    )


def family_plots(ev: Evaluation, detector: Any, folder: Path) -> list[Path]:
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
    rows = ev.inputs.uses.get("test")
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


def measure_denoiser(ev: Evaluation, entry: Entry) -> ModelResult:
    """The denoiser's PSNR / SSIM at every sigma on the same noisy validation and test
    images, its ``metrics.json``, and its figures and pyfunc logged to its run."""
    from aeops.evaluation.denoising import measure_denoiser as measured
    from aeops.serving.pyfunc import log_denoiser
    from aeops.tracking.names import detector_key

    model, listed = entry.model, ev.cfg.evaluate.denoise_sigmas
    noisy = {s: ev.inputs.noisy(s) for s in ev.inputs.sigmas}
    result = ModelResult(model.name, model.kind, measured(model, noisy, listed))
    folder = entry.model_path.parent
    key = detector_key(*model.files(folder))
    log_denoiser(entry.run_id, result.record(), [], folder, key)
    result.save(entry.out_dir / METRICS_FILE)
    return result
