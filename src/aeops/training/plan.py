"""The plan of one training run: ``auto`` settings decided for the hardware and the data.

- ``auto`` batch size, precision and CPU threads fit the device: a GPU gets larger batches
  (learning rate scaled by the square root of the batch ratio) and bf16; a CPU keeps batch 64,
  full precision, and one thread for models too small to share out;
- validation every ``val_every`` epochs (``auto``: often enough for early stopping, rarely
  enough that validation costs little next to training);
- ``train.patience`` (epochs) is counted in validations once, here: early stopping waits that
  many, the learning rate halves after a third of them;
- ``train.max_samples`` bounds a tall table's epochs;
- ``train.schedule``: the learning rate halves on a plateau of the validation loss
  (``plateau``), or follows a cosine over the planned steps (``cosine``, :func:`cosine_lr`:
  epochs x steps per epoch), which ends a fixed budget of epochs at a small rate.

Pure: settings and sizes in, a :class:`Plan` out (torch only to ask whether a GPU is there).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch

CPU_BATCH = 64  # the batch the learning rate is given for, and what a CPU keeps
GPU_MAX_BATCH = 1024

MIN_STEPS_PER_EPOCH = 16

CPU_MAX_STEPS_PER_EPOCH = 512  # auto on a CPU: the batch grows so an epoch is at most this ...

CPU_MAX_BATCH = 4096  # ... up to this batch (a million rows: ~340 steps of 2,048)

VAL_SAMPLES = 2048  # auto: validate after at least this many training samples ...

MAX_VALIDATIONS_PER_PATIENCE = 3  # ... but at least 3 times within the patience

SMALL_STEP_FLOPS = 1e8  # below this, one CPU thread beats several

LR_PATIENCE_SHARE = 3  # the learning rate halves after a third of the patience


def on_gpu(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


class Patience(NamedTuple):
    """How many validations without improvement to wait: before stopping, before the
    learning rate halves."""

    stop: int
    lr: int


def patience_in_validations(patience: int, val_every: int) -> Patience:
    """``patience`` epochs counted in validations every ``val_every`` epochs (at least one)."""
    return Patience(
        max(1, math.ceil(patience / val_every)),
        max(1, math.ceil(patience / LR_PATIENCE_SHARE / val_every)),
    )


@dataclass(frozen=True)
class Plan:
    """The resolved settings of one training run (``auto`` values decided), patience in
    validations. Made by :func:`resolve` or :func:`plan_for`."""

    batch_size: int
    lr: float
    precision: str
    val_every: int
    threads: int | None  # None: torch's default
    stop_patience: int  # validations without improvement before stopping
    lr_patience: int  # validations without improvement before the lr halves
    max_epochs: int | None = None  # None: train.max_epochs (train.max_samples did not lower it)
    schedule: str = "plateau"  # plateau | cosine (train.schedule)
    total_steps: int = 0  # the optimiser steps the planned epochs take (cosine's length)

    def settings(self) -> dict[str, Any]:
        """The settings ``auto`` decides (patience aside), as run.json and MLflow record them."""
        return {k: v for k, v in asdict(self).items() if not k.endswith("_patience")}


def plan_for(
    batch_size: int,
    lr: float,
    precision: str,
    val_every: int,
    threads: int | None,
    patience: int,
    max_epochs: int | None = None,
) -> Plan:
    """The plan of settings already decided, with ``patience`` (epochs) in validations (the
    plateau schedule; ``dataclasses.replace`` sets a cosine one)."""
    waits = patience_in_validations(patience, val_every)
    return Plan(batch_size, lr, precision, val_every, threads, waits.stop, waits.lr, max_epochs)


def cosine_lr(step: int, steps: int, lr: float) -> float:
    """The rate at ``step``: cosine from ``lr`` down to ``lr / 100`` at ``steps``, then held."""
    t = min(step / max(steps, 1), 1.0)
    return lr * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t)))


def epochs_within_samples(train_cfg: Any, n_train: int) -> int | None:
    """The epochs ``train.max_samples`` allows (epochs x training rows at most that many, at
    least ``min_epochs``) when fewer than ``max_epochs``, else None."""
    budget = getattr(train_cfg, "max_samples", None)
    if budget is None:
        return None
    epochs = max(train_cfg.min_epochs, budget // max(n_train, 1))
    return int(epochs) if epochs < train_cfg.max_epochs else None


def resolve(train_cfg: Any, n_train: int, n_params: int) -> Plan:
    """Decide ``auto`` batch size, learning rate, precision, validation interval, threads;
    count the patience in validations."""
    gpu = on_gpu(train_cfg.accelerator)
    batch, lr = train_cfg.batch_size, train_cfg.lr
    if batch == "auto":
        batch = auto_batch(n_train, gpu)
        lr = lr * math.sqrt(batch / CPU_BATCH)
    precision = train_cfg.precision
    if precision == "auto":
        precision = (
            "bf16-mixed"
            if gpu and torch.cuda.is_bf16_supported()
            else ("16-mixed" if gpu else "32-true")
        )
    val_every = train_cfg.val_every
    if val_every == "auto":
        val_every = max(
            1,
            min(
                math.ceil(VAL_SAMPLES / max(n_train, 1)),
                train_cfg.patience // MAX_VALIDATIONS_PER_PATIENCE,
            ),
        )
    threads = train_cfg.threads
    if threads == "auto":
        small = 6 * n_params * batch < SMALL_STEP_FLOPS
        # CPU kernels split their sums by thread, so the weights depend on the thread count:
        # deterministic training takes one thread on every machine, whatever its cores
        threads = 1 if (not gpu and (small or train_cfg.deterministic)) else None
    epochs = epochs_within_samples(train_cfg, n_train)
    plan = plan_for(
        int(batch), float(lr), str(precision), int(val_every), threads, train_cfg.patience, epochs
    )
    steps_per_epoch = math.ceil(max(n_train, 1) / int(batch))
    return replace(
        plan,
        schedule=str(getattr(train_cfg, "schedule", "plateau")),
        total_steps=(epochs or train_cfg.max_epochs) * steps_per_epoch,
    )


def auto_batch(n_train: int, gpu: bool) -> int:
    """A power of two. GPU: the largest up to 1,024 that leaves 16 steps per epoch. CPU: 64
    (the batch the learning rate is given for), grown only as far as keeps an epoch of a
    tall table within 512 steps (up to 4,096), so a million rows do not take 9,000 tiny
    steps per epoch; the caller scales the learning rate by sqrt(batch / 64)."""
    if gpu:
        fitting = max(n_train // MIN_STEPS_PER_EPOCH, 1)
        return max(CPU_BATCH, min(GPU_MAX_BATCH, 1 << (fitting.bit_length() - 1)))
    needed = math.ceil(n_train / CPU_MAX_STEPS_PER_EPOCH)
    if needed <= CPU_BATCH:
        return CPU_BATCH
    return min(CPU_MAX_BATCH, 1 << (needed - 1).bit_length())
