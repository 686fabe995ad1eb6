"""The tcn family: a temporal convolutional autoencoder for a stream seen in windows. Each
model input is a window of ``steps`` rows flattened time-major (:mod:`aeops.data.windows`);
the network reads it as ``features`` channels over ``steps`` time points, convolves along
time (``channels``, kernel ``kernel``, lengths kept), maps the result to a linear code and
mirrors it back. It learns what a normal stretch of the sensors looks like together, where a
dense network sees unrelated numbers."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from pydantic import Field

from aeops.core.sections import PositiveInt
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    from aeops.models.autoencoders.base import Autoencoder


class TCNConfig(FamilyParams):
    channels: list[PositiveInt] = Field(min_length=1)
    kernel: PositiveInt


@cache
def network() -> type[Autoencoder]:
    """``TCNNetwork``, defined when first built (torch loads here, not with the config)."""
    import torch
    from torch import nn

    from aeops.models.autoencoders.base import Autoencoder
    from aeops.models.autoencoders.components import ACTIVATIONS

    def convolutions(sizes: list[int], kernel: int, last: nn.Module | None) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Conv1d(n_in, n_out, kernel, padding=kernel // 2))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        if last is not None:
            layers.append(last)
        return nn.Sequential(*layers)

    class TCNNetwork(Autoencoder):
        """Conv1d over time: (features, steps) -> channels -> code -> channels -> features."""

        def __init__(
            self,
            input_dim: int,
            steps: int,
            channels: list[int],
            kernel: int,
            latent: int,
            out_activation: str,
        ) -> None:
            super().__init__()
            if input_dim % steps:
                raise ValueError(f"{input_dim} inputs are not {steps} rows of equal width")
            self.input_dim, self.steps, self.features = input_dim, steps, input_dim // steps
            kernel = kernel + 1 - kernel % 2  # odd: the length is kept
            self.encoder = convolutions([self.features, *channels], kernel, nn.ReLU())
            self.to_code = nn.Linear(channels[-1] * steps, latent)
            self.from_code = nn.Linear(latent, channels[-1] * steps)
            back = [*reversed(channels), self.features]
            self.decoder = convolutions(back, kernel, None)
            self.out = ACTIVATIONS[out_activation]()
            self.last_channels = channels[-1]

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            series = x.view(-1, self.steps, self.features).transpose(1, 2)
            return self.to_code(self.encoder(series).flatten(1))

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            hidden = torch.relu(self.from_code(z)).view(-1, self.last_channels, self.steps)
            return self.out(self.decoder(hidden).transpose(1, 2).flatten(1))

    return defined_in(__name__, TCNNetwork)


def __getattr__(name: str) -> Any:
    if name == "TCNNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FAMILY = Family(
    name="tcn",
    params=TCNConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: Objective(loss),
    network_args=lambda params: {"channels": list(params.channels), "kernel": params.kernel},
    needs_window=True,
)
