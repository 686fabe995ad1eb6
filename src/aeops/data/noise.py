"""Noise for denoising, on the 0-255 scale image people quote (sigma 15, 25, 50).

Images are float arrays in [0, 1]; a sigma of 25 means Gaussian noise of standard deviation
25/255. A noisy image is clipped back to [0, 1], as any image written to a file is, so every
denoiser (the model and the classical references) sees the same values a user's noisy photo
would hold. Noise is seeded: the same seed gives the same noisy image on every machine
(NumPy's PCG64 for evaluation, a torch generator for training patches).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PEAK = 255.0


@dataclass(frozen=True)
class NoiseLevel:
    """Gaussian noise of one ``sigma`` (0-255 scale), or blind: each training patch draws its
    sigma uniformly from ``[low, high]`` and the model is told nothing."""

    low: float
    high: float

    @classmethod
    def of(cls, sigma: float | list[float] | tuple[float, float]) -> NoiseLevel:
        """One sigma (``25``) or a blind range (``[0, 55]``)."""
        if isinstance(sigma, list | tuple):
            low, high = (float(v) for v in sigma)
        else:
            low = high = float(sigma)
        if not 0.0 <= low <= high or high > PEAK:
            raise ValueError(
                f"noise sigma {sigma!r}: give one sigma in [0, 255] on the 0-255 scale, or a "
                "range [low, high] with 0 <= low <= high <= 255"
            )
        return cls(low, high)

    @property
    def blind(self) -> bool:
        return self.high > self.low

    def describe(self) -> str:
        return f"sigma {self.low:g}-{self.high:g} (blind)" if self.blind else f"sigma {self.low:g}"


def add_noise(image: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """``image`` (values in [0, 1]) plus Gaussian noise of ``sigma`` on the 0-255 scale, seeded,
    clipped to [0, 1], float32."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(image.shape, dtype=np.float64) * (sigma / PEAK)
    return np.clip(image.astype(np.float64) + noise, 0.0, 1.0).astype(np.float32)


PSNR_CAP_DB = 100.0  # what a perfect copy reports (10 orders of magnitude below the peak)


def psnr_db(clean: np.ndarray, estimate: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio (dB) of ``estimate`` against ``clean`` over all their
    values (one image, or rows pooled), ``peak`` the data's range (1 for values in [0, 1]);
    a perfect copy (infinite PSNR) reports :data:`PSNR_CAP_DB`, so no JSON holds inf. The
    one PSNR aeops measures with (scikit-image's formula)."""
    mse = float(np.mean((clean.astype(np.float64) - estimate.astype(np.float64)) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(float(10.0 * np.log10(peak**2 / mse)), PSNR_CAP_DB)
