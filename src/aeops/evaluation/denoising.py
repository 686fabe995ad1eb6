"""Denoising measured the way the field reports it, beside the classical denoisers: the one
place aeops measures a denoiser and runs the classical ones.

Images are grey (or colour) arrays in [0, 1]. A fold's clean images get Gaussian noise of
each sigma (0-255 scale), once, seeded, clipped (:func:`aeops.data.noise.add_noise`); a
denoiser is scored by mean PSNR (dB, :func:`aeops.data.noise.psnr_db`) and SSIM over the
images, and by its gain over the noisy input (:func:`measure`). The classical references
(:func:`classical_denoisers`) are scikit-image's: told the true sigma, non-local means, total
variation and wavelet (BayesShrink), and BM3D (the ``bm3d`` package) where it is installed
and asked for; or, when the noise is not Gaussian of a known sigma (what a detector's
denoising use is measured beside: :func:`row_references`), Gaussian and median filters,
total variation and non-local means in the image's own units. Each setting is chosen on the
validation images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aeops.data.noise import add_noise, psnr_db
from aeops.evaluation.uses import UseRows, as_images, denoising_metrics, from_images, prefixed

SETTING_IMAGES = 16  # validation images a classical denoiser's setting is chosen on
Denoise = Callable[[np.ndarray], np.ndarray]
Filter = Callable[[np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class NoisyImages:
    """One fold's clean images and their noisy copies at one sigma."""

    sigma: float
    clean: list[np.ndarray]
    noisy: list[np.ndarray]

    @classmethod
    def of(cls, images: Sequence[np.ndarray], sigma: float, seed: int) -> NoisyImages:
        """Noise seeded per image and sigma, so every denoiser sees the same noisy pixels."""
        noisy = [add_noise(im, sigma, seed + 1000 * int(sigma) + i) for i, im in enumerate(images)]
        return cls(float(sigma), list(images), noisy)


def measure(images: NoisyImages, denoise: Denoise) -> dict[str, float]:
    """Mean PSNR (dB), SSIM and PSNR gain over the noisy input."""
    from skimage.metrics import structural_similarity

    out = [np.clip(denoise(n), 0.0, 1.0).astype(np.float32) for n in images.noisy]
    pairs = list(zip(images.clean, out, strict=True))
    psnr = float(np.mean([psnr_db(c, o) for c, o in pairs]))
    noisy = float(np.mean([psnr_db(c, n) for c, n in zip(images.clean, images.noisy, strict=True)]))
    window = min(7, *(min(c.shape) for c in images.clean))
    window -= 1 - window % 2  # SSIM's window is odd and fits the smallest image
    ssim = float(
        np.mean([structural_similarity(c, o, data_range=1.0, win_size=window) for c, o in pairs])
    )
    return {"psnr_db": psnr, "psnr_gain_db": psnr - noisy, "ssim": ssim}


def classical_denoisers(sigma: float | None = None, bm3d: bool = False) -> dict[str, Any]:
    """name -> (denoise(image, setting), the settings validation chooses between): told the
    true ``sigma`` (0-255 scale; grey images), or blind (``None``: any (h, w[, c]) image,
    settings in its own units)."""
    return blind_denoisers() if sigma is None else told_denoisers(sigma, bm3d)


