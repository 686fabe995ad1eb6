"""Encoder and decoder builders shared by the families, and the MLP autoencoder the dense,
denoising and sparse families build on (each with its own objective)."""

from __future__ import annotations

import torch
from torch import nn

from aeops.models.autoencoders.base import Autoencoder

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "identity": nn.Identity, "relu": nn.ReLU}


def mlp(dims: list[int], out_activation: str, dropout: float) -> nn.Sequential:
    """Linear layers through ``dims`` with ReLU between them and ``out_activation`` at the end."""
    if len(dims) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {dims}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    layers.append(ACTIVATIONS[out_activation]())
    return nn.Sequential(*layers)


def conv_output_sizes(size: int, n_layers: int) -> list[int]:
    """Spatial sizes after each stride-2, kernel-3, padding-1 convolution."""
    sizes = [size]
    for _ in range(n_layers):
        sizes.append((sizes[-1] - 1) // 2 + 1)
    return sizes


class ConvEncoder(nn.Module):
    """Stride-2 convolutions then a linear map to the latent code."""

    def __init__(self, image_shape: list[int], channels: list[int], latent: int) -> None:
        super().__init__()
        c, h, w = image_shape
        layers: list[nn.Module] = []
        for n_in, n_out in zip([c, *channels[:-1]], channels, strict=True):
            layers += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.h_sizes = conv_output_sizes(h, len(channels))
        self.w_sizes = conv_output_sizes(w, len(channels))
        self.flat = channels[-1] * self.h_sizes[-1] * self.w_sizes[-1]
        self.fc = nn.Linear(self.flat, latent)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: linear map, then stride-2 transposed convolutions."""

    def __init__(
        self,
        encoder: ConvEncoder,
        image_shape: list[int],
        channels: list[int],
        latent: int,
        out_activation: str,
    ) -> None:
        super().__init__()
        c = image_shape[0]
        self.start = (channels[-1], encoder.h_sizes[-1], encoder.w_sizes[-1])
        self.fc = nn.Linear(latent, encoder.flat)
        layers: list[nn.Module] = []
        outs = [*reversed(channels[:-1]), c]
        ins = list(reversed(channels))
        hs, ws = list(reversed(encoder.h_sizes)), list(reversed(encoder.w_sizes))
        for i, (n_in, n_out) in enumerate(zip(ins, outs, strict=True)):
            pad_h = hs[i + 1] - (2 * hs[i] - 1)
            pad_w = ws[i + 1] - (2 * ws[i] - 1)
            layers.append(
                nn.ConvTranspose2d(
                    n_in, n_out, 3, stride=2, padding=1, output_padding=(pad_h, pad_w)
                )
            )
            if i < len(ins) - 1:
                layers.append(nn.ReLU())
        layers.append(ACTIVATIONS[out_activation]())
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, *self.start))


class MLPAutoencoder(Autoencoder):
    """Undercomplete MLP autoencoder: D -> hidden... -> latent -> ...hidden -> D."""

    def __init__(
        self,
        input_dim: int,
        hidden: list[int],
        latent: int,
        out_activation: str,
        dropout: float,
        code_activation: str | None = None,  # None: identity (the code as the layer gives it)
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.encoder = mlp([input_dim, *hidden, latent], code_activation or "identity", dropout)
        self.decoder = mlp([latent, *reversed(hidden), input_dim], out_activation, dropout)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)
