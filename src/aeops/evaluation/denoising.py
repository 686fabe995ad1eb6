"""Denoising measured the way the field reports it, beside the classical denoisers.

Each fold's clean grey images (values in [0, 1]) get Gaussian noise of each sigma (0-255
scale), once, seeded, clipped (:func:`aeops.data.noise.add_noise`); a denoiser is scored by
mean PSNR (dB) and SSIM over the images, and by its gain over the noisy input. The classical
references are scikit-image's non-local means, total variation and wavelet (BayesShrink)
denoisers, each told the true sigma and each setting chosen on the validation images, and
BM3D (the ``bm3d`` package) where it is installed and asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aeops.data.noise import add_noise, psnr_db

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


def classical_denoisers(sigma: float, bm3d: bool = False) -> dict[str, tuple[Filter, list]]:
    """name -> (denoise(noisy, setting), the settings validation chooses between), each told
    the true ``sigma``."""
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet

    s = sigma / 255.0

    def nl_means(im: np.ndarray, h: float) -> np.ndarray:
        small = min(im.shape) < 32  # a thumbnail: smaller patches and search window
        return denoise_nl_means(im, h=h * s, sigma=s, patch_size=3 if small else 5,
                                patch_distance=3 if small else 6, fast_mode=True)  # fmt: skip

    out: dict[str, tuple[Filter, list]] = {
        "non_local_means": (nl_means, [0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]),
        "total_variation": (
            lambda im, w: denoise_tv_chambolle(im, weight=w * s),
            [0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0],
        ),
        "wavelet": (
            lambda im, mode: denoise_wavelet(
                im, sigma=s, mode=mode, method="BayesShrink", rescale_sigma=True
            ),  # fmt: skip
            ["soft", "hard"],
        ),
    }
    if bm3d:
        import bm3d as bm3d_package

        out["bm3d"] = (lambda im, _: bm3d_package.bm3d(im, sigma_psd=s), [None])
    return out


def references(val: NoisyImages, test: NoisyImages, bm3d: bool = False) -> dict[str, dict]:
    """Each classical denoiser at its best validation setting, measured on ``val`` and
    ``test`` (the same sigma)."""
    out = {}
    for name, (filter_, settings) in classical_denoisers(test.sigma, bm3d).items():
        best = settings[0]
        if len(settings) > 1:
            by_setting = {
                st: np.mean(
                    [psnr_db(c, filter_(n, st)) for c, n in zip(val.clean, val.noisy, strict=True)]
                )
                for st in settings
            }
            best = max(settings, key=lambda st: by_setting[st])
        chosen = lambda im, st=best, f=filter_: f(im, st)  # noqa: E731
        out[name] = {"setting": best, "val": measure(val, chosen), "test": measure(test, chosen)}
    return out


def as_grey_images(rows: np.ndarray, shape: Sequence[int]) -> list[np.ndarray]:
    """Pixel rows of images shaped ``[h, w]`` or ``[c, h, w]`` as grey (h, w) images; each
    channel of a colour image is an image of its own."""
    dims = tuple(int(v) for v in shape)
    height, width = dims[-2:]
    planes = rows.astype(np.float32).reshape(-1, height, width)
    return list(planes)
