"""The training engine: a Lightning ``Trainer`` set up to run at the hardware's pace.

What it costs per step is the model's arithmetic and little else:

- no host sync inside a step (see :mod:`aeops.models.lightning`); the progress bar reads the
  epoch's metrics only when it redraws, at most once a second;
- validation every ``val_every`` epochs (``auto``: often enough for early stopping, rarely
  enough that validation costs little next to training);
- the best weights are kept in memory (a device copy, no disk write) and restored at the end;
  the caller writes them once;
- ``last.ckpt`` for resuming is written on a time interval and when training is interrupted
  (SIGTERM, Ctrl-C), not every epoch;
- ``auto`` batch size, precision and CPU threads fit the device: a GPU gets larger batches
  (learning rate scaled by the square root of the batch ratio) and bf16; a CPU keeps batch 64,
  full precision, and one thread for models too small to share out.

Imports only torch and Lightning (the GPU check runs it where nothing else is installed).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping
from pytorch_lightning.utilities.exceptions import SIGTERMException

from aeops.models.lightning import VAL_LOSS

CPU_BATCH = 64  # the batch the learning rate is given for, and what a CPU keeps
GPU_MAX_BATCH = 1024
MIN_STEPS_PER_EPOCH = 16
VAL_SAMPLES = 2048  # auto: validate after at least this many training samples ...
MAX_VALIDATIONS_PER_PATIENCE = 3  # ... but at least 3 times within the patience
SMALL_STEP_FLOPS = 1e8  # below this, one CPU thread beats several


def skip_cuda_probe_without_gpu() -> None:
    """On a host with no GPU, stop torch probing for one on every optimiser step.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` at import; with a CUDA build of torch and
    no GPU, each ``torch.cuda.is_available()`` (the optimiser asks at every step) then retries
    loading NVML through ctypes: ~0.1 ms per step, several percent of a small model's step.
    Where CUDA has no device the plain runtime check is as safe and costs nothing."""
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and not torch.cuda.is_available():
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"


def on_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto"
                                              and torch.cuda.is_available())


@dataclass(frozen=True)
class Plan:
    """The resolved settings of one training run (``auto`` values decided)."""

    batch_size: int
    lr: float
    precision: str
    val_every: int
    threads: int | None  # None: torch's default


def resolve(train_cfg: Any, n_train: int, n_params: int) -> Plan:
    """Decide ``auto`` batch size, learning rate, precision, validation interval, threads."""
    gpu = on_gpu(train_cfg.accelerator)
    batch, lr = train_cfg.batch_size, train_cfg.lr
    if batch == "auto":
        batch = CPU_BATCH
        if gpu:
            fitting = max(n_train // MIN_STEPS_PER_EPOCH, 1)
            batch = max(CPU_BATCH, min(GPU_MAX_BATCH, 1 << (fitting.bit_length() - 1)))
            lr = lr * math.sqrt(batch / CPU_BATCH)
    precision = train_cfg.precision
    if precision == "auto":
        precision = "bf16-mixed" if gpu and torch.cuda.is_bf16_supported() else (
            "16-mixed" if gpu else "32-true")
    val_every = train_cfg.val_every
    if val_every == "auto":
        val_every = max(1, min(math.ceil(VAL_SAMPLES / max(n_train, 1)),
                               train_cfg.patience // MAX_VALIDATIONS_PER_PATIENCE))
    threads = train_cfg.threads
    if threads == "auto":
        small = 6 * n_params * batch < SMALL_STEP_FLOPS
        threads = 1 if (small and not gpu) else None
    return Plan(int(batch), float(lr), str(precision), int(val_every), threads)


class BestWeights(pl.Callback):
    """Keeps the weights of the best validation in memory and restores them when training
    ends (early stop, last epoch or interruption handled by the caller)."""

    def __init__(self) -> None:
        self.best = math.inf
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        value = trainer.callback_metrics.get(VAL_LOSS)
        if value is None or trainer.sanity_checking:
            return
        value = float(value)  # the one read-back per validation
        if value < self.best:
            self.best, self.epoch = value, trainer.current_epoch
            self.state = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def restore(self, pl_module: pl.LightningModule) -> None:
        if self.state is not None:
            pl_module.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "epoch": self.epoch, "state": self.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.epoch = state_dict["best"], state_dict["epoch"]
        self.state = state_dict["state"]


class ResumeCheckpoint(pl.Callback):
    """Writes ``path`` (a full Lightning checkpoint) at most every ``every_s`` seconds at an
    epoch's end, and when training is interrupted by SIGTERM or Ctrl-C."""

    def __init__(self, path: Path, every_s: float) -> None:
        self.path = Path(path)
        self.every_s = every_s
        self._last = time.monotonic()

    def save(self, trainer: pl.Trainer) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.path)
        self._last = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.save(trainer)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                     exception: BaseException) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.save(trainer)


class EpochProgressBar(pl.Callback):
    """One bar over epochs with the latest losses, redrawn at most once a second (reading
    metrics back from the device only then)."""

    SHOWN = ("epoch/train_loss", VAL_LOSS, "epoch/val_auroc")

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None
        self._drawn = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from tqdm.auto import tqdm

        if trainer.is_global_zero:
            self.bar = tqdm(total=trainer.max_epochs, initial=trainer.current_epoch,
                            desc=f"train[{self.label}]", unit="epoch", mininterval=1.0)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is None:
            return
        if time.monotonic() - self._drawn >= 1.0:
            metrics = trainer.callback_metrics
            self.bar.set_postfix({k.removeprefix("epoch/"): f"{float(metrics[k]):.4g}"
                                  for k in self.SHOWN if k in metrics}, refresh=False)
            self._drawn = time.monotonic()
        self.bar.update(1)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()


def build_trainer(train_cfg: Any, plan: Plan, root: Path, logger: Any = False,
                  resume_path: Path | None = None, checkpoint_every_s: float | None = None,
                  progress_label: str | None = None,
                  extra_callbacks: tuple[pl.Callback, ...] = ()) -> tuple[pl.Trainer, BestWeights]:
    """A Trainer with early stopping, in-memory best weights and interval resume checkpoints
    (when ``resume_path`` is given)."""
    best = BestWeights()
    patience = max(1, math.ceil(train_cfg.patience / plan.val_every))
    callbacks: list[pl.Callback] = [
        EarlyStopping(monitor=VAL_LOSS, mode="min", patience=patience), best]
    if resume_path is not None:
        every = train_cfg.checkpoint_every_s if checkpoint_every_s is None else checkpoint_every_s
        callbacks.append(ResumeCheckpoint(resume_path, every))
    if progress_label is not None:
        callbacks.append(EpochProgressBar(progress_label))
    callbacks.extend(extra_callbacks)
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    skip_cuda_probe_without_gpu()
    trainer = pl.Trainer(
        accelerator=train_cfg.accelerator, devices=train_cfg.devices,
        num_nodes=train_cfg.num_nodes, strategy=train_cfg.strategy, precision=plan.precision,
        deterministic=train_cfg.deterministic, max_epochs=train_cfg.max_epochs,
        min_epochs=train_cfg.min_epochs, limit_train_batches=train_cfg.limit_train_batches,
        check_val_every_n_epoch=plan.val_every, logger=logger, callbacks=callbacks,
        default_root_dir=root, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, log_every_n_steps=1, num_sanity_val_steps=0,
    )
    return trainer, best


def compile_net(net: torch.nn.Module, mode: str) -> torch.nn.Module:
    """``torch.compile`` the network (``none`` leaves it eager)."""
    if mode == "none":
        return net
    return torch.compile(net, mode=None if mode == "default" else mode)  # type: ignore[return-value]
