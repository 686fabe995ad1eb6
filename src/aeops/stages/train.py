"""The train stage: fit one model of ``models.families`` on the prepared folds (seeded,
MLflow-tracked, early-stopped on validation), or record why it cannot use them.

Every model trains the same way: built from its params block (an autoencoder family as the
pipeline composes it: one network, a seed bag or a search over a listed setting; a denoiser
for the images), fitted with the hooks that log it to its MLflow run (a Lightning logger),
show progress and, for an autoencoder, keep a resume checkpoint (:mod:`aeops.stages.resume`);
then saved into ``models/<name>/`` with ``run.json``, the record of what the same data and
params reproduce, and its weights and their SHA-256 logged to the run
(:func:`aeops.tracking.runs.record_training`).
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.core.errors import TrainingInterrupted
from aeops.core.files import MODEL_FILE, RUN_FILE
from aeops.core.io import own_dir, write_json
from aeops.stages.common import Prepared, denoiser, load_prepared, training_spec
from aeops.stages.resume import (
    LAST,
    checkpoint_epoch,
    fingerprint,
    prepare_checkpoints,
    write_marker,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A finished training: what ``run.json`` keeps (only what the same data and params
    reproduce: no run id, no timings, so ``dvc.lock`` is the same on every machine; those
    live in MLflow) and what the run logs beside it."""

    family: str
    run_id: str | None
    record: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)  # train/<name> metrics of the run
    tags: dict[str, str] = field(default_factory=dict)  # tags of the run
    summary: str = ""  # what the stage's log line says of it


def stop_reason(stopped_by: str, budget_epochs: int | None) -> str:
    """``max_samples`` when the epochs ran out because ``train.max_samples`` lowered them."""
    return "max_samples" if stopped_by == "max_epochs" and budget_epochs is not None else stopped_by


def family_hparams(
    cfg: Config, family: str, args: dict[str, Any], plan: dict[str, Any], seeds: int = 1
) -> dict[str, Any]:
    """What the MLflow run records as params: the model's settings with ``auto`` sizes
    resolved, training settings (``auto`` ones as decided), the networks trained (``seeds``:
    the run's curves are the first one's) and the data settings."""
    model = {
        **cfg.models.family(family).model_dump(mode="json"),
        **{k: v for k, v in args.items() if k in ("hidden", "latent", "channels")},
    }
    data = cfg.data.model_dump(mode="json")
    data.pop("split")
    return {
        "family": family,
        "seed": cfg.seed,
        "seeds": seeds,
        "model": model,
        "input_dim": args.get("input_dim"),
        "train": {**cfg.train.model_dump(mode="json"), **plan},
        "data": data,
    }


def train(cfg: Config, family: str) -> TrainResult | dict[str, Any]:
    """Train ``family`` (a model kind's own way, :data:`TRAINERS`), or skip it with the
    reason it cannot use this data."""
    from aeops.models.registry import model_kind, unusable_reason

    prepared = load_prepared(cfg)
    out_dir = own_dir(cfg.paths.model_dir(family))  # marked: a later stage knows it is ours
    reason = unusable_reason(family, prepared.meta, prepared.window)
    if reason is not None:
        return skip(out_dir, family, reason)
    result = TRAINERS[model_kind(family)](cfg, family, prepared, out_dir)
    log.info(f"train[{family}]: {result.summary}")
    return result


