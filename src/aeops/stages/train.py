"""The train stage: fit one family on the prepared folds (seeded, MLflow-tracked,
early-stopped and resumable), or record why it cannot use them.

Resuming: ``last.ckpt`` lives in ``<paths.checkpoints_dir>/<family>`` beside a fingerprint of
everything that shapes the run (params, data). It is written every
``train.checkpoint_every_s`` seconds and when training is interrupted (SIGTERM, Ctrl-C). A
rerun with the same fingerprint, after a crash or a kill, continues from it (loaded with
``weights_only=True``) and keeps logging to the same MLflow run; any other fingerprint starts
afresh. A finished run removes its checkpoints, so the next change starts clean.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from aeops.config import Config
from aeops.core.errors import TrainingInterrupted
from aeops.core.files import MODEL_FILE, RUN_FILE
from aeops.core.io import file_sha256, own_dir, write_json
from aeops.models.autoencoders.settings import unusable_reason
from aeops.stages.common import Prepared, load_prepared, training_spec
from aeops.tracking.names import MODEL_SHA_TAG, run_name
from aeops.tracking.runs import run_tags, setup_mlflow
from aeops.tracking.store import tracking_uri

log = logging.getLogger(__name__)

LAST = "last.ckpt"
MARKER = "fingerprint.json"
NOT_FINGERPRINTED = ("checkpoint_every_s", "progress_bar")  # do not change the result


@dataclass
class TrainResult:
    family: str
    run_id: str | None
    epochs: int
    best_epoch: int | None
    best_val_loss: float | None
    resumed_from_epoch: int | None
    architecture: dict[str, Any]
    plan: dict[str, Any]
    fit_seconds: float  # wall time of Trainer.fit (this process's part when resumed)
    epochs_per_second: float
    stopped_by: str = "max_epochs"  # max_epochs | max_samples | patience | max_time

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps: only what the same data and params reproduce (no run
        id, no timings), so ``dvc.lock`` is the same on every machine; those live in MLflow."""
        return {
            "family": self.family,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "architecture": self.architecture,
            "plan": self.plan,
            "stopped_by": self.stopped_by,
        }


def stop_reason(stopped_by: str, budget_epochs: int | None) -> str:
    """``max_samples`` when the epochs ran out because ``train.max_samples`` lowered them."""
    return "max_samples" if stopped_by == "max_epochs" and budget_epochs is not None else stopped_by


