"""What a family module declares, without torch: its params block (:class:`FamilyParams`),
its objective (:class:`Objective`) and the :class:`Family` spec it exports as ``FAMILY``.

Nothing here imports torch at import time (the objective's terms import it when they run), so
parsing ``params.yaml``, which finds every family's params block, stays light: ``aeops check``
and a no-op ``make train`` never load torch. The built-in families build their networks
through a function that imports torch when called; a family module of a user's may just as
well define its network class at the top with ``import torch`` (the toy family in
``docs/architecture.md`` does), at the cost of torch's import when the config is parsed.

Objective terms are summed over input (or latent) dimensions and averaged over the batch, so
weights such as the VAE's ``beta`` mean the same at every input size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from aeops.core.sections import Latent, Section

if TYPE_CHECKING:
    import torch


class FamilyParams(Section):
    """A family's block of ``params.yaml`` (``models.<family>``); every family has a code."""

    latent: Latent


def reconstruction_per_row(recon: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error of each row, summed over its features."""
    import torch.nn.functional as F

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
    """A family as the pipeline sees it: its name, params block, network (a class, or any
    callable that builds one from its constructor arguments), objective, which network
    arguments come from its params, and whether it needs images."""

    name: str
    params: type[FamilyParams]
    network: Callable[..., torch.nn.Module]  # an aeops.models.autoencoders.base.Autoencoder
    objective: Callable[[Any, str], Objective]  # (its params block, train.loss) -> objective
    network_args: Callable[[Any], dict[str, Any]]  # its params block -> extra network args
    needs_image: bool = False
    needs_window: bool = False  # reads each row as a window of rows (data.window.size > 1)
    image_aware: bool = False  # builds a convolutional network when the data are images
    # the storage step of the code -> extra network args (a family that trains its code to
    # survive int8 storage, :mod:`~aeops.models.autoencoders.coder`); None: not asked
    code_args: Callable[[float], dict[str, Any]] | None = None
    # (network, normal training rows, seed) -> None: sets weights from the data before
    # training (the coder's PCA start); None: the network's own initialisation
    initialise: Callable[[Any, Any, int], None] | None = None
    # its params block -> the blocks validation chooses among, each with a label (a setting
    # given as a list, e.g. the VAE's beta); None: the block itself
    variants: Callable[[Any], list[tuple[str, Any]]] | None = None
    SIZED: ClassVar[tuple[str, ...]] = ("hidden", "latent", "channels")  # args sizes resolve

    def build(self, args: dict[str, Any]) -> Any:
        """The network from its recorded constructor arguments."""
        return self.network(**args)

    def options(self, params: Any) -> list[tuple[str, Any]]:
        """The params blocks a fit trains and validation chooses among (labelled); one
        unlabelled block unless a setting lists several."""
        return self.variants(params) if self.variants is not None else [("", params)]


def defined_in(module: str, cls: type) -> type:
    """``cls`` (defined inside a family module's network function, so that torch loads only
    when a network is built) named as if defined at the module's top, where the module's
    ``__getattr__`` returns it: pickling and ``from <module> import <name>`` find it."""
    cls.__module__ = module
    cls.__qualname__ = cls.__name__
    return cls