def train_family(cfg: Config, family: str, prepared: Prepared, out_dir: Path) -> TrainResult:
    """Fit autoencoder ``family`` on the normal training rows (its MLflow run logs it; a
    resume checkpoint guards it); write its model file and ``run.json`` into ``out_dir``."""
    from aeops.models.autoencoders.bag import family_detector

    ckpt_dir = cfg.paths.checkpoint_dir(family)
    fp = fingerprint(cfg, family, prepared.data_hash)
    resume_from, run_id = prepare_checkpoints(ckpt_dir, fp)
    train_fold, val_fold = prepared.fold("train"), prepared.fold("val")
    spec = training_spec(cfg, family, prepared)
    detector = family_detector(spec).build(train_fold)
    lead = detector.network
    assert lead.plan_ is not None  # resolved by build
    hparams = family_hparams(cfg, family, lead.args_, lead.plan_.settings(), spec.seeds)
    logger = training_logger(cfg, family, prepared, run_id)
    resumed = None if resume_from is None else checkpoint_epoch(resume_from)
    hooks = resumable_hooks(cfg, family, (ckpt_dir, fp, resume_from, resumed), logger, out_dir)
    hooks.hparams = hparams
    fit_resumable(detector, train_fold, val_fold, hooks, (family, ckpt_dir))
    result = family_result(cfg, family, detector, logger.run_id, resumed)
    fitted = detector.network.fitted_
    assert fitted is not None  # set by fit
    if fitted.trainer.is_global_zero:
        finish(detector, result, logger, out_dir)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result


def training_logger(cfg: Config, family: str, prepared: Prepared, run_id: str | None) -> Any:
    from aeops.tracking.runs import training_logger as logger

    return logger(cfg, family, prepared.data_hash, run_id)


def resumable_hooks(cfg: Config, family: str, resume: tuple, logger: Any, out_dir: Path) -> Any:
    """The hooks of an autoencoder's fit: its logger, progress bar and resume checkpoint
    (``resume``: the checkpoint folder, its fingerprint, what to resume from, its epoch)."""
    from aeops.training.engine import FitHooks

    ckpt_dir, fp, resume_from, resumed = resume

    def before_fit(trainer: Any) -> None:
        if trainer.is_global_zero:
            write_marker(ckpt_dir, fp, logger.run_id)
        if resume_from is not None:
            log.info(f"resuming {family} from {resume_from} (epoch {resumed})")

    return FitHooks(
        logger=logger,
        resume_path=ckpt_dir / LAST,
        resume_from=resume_from,
        progress_label=family if cfg.train.progress_bar else None,
        before_fit=before_fit,
        root=out_dir,
    )


def fit_resumable(detector: Any, train_fold: Any, val_fold: Any, hooks: Any, where: tuple) -> None:
    """Fit; a SIGTERM is one sentence naming the checkpoint that resumes it."""
    from aeops.training.engine import Interrupted

    family, ckpt_dir = where
    try:
        detector.fit(train_fold, val_fold, hooks)
    except Interrupted as stop:
        raise TrainingInterrupted(
            f"{family}: stopped by SIGTERM at epoch {stop.epoch}; "
            f"{ckpt_dir / LAST} holds the run so far: run `dvc repro train@{family}` "
            "(or make train) to resume it"
        ) from None


def family_result(
    cfg: Config, family: str, detector: Any, run_id: str | None, resumed: int | None
) -> TrainResult:
    """What a fitted family's ``run.json``, run tags and log line say."""
    network = detector.network  # the option validation kept; the lead network of a bag
    fitted, score, plan = network.fitted_, network.score_choice_, network.plan_
    variant = getattr(detector, "choice_", "")
    architecture = {**network.args_, "score": score.kind, "score_reason": score.reason}
    architecture["seeds"] = detector.seeds
    if variant:
        architecture["variant"] = variant
    stopped_by = stop_reason(fitted.stopped_by, plan.max_epochs)
    record = {
        "family": family,
        "epochs": fitted.epochs,
        "best_epoch": fitted.best.epoch,
        "best_val_loss": fitted.best_val_loss,
        "architecture": architecture,
        "plan": plan.settings(),
        "stopped_by": stopped_by,
    }
    ran = fitted.epochs - (resumed or 0)
    timings = {
        "fit_seconds": round(fitted.seconds, 3),
        "epochs_per_second": round(ran / max(fitted.seconds, 1e-9), 2),
    }
    tags = {"aeops.score": score.reason}
    if variant:
        tags["aeops.variant"] = variant  # a listed setting: which option validation kept
    if resumed is not None:
        tags["resumed_from_epoch"] = str(resumed)
    result = TrainResult(family, run_id, record, timings, tags)
    result.summary = family_summary(cfg, family, result)
    return result


