"""The U-Net denoiser (aeops.models.denoisers.unet): any image size in, the same size out;
training on noisy patches denoises held-out images; same seed, same weights; save/load
bit-equal; large images in tiles equal the whole-image result; noise is seeded and clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aeops.data.noise import NoiseLevel, add_noise, psnr_db
from aeops.models.denoisers import unet
from aeops.models.denoisers.unet import DenoiserSpec, UNetDenoiser, build_unet

TINY = {
    "width": 16,
    "depth": 1,
    "blocks": 1,
    "patch": 16,
    "batch_size": 8,
    "val_every": 30,
    "lr": 0.003,
}


def smooth_images(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Piecewise-smooth grey images: gradients plus a few bright discs, values in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        image = 0.3 + 0.2 * (rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx)
        for _ in range(3):
            cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.25)]
            image = image + 0.3 * (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2)
        images.append(np.clip(image, 0.1, 0.9).astype(np.float32))
    return images


@pytest.fixture(scope="module")
def fitted() -> UNetDenoiser:
    images = smooth_images(24, 32, seed=0)
    spec = DenoiserSpec(sigma=25.0, steps=90, seed=3, **TINY)
    return UNetDenoiser(spec).fit(images[:20], images[20:], progress=False)


def test_noise_is_seeded_clipped_and_checked():
    image = np.full((16, 16), 0.98, dtype=np.float32)
    a, b = add_noise(image, 25, seed=1), add_noise(image, 25, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, add_noise(image, 25, seed=2))
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() == 1.0  # clipped at the peak
    assert np.array_equal(add_noise(image, 0, seed=1), image)
    assert NoiseLevel.of([0, 55]).blind and not NoiseLevel.of(25).blind
    with pytest.raises(ValueError, match="0-255 scale"):
        NoiseLevel.of([30, 10])


@pytest.mark.parametrize("shape", [(8, 8), (37, 53), (5, 3), (64, 17)])
def test_any_image_size_comes_back_the_same_size(shape):
    model = UNetDenoiser(DenoiserSpec(width=8, depth=3, blocks=1), build_unet(
        DenoiserSpec(width=8, depth=3, blocks=1)))  # fmt: skip
    image = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    out = model.denoise(image)
    assert out.shape == shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    colour = model.denoise(np.stack([image] * 3, axis=-1))
    assert colour.shape == (*shape, 3)
    assert np.allclose(colour[..., 1], out, atol=1e-6)  # each channel on its own


def test_training_denoises_held_out_images(fitted):
    held_out = smooth_images(6, 40, seed=9)  # another size than the training images
    before, after = [], []
    for i, clean in enumerate(held_out):
        noisy = add_noise(clean, 25, seed=100 + i)
        before.append(psnr_db(clean, noisy))
        after.append(psnr_db(clean, fitted.denoise(noisy)))
    assert np.mean(after) > np.mean(before) + 3.0, (np.mean(before), np.mean(after))
    steps = [h["step"] for h in fitted.history]
    assert steps == [30.0, 60.0, 90.0] and fitted.stopped_by == "steps"


def test_same_seed_same_weights_and_save_load_is_bit_equal(fitted, tmp_path):
    images = smooth_images(24, 32, seed=0)
    again = UNetDenoiser(fitted.spec).fit(images[:20], images[20:], progress=False)
    for (name, a), b in zip(fitted.net.state_dict().items(), again.net.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    loaded = UNetDenoiser.load(fitted.save(tmp_path / "model"))
    noisy = add_noise(images[21], 25, seed=5)
    assert np.array_equal(loaded.denoise(noisy), fitted.denoise(noisy))
    assert loaded.spec == fitted.spec and loaded.history == fitted.history


def test_a_large_image_in_tiles_equals_the_whole(monkeypatch):
    spec = DenoiserSpec(width=8, depth=1, blocks=1)
    torch.manual_seed(0)
    model = UNetDenoiser(spec, build_unet(spec))
    image = np.random.default_rng(1).uniform(size=(300, 211)).astype(np.float32)
    whole = model.denoise(image)
    monkeypatch.setattr(unet, "TILE", 128)  # margin 32: tiles of 64 kept pixels
    tiled = model.denoise(image)
    assert np.abs(tiled - whole).max() < 1e-5


def test_blind_training_and_patch_refusal():
    images = smooth_images(6, 32, seed=4)
    spec = DenoiserSpec(sigma=[0.0, 50.0], steps=2, **{**TINY, "val_every": 1})
    model = UNetDenoiser(spec).fit(images[:4], images[4:], progress=False)
    assert model.spec.noise.describe() == "sigma 0-50 (blind)" and len(model.history) == 2
    with pytest.raises(ValueError, match="smaller than the 16-pixel patch"):
        UNetDenoiser(spec).fit([np.zeros((8, 40), np.float32)], images[4:], progress=False)
