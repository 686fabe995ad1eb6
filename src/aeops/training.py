"""Train one family with Lightning: seeded, MLflow-tracked, early-stopped and resumable.

Resuming: checkpoints live in ``<paths.checkpoints_dir>/<family>`` beside a fingerprint of
everything that shapes the run (params, data). A rerun with the same fingerprint, after a
crash or a kill, continues from ``last.ckpt`` and keeps logging to the same MLflow run; any
other fingerprint starts afresh. A finished run removes its checkpoints, so the next change
starts clean.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
from pytorch_lightning.loggers import MLFlowLogger
from tqdm.auto import tqdm

from aeops.config import Config
from aeops.data.batches import FoldDataModule
from aeops.data.schema import DatasetMeta
from aeops.data.split import Fold
from aeops.io import write_json
from aeops.models.lightning import AutoencoderModule
from aeops.models.registry import architecture, build_model, build_objective
from aeops.models.store import MODEL_FILE, save_model
from aeops.tracking import run_tags, setup_mlflow, tracking_uri

RUN_FILE = "run.json"


@dataclass
class TrainResult:
    family: str
    run_id: str | None
    epochs: int
    best_val_loss: float | None
    resumed_from_epoch: int | None
    architecture: dict[str, Any]


class EpochProgressBar(pl.Callback):
    """One bar over epochs with the latest losses: readable in a terminal and in DVC's log."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.bar: tqdm | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self.bar = tqdm(total=trainer.max_epochs, initial=trainer.current_epoch,
                            desc=f"train[{self.family}]", unit="epoch", mininterval=1.0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is None:
            return
        shown = ("train_loss", "val_loss", "val_auroc")
        metrics = trainer.callback_metrics
        self.bar.set_postfix({k: f"{float(metrics[k]):.4g}" for k in shown if k in metrics},
                             refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()


def fingerprint(cfg: Config, family: str, data_hash: str) -> str:
    parts = {"family": family, "model": cfg.models.family(family).model_dump(mode="json"),
             "auto_size": cfg.models.auto_size.model_dump(mode="json"),
             "train": cfg.train.model_dump(mode="json"), "seed": cfg.seed, "data": data_hash}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def family_hparams(cfg: Config, family: str, args: dict[str, Any]) -> dict[str, Any]:
    """What the MLflow run records as params: the family's settings with ``auto`` sizes
    resolved, training settings and the data settings."""
    model = {**cfg.models.family(family).model_dump(mode="json"),
             **{k: v for k, v in args.items() if k in ("hidden", "latent", "channels")}}
    data = cfg.data.model_dump(mode="json")
    data.pop("split")
    return {"family": family, "seed": cfg.seed, "model": model,
            "input_dim": args.get("input_dim"), "train": cfg.train.model_dump(mode="json"),
            "data": data}


def _prepare_checkpoints(ckpt_dir: Path, print_fn, fp: str) -> tuple[Path | None, str | None]:
    """Return (checkpoint to resume from, MLflow run to continue) or (None, None)."""
    marker = ckpt_dir / "fingerprint.json"
    last = ckpt_dir / "last.ckpt"
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
    """Fit ``family`` on the normal training rows; write ``model.pt`` and ``run.json``."""
    pl.seed_everything(cfg.seed, workers=True)
    out_dir = Path(out_dir)
    ckpt_dir = cfg.paths.checkpoint_dir(family)
    fp = fingerprint(cfg, family, data_hash)
    resume_from, run_id = _prepare_checkpoints(ckpt_dir, print_fn, fp)

    args = architecture(family, cfg, meta, train.x.shape[1], unit_range, train.normal)
    net = build_model(family, args)
    module = AutoencoderModule(net, build_objective(family, cfg), lr=cfg.train.lr,
                               weight_decay=cfg.train.weight_decay, patience=cfg.train.patience,
                               hparams=family_hparams(cfg, family, args))
    if cfg.train.compile:
        module.net = torch.compile(module.net)  # type: ignore[assignment]
    data = FoldDataModule(train.normal, val.x, val.is_anomaly, cfg.train.batch_size, cfg.seed,
                          cfg.train.in_memory, cfg.train.num_workers)

    setup_mlflow(cfg)
    logger = MLFlowLogger(experiment_name=cfg.mlflow.experiment, tracking_uri=tracking_uri(cfg),
                          run_name=family, run_id=run_id, tags=run_tags(family), log_model=False,
                          synchronous=False)
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val_loss",
                                 mode="min", save_top_k=1, save_last=True)
    callbacks: list[pl.Callback] = [
        EarlyStopping(monitor="val_loss", mode="min", patience=cfg.train.patience),
        checkpoint,
    ]
    if cfg.train.progress_bar:
        callbacks.append(EpochProgressBar(family))
    trainer = pl.Trainer(
        accelerator=cfg.train.accelerator, devices=cfg.train.devices,
        num_nodes=cfg.train.num_nodes, strategy=cfg.train.strategy,
        precision=cfg.train.precision, deterministic=cfg.train.deterministic,
        max_epochs=cfg.train.max_epochs, min_epochs=cfg.train.min_epochs,
        limit_train_batches=cfg.train.limit_train_batches,
        logger=logger, callbacks=callbacks, default_root_dir=out_dir,
        enable_progress_bar=False, enable_model_summary=cfg.train.progress_bar,
        log_every_n_steps=1, num_sanity_val_steps=0,
    )
    if trainer.is_global_zero:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        (ckpt_dir / "fingerprint.json").write_text(
            json.dumps({"fingerprint": fp, "run_id": logger.run_id})
        )
    resumed_epoch = None
    if resume_from is not None:
        resumed_epoch = int(torch.load(resume_from, map_location="cpu",
                                       weights_only=False)["epoch"])
        print_fn(f"resuming {family} from {resume_from} (epoch {resumed_epoch})")
    trainer.fit(module, datamodule=data, ckpt_path=resume_from)

    best = checkpoint.best_model_path
    if best:
        state = torch.load(best, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    best_score = checkpoint.best_model_score
    result = TrainResult(family, logger.run_id, trainer.current_epoch,
                         float(best_score) if best_score is not None else None, resumed_epoch,
                         args)
    if trainer.is_global_zero:
        raw_net = getattr(module.net, "_orig_mod", module.net)
        save_model(out_dir / MODEL_FILE, family, args, raw_net)
        logger.experiment.log_artifact(logger.run_id, str(out_dir / MODEL_FILE), "weights")
        write_json(out_dir / RUN_FILE, asdict(result))
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return result
