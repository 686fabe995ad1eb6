"""The dense family: an undercomplete MLP autoencoder, trained to reconstruct its input."""

from __future__ import annotations

from aeops.core.sections import Dropout, Hidden
from aeops.models.autoencoders.base import Family, FamilyParams, Objective
from aeops.models.autoencoders.components import MLPAutoencoder


class DenseConfig(FamilyParams):
    hidden: Hidden
    dropout: Dropout


class DenseAE(MLPAutoencoder):
    """Undercomplete MLP autoencoder: D -> hidden... -> latent -> ...hidden -> D."""


FAMILY = Family(
    name="dense",
    params=DenseConfig,
    network=DenseAE,
    objective=lambda params, loss: Objective(loss),
    network_args=lambda params: {"dropout": params.dropout},
)
