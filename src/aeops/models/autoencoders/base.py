"""The network base every autoencoder family builds on (:class:`Autoencoder`), with the
objective base, the params block base and the :class:`Family` spec (defined torch-free in
:mod:`~aeops.models.autoencoders.spec`) at hand for a family module.

A family module (``dense.py``, ``vae.py``, ...) holds its network (an :class:`Autoencoder`),
its objective (an :class:`Objective`, or a subclass that adds a term) and its params block (a
:class:`FamilyParams`); :mod:`aeops.models.autoencoders` finds it by its ``FAMILY``.

Every network maps a batch of flat feature rows ``(N, D)`` to a dict with the reconstruction
``recon`` ``(N, D)`` and the latent code ``z``; the VAE adds ``mu`` and ``logvar``. In eval
mode each network is deterministic.
"""

from __future__ import annotations

import abc

import torch
from torch import nn

from aeops.models.autoencoders.spec import (
    Family,
    FamilyParams,
    Objective,
    reconstruction_per_row,
)

__all__ = ["Autoencoder", "Family", "FamilyParams", "Objective", "reconstruction_per_row"]


class Autoencoder(nn.Module, metaclass=abc.ABCMeta):
    """Base network: encode to a latent code, decode back; a row's score is its mean squared
    reconstruction error (:meth:`row_score`)."""

    input_dim: int

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map rows to their latent code (deterministic in eval mode)."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent codes back to flat rows."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        return {"recon": self.decode(z), "z": z}

    def row_score(self, out: dict[str, torch.Tensor], per_feature: torch.Tensor) -> torch.Tensor:
        """The anomaly score of each row: its mean squared reconstruction error."""
        return per_feature.mean(dim=1)
