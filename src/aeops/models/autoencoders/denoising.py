"""The denoising family: the dense network trained to rebuild clean rows from corrupted ones
(Gaussian noise of std ``noise_level``, or a ``noise_level`` share of values masked to zero)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import torch
from pydantic import Field

from aeops.core.sections import Dropout, Hidden
from aeops.models.autoencoders.base import Family, FamilyParams, Objective
from aeops.models.autoencoders.components import MLPAutoencoder


class DenoisingConfig(FamilyParams):
    hidden: Hidden
    dropout: Dropout
    noise: Literal["gaussian", "mask"]
    noise_level: Annotated[float, Field(gt=0.0)]


class DenoisingAE(MLPAutoencoder):
    """The dense architecture; trained on corrupted input (see :class:`DenoisingObjective`)."""


def corrupt(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    """Gaussian noise of std ``level``, or masking a ``level`` fraction of features to zero."""
    if kind == "gaussian":
        return x + level * torch.randn_like(x)
    if kind == "mask":
        return x * (torch.rand_like(x) >= level).to(x.dtype)
    raise ValueError(f"unknown corruption '{kind}'; choose gaussian or mask")


@dataclass(frozen=True)
class DenoisingObjective(Objective):
    """Reconstruct the clean row from its corrupted copy."""

    noise: str = "gaussian"
    noise_level: float = 0.0

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        return corrupt(x, self.noise, self.noise_level)


FAMILY = Family(
    name="denoising",
    params=DenoisingConfig,
    network=DenoisingAE,
    objective=lambda params, loss: DenoisingObjective(loss, params.noise, params.noise_level),
    network_args=lambda params: {"dropout": params.dropout},
)
