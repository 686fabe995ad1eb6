"""The training engine: a Lightning ``Trainer`` set up to run at the hardware's pace.

What it costs per step is the model's arithmetic and little else:

- no host sync inside a step (see :mod:`aeops.training.lightning`); the progress bar reads the
  epoch's metrics only when it redraws, at most once a second;
- validation every ``val_every`` epochs (``auto``: often enough for early stopping, rarely
  enough that validation costs little next to training);
- the best weights are kept in memory (a device copy, no disk write) and restored at the end;
  the caller writes them once;
- ``last.ckpt`` for resuming is written on a time interval and when training is interrupted
  (SIGTERM, Ctrl-C), not every epoch;
- ``auto`` batch size, precision and CPU threads fit the device: a GPU gets larger batches
  (learning rate scaled by the square root of the batch ratio) and bf16; a CPU keeps batch 64,
  full precision, and one thread for models too small to share out;
- ``train.patience`` (epochs) is counted in validations once, in the :class:`Plan`: early
  stopping waits that many, the learning rate halves after a third of them.

:func:`fit` is the one way a network is trained: module, data, trainer, fit, best weights.
It takes any ``nn.Module`` that maps rows to ``recon`` and ``z`` and any objective with
``corrupt`` and ``rows`` (:class:`~aeops.models.autoencoders.spec.Objective`): it knows no
family.

Imports only torch, Lightning and NumPy, and aeops' batches and LightningModule, which import
nothing else (the GPU check runs it where nothing else is installed).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EarlyStopping, Timer
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch import nn

from aeops.core.io import atomic_path
from aeops.core.sections import TrainerConfig
from aeops.training.batches import FoldData, FoldDataModule
from aeops.training.lightning import VAL_LOSS, AutoencoderModule, Objective
from aeops.training.plan import Plan, on_gpu


def skip_cuda_probe_without_gpu() -> None:
    """On a host with no GPU, stop torch probing for one on every optimiser step.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` at import; with a CUDA build of torch and
    no GPU, each ``torch.cuda.is_available()`` (the optimiser asks at every step) then retries
    loading NVML through ctypes: ~0.1 ms per step, several percent of a small model's step.
    Where CUDA has no device the plain runtime check is as safe and costs nothing."""
    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and not torch.cuda.is_available():
        os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "0"


def use_reproducible_kernels(train_cfg: Any) -> None:
    """``train.deterministic`` on a CPU: PyTorch's own convolution kernels instead of
    oneDNN's, which pick their code by the CPU's instruction set, so the same run gives other
    conv weights and scores on an AVX2 and an AVX-512 machine (measured: capping oneDNN at
    AVX2 changes ``train@conv``'s weights; without oneDNN they are the same either way, about
    20 % slower). Process-wide, as the thread count is."""
    if train_cfg.deterministic and not on_gpu(train_cfg.accelerator):
        torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # a module flag


@dataclass(frozen=True)
class Run:
    """One training run's settings: ``train:`` of params.yaml, the resolved :class:`Plan`,
    the seed and Lightning's root folder (None: the working folder; nothing is written there
    without a logger)."""

    train: TrainerConfig
    plan: Plan
    seed: int
    root: Path | None


@dataclass
class FitHooks:
    """How a fit is watched and resumed, the caller's side effects: a Lightning logger, the
    resume checkpoint to write (``resume_path``) or continue from (``resume_from``, loaded
    with ``weights_only=True``), a progress bar label, the hyperparameters the logger
    records, extra callbacks, ``before_fit`` (called with the trainer just before it fits)
    and Lightning's root folder (None: the working folder; nothing is written there without a
    logger)."""

    logger: Any = False
    resume_path: Path | None = None
    resume_from: Path | None = None
    checkpoint_every_s: float | None = None
    progress_label: str | None = None
    hparams: dict[str, Any] | None = None
    extra_callbacks: tuple[pl.Callback, ...] = field(default_factory=tuple)
    before_fit: Callable[[pl.Trainer], None] | None = None
    root: Path | None = None

    def quiet(self, suffix: str) -> FitHooks:
        """What a network trained beside the lead gets of these hooks (a bag member, another
        option of a listed setting): the progress bar, labelled with ``suffix``, and
        Lightning's root folder; no logger or resume checkpoint of its own."""
        label = f"{self.progress_label} {suffix}" if self.progress_label else None
        return FitHooks(progress_label=label, root=self.root)


class BestWeights(pl.Callback):
    """Keeps the weights of the best validation in memory and restores them when training
    ends (early stop, last step or interruption handled by the caller). ``monitor``: the
    logged value to follow (``mode`` ``min`` or ``max``), or ``read``: a function of the
    module that gives it (exactly as the module computed it, not as logged)."""

    def __init__(
        self,
        monitor: str = VAL_LOSS,
        mode: str = "min",
        read: Callable[[pl.LightningModule], float | None] | None = None,
    ) -> None:
        self.monitor, self.mode, self.read = monitor, mode, read
        self.best = math.inf if mode == "min" else -math.inf
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def value(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> float | None:
        if self.read is not None:
            return self.read(pl_module)
        metric = trainer.callback_metrics.get(self.monitor)
        return None if metric is None else float(metric)  # the one read-back per validation

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = self.value(trainer, pl_module)
        if value is None:
            return
        if value < self.best if self.mode == "min" else value > self.best:
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
        # written beside and renamed into place: a kill while writing (SIGKILL, power loss)
        # leaves the previous checkpoint whole, never a truncated one to resume from
        with atomic_path(self.path) as tmp:
            trainer.save_checkpoint(tmp)
        self._last = time.monotonic()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if time.monotonic() - self._last >= self.every_s:
            self.save(trainer)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):
            self.save(trainer)


class EpochProgressBar(pl.Callback):
    """One bar over epochs (or, for a run counted in steps, over steps) with the latest
    losses, redrawn at most once a second (reading metrics back from the device only then)."""

    SHOWN = ("epoch/train_loss", VAL_LOSS, "epoch/val_auroc", "val/psnr_db")

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None
        self._drawn = 0.0
        self.steps = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from tqdm.auto import tqdm

        self.steps = trainer.max_steps is not None and trainer.max_steps > 0
        if trainer.is_global_zero:
            self.bar = tqdm(
                total=trainer.max_steps if self.steps else trainer.max_epochs,
                initial=trainer.global_step if self.steps else trainer.current_epoch,
                desc=f"train[{self.label}]",
                unit="step" if self.steps else "epoch",
                mininterval=1.0,
            )

    def advance(self, trainer: pl.Trainer) -> None:
        if self.bar is None:
            return
        if time.monotonic() - self._drawn >= 1.0:
            metrics = trainer.callback_metrics
            self.bar.set_postfix(
                {
                    k.removeprefix("epoch/"): f"{float(metrics[k]):.4g}"
                    for k in self.SHOWN
                    if k in metrics
                },
                refresh=False,
            )
            self._drawn = time.monotonic()
        self.bar.update(1)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.steps:
            self.advance(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self.steps:
            self.advance(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.bar is not None:
            self.bar.close()


def make_trainer(
    limits: dict[str, Any], hooks: FitHooks, callbacks: list[pl.Callback]
) -> pl.Trainer:
    """The one Trainer every model trains with (an autoencoder's epochs, a denoiser's
    steps): ``limits`` are Lightning's own arguments for how long it runs, how often it
    validates and on what hardware; ``callbacks`` the caller's (early stopping, the best
    weights); ``hooks`` add the resume checkpoint, the progress bar, their own callbacks,
    the logger and the root folder. No Lightning checkpoint, summary or sanity pass."""
    from aeops.core.logs import settle_libraries

    settle_libraries()  # Lightning set its loggers to INFO when it was imported
    callbacks = list(callbacks)
    if hooks.resume_path is not None:
        every = hooks.checkpoint_every_s
        callbacks.append(ResumeCheckpoint(hooks.resume_path, 60.0 if every is None else every))
    if hooks.progress_label is not None:
        callbacks.append(EpochProgressBar(hooks.progress_label))
    callbacks.extend(hooks.extra_callbacks)
    return pl.Trainer(
        **limits,
        logger=hooks.logger,
        callbacks=callbacks,
        default_root_dir=hooks.root,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )


def build_trainer(run: Run, hooks: FitHooks) -> tuple[pl.Trainer, BestWeights]:
    """An autoencoder's Trainer: epochs, early stopping, in-memory best weights and interval
    resume checkpoints (when ``hooks.resume_path`` is given)."""
    train_cfg, plan = run.train, run.plan
    best = BestWeights()
    if hooks.resume_path is not None and hooks.checkpoint_every_s is None:
        hooks = replace(hooks, checkpoint_every_s=train_cfg.checkpoint_every_s)
    if plan.threads is not None:
        torch.set_num_threads(plan.threads)
    use_reproducible_kernels(train_cfg)
    skip_cuda_probe_without_gpu()
    limits = {
        "accelerator": train_cfg.accelerator,
        "devices": train_cfg.devices,
        "num_nodes": train_cfg.num_nodes,
        "strategy": train_cfg.strategy,
        "precision": plan.precision,
        "deterministic": train_cfg.deterministic,
        "max_epochs": plan.max_epochs or train_cfg.max_epochs,
        "max_time": None if train_cfg.max_time is None else timedelta(seconds=train_cfg.max_time),
        "min_epochs": train_cfg.min_epochs,
        "limit_train_batches": train_cfg.limit_train_batches,
        "check_val_every_n_epoch": plan.val_every,
        "enable_progress_bar": False,
        "log_every_n_steps": 1,
    }
    stop = EarlyStopping(monitor=VAL_LOSS, mode="min", patience=plan.stop_patience)
    return make_trainer(limits, replace(hooks, root=run.root), [stop, best]), best


def compile_net(net: nn.Module, mode: str) -> nn.Module:
    """``torch.compile`` the network (``none`` leaves it eager)."""
    if mode == "none":
        return net
    compiled = torch.compile(net, mode=None if mode == "default" else mode)
    return compiled  # type: ignore[return-value]  # a wrapper that behaves as the network


@dataclass
class Fitted:
    """A finished :func:`fit`: the trained network (best weights restored, not compiled),
    its module and trainer, the best validation and the wall time of ``Trainer.fit``."""

    net: nn.Module
    module: AutoencoderModule
    trainer: pl.Trainer
    best: BestWeights
    seconds: float

    @property
    def epochs(self) -> int:
        """The epochs trained, counting those before a resume."""
        return self.trainer.current_epoch

    @property
    def best_val_loss(self) -> float | None:
        return self.best.best if self.best.state is not None else None

    @property
    def stopped_by(self) -> str:
        """Why training ended: ``max_epochs``, ``patience`` (early stopping) or ``max_time``
        (``train.max_time``, the wall-clock budget)."""
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if isinstance(callback, Timer):
                remaining = callback.time_remaining()
                if remaining is not None and remaining <= 0:
                    return "max_time"
            if isinstance(callback, EarlyStopping) and callback.stopped_epoch > 0:
                return "patience"
        return "max_epochs"


class Interrupted(SIGTERMException):
    """SIGTERM stopped training at ``epoch``; the resume checkpoint holds the run so far."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"stopped by SIGTERM at epoch {epoch}")
        self.epoch = epoch


def fit(
    net: nn.Module, objective: Objective, run: Run, data: FoldData, hooks: FitHooks | None = None
) -> Fitted:
    """Train ``net`` on ``data``'s normal training rows, validating on its validation rows, as
    ``run`` says (compiled as ``train.compile`` asks); restore the best weights. ``hooks``:
    logging, resuming and progress (none: a quiet run). Raises :class:`Interrupted` when
    SIGTERM stops training."""
    hooks = hooks or FitHooks()
    module = AutoencoderModule(
        net,
        objective,
        run.plan,
        run.train.weight_decay,
        val_has_both=holds_both(data.val_is_anomaly),
        hparams=hooks.hparams,
    )
    module.net = compile_net(module.net, run.train.compile)
    datamodule = FoldDataModule(
        data, run.plan.batch_size, run.seed, run.train.in_memory, run.train.num_workers
    )
    trainer, best = build_trainer(run, hooks)
    if hooks.before_fit is not None:
        hooks.before_fit(trainer)
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=hooks.resume_from, weights_only=True)
    except SIGTERMException:
        raise Interrupted(trainer.current_epoch) from None
    seconds = time.perf_counter() - start
    best.restore(module)
    return Fitted(net, module, trainer, best, seconds)


def holds_both(is_anomaly: np.ndarray) -> bool:
    """Whether the flags hold both normal rows and anomalies (so an AUROC exists)."""
    return bool(is_anomaly.any() and (~is_anomaly).any())