def family_summary(cfg: Config, family: str, result: TrainResult) -> str:
    """The stage's log line of a family (and its warning when a budget stopped it)."""
    record = result.record
    arch = record["architecture"]
    sizes = {k: v for k, v in arch.items() if k in ("hidden", "latent", "channels")}
    loss = record["best_val_loss"]
    loss_text = "n/a" if loss is None else f"{loss:.4g}"
    if record["stopped_by"] == "max_time":
        log.warning(
            f"train[{family}]: stopped by train.max_time ({cfg.train.max_time:g} s) after "
            f"{record['epochs']} epochs, before early stopping; the best weights so far are kept"
        )
    if record["stopped_by"] == "max_samples":
        log.info(
            f"train[{family}]: {record['epochs']} epochs, the most train.max_samples "
            f"({cfg.train.max_samples:,} rows seen) allows on this many training rows"
        )
    text = (
        f"{record['epochs']} epochs, best val_loss {loss_text} -> "
        f"{cfg.paths.model_dir(family) / MODEL_FILE} (MLflow run {result.run_id}); "
        f"sizes {sizes}; score {arch['score_reason']}"
    )
    if arch["seeds"] > 1:
        text += f"; {arch['seeds']} seeds, their scores averaged (models.seeds)"
    return text + (f"; {arch['variant']}" if "variant" in arch else "")


def train_denoiser(cfg: Config, family: str, prepared: Prepared, out_dir: Path) -> TrainResult:
    """Fit denoiser ``family`` on the training fold's images (patches cut and noised on the
    fly; the weights of the best validation PSNR kept), its MLflow run logging the
    validation curve; write its weights, its record and ``run.json`` into ``out_dir``."""
    from aeops.training.engine import FitHooks

    model = denoiser(cfg, family, prepared)
    logger = training_logger(cfg, family, prepared, None)
    progress = family if cfg.train.progress_bar else None
    noise, steps = model.noise.describe(), model.params.steps
    log.info(f"train[{family}]: {noise}, {steps} steps")
    hooks = FitHooks(logger=logger, progress_label=progress, root=out_dir)
    hooks.hparams = {"family": family, "seed": cfg.seed, "model": model.record()}
    model.fit(prepared.fold("train"), prepared.fold("val"), hooks)
    best = max(h["val_psnr_db"] for h in model.history)
    record = {
        "family": family,
        "kind": model.kind,
        "steps": int(model.history[-1]["step"]) if model.history else 0,
        "best_val_psnr_db": best,
        "spec": model.record(),
        "stopped_by": model.stopped_by,
    }
    result = TrainResult(family, logger.run_id, record, {}, {})
    result.summary = (
        f"best validation PSNR {best:.2f} dB ({model.stopped_by}) -> {out_dir} "
        f"(MLflow run {result.run_id})"
    )
    finish(model, result, logger, out_dir)
    return result


def finish(model: Any, result: TrainResult, logger: Any, out_dir: Path) -> None:
    """The model's files and ``run.json``; its weights, their SHA-256, tags and timings in
    its MLflow run."""
    from aeops.models.registry import weights_file
    from aeops.tracking.runs import record_training

    model.save(out_dir)
    record_training(logger, weights_file(out_dir), result.tags, result.timings)
    write_json(out_dir / RUN_FILE, result.record)


def skip(out_dir: Path, family: str, reason: str) -> dict:
    """A family that cannot use this data leaves a record saying why, and the run goes on."""
    record = {"family": family, "skipped": True, "reason": reason}
    write_json(out_dir / RUN_FILE, record)
    log.info(f"train[{family}]: skipped: {reason}")
    return record


TRAINERS = {"autoencoder": train_family, "denoiser": train_denoiser}  # by model kind
