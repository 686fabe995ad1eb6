"""The train stage for ``task: denoise``, and the images every denoise stage works on.

The data stages (ingest, validate, prepare) are the detection ones: images as pixel rows.
Here each family in ``models.families`` (a denoiser, :data:`aeops.models.denoisers.DENOISERS`)
is trained on the training fold's normal images (patches cut and noised on the fly) and keeps
its weights best on validation's. The noise levels a model is judged at are its own
(``models.unet.sigma``; a blind range covers each of ``evaluate.denoise_sigmas`` inside it);
``val_psnr_db``, mean PSNR over those on validation, chooses the model registered.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from aeops.config import Config
from aeops.core.errors import AeopsError
from aeops.core.io import own_dir
from aeops.data.images import grey_planes
from aeops.data.noise import NoiseLevel
from aeops.stages.common import Prepared, load_prepared

log = logging.getLogger(__name__)

DENOISER_DIR = "denoiser"  # inside the family's model folder
EVAL_IMAGES = 200  # images per fold measured (a seeded sample of a larger fold)
EXAMPLES = 4  # images in the report's figure
SELECT_METRIC = "val_psnr_db"


def fold_images(cfg: Config, prepared: Prepared, split: str) -> list[np.ndarray]:
    """The normal rows of fold ``split`` as grey images in [0, 1]; refused in a sentence when
    the data is not images in [0, 1]."""
    meta = prepared.meta
    if not meta.is_image:
        raise AeopsError(
            "task: denoise needs images: an image source (digits, mnist, image_folder) or "
            "data.image_shape for pixel tables"
        )
    rows = prepared.fold(split).normal
    if len(rows) and (rows.min() < 0.0 or rows.max() > 1.0):
        raise AeopsError(
            f"task: denoise needs pixel values in [0, 1], the {split} fold holds "
            f"[{rows.min():.3g}, {rows.max():.3g}]; set data.scaler: none (or auto)"
        )
    return grey_planes(rows, meta.image_shape or [])


def train_denoiser(cfg: Config, family: str) -> Path:
    """Train ``family`` on the training fold's images; its folder holds the weights, the spec
    and the validation history (the same on every machine for the same data and params)."""
    from aeops.models.denoisers.unet import UNetDenoiser
    from aeops.training.engine import FitHooks

    prepared = load_prepared(cfg)
    train, val = fold_images(cfg, prepared, "train"), fold_images(cfg, prepared, "val")
    model = UNetDenoiser(cfg.models.family(family), cfg.train.max_time, seed=cfg.seed)
    noise, steps = model.noise.describe(), model.params.steps
    log.info(f"train[{family}]: {len(train)} images, {noise}, {steps} steps")
    hooks = FitHooks(progress_label=family if cfg.train.progress_bar else None)
    model.fit(train, val, hooks)
    folder = own_dir(cfg.paths.model_dir(family))
    model.save(folder / DENOISER_DIR)
    best = max(h["val_psnr_db"] for h in model.history)
    log.info(f"train[{family}]: best validation PSNR {best:.2f} dB ({model.stopped_by})")
    return folder


def headline_sigmas(cfg: Config, noise: NoiseLevel) -> list[float]:
    """The sigmas a model is judged at: those of ``evaluate.denoise_sigmas`` its training
    noise covers, or its own sigma when none is listed."""
    inside = [s for s in cfg.evaluate.denoise_sigmas if noise.low <= s <= noise.high]
    return inside or [noise.low]


def sample(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    if len(images) <= EVAL_IMAGES:
        return images
    keep = np.sort(np.random.default_rng(seed).choice(len(images), EVAL_IMAGES, replace=False))
    return [images[i] for i in keep]


def headline_of(by_sigma: dict[str, dict], headline: list[float], split: str) -> dict[str, float]:
    keys = ("psnr_db", "psnr_gain_db", "ssim")
    return {
        f"{split}_{key}": float(np.mean([by_sigma[f"{s:g}"][split][key] for s in headline]))
        for key in keys
    }
