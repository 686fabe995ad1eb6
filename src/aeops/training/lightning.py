"""The one ``LightningModule`` every family trains through: loss, optimiser, logging.

Nothing in a step reads a value back to the host: losses are summed on the device (weighted
by a float mask, never boolean indexing) and logged once per epoch, and the validation AUROC
takes every validation row, whatever the batch count, and is computed once per validation.
Per-epoch curves are logged as ``epoch/<name>``, so the evaluated ``val_auroc`` that chooses
the champion (logged later by ``evaluate``) is never confused with a training-time value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics.classification import BinaryAUROC

from aeops.training.plan import cosine_lr

if TYPE_CHECKING:
    from aeops.training.plan import Plan

VAL_LOSS = "epoch/val_loss"  # what early stopping, the scheduler and the best weights follow


class Objective(Protocol):
    """What a family's objective offers the training step
    (:class:`~aeops.models.autoencoders.spec.Objective` and its subclasses)."""

    def corrupt(self, x: torch.Tensor) -> torch.Tensor: ...

    def rows(self, x: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...

    def loss(self, x: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...


class AutoencoderModule(pl.LightningModule):
    """Trains any autoencoder network (rows -> ``recon``, ``z``; ``row_score``) on normal
    rows; tracks validation loss and AUROC.

    The plan's ``lr_patience`` is in validations (:attr:`aeops.training.engine.Plan`): the
    learning rate halves after that many validations without improvement; with the plan's
    ``schedule: cosine`` it follows :func:`~aeops.training.plan.cosine_lr` over the plan's
    ``total_steps`` instead (set before each step from the optimiser steps taken, so a
    resumed run continues the curve). ``val_auroc`` is
    logged only when the validation fold holds both normal rows and anomalies
    (``val_has_both``)."""

    def __init__(
        self,
        net: nn.Module,
        objective: Objective,
        plan: Plan,
        weight_decay: float,
        val_has_both: bool = False,
        hparams: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.net: Any = net  # an autoencoder network: forward, row_score
        self.objective = objective
        self.lr = plan.lr
        self.weight_decay = weight_decay
        self.lr_patience = plan.lr_patience
        self.cosine_steps = plan.total_steps if plan.schedule == "cosine" else 0
        self.batch_size = plan.batch_size
        self.val_has_both = val_has_both
        self.save_hyperparameters(hparams or {})
        self.val_auroc = BinaryAUROC()
        # the step is written out (zero_grad, backward, step): Lightning's automatic
        # optimisation wraps it in a closure whose bookkeeping costs more than a small step
        self.automatic_optimization = False
        self._sums: dict[str, tuple[tuple[str, ...], torch.Tensor]] = {}
        self._counts: dict[str, torch.Tensor | float] = {}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)

    def _add(self, prefix: str, terms: dict[str, torch.Tensor], count, weight=1.0) -> None:
        """Accumulate ``weight * term`` of every term in one device tensor; read once per
        epoch (a per-step ``self.log`` costs more than a small model's whole step)."""
        names = tuple(terms)
        values = torch.stack([terms[k] for k in names]).detach() * weight
        if prefix in self._sums:
            values = values + self._sums[prefix][1]
        self._sums[prefix] = (names, values)
        self._counts[prefix] = self._counts.get(prefix, 0.0) + count

    def _epoch_means(self, prefix: str) -> dict[str, torch.Tensor]:
        names, totals = self._sums[prefix]
        return dict(zip(names, totals / self._counts[prefix], strict=True))

    def _log_epoch(self, prefix: str) -> None:
        if prefix not in self._sums:
            return
        for name, mean in self._epoch_means(prefix).items():
            key = f"epoch/{prefix}_loss" if name == "loss" else f"epoch/{prefix}_{name}"
            self.log(key, mean, prog_bar=name == "loss", sync_dist=True)
        del self._sums[prefix], self._counts[prefix]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """One optimiser step per batch of ``batch_size`` rows in ``batch`` (a run of
        consecutive batches from :class:`~aeops.training.batches.InMemoryBatches`)."""
        optimizer = cast(pl.core.optimizer.LightningOptimizer, self.optimizers())
        for rows in batch.split(self.batch_size):
            if self.cosine_steps:
                rate = cosine_lr(self.global_step, self.cosine_steps, self.lr)
                for group in optimizer.param_groups:
                    group["lr"] = rate
            terms = self.objective.loss(rows, self.net(self.objective.corrupt(rows)))
            optimizer.zero_grad(set_to_none=True)
            self.manual_backward(terms["loss"])
            optimizer.step()
            n = rows.shape[0]
            self._add("train", terms, n, weight=n)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, is_anomaly = batch
        out = self.net(x)  # one forward pass: losses of the normal rows and every row's score
        normal = (~is_anomaly).to(x.dtype)
        rows = self.objective.rows(x, out)
        self._add("val", {k: (v * normal).sum() for k, v in rows.items()}, normal.sum())
        if self.val_has_both:
            per_feature = (out["recon"].float() - x.float()) ** 2
            self.val_auroc.update(self.net.row_score(out, per_feature), is_anomaly.long())

    def on_validation_epoch_end(self) -> None:
        if "val" in self._sums and not self.trainer.sanity_checking and not self.cosine_steps:
            scheduler = cast(torch.optim.lr_scheduler.ReduceLROnPlateau, self.lr_schedulers())
            scheduler.step(float(self._epoch_means("val")["loss"]))
        self._log_epoch("val")
        if self.val_has_both:
            self.log("epoch/val_auroc", self.val_auroc.compute(), prog_bar=True, sync_dist=True)
            self.val_auroc.reset()

    def configure_optimizers(self) -> Any:
        optimizer = make_optimizer(self.net.parameters(), self.lr, self.weight_decay)
        if self.cosine_steps:
            return optimizer  # the rate is set at each step (training_step)
        # stepped after each validation (above), so its patience is counted in validations
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=self.lr_patience
        )
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


def make_optimizer(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel per step (CPU and CUDA): a small model's optimiser step
    otherwise costs as much as its forward and backward passes."""
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
