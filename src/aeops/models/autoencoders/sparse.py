"""The sparse family: an MLP autoencoder whose non-negative code is pushed towards sparsity
(an L1 penalty on the code, or the KL divergence of each unit's mean activation from
``sparsity_target``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from aeops.core.sections import Dropout, Fraction, Hidden
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    import torch

    from aeops.models.autoencoders.base import Autoencoder


class SparseConfig(FamilyParams):
    hidden: Hidden
    dropout: Dropout
    penalty: Literal["l1", "kl"]
    sparsity_weight: Annotated[float, Field(ge=0.0)]
    sparsity_target: Fraction


@cache
def network() -> type[Autoencoder]:
    """``SparseNetwork``, defined when first built (torch loads here, not with the config)."""
    from aeops.models.autoencoders.components import MLPAutoencoder

    class SparseNetwork(MLPAutoencoder):
        """MLP autoencoder whose non-negative code is pushed towards sparsity by the
        objective (a sigmoid code for the KL penalty, ReLU for L1)."""

        def __init__(  # noqa: PLR0913 - the recorded constructor arguments
            self,
            input_dim: int,
            hidden: list[int],
            latent: int,
            out_activation: str,
            dropout: float,
            penalty: str,
        ) -> None:
            code = "sigmoid" if penalty == "kl" else "relu"
            super().__init__(input_dim, hidden, latent, out_activation, dropout, code)

    return defined_in(__name__, SparseNetwork)


def __getattr__(name: str) -> Any:
    if name == "SparseNetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sparsity_per_row(z: torch.Tensor, kind: str, target: float) -> torch.Tensor:
    """The sparsity penalty per row: L1 of each code, or the batch's KL between the target
    and the mean activation of each code unit (a batch quantity, given to every row)."""
    import torch

    if kind == "l1":
        return z.abs().sum(dim=1)
    if kind == "kl":
        rho_hat = z.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        rho = torch.full_like(rho_hat, target)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return kl.sum().expand(z.shape[0])
    raise ValueError(f"unknown sparsity penalty '{kind}'; choose l1 or kl")


@dataclass(frozen=True)
class SparseObjective(Objective):
    """Reconstruction plus ``sparsity_weight`` times the code's sparsity penalty."""

    sparsity: str = "l1"
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.05

    def weighted_terms(
        self, x: torch.Tensor, out: dict[str, torch.Tensor]
    ) -> dict[str, tuple[float, torch.Tensor]]:
        penalty = sparsity_per_row(out["z"], self.sparsity, self.sparsity_target)
        return {"sparsity_loss": (self.sparsity_weight, penalty)}


FAMILY = Family(
    name="sparse",
    params=SparseConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: SparseObjective(
        loss, params.penalty, params.sparsity_weight, params.sparsity_target
    ),
    network_args=lambda params: {"dropout": params.dropout, "penalty": params.penalty},
)
