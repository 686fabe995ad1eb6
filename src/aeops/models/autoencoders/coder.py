"""The coder family: an autoencoder built for its code, what ``task: compress`` stores and
``task: reduce`` maps (any task may train it).

- images: a convolutional encoder (3x3 convolutions with GELU, two stride-2 halvings, a
  fully connected layer of :data:`FC_WIDTH`) to the code, and a decoder that mirrors it with
  nearest-neighbour upsampling to the exact sizes the encoder saw (so odd sizes such as 7 x 7
  come back as they went in, unlike transposed convolutions' checkerboards);
- tables: PCA plus a GELU MLP: the code is a linear projection plus an MLP through the
  ``auto`` widths (or ``hidden``), and the way back the same; the linear paths start as PCA of
  the normal training rows and the MLPs' last layers at zero, so training starts from PCA's
  code and reconstruction and adds what PCA misses (a linear map is what a table's code
  needs most, and an MLP alone trails PCA at 32 numbers on genes).

When the code is stored at a coarse step (``code.precision: int8`` under ``task: compress``:
127 levels a side of each dimension's largest value, :mod:`aeops.data.codes`), training adds
uniform noise of one storage step to it (each dimension's largest absolute value in the batch
over 127), so the decoder learns to read codes as they come back from storage (the
additive-noise proxy of quantisation, Ballé et al., 2017). The code is not squashed (a tanh
bound saturates and stalls a deep coder's training). In eval mode the code is deterministic
and no noise is added.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.core.sections import Hidden, PositiveInt
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    import torch

    from aeops.models.autoencoders.base import Autoencoder

PCA_ROWS = 10_000  # rows the PCA start of a table coder looks at (seeded sample beyond)
FC_WIDTH = 256  # the fully connected layer between the feature maps and the code (images)


class CoderConfig(FamilyParams):
    width: PositiveInt  # images: channels at full resolution, doubled at each halving
    hidden: Hidden  # tables: MLP widths (auto: models.auto_size)


def halved(size: int) -> int:
    """A side after a stride-2, kernel-3, padding-1 convolution."""
    return (size - 1) // 2 + 1


def image_layers(image_shape: list[int], width: int, latent: int, out: Any) -> dict[str, Any]:
    """The convolutional coder's parts for (channels, height, width) images (module docs)."""
    from torch import nn

    def conv(n_in: int, n_out: int, step: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(n_in, n_out, 3, stride=step, padding=1), nn.GELU()]

    c, h, w = image_shape
    sizes = [(h, w), (halved(h), halved(w)), (halved(halved(h)), halved(halved(w)))]
    deep = 4 * width
    flat = deep * sizes[2][0] * sizes[2][1]
    return {
        "sizes": sizes,
        "encoder": nn.Sequential(
            *conv(c, width),
            *conv(width, 2 * width, 2),
            *conv(2 * width, 2 * width),
            *conv(2 * width, deep, 2),
            *conv(deep, deep),
            nn.Flatten(),
            nn.Linear(flat, FC_WIDTH),
            nn.GELU(),
            nn.Linear(FC_WIDTH, latent),
        ),
        "expand": nn.Sequential(
            nn.Linear(latent, FC_WIDTH), nn.GELU(), nn.Linear(FC_WIDTH, flat), nn.GELU()
        ),
        "deep": nn.Sequential(*conv(deep, deep)),
        "middle": nn.Sequential(*conv(deep, 2 * width), *conv(2 * width, 2 * width)),
        "full": nn.Sequential(*conv(2 * width, width), nn.Conv2d(width, c, 3, padding=1), out),
    }


