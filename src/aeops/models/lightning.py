"""The one ``LightningModule`` every family trains through: loss, optimiser, logging."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torchmetrics.classification import BinaryAUROC

from aeops.models.families import Autoencoder
from aeops.models.losses import Objective, corrupt, objective_loss


class AutoencoderModule(pl.LightningModule):
    """Trains any :class:`Autoencoder` on normal rows; tracks ``val_loss`` and ``val_auroc``."""

    def __init__(self, net: Autoencoder, objective: Objective, lr: float = 1e-3,
                 weight_decay: float = 0.0, patience: int = 20,
                 hparams: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.net = net
        self.objective = objective
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.save_hyperparameters(hparams or {})
        self.val_auroc = BinaryAUROC()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)

    def _terms(self, x: torch.Tensor, noisy: bool) -> dict[str, torch.Tensor]:
        inputs = x
        if noisy and self.objective.noise is not None:
            inputs = corrupt(x, self.objective.noise, self.objective.noise_level)
        return objective_loss(self.objective, x, self.net(inputs))

    def _accumulate(self, prefix: str, terms: dict[str, torch.Tensor], n: int) -> None:
        """Sum batch-size-weighted losses on the device; logged once per epoch (a per-step
        ``self.log`` costs more than a small model's whole step)."""
        sums = self._sums.setdefault(prefix, {})
        for name, value in terms.items():
            sums[name] = sums.get(name, 0.0) + value.detach() * n
        self._counts[prefix] = self._counts.get(prefix, 0) + n

    def _log_epoch(self, prefix: str) -> None:
        count = self._counts.pop(prefix, 0)
        for name, total in self._sums.pop(prefix, {}).items():
            key = f"{prefix}_loss" if name == "loss" else f"{prefix}_{name}"
            self.log(key, total / max(count, 1), prog_bar=name == "loss", sync_dist=True)

    def on_fit_start(self) -> None:
        self._sums: dict[str, dict[str, torch.Tensor]] = {}
        self._counts: dict[str, int] = {}

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        terms = self._terms(batch, noisy=True)
        self._accumulate("train", terms, batch.shape[0])
        return terms["loss"]

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, is_anomaly = batch
        normal = x[~is_anomaly]
        if len(normal):
            self._accumulate("val", self._terms(normal, noisy=False), len(normal))
        if is_anomaly.any() and (~is_anomaly).any():
            scores, _ = self.net.score(x)
            self.val_auroc.update(scores, is_anomaly.long())

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")
        if self.val_auroc.update_count > 0:
            self.log("val_auroc", self.val_auroc.compute(), prog_bar=True, sync_dist=True)
        self.val_auroc.reset()

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.net.parameters(), lr=self.lr,
                                      weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=0.5, patience=max(1, self.patience // 3)
        )
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