def told_denoisers(sigma: float, bm3d: bool = False) -> dict[str, tuple[Filter, list]]:
    """The classical denoisers told the noise's ``sigma``."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    s = sigma / 255.0

    def nl_means(im: np.ndarray, h: float) -> np.ndarray:
        small = min(im.shape) < 32  # a thumbnail: smaller patches and search window
        patches = {"patch_size": 3, "patch_distance": 3} if small else {}
        patches = patches or {"patch_size": 5, "patch_distance": 6}
        return denoise_nl_means(im, h=h * s, sigma=s, fast_mode=True, **patches)

    def wavelet(im: np.ndarray, mode: str) -> np.ndarray:
        return denoise_wavelet(im, sigma=s, mode=mode, method="BayesShrink", rescale_sigma=True)

    out: dict[str, tuple[Filter, list]] = {
        "non_local_means": (nl_means, [0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]),
        "total_variation": (
            lambda im, w: denoise_tv_chambolle(im, weight=w * s),
            [0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0],
        ),
        "wavelet": (wavelet, ["soft", "hard"]),
    }
    if bm3d:
        import bm3d as bm3d_package

        out["bm3d"] = (lambda im, _: bm3d_package.bm3d(im, sigma_psd=s), [None])
    return out


def blind_denoisers() -> dict[str, tuple[Filter, list]]:
    """The classical denoisers told nothing of the noise, on one (h, w[, c]) image."""
    from scipy.ndimage import median_filter
    from skimage.filters import gaussian
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle

    def colour(image: np.ndarray) -> int | None:
        return -1 if image.ndim == 3 else None

    return {
        "gaussian_filter": (
            lambda im, s: gaussian(im, sigma=s, channel_axis=colour(im)),
            [0.5, 0.8, 1.2, 2.0],
        ),
        "median_filter": (
            lambda im, s: median_filter(im, size=(s, s, 1) if im.ndim == 3 else s),
            [2, 3],
        ),
        "total_variation": (
            lambda im, w: denoise_tv_chambolle(im, weight=w, channel_axis=colour(im)),
            [0.05, 0.1, 0.2, 0.4],
        ),
        "non_local_means": (
            lambda im, h: denoise_nl_means(
                im, h=h, patch_size=3, patch_distance=3, channel_axis=colour(im)
            ),
            [0.05, 0.1, 0.2, 0.4],
        ),
    }


def best_setting(settings: list[Any], psnr_of: Callable[[Any], float]) -> tuple[Any, float]:
    """(the setting with the best validation PSNR, that PSNR); the first of equals."""
    by_setting = {setting: psnr_of(setting) for setting in settings}
    best = max(by_setting, key=lambda s: by_setting[s])
    return best, by_setting[best]


def references(val: NoisyImages, test: NoisyImages, bm3d: bool = False) -> dict[str, dict]:
    """Each classical denoiser told the true sigma, at its best validation setting,
    measured on ``val`` and ``test`` (the same sigma)."""
    out = {}
    pairs = list(zip(val.clean, val.noisy, strict=True))
    for name, (filter_, settings) in told_denoisers(test.sigma, bm3d).items():

        def val_psnr(setting: Any, f: Filter = filter_) -> float:
            return float(np.mean([psnr_db(c, f(n, setting)) for c, n in pairs]))

        best = settings[0] if len(settings) == 1 else best_setting(settings, val_psnr)[0]
        chosen = lambda im, st=best, f=filter_: f(im, st)  # noqa: E731
        out[name] = {"setting": best, "val": measure(val, chosen), "test": measure(test, chosen)}
    return out


def denoise_images(rows: np.ndarray, shape: tuple[int, ...], filter_, setting) -> np.ndarray:
    images = as_images(rows, shape).astype(np.float64)
    return from_images(np.stack([filter_(image, setting) for image in images]), shape)


def row_references(val: UseRows, test: UseRows) -> dict[str, dict[str, Any]]:
    """Each blind classical denoiser at the setting with the best validation PSNR, measured
    on the test rows as a detector's denoising use is (images only)."""
    if val.shape is None or test.shape is None:
        return {}
    shape = val.shape
    results = {}
    for name, (filter_, settings) in blind_denoisers().items():

        def val_psnr(setting: Any, f: Filter = filter_) -> float:
            return psnr_db(val.clean, denoise_images(val.noisy, shape, f, setting), val.data_range)

        best, val_db = best_setting(settings, val_psnr)
        denoised = denoise_images(test.noisy, test.shape, filter_, best)
        results[name] = {
            "setting": best,
            "val_psnr_gain_db": val_db - psnr_db(val.clean, val.noisy, val.data_range),
            **prefixed(denoising_metrics(test, denoised), "test"),
        }
    return results


def classical_output(name: str, setting: Any, images: NoisyImages, count: int) -> list:
    """The first ``count`` noisy images denoised by classical denoiser ``name`` (told the
    sigma) at ``setting``: what the report's figure shows beside a model."""
    filter_ = told_denoisers(images.sigma)[name][0]
    return [filter_(n, setting) for n in images.noisy[:count]]


def headline_sigmas(listed: list[float], noise: Any) -> list[float]:
    """The sigmas a denoiser is judged at: those of ``listed`` (``evaluate.denoise_sigmas``)
    its training noise (a :class:`~aeops.data.noise.NoiseLevel`) covers, or its own sigma
    when none is listed."""
    inside = [s for s in listed if noise.low <= s <= noise.high]
    return inside or [noise.low]


def headline_of(by_sigma: dict[str, dict], sigmas: list[float], split: str) -> dict[str, float]:
    """``<split>_psnr_db``, ``_psnr_gain_db`` and ``_ssim``: the means over ``sigmas``."""
    keys = ("psnr_db", "psnr_gain_db", "ssim")
    return {
        f"{split}_{key}": float(np.mean([by_sigma[f"{s:g}"][split][key] for s in sigmas]))
        for key in keys
    }


def measure_denoiser(
    model: Any, noisy: dict[float, tuple[NoisyImages, NoisyImages]], listed: list[float]
) -> dict[str, Any]:
    """Everything a denoiser's evaluation reports: at each sigma its validation and test
    PSNR / SSIM (``by_sigma``), their means over its headline sigmas, its size and noise."""
    headline = headline_sigmas(listed, model.noise)
    by_sigma = {
        f"{s:g}": {"val": measure(v, model.denoise), "test": measure(t, model.denoise)}
        for s, (v, t) in noisy.items()
    }
    return {
        **headline_of(by_sigma, headline, "val"),
        **headline_of(by_sigma, headline, "test"),
        "headline_sigmas": headline,
        "by_sigma": by_sigma,
        "parameters": model.parameters(),
        "noise": model.noise.describe(),
    }