def table_layers(input_dim: int, hidden: list[int], latent: int, out: Any) -> dict[str, Any]:
    """The MLP coder's encoder and decoder (GELU between layers)."""
    from torch import nn

    def gelu_mlp(dims: list[int]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(dims) - 2:
                layers.append(nn.GELU())
        return layers

    encoder, decoder = (
        gelu_mlp([input_dim, *hidden, latent]),
        gelu_mlp([latent, *reversed(hidden), input_dim]),
    )
    for branch in (encoder, decoder):  # the nonlinear branches start at zero: PCA at first
        last = branch[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    return {
        "encoder": nn.Sequential(*encoder),
        "decoder": nn.Sequential(*decoder),
        "project": nn.Linear(input_dim, latent),
        "restore": nn.Linear(latent, input_dim),
        "out": out,
    }


def start_from_pca(net: Any, train_x: np.ndarray, seed: int) -> None:
    """A table coder's linear path set to PCA of the normal training rows (the components as
    the projection, their transpose as the way back), so training starts from PCA's code and
    reconstruction and the nonlinear branches only add what PCA misses. Images: nothing."""
    import torch
    from sklearn.decomposition import PCA

    if getattr(net, "image_shape", None) or not hasattr(net, "project"):
        return
    x = np.asarray(train_x, dtype=np.float64)
    if len(x) > PCA_ROWS:
        x = x[np.sort(np.random.default_rng(seed).choice(len(x), PCA_ROWS, replace=False))]
    latent = net.project.out_features
    k = min(latent, *x.shape)
    pca = PCA(n_components=k, svd_solver="full").fit(x)
    components = np.zeros((latent, x.shape[1]))
    components[:k] = pca.components_
    with torch.no_grad():
        net.project.weight.copy_(torch.as_tensor(components))
        net.project.bias.copy_(torch.as_tensor(-components @ pca.mean_))
        net.restore.weight.copy_(torch.as_tensor(components.T))
        net.restore.bias.copy_(torch.as_tensor(pca.mean_))


def coder_parts(
    latent: int, out_activation: str, width: int, layout: dict[str, Any]
) -> tuple[list[int] | None, int, dict[str, Any]]:
    """``(image_shape, input_dim, parts)`` of a coder: for images (``layout``'s
    ``image_shape``) :func:`image_layers`' parts, else :func:`table_layers`' (``input_dim``,
    ``hidden``)."""
    from aeops.models.autoencoders.components import ACTIVATIONS

    image_shape = list(layout.get("image_shape") or []) or None
    out = ACTIVATIONS[out_activation]()
    if image_shape:
        return image_shape, math.prod(image_shape), image_layers(image_shape, width, latent, out)
    input_dim = int(layout["input_dim"])
    return None, input_dim, table_layers(input_dim, list(layout["hidden"]), latent, out)


def storage_noise(z: torch.Tensor, code_step: float) -> torch.Tensor:
    """``z`` as training reads it back from storage: plus uniform noise one storage step wide
    (each dimension's largest absolute value in the batch times ``code_step``; module docs)."""
    import torch

    step = z.detach().abs().amax(dim=0) * code_step
    return z + (torch.rand_like(z) - 0.5) * step


@cache
def network() -> type[Autoencoder]:
    """``Coder``, defined when first built (torch loads here, not with the config)."""
    from torch.nn import functional as F

    from aeops.models.autoencoders.base import Autoencoder

    class Coder(Autoencoder):
        """Images (``image_shape`` given): convolutional; tables: an MLP (module docs)."""

        encoder: Any  # the parts :func:`image_layers` or :func:`table_layers` build
        decoder: Any
        expand: Any
        deep: Any
        middle: Any
        full: Any
        project: Any
        restore: Any
        out: Any
        sizes: list[tuple[int, int]]  # images: the sizes the encoder saw, the decoder's way back

        def __init__(
            self,
            latent: int,
            out_activation: str,
            width: int,
            code_step: float = 0.0,
            **layout: Any,
        ) -> None:
            """``layout``: ``image_shape`` (images) or ``input_dim`` and ``hidden`` (tables)."""
            super().__init__()
            self.code_step = float(code_step)
            self.width = width
            shape, self.input_dim, parts = coder_parts(latent, out_activation, width, layout)
            self.image_shape = shape
            for name, part in parts.items():  # the layers; for images, first the ``sizes``
                setattr(self, name, part)

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            if self.image_shape:
                x = x.view(-1, *self.image_shape)
                return self.encoder(x)
            return self.project(x) + self.encoder(x)

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            if not self.image_shape:
                return self.out(self.restore(z) + self.decoder(z))
            deep = self.expand(z).view(-1, 4 * self.width, *self.sizes[2])
            up = F.interpolate(self.deep(deep), size=self.sizes[1], mode="nearest")
            up = F.interpolate(self.middle(up), size=self.sizes[0], mode="nearest")
            return self.full(up).flatten(1)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            z = self.encode(x)
            noisy = self.training and self.code_step > 0
            seen = storage_noise(z, self.code_step) if noisy else z
            return {"recon": self.decode(seen), "z": z}

    return defined_in(__name__, Coder)


def __getattr__(name: str) -> Any:
    if name == "Coder":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def network_args(params: CoderConfig) -> dict[str, Any]:
    return {"width": int(params.width)}


FAMILY = Family(
    name="coder",
    params=CoderConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: Objective(loss),
    network_args=network_args,
    image_aware=True,
    initialise=start_from_pca,
    code_args=lambda step: {"code_step": float(step)},
)
