"""Training an image denoiser on noisy patches (Lightning), so image size never matters.

Each step cuts ``batch_size`` random ``patch`` x ``patch`` crops from the clean training images
(a random flip and quarter turn each), adds Gaussian noise of the spec's sigma (blind: a sigma
per patch drawn from the range) and minimises the mean squared error of the network's output
against the clean crop, which maximises PSNR. Adam's rate follows a cosine from ``lr`` to
``lr/100`` over ``steps``. Every ``val_every`` steps the validation images, noised once with a
fixed seed at the spec's sigma (blind: its low, middle and high sigma), are denoised whole;
the weights with the best mean validation PSNR are kept. Patches, noise and initial weights
all come from the spec's seed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from aeops.data.noise import PEAK, NoiseLevel, add_noise, psnr_db
from aeops.training.engine import BestWeights, FitHooks, make_trainer
from aeops.training.plan import cosine_lr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchPlan:
    """How a denoiser trains, resolved from its params block and the images (as
    :class:`~aeops.training.plan.Plan` is for an autoencoder): crops of ``patch`` pixels,
    ``batch_size`` of them a step, ``steps`` Adam steps from ``lr``, validation every
    ``val_every`` steps, at most ``max_time`` seconds, noise of ``noise``, all from ``seed``."""

    patch: int
    batch_size: int
    steps: int
    lr: float
    val_every: int
    noise: NoiseLevel
    seed: int
    max_time: float | None = None


class PatchStream(IterableDataset):
    """Endless seeded batches ``(noisy, clean)`` of shape (batch, 1, patch, patch)."""

    def __init__(self, images: list[np.ndarray], spec: PatchPlan) -> None:
        small = [im.shape for im in images if min(im.shape) < spec.patch]
        if small:
            raise ValueError(
                f"{len(small)} training image(s) are smaller than the {spec.patch}-pixel patch "
                f"(e.g. {small[0][0]} x {small[0][1]}); lower denoise.patch or drop them"
            )
        self.images = [
            torch.from_numpy(np.ascontiguousarray(im, dtype=np.float32)) for im in images
        ]
        self.spec = spec

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        spec, noise = self.spec, self.spec.noise
        gen = torch.Generator().manual_seed(spec.seed)
        size = spec.patch
        while True:
            which = torch.randint(len(self.images), (spec.batch_size,), generator=gen).tolist()
            turns = torch.randint(8, (spec.batch_size,), generator=gen).tolist()
            crops = []
            for index, turn in zip(which, turns, strict=True):
                image = self.images[index]
                top = int(torch.randint(image.shape[0] - size + 1, (1,), generator=gen))
                left = int(torch.randint(image.shape[1] - size + 1, (1,), generator=gen))
                crop = torch.rot90(image[top : top + size, left : left + size], turn % 4)
                crops.append(crop.flip(-1) if turn >= 4 else crop)
            clean = torch.stack(crops)[:, None]
            sigma = noise.low + (noise.high - noise.low) * torch.rand(
                (spec.batch_size, 1, 1, 1), generator=gen
            )
            noisy = clean + torch.randn(clean.shape, generator=gen) * (sigma / PEAK)
            yield noisy.clamp(0.0, 1.0), clean


def validation_sigmas(spec: PatchPlan) -> list[float]:
    noise = spec.noise
    if not noise.blind:
        return [noise.low]
    return sorted({noise.low or 5.0, (noise.low + noise.high) / 2, noise.high})


class DenoiserModule(pl.LightningModule):
    """MSE of the network's output against the clean patch; validation PSNR on whole images."""

    def __init__(
        self,
        net: nn.Module,
        spec: PatchPlan,
        val: list[np.ndarray],
        hparams: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(hparams or {})
        self.net = net
        self.spec = spec
        sigmas = validation_sigmas(spec)
        self.val_pairs = [
            (image, add_noise(image, sigma, spec.seed + 7919 * i + j))
            for j, sigma in enumerate(sigmas)
            for i, image in enumerate(val)
        ]
        self.history: list[dict[str, float]] = []
        self.started = time.perf_counter()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        noisy, clean = batch
        loss = F.mse_loss(self.net(noisy), clean)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=False)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        scores = []
        for clean, noisy in self.val_pairs:
            out = self.net(torch.from_numpy(noisy)[None, None].to(self.device))[0, 0].clamp(0, 1)
            scores.append(psnr_db(clean, out.cpu().numpy()))
        value = float(np.mean(scores))
        self.log("val/psnr_db", value, prog_bar=True)
        elapsed = time.perf_counter() - self.started
        # the history is saved with the model: steps and PSNR only (the same on every machine)
        self.history.append({"step": float(self.global_step), "val_psnr_db": value})
        log.info(
            "denoiser step %d: validation PSNR %.2f dB (%.0f s)", self.global_step, value, elapsed
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(cast(Any, [0]), batch_size=1)  # one validation pass over self.val_pairs

    def configure_optimizers(self) -> Any:
        optimiser = torch.optim.Adam(self.net.parameters(), lr=self.spec.lr)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: cosine_lr(step, self.spec.steps, 1.0)
        )
        return {"optimizer": optimiser, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def last_psnr(module: pl.LightningModule) -> float:
    """The validation PSNR the module just measured (exactly, not as logged)."""
    return float(cast(DenoiserModule, module).history[-1]["val_psnr_db"])


@dataclass
class FittedDenoiser:
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = "steps"


def fit_denoiser(
    net: nn.Module,
    spec: PatchPlan,
    train: list[np.ndarray],
    val: list[np.ndarray],
    hooks: FitHooks | None = None,
) -> FittedDenoiser:
    """Train ``net`` in place through the one engine (:func:`~aeops.training.engine.make_trainer`:
    ``hooks`` bring the logger and the progress bar); the weights of the best validation
    PSNR are restored."""
    if not val:
        raise ValueError("a denoiser needs at least one validation image")
    pl.seed_everything(spec.seed, workers=True, verbose=False)
    hooks = hooks or FitHooks()
    module = DenoiserModule(net, spec, val, hooks.hparams)
    best = BestWeights("val/psnr_db", "max", read=last_psnr)
    limits = {
        "max_steps": spec.steps,
        "max_epochs": 1,  # one endless epoch of patches, ended by max_steps
        "max_time": timedelta(seconds=spec.max_time) if spec.max_time else None,
        "val_check_interval": spec.val_every,
        "check_val_every_n_epoch": None,
        "accelerator": "auto",
        "devices": 1,
        "deterministic": True,
        "enable_progress_bar": False,
    }
    trainer = make_trainer(limits, hooks, [best])
    loader = DataLoader(PatchStream(train, spec), batch_size=None)
    trainer.fit(module, train_dataloaders=loader)
    if not module.history or module.history[-1]["step"] < trainer.global_step:
        trainer.validate(module, verbose=False)
    best.restore(module)
    stopped = "steps" if trainer.global_step >= spec.steps else "max_time"
    if stopped == "max_time":
        log.info(
            "denoiser stopped by max_time after %d of %d steps", trainer.global_step, spec.steps
        )
    return FittedDenoiser(module.history, stopped)
