"""Train one family with Lightning: seeded, MLflow-tracked, early-stopped and resumable.

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
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold
from aeops.engine import Interrupted, fit, resolve
from aeops.errors import TrainingInterrupted
from aeops.files import MODEL_FILE, RUN_FILE
from aeops.io import write_json
from aeops.models.calibration import (
    ScoreChoice,
    SwitchRule,
    calibrate,
    choose_score,
    resolve_score,
    searches_score,
)
from aeops.models.registry import architecture, build_model, build_objective
from aeops.models.store import save_model
from aeops.tracking import (
    MODEL_SHA_TAG,
    file_sha256,
    run_name,
    run_tags,
    setup_mlflow,
    tracking_uri,
)

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
    cfg: Config, family: str, args: dict[str, Any], plan: dict[str, Any]
) -> dict[str, Any]:
    """What the MLflow run records as params: the family's settings with ``auto`` sizes
    resolved, training settings (``auto`` ones as decided) and the data settings."""
    model = {
        **cfg.models.family(family).model_dump(mode="json"),
        **{k: v for k, v in args.items() if k in ("hidden", "latent", "channels")},
    }
    data = cfg.data.model_dump(mode="json")
    data.pop("split")
    return {
        "family": family,
        "seed": cfg.seed,
        "model": model,
        "input_dim": args.get("input_dim"),
        "train": {**cfg.train.model_dump(mode="json"), **plan},
        "data": data,
    }


def _prepare_checkpoints(ckpt_dir: Path, fp: str) -> tuple[Path | None, str | None]:
    """Return (checkpoint to resume from, MLflow run to continue) or (None, None)."""
    marker = ckpt_dir / MARKER
    last = ckpt_dir / LAST
    if marker.exists() and last.exists():
        state = json.loads(marker.read_text())
        if state.get("fingerprint") == fp:
            return last, state.get("run_id")
        log.info(f"params or data changed since {last} was written; starting afresh")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    return None, None


def write_marker(ckpt_dir: Path, fp: str, run_id: str | None) -> None:
    """Record which params and data, and which MLflow run, the checkpoints belong to."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / MARKER).write_text(json.dumps({"fingerprint": fp, "run_id": run_id}))


def checkpoint_epoch(path: Path) -> int:
    """The epoch a resume checkpoint was written at."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])


def fit_score(net: Any, cfg: Config, is_image: bool, train: Fold, val: Fold) -> ScoreChoice:
    """Attach the score statistics to ``net``: the configured kind, or for an ``auto``
    table the kind validation prefers (:func:`~aeops.models.calibration.prefer_score`)."""
    neighbors = cfg.models.score_neighbors
    if searches_score(cfg.models.score, is_image) and val.has_real_anomalies:
        rule = SwitchRule(
            cfg.register.switch_confidence,
            cfg.register.switch_min_anomalies,
            cfg.evaluate.bootstrap,
            cfg.seed,
        )
        real = val.real
        return choose_score(net, train.normal, val.x[real], val.is_anomaly[real], neighbors, rule)
    kind = resolve_score(cfg.models.score, is_image)
    calibrate(net, train.normal, kind, neighbors, cfg.seed)
    return ScoreChoice(kind, f"{kind}: models.score is {cfg.models.score}")


def train_family(
    cfg: Config,
    family: str,
    meta: DatasetMeta,
    unit_range: bool,
    train: Fold,
    val: Fold,
    out_dir: str | Path,
    data_hash: str,
) -> TrainResult:
    """Fit ``family`` on the normal training rows; write ``model.safetensors`` and ``run.json``."""
    from pytorch_lightning.loggers import MLFlowLogger

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    out_dir = Path(out_dir)
    ckpt_dir = cfg.paths.checkpoint_dir(family)
    fp = fingerprint(cfg, family, data_hash)
    resume_from, run_id = _prepare_checkpoints(ckpt_dir, fp)

    args = architecture(family, cfg, meta, train.x.shape[1], unit_range, train.normal)
    net = build_model(family, args)
    plan = resolve(cfg.train, len(train.normal), sum(p.numel() for p in net.parameters()))

    setup_mlflow(cfg)
    logger = MLFlowLogger(
        experiment_name=cfg.mlflow.experiment,
        tracking_uri=tracking_uri(cfg),
        run_name=run_name(cfg, family),
        run_id=run_id,
        tags=run_tags(family, data_hash),
        log_model=False,
        synchronous=True,
    )
    resumed_epoch = None if resume_from is None else checkpoint_epoch(resume_from)

    def before_fit(trainer: pl.Trainer) -> None:
        if trainer.is_global_zero:
            write_marker(ckpt_dir, fp, logger.run_id)
        if resume_from is not None:
            log.info(f"resuming {family} from {resume_from} (epoch {resumed_epoch})")

    try:
        fitted = fit(
            net,
            build_objective(family, cfg),
            cfg.train,
            plan,
            train.normal,
            val.x,
            val.is_anomaly,
            out_dir,
            cfg.seed,
            logger=logger,
            resume_path=ckpt_dir / LAST,
            resume_from=resume_from,
            progress_label=family if cfg.train.progress_bar else None,
            hparams=family_hparams(cfg, family, args, plan.settings()),
            before_fit=before_fit,
        )
    except Interrupted as stop:
        raise TrainingInterrupted(
            f"{family}: stopped by SIGTERM at epoch {stop.epoch}; "
            f"{ckpt_dir / LAST} holds the run so far: run `dvc repro train@{family}` "
            "(or make train) to resume it"
        ) from None

    score = fit_score(fitted.net, cfg, meta.is_image, train, val)
    args_record = {**args, "score": score.kind, "score_reason": score.reason}
    ran = fitted.epochs - (resumed_epoch or 0)
    result = TrainResult(
        family,
        logger.run_id,
        fitted.epochs,
        fitted.best.epoch,
        fitted.best_val_loss,
        resumed_epoch,
        args_record,
        plan.settings(),
        round(fitted.seconds, 3),
        round(ran / max(fitted.seconds, 1e-9), 2),
        stop_reason(fitted.stopped_by, plan.max_epochs),
    )
    if fitted.trainer.is_global_zero:
        save_model(out_dir / MODEL_FILE, family, args, fitted.net)
        client = logger.experiment
        client.log_artifact(logger.run_id, str(out_dir / MODEL_FILE), "weights")
        client.set_tag(logger.run_id, MODEL_SHA_TAG, file_sha256(out_dir / MODEL_FILE))
        client.set_tag(logger.run_id, "aeops.score", score.reason)
        if resumed_epoch is not None:
            client.set_tag(logger.run_id, "resumed_from_epoch", str(resumed_epoch))
        for name in ("fit_seconds", "epochs_per_second"):
            client.log_metric(logger.run_id, f"train/{name}", getattr(result, name))
        write_json(out_dir / RUN_FILE, result.record())
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result
