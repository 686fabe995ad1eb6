"""A U-shaped residual denoiser: fully convolutional, so any image size works.

The network (Ronneberger et al.'s U-Net shape, DnCNN's residual output) sees a noisy grey
image and predicts the noise; the denoised image is the input minus that prediction. Each
level halves the resolution with a strided convolution and doubles the channels; the way up
adds each level's features back (skip connections). An image whose sides are not a multiple
of ``2**depth`` is reflect-padded and cropped back, so the output has the input's size.

:class:`UNetDenoiser` holds the estimator verbs: ``fit(train, val)`` on lists of clean images
(patches are cut and noised on the fly, :mod:`aeops.training.patches`), ``denoise(image)``,
``save(dir)`` / ``load(dir)`` (safetensors weights + a JSON spec, nothing pickled). A colour
image is denoised one channel at a time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.data.noise import NoiseLevel

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = "denoiser.safetensors"
SPEC = "denoiser.json"
TILE = 1024  # images larger than this (either side) are denoised in overlapping tiles


@dataclass(frozen=True)
class DenoiserSpec:
    """What a denoiser is and how it is trained (``params.yaml``'s ``denoise`` block)."""

    sigma: float | list[float] = 25.0  # 0-255 scale; [low, high]: blind over that range
    width: int = 32  # channels at full resolution
    depth: int = 3  # times the resolution halves
    blocks: int = 2  # 3x3 conv + ReLU pairs per level
    patch: int = 48
    batch_size: int = 32
    steps: int = 3000
    lr: float = 0.001  # Adam; cosine decay to lr/100 over ``steps``
    val_every: int = 250
    max_time: float | None = None  # seconds; training stops early (and says so)
    seed: int = 42

    @property
    def noise(self) -> NoiseLevel:
        return NoiseLevel.of(self.sigma)


def build_unet(spec: DenoiserSpec) -> nn.Module:
    """The network of ``spec`` (torch is imported here, not when the module is)."""
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
            width, depth = spec.width, spec.depth
            self.multiple = 2**depth
            self.head = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True))
            self.encoders = nn.ModuleList()
            self.downs = nn.ModuleList()
            channels = width
            for _ in range(depth):
                self.encoders.append(convs(channels, spec.blocks))
                self.downs.append(
                    nn.Sequential(nn.Conv2d(channels, 2 * channels, 2, stride=2), nn.ReLU(True))
                )
                channels *= 2
            self.middle = convs(channels, spec.blocks)
            self.ups = nn.ModuleList()
            self.decoders = nn.ModuleList()
            for _ in range(depth):
                self.ups.append(nn.ConvTranspose2d(channels, channels // 2, 2, stride=2))
                channels //= 2
                self.decoders.append(convs(channels, spec.blocks))
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


@dataclass
class UNetDenoiser:
    """A fitted (or loadable) U-Net denoiser for grey images in [0, 1]."""

    spec: DenoiserSpec = field(default_factory=DenoiserSpec)
    net: Any = None
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_by: str = ""

    name = "unet"

    def fit(
        self, train: list[np.ndarray], val: list[np.ndarray], progress: bool = True
    ) -> UNetDenoiser:
        """Train on patches of the clean grey ``train`` images; ``val``'s PSNR at the noise
        level(s) picks the weights kept (the best validation)."""
        import torch

        from aeops.training.patches import fit_denoiser

        torch.manual_seed(self.spec.seed)  # the initial weights come from the seed too
        self.net = build_unet(self.spec)
        fitted = fit_denoiser(self.net, self.spec, train, val, progress)
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
        margin = 16 * 2**self.spec.depth
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
        """Weights (safetensors) and the spec (JSON) into ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in self._ready().state_dict().items()}
        save_file(state, str(folder / WEIGHTS))
        about = {"family": self.name, "spec": asdict(self.spec), "history": self.history,
                 "stopped_by": self.stopped_by}  # fmt: skip
        (folder / SPEC).write_text(json.dumps(about, indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> UNetDenoiser:
        """The denoiser :meth:`save` wrote into ``folder``."""
        from safetensors.torch import load_file

        folder = Path(folder)
        about = json.loads((folder / SPEC).read_text())
        spec = DenoiserSpec(**about["spec"])
        net = build_unet(spec)
        net.load_state_dict(load_file(str(folder / WEIGHTS)))
        return cls(spec, net.eval(), about.get("history", []), about.get("stopped_by", ""))
