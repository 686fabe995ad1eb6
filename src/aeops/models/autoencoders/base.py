"""What every autoencoder family shares: the network base, the objective base, the params
block base and the :class:`Family` spec a family module exports as ``FAMILY``.

A family module (``dense.py``, ``vae.py``, ...) holds its network (an :class:`Autoencoder`),
its objective (an :class:`Objective`, or a subclass that adds a term) and its params block (a
:class:`FamilyParams`); :mod:`aeops.models.autoencoders` finds it by its ``FAMILY``.

Every network maps a batch of flat feature rows ``(N, D)`` to a dict with the reconstruction
``recon`` ``(N, D)`` and the latent code ``z``; the VAE adds ``mu`` and ``logvar``. In eval
mode each network is deterministic. Objective terms are summed over input (or latent)
dimensions and averaged over the batch, so weights such as the VAE's ``beta`` mean the same at
every input size.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from aeops.core.sections import Latent, Section


class FamilyParams(Section):
    """A family's block of ``params.yaml`` (``models.<family>``); every family has a code."""

    latent: Latent


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


def reconstruction_per_row(recon: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error of each row, summed over its features."""
    if kind == "mse":
        return F.mse_loss(recon, x, reduction="none").sum(dim=1)
    if kind == "bce":
        return F.binary_cross_entropy(
            recon.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none"
        ).sum(dim=1)
    raise ValueError(f"unknown reconstruction loss '{kind}'; choose mse or bce")


@dataclass(frozen=True)
class Objective:
    """What a training step minimises: the reconstruction error (``train.loss``). A family
    whose objective adds a term subclasses it (:meth:`weighted_terms`) or corrupts its input
    (:meth:`corrupt`)."""

    recon: str = "mse"

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """The input the network sees in training (``x`` itself, unless denoising)."""
        return x

    def rows(self, x: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every loss term of each row; ``loss`` is their weighted sum."""
        rows = {"recon_loss": reconstruction_per_row(out["recon"], x, self.recon)}
        loss = rows["recon_loss"]
        for name, (weight, values) in self.weighted_terms(x, out).items():
            rows[name] = values
            loss = loss + weight * values
        rows["loss"] = loss
        return rows

    def weighted_terms(
        self, x: torch.Tensor, out: dict[str, torch.Tensor]
    ) -> dict[str, tuple[float, torch.Tensor]]:
        """The terms a family adds to the reconstruction error, per row, as
        ``name: (weight, values)`` (none here)."""
        return {}

    def loss(self, x: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """All loss terms for one batch (averaged over its rows); ``loss`` is minimised."""
        return {name: rows.mean() for name, rows in self.rows(x, out).items()}


@dataclass(frozen=True)
class Family:
    """A family as the pipeline sees it: its name, params block, network, objective, which
    network arguments come from its params, and whether it needs images."""

    name: str
    params: type[FamilyParams]
    network: Callable[..., Autoencoder]
    objective: Callable[[Any, str], Objective]  # (its params block, train.loss) -> objective
    network_args: Callable[[Any], dict[str, Any]]  # its params block -> extra network args
    needs_image: bool = False
    SIZED: ClassVar[tuple[str, ...]] = ("hidden", "latent", "channels")  # args sizes resolve

    def build(self, args: dict[str, Any]) -> Autoencoder:
        """The network from its recorded constructor arguments."""
        return self.network(**args)
