"""The U-Net denoiser (aeops.models.denoisers.unet) beyond the contract every model keeps
(tests/model/test_contract.py): the validation history, same seed same weights, large images
in tiles equal the whole-image result, blind training and the patch refusal; its settings
are its params block alone; noise is seeded and clipped."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aeops.data.noise import NoiseLevel, add_noise, psnr_db
from aeops.models.denoisers import unet
from aeops.models.denoisers.unet import UNetDenoiser, UNetParams, build_unet
from aeops.testing import contract_images

TINY = {
    "width": 16,
    "depth": 1,
    "blocks": 1,
    "patch": 16,
    "batch_size": 8,
    "val_every": 30,
    "lr": 0.003,
}


smooth_images = contract_images


@pytest.fixture(scope="module")
def fitted() -> UNetDenoiser:
    images = smooth_images(24, 32, seed=0)
    return UNetDenoiser(seed=3, sigma=25.0, steps=90, **TINY).fit(images[:20], images[20:])


def test_noise_is_seeded_clipped_and_checked():
    image = np.full((16, 16), 0.98, dtype=np.float32)
    a, b = add_noise(image, 25, seed=1), add_noise(image, 25, seed=1)
    assert np.array_equal(a, b) and not np.array_equal(a, add_noise(image, 25, seed=2))
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() == 1.0  # clipped at the peak
    assert np.array_equal(add_noise(image, 0, seed=1), image)
    assert NoiseLevel.of([0, 55]).blind and not NoiseLevel.of(25).blind
    with pytest.raises(ValueError, match="0-255 scale"):
        NoiseLevel.of([30, 10])


def test_its_settings_are_its_params_block_with_keywords_over_the_defaults():
    model = UNetDenoiser(width=8, depth=3, blocks=1)
    assert isinstance(model.params, UNetParams) and model.params.width == 8
    assert model.params.steps == 4000  # the project's params.yaml, packaged
    assert UNetDenoiser(model.params, seed=7).record()["seed"] == 7
    with pytest.raises(ValueError, match="blind range"):
        UNetDenoiser(sigma=[30.0, 10.0])


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
    again = UNetDenoiser(fitted.params, seed=fitted.seed).fit(images[:20], images[20:])
    for (name, a), b in zip(fitted.net.state_dict().items(), again.net.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(a, b), name
    loaded = UNetDenoiser.load(fitted.save(tmp_path / "model"))
    noisy = add_noise(images[21], 25, seed=5)
    assert np.array_equal(loaded.denoise(noisy), fitted.denoise(noisy))
    assert loaded.record() == fitted.record() and loaded.history == fitted.history


def test_a_large_image_in_tiles_equals_the_whole(monkeypatch):
    model = UNetDenoiser(width=8, depth=1, blocks=1)
    torch.manual_seed(0)
    model.net = build_unet(model.params)
    image = np.random.default_rng(1).uniform(size=(300, 211)).astype(np.float32)
    whole = model.denoise(image)
    monkeypatch.setattr(unet, "TILE", 128)  # margin 32: tiles of 64 kept pixels
    tiled = model.denoise(image)
    assert np.abs(tiled - whole).max() < 1e-5


def test_blind_training_and_patch_refusal():
    images = smooth_images(6, 32, seed=4)
    settings = {**TINY, "sigma": [0.0, 50.0], "steps": 2, "val_every": 1}
    model = UNetDenoiser(**settings).fit(images[:4], images[4:])
    assert model.noise.describe() == "sigma 0-50 (blind)" and len(model.history) == 2
    # the patch shrinks to the smallest training image's side, and says so in its record
    small = UNetDenoiser(**settings).fit([np.full((8, 40), 0.5, np.float32)], images[4:])
    assert small.params.patch == 8 and small.record()["patch"] == 8
