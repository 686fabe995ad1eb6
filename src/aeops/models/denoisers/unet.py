"""A U-shaped residual denoiser: fully convolutional, so any image size works.

The network (Ronneberger et al.'s U-Net shape, DnCNN's residual output) sees a noisy grey
image and predicts the noise; the denoised image is the input minus that prediction. Each
level halves the resolution with a strided convolution and doubles the channels; the way up
adds each level's features back (skip connections). An image whose sides are not a multiple
of ``2**depth`` is reflect-padded and cropped back, so the output has the input's size.

Its settings are declared once, here (:class:`UNetParams`, ``models.unet`` in params.yaml).
:class:`UNetDenoiser` is a :class:`~aeops.models.base.Denoiser` with the verbs every model
has: ``fit(X, val)`` on clean images (a list of (height, width) arrays, an (n, height, width)
array, or a fold of pixel rows with ``image_shape``; patches are cut and noised on the fly
and trained through the one engine, :mod:`aeops.training.patches`), ``denoise(image)``,
``save(folder)`` and :func:`aeops.models.registry.load_model` (safetensors weights + a JSON
record, nothing pickled). A colour image is denoised one channel at a time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import Field, model_validator

from aeops.core.errors import ModelConfigError
from aeops.core.sections import PositiveInt, Section, Sigma
from aeops.data.images import grey_planes
from aeops.data.noise import NoiseLevel

if TYPE_CHECKING:
    from torch import nn
    from typing_extensions import Self

    from aeops.training.patches import PatchPlan

NAME = "unet"
WEIGHTS = "denoiser.safetensors"
SPEC = "denoiser.json"
TILE = 1024  # images larger than this (either side) are denoised in overlapping tiles
HOLDOUT = 0.1  # fit(images) without validation images: this share of them validates


class UNetParams(Section):
    """``models.unet``: the U-Net denoiser ``task: denoise`` trains
    (:mod:`aeops.models.denoisers.unet`): noise on the 0-255 scale, size, patches, budget."""

    sigma: Sigma | Annotated[list[Sigma], Field(min_length=2, max_length=2)]
    width: PositiveInt
    depth: Annotated[int, Field(ge=1, le=5)]
    blocks: PositiveInt
    patch: Annotated[int, Field(ge=4)]
    batch_size: PositiveInt
    steps: PositiveInt
    lr: Annotated[float, Field(gt=0.0)]
    val_every: PositiveInt

    @model_validator(mode="after")
    def _range(self) -> UNetParams:
        if isinstance(self.sigma, list) and self.sigma[0] > self.sigma[1]:
            raise ValueError(
                f"models.unet.sigma {self.sigma}: a blind range is [low, high], low <= high"
            )
        return self

    @property
    def noise(self) -> NoiseLevel:
        return NoiseLevel.of(self.sigma)


def build_unet(params: UNetParams) -> nn.Module:
    """The network of ``params`` (torch is imported here, not when the module is)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def convs(channels: int, count: int) -> nn.Sequential:
        layers: list[nn.Module] = []
        for _ in range(count):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        return nn.Sequential(*layers)

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            width, depth = params.width, params.depth
            self.multiple = 2**depth
            self.head = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True))
            self.encoders = nn.ModuleList()
            self.downs = nn.ModuleList()
            channels = width
            for _ in range(depth):
                self.encoders.append(convs(channels, params.blocks))
                self.downs.append(
                    nn.Sequential(nn.Conv2d(channels, 2 * channels, 2, stride=2), nn.ReLU(True))
                )
                channels *= 2
            self.middle = convs(channels, params.blocks)
            self.ups = nn.ModuleList()
            self.decoders = nn.ModuleList()
            for _ in range(depth):
                self.ups.append(nn.ConvTranspose2d(channels, channels // 2, 2, stride=2))
                channels //= 2
                self.decoders.append(convs(channels, params.blocks))
            self.tail = nn.Conv2d(channels, 1, 3, padding=1)

        def forward(self, noisy: torch.Tensor) -> torch.Tensor:
            height, width = noisy.shape[-2:]
            pad_h = -height % self.multiple
            pad_w = -width % self.multiple
            x = noisy
            if pad_h or pad_w:
                mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "replicate"
                x = F.pad(noisy, (0, pad_w, 0, pad_h), mode=mode)
            h = self.head(x)
            skips = []
            for encode, down in zip(self.encoders, self.downs, strict=True):
                h = encode(h)
                skips.append(h)
                h = down(h)
            h = self.middle(h)
            for up, decode in zip(self.ups, self.decoders, strict=True):
                h = decode(up(h) + skips.pop())
            noise = self.tail(h)[..., :height, :width]
            return noisy - noise

    return UNet()


class UNetDenoiser:
    """A U-Net denoiser for grey images in [0, 1] (see the module docstring).

    ``params``: its ``models.unet`` block (or, in a notebook, keyword settings over the
    defaults, e.g. ``UNetDenoiser(sigma=[5, 50], steps=2000)``); ``seed``: patches, noise and
    initial weights; ``max_time``: seconds (training stops early and says so);
    ``image_shape``: how a fold's pixel rows are images. Fitted: ``net``, ``params``
    (the patch at most the smallest training image's side), ``history`` (validation PSNR
    by step) and ``stopped_by``."""

    kind = "denoiser"
    name = NAME
    PARAMS = UNetParams

    def __init__(
        self,
        params: UNetParams | None = None,
        max_time: float | None = None,
        image_shape: list[int] | None = None,
        **settings: Any,
    ) -> None:
        from aeops.core.defaults import default_block, default_params

        seed = int(settings.pop("seed", default_params()["seed"]))
        if params is None:
            params = UNetParams(**{**default_block("models", NAME), **settings})
        elif settings:
            params = UNetParams(**{**params.model_dump(), **settings})
        self.params = params
        self.seed = seed
        self.max_time = max_time
        self.image_shape = image_shape
        self.net: Any = None
        self.history: list[dict[str, float]] = []
        self.stopped_by = ""

    @property
    def noise(self) -> NoiseLevel:
        """The noise it is trained on (one sigma, or a blind range)."""
        return self.params.noise

    def record(self) -> dict[str, Any]:
        """What it is and how it trains, as its file records it."""
        return {**self.params.model_dump(mode="json"), "max_time": self.max_time, "seed": self.seed}

    # -- fitting ---------------------------------------------------------------------------
    def images(self, x: Any, where: str) -> list[np.ndarray]:
        """Grey images in [0, 1] from a list of images, an (n, h, w) array or a fold of
        pixel rows (its normal rows, shaped by ``image_shape``); refused in a sentence when
        they are not."""
        if hasattr(x, "normal"):  # a fold of pixel rows
            if not self.image_shape:
                raise ModelConfigError(
                    "task: denoise needs images: an image source (digits, mnist, image_folder) "
                    "or data.image_shape for pixel tables"
                )
            x = grey_planes(x.normal, self.image_shape)
        images = [np.asarray(im, dtype=np.float32) for im in x]
        if any(im.ndim != 2 for im in images):
            raise ModelConfigError("a denoiser fits grey images: (height, width) arrays")
        if images and (
            min(im.min() for im in images) < 0.0 or max(im.max() for im in images) > 1.0
        ):
            low, high = min(im.min() for im in images), max(im.max() for im in images)
            raise ModelConfigError(
                f"task: denoise needs pixel values in [0, 1], the {where} fold holds "
                f"[{low:.3g}, {high:.3g}]; set data.scaler: none (or auto)"
            )
        return images

    def plan(self, train: list[np.ndarray]) -> PatchPlan:
        """The training plan: the patch at most the smallest image side (8 x 8 digits
        train on 8 x 8 patches), validation at most every ``steps``."""
        from aeops.training.patches import PatchPlan

        p = self.params
        patch = min(p.patch, min(min(im.shape) for im in train))
        val_every = min(p.val_every, p.steps)
        return PatchPlan(
            patch, p.batch_size, p.steps, p.lr, val_every, p.noise, self.seed, self.max_time
        )

    def fit(self, X: Any, val: Any = None, hooks: Any = None) -> Self:
        """Train on patches of the clean ``X`` images; ``val``'s PSNR at the noise level(s)
        picks the weights kept (without ``val``, the last tenth of ``X`` validates)."""
        import torch

        from aeops.training.patches import fit_denoiser

        train = self.images(X, "train")
        held = self.images(val, "val") if val is not None else []
        if val is None and len(train) > 1:
            cut = max(1, int(round(HOLDOUT * len(train))))
            train, held = train[:-cut], train[-cut:]
        if not train or not held:
            raise ModelConfigError(
                "task: denoise needs normal images in both the train and val folds; add images "
                "or lower data.split.val_fraction"
            )
        plan = self.plan(train)
        self.params = self.params.model_copy(
            update={"patch": plan.patch, "val_every": plan.val_every}
        )
        torch.manual_seed(self.seed)  # the initial weights come from the seed too
        self.net = build_unet(self.params)
        fitted = fit_denoiser(self.net, plan, train, held, hooks)
        self.history, self.stopped_by = fitted.history, fitted.stopped_by
        return self

    def denoise(self, image: np.ndarray) -> np.ndarray:
        """``image`` (height, width) or (height, width, channels), values in [0, 1] -> the
        denoised image, same shape, float32, clipped to [0, 1]."""
        if image.ndim == 3:
            planes = [self.denoise(image[..., c]) for c in range(image.shape[-1])]
            return np.stack(planes, axis=-1)
        if image.ndim != 2:
            raise ValueError(f"an image is (height, width[, channels]), got shape {image.shape}")
        return np.clip(self._planes(image.astype(np.float32)), 0.0, 1.0)

    def _planes(self, plane: np.ndarray) -> np.ndarray:
        height, width = plane.shape
        return self._forward(plane) if max(height, width) <= TILE else self._tiled(plane)

    def _forward(self, plane: np.ndarray) -> np.ndarray:
        import torch

        net = self._ready()
        with torch.inference_mode():
            out = net(torch.from_numpy(np.ascontiguousarray(plane))[None, None])
        return out[0, 0].numpy()

    def _tiled(self, plane: np.ndarray) -> np.ndarray:
        """A large image in TILE-sized tiles overlapping by a margin wider than the network
        sees; each tile keeps only its middle, so the seams match the untiled result."""
        margin = 16 * 2**self.params.depth
        height, width = plane.shape
        out = np.empty_like(plane)
        step = TILE - 2 * margin
        for top in range(0, height, step):
            for left in range(0, width, step):
                y0, x0 = max(top - margin, 0), max(left - margin, 0)
                bottom, right = min(top + step, height), min(left + step, width)
                y1, x1 = min(bottom + margin, height), min(right + margin, width)
                done = self._forward(plane[y0:y1, x0:x1])
                out[top:bottom, left:right] = done[top - y0 : bottom - y0, left - x0 : right - x0]
        return out

    def _ready(self) -> nn.Module:
        if self.net is None:
            raise ValueError("this denoiser is not fitted: call fit() or load() first")
        self.net.eval()
        return self.net

    def parameters(self) -> int:
        return int(sum(p.numel() for p in self._ready().parameters()))

    def save(self, folder: str | Path) -> Path:
        """Weights (safetensors) and what it is (JSON) into ``folder``; returns the folder."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self._ready().state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        about = {
            "family": self.name,
            "spec": self.record(),
            "history": self.history,
            "stopped_by": self.stopped_by,
        }
        (folder / SPEC).write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
        return folder

    @staticmethod
    def files(folder: str | Path) -> tuple[Path, Path]:
        """What :meth:`save` writes into ``folder``: the weights and the record."""
        return Path(folder) / WEIGHTS, Path(folder) / SPEC

    @classmethod
    def load(cls, folder: str | Path) -> UNetDenoiser:
        """The denoiser :meth:`save` wrote into ``folder``."""
        from safetensors.torch import load_file

        folder = Path(folder)
        about = json.loads((folder / SPEC).read_text())
        spec = dict(about["spec"])
        seed, max_time = spec.pop("seed"), spec.pop("max_time", None)
        model = cls(UNetParams(**spec), max_time, seed=seed)
        model.net = build_unet(model.params)
        model.net.load_state_dict(load_file(str(folder / WEIGHTS)))
        model.net.eval()
        model.history, model.stopped_by = about.get("history", []), about.get("stopped_by", "")
        return model


DENOISER = UNetDenoiser  # what aeops.models.denoisers finds: params block, fit, load
