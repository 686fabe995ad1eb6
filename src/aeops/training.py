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
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities.exceptions import SIGTERMException

from aeops.config import Config
from aeops.data.batches import FoldDataModule
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold
from aeops.engine import build_trainer, compile_net, resolve
from aeops.errors import TrainingInterrupted
from aeops.files import MODEL_FILE, RUN_FILE
from aeops.io import write_json
from aeops.models.calibration import calibrate, resolve_score
from aeops.models.lightning import AutoencoderModule
from aeops.models.registry import architecture, build_model, build_objective
from aeops.models.store import save_model
from aeops.tracking import MODEL_SHA_TAG, file_sha256, run_tags, setup_mlflow, tracking_uri

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

    def record(self) -> dict[str, Any]:
        """What ``run.json`` keeps: only what the same data and params reproduce (no run
        id, no timings), so ``dvc.lock`` is the same on every machine; those live in MLflow."""
        return {"family": self.family, "epochs": self.epochs, "best_epoch": self.best_epoch,
                "best_val_loss": self.best_val_loss, "architecture": self.architecture,
                "plan": self.plan}


def fingerprint(cfg: Config, family: str, data_hash: str) -> str:
    train = {k: v for k, v in cfg.train.model_dump(mode="json").items()
             if k not in NOT_FINGERPRINTED}
    parts = {"family": family, "model": cfg.models.family(family).model_dump(mode="json"),
             "auto_size": cfg.models.auto_size.model_dump(mode="json"),
             "score": [cfg.models.score, cfg.models.score_neighbors],
             "train": train, "seed": cfg.seed, "data": data_hash}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def family_hparams(cfg: Config, family: str, args: dict[str, Any],
                   plan: dict[str, Any]) -> dict[str, Any]:
    """What the MLflow run records as params: the family's settings with ``auto`` sizes
    resolved, training settings (``auto`` ones as decided) and the data settings."""
    model = {**cfg.models.family(family).model_dump(mode="json"),
             **{k: v for k, v in args.items() if k in ("hidden", "latent", "channels")}}
    data = cfg.data.model_dump(mode="json")
    data.pop("split")
    return {"family": family, "seed": cfg.seed, "model": model,
            "input_dim": args.get("input_dim"),
            "train": {**cfg.train.model_dump(mode="json"), **plan}, "data": data}


def _prepare_checkpoints(ckpt_dir: Path, print_fn, fp: str) -> tuple[Path | None, str | None]:
    """Return (checkpoint to resume from, MLflow run to continue) or (None, None)."""
    marker = ckpt_dir / MARKER
    last = ckpt_dir / LAST
    if marker.exists() and last.exists():
        state = json.loads(marker.read_text())
        if state.get("fingerprint") == fp:
            return last, state.get("run_id")
        print_fn(f"params or data changed since {last} was written; starting afresh")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    return None, None


def train_family(cfg: Config, family: str, meta: DatasetMeta, unit_range: bool, train: Fold,
                 val: Fold, out_dir: str | Path, data_hash: str,
                 print_fn=print) -> TrainResult:
    """Fit ``family`` on the normal training rows; write ``model.safetensors`` and ``run.json``."""
    from pytorch_lightning.loggers import MLFlowLogger

    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    out_dir = Path(out_dir)
    ckpt_dir = cfg.paths.checkpoint_dir(family)
    fp = fingerprint(cfg, family, data_hash)
    resume_from, run_id = _prepare_checkpoints(ckpt_dir, print_fn, fp)

    args = architecture(family, cfg, meta, train.x.shape[1], unit_range, train.normal)
    net = build_model(family, args)
    plan = resolve(cfg.train, len(train.normal), sum(p.numel() for p in net.parameters()))
    val_has_both = bool(val.is_anomaly.any() and (~val.is_anomaly).any())
    module = AutoencoderModule(net, build_objective(family, cfg), lr=plan.lr,
                               weight_decay=cfg.train.weight_decay, patience=cfg.train.patience,
                               batch_size=plan.batch_size, val_every=plan.val_every,
                               val_has_both=val_has_both,
                               hparams=family_hparams(cfg, family, args, asdict(plan)))
    module.net = compile_net(module.net, cfg.train.compile)
    data = FoldDataModule(train.normal, val.x, val.is_anomaly, plan.batch_size, cfg.seed,
                          cfg.train.in_memory, cfg.train.num_workers)

    setup_mlflow(cfg)
    logger = MLFlowLogger(experiment_name=cfg.mlflow.experiment, tracking_uri=tracking_uri(cfg),
                          run_name=family, run_id=run_id, tags=run_tags(family, data_hash),
                          log_model=False, synchronous=True)
    trainer, best = build_trainer(cfg.train, plan, out_dir, logger, ckpt_dir / LAST,
                                  progress_label=family if cfg.train.progress_bar else None)
    if trainer.is_global_zero:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        (ckpt_dir / MARKER).write_text(json.dumps({"fingerprint": fp, "run_id": logger.run_id}))
    resumed_epoch = None
    if resume_from is not None:
        resumed_epoch = int(torch.load(resume_from, map_location="cpu",
                                       weights_only=True)["epoch"])
        print_fn(f"resuming {family} from {resume_from} (epoch {resumed_epoch})")
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=data, ckpt_path=resume_from, weights_only=True)
    except SIGTERMException:
        raise TrainingInterrupted(
            f"{family}: stopped by SIGTERM at epoch {trainer.current_epoch}; "
            f"{ckpt_dir / LAST} holds the run so far: run `dvc repro train@{family}` "
            "(or make train) to resume it") from None

    seconds = time.perf_counter() - start
    best.restore(module)
    raw_net = getattr(module.net, "_orig_mod", module.net)
    score = resolve_score(cfg.models.score, meta.is_image)
    calibrate(raw_net, train.normal, score, cfg.models.score_neighbors, cfg.seed)
    args_record = {**args, "score": score}
    ran = trainer.current_epoch - (resumed_epoch or 0)
    result = TrainResult(family, logger.run_id, trainer.current_epoch, best.epoch,
                         best.best if best.state is not None else None, resumed_epoch,
                         args_record,
                         asdict(plan), round(seconds, 3), round(ran / max(seconds, 1e-9), 2))
    if trainer.is_global_zero:
        save_model(out_dir / MODEL_FILE, family, args, raw_net)
        client = logger.experiment
        client.log_artifact(logger.run_id, str(out_dir / MODEL_FILE), "weights")
        client.set_tag(logger.run_id, MODEL_SHA_TAG, file_sha256(out_dir / MODEL_FILE))
        if resumed_epoch is not None:
            client.set_tag(logger.run_id, "resumed_from_epoch", str(resumed_epoch))
        for name in ("fit_seconds", "epochs_per_second"):
            client.log_metric(logger.run_id, f"train/{name}", getattr(result, name))
        write_json(out_dir / RUN_FILE, result.record())
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result
