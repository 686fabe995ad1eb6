"""The rows every model of a run is measured on, made once and shared (the same noise for
every model and every classical reference), each only when something asks for it:

- :attr:`EvaluationInputs.uses`: validation's and test's normal rows, corrupted once with
  the denoising family's noise, for the other uses of a model with a code
  (:mod:`aeops.evaluation.uses`);
- :attr:`EvaluationInputs.images` and :meth:`EvaluationInputs.noisy`: validation's and test's
  normal rows as grey images (a seeded sample of at most :data:`EVAL_IMAGES`), with Gaussian
  noise at each sigma a denoiser is measured at (:mod:`aeops.evaluation.denoising`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from aeops.core.errors import AeopsError
from aeops.data.images import grey_planes
from aeops.data.split import Fold
from aeops.evaluation.denoising import NoisyImages
from aeops.evaluation.uses import Corruption, UseRows, use_rows

EVAL_IMAGES = 200  # images per fold a denoiser is measured on (a seeded sample of a larger fold)


def sample(images: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """At most :data:`EVAL_IMAGES` of ``images``, a seeded sample in their order."""
    if len(images) <= EVAL_IMAGES:
        return images
    keep = np.sort(np.random.default_rng(seed).choice(len(images), EVAL_IMAGES, replace=False))
    return [images[i] for i in keep]


class EvaluationInputs:
    """The folds (``train``, ``val``, ``test``), the image shape (None: a table), the
    corruption of the denoising use, the seed, and the sigmas denoisers are measured at."""

    def __init__(
        self,
        folds: dict[str, Fold],
        image_shape: list[int] | None,
        corruption: tuple[str, float],
        seed: int,
    ) -> None:
        self.folds = folds
        self.image_shape = image_shape
        self.corruption = corruption
        self.seed = seed
        self.sigmas: list[float] = []  # set by whoever measures denoisers
        self._noisy: dict[float, tuple[NoisyImages, NoisyImages]] = {}

    @cached_property
    def uses(self) -> dict[str, UseRows | None]:
        """Validation's and test's normal rows for the use measures, corrupted once with the
        denoising family's configured noise (so every model meets the same noisy rows)."""
        train = self.folds["train"].normal
        kind, level = self.corruption
        shape = tuple(self.image_shape) if self.image_shape else None
        out = {}
        for offset, split in enumerate(("val", "test")):
            fold = self.folds[split]
            corruption = Corruption(kind, level, self.seed + offset)
            out[split] = use_rows(
                fold.normal, fold.group[~fold.is_anomaly], train, corruption, shape
            )
        return out

    @cached_property
    def images(self) -> dict[str, list[np.ndarray]]:
        """Validation's and test's normal rows as grey images in [0, 1] (a seeded sample);
        refused in a sentence when the data are not images in [0, 1]."""
        if not self.image_shape:
            raise AeopsError(
                "task: denoise needs images: an image source (digits, mnist, image_folder) or "
                "data.image_shape for pixel tables"
            )
        out = {}
        for offset, split in enumerate(("val", "test")):
            rows = self.folds[split].normal
            if len(rows) and (rows.min() < 0.0 or rows.max() > 1.0):
                raise AeopsError(
                    f"task: denoise needs pixel values in [0, 1], the {split} fold holds "
                    f"[{rows.min():.3g}, {rows.max():.3g}]; set data.scaler: none (or auto)"
                )
            out[split] = sample(grey_planes(rows, self.image_shape), self.seed + offset)
        if not out["test"]:
            raise AeopsError(
                "task: denoise found no normal test images; lower data.split fractions"
            )
        return out

    def noisy(self, sigma: float) -> tuple[NoisyImages, NoisyImages]:
        """(validation, test) images with Gaussian noise of ``sigma``, made once, seeded."""
        if sigma not in self._noisy:
            images = self.images
            self._noisy[sigma] = (
                NoisyImages.of(images["val"], sigma, self.seed),
                NoisyImages.of(images["test"], sigma, self.seed + 7),
            )
        return self._noisy[sigma]

    def counts(self) -> dict[str, Any]:
        """How many images each fold measured (what the report says)."""
        return {split: len(images) for split, images in self.images.items()}
