"""The gru family: a recurrent (GRU) autoencoder for a stream seen in windows. The encoder
reads the window's ``steps`` rows in time order; its last state becomes the linear code; the
decoder unrolls the code over as many steps and maps each state back to a row (the
sequence-to-sequence autoencoder of Malhotra et al., 2016, with GRU cells, lighter than the
LSTM's and as good on short windows)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from aeops.core.sections import PositiveInt
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    from aeops.models.autoencoders.base import Autoencoder


class GRUConfig(FamilyParams):
    units: PositiveInt  # the recurrent state's size, encoder and decoder


@cache
def network() -> type[Autoencoder]:
    """``GRUNetwork``, defined when first built (torch loads here, not with the config)."""
    import torch
    from torch import nn

    from aeops.models.autoencoders.base import Autoencoder
    from aeops.models.autoencoders.components import ACTIVATIONS

    class GRUNetwork(Autoencoder):
        """GRU over the window's rows -> code -> GRU unrolled over as many steps -> rows."""

        def __init__(
            self, input_dim: int, steps: int, units: int, latent: int, out_activation: str
        ) -> None:
            super().__init__()
            if input_dim % steps:
                raise ValueError(f"{input_dim} inputs are not {steps} rows of equal width")
            self.input_dim, self.steps, self.features = input_dim, steps, input_dim // steps
            self.encoder = nn.GRU(self.features, units, batch_first=True)
            self.to_code = nn.Linear(units, latent)
            self.from_code = nn.Linear(latent, units)
            self.decoder = nn.GRU(units, units, batch_first=True)
            self.to_row = nn.Linear(units, self.features)
            self.out = ACTIVATIONS[out_activation]()

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            _, state = self.encoder(x.view(-1, self.steps, self.features))
            return self.to_code(state[-1])

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            start = torch.relu(self.from_code(z))
            states, _ = self.decoder(start.unsqueeze(1).expand(-1, self.steps, -1).contiguous())
            return self.out(self.to_row(states).flatten(1))

    return defined_in(__name__, GRUNetwork)


def __getattr__(name: str) -> Any:
    if name == "GRUNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FAMILY = Family(
    name="gru",
    params=GRUConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: Objective(loss),
    network_args=lambda params: {"units": params.units},
    needs_window=True,
)
