"""The denoising family: the dense network trained to rebuild clean rows from corrupted ones
(Gaussian noise of std ``noise_level``, or a ``noise_level`` share of values masked to zero)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from aeops.core.sections import Dropout, Hidden
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    import torch

    from aeops.models.autoencoders.base import Autoencoder


class DenoisingConfig(FamilyParams):
    hidden: Hidden
    dropout: Dropout
    noise: Literal["gaussian", "mask"]
    noise_level: Annotated[float, Field(gt=0.0)]


@cache
def network() -> type[Autoencoder]:
    """``DenoisingNetwork``, defined when first built (torch loads here, not with the config)."""
    from aeops.models.autoencoders.components import MLPAutoencoder

    class DenoisingNetwork(MLPAutoencoder):
        """The dense architecture; trained on corrupted input (:class:`DenoisingObjective`)."""

    return defined_in(__name__, DenoisingNetwork)


def __getattr__(name: str) -> Any:
    if name == "DenoisingNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def corrupt(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    """Gaussian noise of std ``level``, or masking a ``level`` fraction of features to zero."""
    import torch

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
    network=lambda **args: network()(**args),
    objective=lambda params, loss: DenoisingObjective(loss, params.noise, params.noise_level),
    network_args=lambda params: {"dropout": params.dropout},
)
