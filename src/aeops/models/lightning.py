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

    def _step(self, x: torch.Tensor, prefix: str, noisy: bool) -> torch.Tensor:
        inputs = x
        if noisy and self.objective.noise is not None:
            inputs = corrupt(x, self.objective.noise, self.objective.noise_level)
        terms = objective_loss(self.objective, x, self.net(inputs))
        for name, value in terms.items():
            self.log(f"{prefix}_{name}" if name != "loss" else f"{prefix}_loss", value,
                     on_step=False, on_epoch=True, prog_bar=name == "loss", sync_dist=True,
                     batch_size=x.shape[0])
        return terms["loss"]

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", noisy=True)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, is_anomaly = batch
        normal = x[~is_anomaly]
        if len(normal):
            self._step(normal, "val", noisy=False)
        if is_anomaly.any() and (~is_anomaly).any():
            scores, _ = self.net.score(x)
            self.val_auroc.update(scores, is_anomaly.long())

    def on_validation_epoch_end(self) -> None:
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
