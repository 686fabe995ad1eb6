"""The dense family: an undercomplete MLP autoencoder, trained to reconstruct its input."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from aeops.core.sections import Dropout, Hidden
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    from aeops.models.autoencoders.base import Autoencoder


class DenseConfig(FamilyParams):
    hidden: Hidden
    dropout: Dropout
    code_activation: Literal["identity", "relu"]  # relu: the source page's Keras model


@cache
def network() -> type[Autoencoder]:
    """``DenseNetwork``, defined when first built (torch loads here, not with the config)."""
    from aeops.models.autoencoders.components import MLPAutoencoder

    class DenseNetwork(MLPAutoencoder):
        """Undercomplete MLP autoencoder: D -> hidden... -> latent -> ...hidden -> D."""

    return defined_in(__name__, DenseNetwork)


def __getattr__(name: str) -> Any:
    if name == "DenseNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FAMILY = Family(
    name="dense",
    params=DenseConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: Objective(loss),
    network_args=lambda params: {
        "dropout": params.dropout,
        "code_activation": params.code_activation,
    },
)
