"""Batches for training: in-memory tensors sliced by index, or a DataLoader for large data.

When the data fits in memory it is moved to the training device once, and each batch is one
index into that tensor: no per-sample ``__getitem__``, no worker processes, no host-to-device
copies per step. Training items are *runs* of up to ``steps_per_item`` consecutive batches
(one gather), which the module steps through one batch at a time: the optimiser sees exactly
the batches it would see otherwise, while Lightning's per-item bookkeeping is paid once per
run instead of once per batch. Under DDP every rank takes its own, equally long, shard of a
shared permutation, as ``DistributedSampler`` would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, TensorDataset


def _rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _stack_first(rows: list[tuple[torch.Tensor]]) -> torch.Tensor:
    return torch.stack([row[0] for row in rows])


class InMemoryBatches:
    """Iterate over runs of ``steps_per_item`` batches of ``tensors`` (same first dimension),
    by index, on their device."""

    def __init__(
        self,
        tensors: tuple[torch.Tensor, ...],
        batch_size: int,
        shuffle: bool,
        seed: int,
        epoch: Callable[[], int] = lambda: 0,
        steps_per_item: int = 1,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size * steps_per_item
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = epoch

    def _indices(self) -> torch.Tensor:
        n = len(self.tensors[0])
        rank, world = _rank_and_world()
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        per_rank = math.ceil(n / world)
        if per_rank * world > n:  # pad so every rank runs the same number of steps
            order = torch.cat([order, order[: per_rank * world - n]])
        return order[rank::world].to(self.tensors[0].device)

    def __len__(self) -> int:
        _, world = _rank_and_world()
        return math.ceil(math.ceil(len(self.tensors[0]) / world) / self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor | tuple[torch.Tensor, ...]]:
        indices = self._indices()
        for start in range(0, len(indices), self.batch_size):
            idx = indices[start : start + self.batch_size]
            batch = tuple(t[idx] for t in self.tensors)
            yield batch[0] if len(batch) == 1 else batch


def writable_tensor(array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A tensor sharing ``array``'s memory, or a copy when the array is read-only (pandas'
    copy-on-write arrays), which torch cannot safely share."""
    array = np.asarray(array)
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array, dtype=dtype)


@dataclass(frozen=True)
class FoldData:
    """What a network trains on: the normal training rows, and the validation rows with their
    anomaly flags (validation loss on its normal rows, AUROC when it holds both)."""

    train_x: np.ndarray
    val_x: np.ndarray
    val_is_anomaly: np.ndarray


class FoldDataModule(pl.LightningDataModule):
    """Train on normal rows; validate on the validation fold (normal rows plus anomalies)."""

    def __init__(
        self,
        data: FoldData,
        batch_size: int,
        seed: int,
        in_memory: bool,
        num_workers: int,
        steps_per_item: int = 16,
    ) -> None:
        super().__init__()
        self.train_x = writable_tensor(data.train_x, torch.float32)
        self.val_x = writable_tensor(data.val_x, torch.float32)
        self.val_is_anomaly = writable_tensor(data.val_is_anomaly, torch.bool)
        self.batch_size = batch_size
        self.seed = seed
        self.in_memory = in_memory
        self.num_workers = num_workers
        self.steps_per_item = steps_per_item

    def setup(self, stage: str | None = None) -> None:
        if self.in_memory and self.trainer is not None:
            device = self.trainer.strategy.root_device
            self.train_x = self.train_x.to(device)
            self.val_x = self.val_x.to(device)
            self.val_is_anomaly = self.val_is_anomaly.to(device)

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def train_dataloader(self):
        if self.in_memory:
            return InMemoryBatches(
                (self.train_x,), self.batch_size, True, self.seed, self._epoch, self.steps_per_item
            )
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            TensorDataset(self.train_x),
            batch_size=self.batch_size,
            shuffle=True,
            generator=generator,
            num_workers=self.num_workers,
            collate_fn=_stack_first,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self):
        size = max(self.batch_size, 1024)
        if self.in_memory:
            return InMemoryBatches((self.val_x, self.val_is_anomaly), size, False, self.seed)
        return DataLoader(
            TensorDataset(self.val_x, self.val_is_anomaly),
            batch_size=size,
            num_workers=self.num_workers,
        )
