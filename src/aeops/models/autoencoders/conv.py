"""The conv family: a convolutional autoencoder for images stored as flat rows of ``C*H*W``
pixels (stride-2 convolutions to a linear code, and their mirror)."""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Any

from aeops.core.sections import PositiveInt
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    from aeops.models.autoencoders.base import Autoencoder


class ConvConfig(FamilyParams):
    channels: list[PositiveInt]


@cache
def network() -> type[Autoencoder]:
    """``ConvNetwork``, defined when first built (torch loads here, not with the config)."""
    import torch

    from aeops.models.autoencoders.base import Autoencoder
    from aeops.models.autoencoders.components import ConvDecoder, ConvEncoder

    class ConvNetwork(Autoencoder):
        """Convolutional autoencoder for images stored as flat rows of ``C*H*W`` pixels."""

        def __init__(
            self, image_shape: list[int], channels: list[int], latent: int, out_activation: str
        ) -> None:
            super().__init__()
            self.image_shape = list(image_shape)
            self.input_dim = math.prod(image_shape)
            self.encoder = ConvEncoder(image_shape, channels, latent)
            self.decoder = ConvDecoder(self.encoder, image_shape, channels, latent, out_activation)

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return self.encoder(x.view(-1, *self.image_shape))

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.decoder(z).flatten(1)

    return defined_in(__name__, ConvNetwork)


def __getattr__(name: str) -> Any:
    if name == "ConvNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FAMILY = Family(
    name="conv",
    params=ConvConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: Objective(loss),
    network_args=lambda params: {"channels": list(params.channels)},
    needs_image=True,
)