def fingerprint(cfg: Config, family: str, data_hash: str) -> str:
    train = {
        k: v for k, v in cfg.train.model_dump(mode="json").items() if k not in NOT_FINGERPRINTED
    }
    parts = {
        "family": family,
        "model": cfg.models.family(family).model_dump(mode="json"),
        "auto_size": cfg.models.auto_size.model_dump(mode="json"),
        "score": [cfg.models.score, cfg.models.score_neighbors],
        "train": train,
        "seed": cfg.seed,
        "data": data_hash,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def family_hparams(
    cfg: Config, family: str, args: dict[str, Any], plan: dict[str, Any], seeds: int = 1
) -> dict[str, Any]:
    """What the MLflow run records as params: the family's settings with ``auto`` sizes
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


def prepare_checkpoints(ckpt_dir: Path, fp: str) -> tuple[Path | None, str | None]:
    """Return (checkpoint to resume from, MLflow run to continue) or (None, None)."""
    marker = ckpt_dir / MARKER
    last = ckpt_dir / LAST
    if marker.exists() and last.exists():
        state = json.loads(marker.read_text())
        if state.get("fingerprint") != fp:
            log.info(f"params or data changed since {last} was written; starting afresh")
        elif readable(last):
            return last, state.get("run_id")
        else:
            log.warning(f"{last} cannot be read (cut off while written?); starting afresh")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    return None, None


def write_marker(ckpt_dir: Path, fp: str, run_id: str | None) -> None:
    """Record which params and data, and which MLflow run, the checkpoints belong to."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / MARKER).write_text(json.dumps({"fingerprint": fp, "run_id": run_id}))


def readable(checkpoint: Path) -> bool:
    """Whether a resume checkpoint loads (one cut off by a kill mid-write does not)."""
    try:
        checkpoint_epoch(checkpoint)
    except Exception:  # noqa: BLE001 - any failure to load means: do not resume from it
        return False
    return True


def checkpoint_epoch(path: Path) -> int:
    """The epoch a resume checkpoint was written at."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def train(cfg: Config, family: str):
    if cfg.task == "denoise":
        from aeops.stages.denoise import train_denoiser

        return train_denoiser(cfg, family)
    prepared = load_prepared(cfg)
    out_dir = own_dir(cfg.paths.model_dir(family))  # marked: a later stage knows it is ours
    reason = unusable_reason(family, prepared.meta)
    if reason is not None:
        return skip(out_dir, family, reason)
    result = train_family(cfg, family, prepared, out_dir)
    sizes = {k: v for k, v in result.architecture.items() if k in ("hidden", "latent", "channels")}
    loss = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4g}"
    if result.stopped_by == "max_time":
        log.warning(
            f"train[{family}]: stopped by train.max_time ({cfg.train.max_time:g} s) after "
            f"{result.epochs} epochs, before early stopping; the best weights so far are kept"
        )
    if result.stopped_by == "max_samples":
        rows = len(prepared.fold("train").normal)
        log.info(
            f"train[{family}]: {result.epochs} epochs, the most train.max_samples "
            f"({cfg.train.max_samples:,} rows seen) allows for {rows:,} training rows"
        )
    log.info(
        f"train[{family}]: {result.epochs} epochs, best val_loss {loss} -> "
        f"{out_dir / MODEL_FILE} (MLflow run {result.run_id}); sizes {sizes}; "
        f"score {result.architecture['score_reason']}"
        + (
            f"; {result.architecture['seeds']} seeds, their scores averaged (models.seeds)"
            if result.architecture["seeds"] > 1
            else ""
        )
        + (f"; {result.architecture['variant']}" if "variant" in result.architecture else "")
    )
    return result


def train_family(cfg: Config, family: str, prepared: Prepared, out_dir: Path) -> TrainResult:
    """Fit ``family`` on the normal training rows (an MLflow run logs it; a resume checkpoint
    guards it); write ``model.safetensors`` and ``run.json`` into ``out_dir``."""
    from pytorch_lightning.loggers import MLFlowLogger

    from aeops.models.autoencoders.bag import family_detector
    from aeops.training.engine import FitHooks, Interrupted

    ckpt_dir = cfg.paths.checkpoint_dir(family)
    fp = fingerprint(cfg, family, prepared.data_hash)
    resume_from, run_id = prepare_checkpoints(ckpt_dir, fp)
    train_fold, val_fold = prepared.fold("train"), prepared.fold("val")
    spec = training_spec(cfg, family, prepared)
    detector = family_detector(spec).build(train_fold)
    network = detector.network  # the lead network: its sizes and curves stand for the family
    assert network.plan_ is not None  # resolved by build
    plan = network.plan_

    setup_mlflow(cfg)
    logger = MLFlowLogger(
        experiment_name=cfg.mlflow.experiment,
        tracking_uri=tracking_uri(cfg),
        run_name=run_name(cfg, family),
        run_id=run_id,
        tags=run_tags(family, prepared.data_hash),
        log_model=False,
        synchronous=True,
    )
    resumed_epoch = None if resume_from is None else checkpoint_epoch(resume_from)

    def before_fit(trainer: pl.Trainer) -> None:
        if trainer.is_global_zero:
            write_marker(ckpt_dir, fp, logger.run_id)
        if resume_from is not None:
            log.info(f"resuming {family} from {resume_from} (epoch {resumed_epoch})")

    hooks = FitHooks(
        logger=logger,
        resume_path=ckpt_dir / LAST,
        resume_from=resume_from,
        progress_label=family if cfg.train.progress_bar else None,
        hparams=family_hparams(cfg, family, network.args_, plan.settings(), spec.seeds),
        before_fit=before_fit,
        root=out_dir,
    )
    try:
        detector.fit(train_fold, val_fold, hooks)
    except Interrupted as stop:
        raise TrainingInterrupted(
            f"{family}: stopped by SIGTERM at epoch {stop.epoch}; "
            f"{ckpt_dir / LAST} holds the run so far: run `dvc repro train@{family}` "
            "(or make train) to resume it"
        ) from None
    network = detector.network  # the option validation kept
    fitted, score = network.fitted_, network.score_choice_
    assert fitted is not None and score is not None  # set by fit
    variant = getattr(detector, "choice_", "")
    ran = fitted.epochs - (resumed_epoch or 0)
    result = TrainResult(
        family,
        logger.run_id,
        fitted.epochs,
        fitted.best.epoch,
        fitted.best_val_loss,
        resumed_epoch,
        {
            **network.args_,
            "score": score.kind,
            "score_reason": score.reason,
            "seeds": detector.seeds,
            **({"variant": variant} if variant else {}),
        },
        plan.settings(),
        round(fitted.seconds, 3),
        round(ran / max(fitted.seconds, 1e-9), 2),
        stop_reason(fitted.stopped_by, plan.max_epochs),
    )
    if fitted.trainer.is_global_zero:
        record_run(detector, result, logger, out_dir, variant)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result


def record_run(detector, result: TrainResult, logger, out_dir: Path, variant: str) -> None:
    """The weights (``model.safetensors``) and ``run.json``, and in the family's MLflow run
    the weights, their SHA-256, the score's reason and the timings."""
    model_path = detector.save(out_dir)
    client, run_id = logger.experiment, logger.run_id
    client.log_artifact(run_id, str(model_path), "weights")
    client.set_tag(run_id, MODEL_SHA_TAG, file_sha256(model_path))
    client.set_tag(run_id, "aeops.score", detector.network.score_choice_.reason)
    if variant:  # a listed setting: which option validation kept
        client.set_tag(run_id, "aeops.variant", variant)
    if result.resumed_from_epoch is not None:
        client.set_tag(run_id, "resumed_from_epoch", str(result.resumed_from_epoch))
    for name in ("fit_seconds", "epochs_per_second"):
        client.log_metric(run_id, f"train/{name}", getattr(result, name))
    write_json(out_dir / RUN_FILE, result.record())


def skip(out_dir: Path, family: str, reason: str) -> dict:
    """A family that cannot use this data leaves a record saying why, and the run goes on."""
    record = {"family": family, "skipped": True, "reason": reason}
    write_json(out_dir / RUN_FILE, record)
    log.info(f"train[{family}]: skipped: {reason}")
    return record
