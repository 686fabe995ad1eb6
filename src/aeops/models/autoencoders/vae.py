"""The vae family: a variational autoencoder with a diagonal Gaussian posterior and a standard
normal prior, trained on the negative ELBO (reconstruction + ``beta`` x KL, summed over
dimensions, averaged over the batch)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from aeops.core.sections import Hidden
from aeops.models.autoencoders.spec import Family, FamilyParams, Objective, defined_in

if TYPE_CHECKING:
    import torch

    from aeops.models.autoencoders.base import Autoencoder


Beta = Annotated[float, Field(ge=0.0)]


class VAEConfig(FamilyParams):
    hidden: Hidden
    # a list: a network (or bag) is trained at each, validation keeps the best (the first
    # when validation cannot tell: AutoencoderDetector.choose_variant)
    beta: Beta | Annotated[list[Beta], Field(min_length=1)]
    score: Literal["recon", "elbo"]


def beta_variants(params: VAEConfig) -> list[tuple[str, VAEConfig]]:
    """One params block per listed ``beta`` (the block itself for one value)."""
    if not isinstance(params.beta, list):
        return [(f"beta {params.beta:g}", params)]
    return [(f"beta {b:g}", params.model_copy(update={"beta": b})) for b in params.beta]


def gaussian_kl_per_row(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over latent dims."""
    import torch

    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(dim=1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL summed over latent dims, averaged over the batch."""
    return gaussian_kl_per_row(mu, logvar).mean()


@cache
def network() -> type[Autoencoder]:
    """``VAENetwork``, defined when first built (torch loads here, not with the config)."""
    import torch
    from torch import nn

    from aeops.models.autoencoders.base import Autoencoder
    from aeops.models.autoencoders.components import mlp

    class VAENetwork(Autoencoder):
        """Variational autoencoder: diagonal Gaussian posterior, standard normal prior."""

        def __init__(  # noqa: PLR0913 - the recorded constructor arguments
            self,
            input_dim: int,
            hidden: list[int],
            latent: int,
            out_activation: str,
            score_kind: str,
            beta: float,
        ) -> None:
            super().__init__()
            self.input_dim = input_dim
            self.score_kind = score_kind
            self.beta = beta
            self.body = mlp([input_dim, *hidden], "relu", 0.0)
            self.mu = nn.Linear(hidden[-1] if hidden else input_dim, latent)
            self.logvar = nn.Linear(hidden[-1] if hidden else input_dim, latent)
            self.decoder = mlp([latent, *reversed(hidden), input_dim], out_activation, 0.0)

        def posterior(self, x: torch.Tensor) -> torch.distributions.Normal:
            h = self.body(x)
            logvar = self.logvar(h).clamp(-10.0, 10.0)
            return torch.distributions.Normal(self.mu(h), torch.exp(0.5 * logvar))

        def encode(self, x: torch.Tensor) -> torch.Tensor:
            return self.posterior(x).mean

        def decode(self, z: torch.Tensor) -> torch.Tensor:
            return self.decoder(z)

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            q = self.posterior(x)
            z = q.rsample() if self.training else q.mean
            return {"recon": self.decode(z), "z": z, "mu": q.mean, "logvar": 2 * q.scale.log()}

        def row_score(
            self, out: dict[str, torch.Tensor], per_feature: torch.Tensor
        ) -> torch.Tensor:
            if self.score_kind == "recon":
                return per_feature.mean(dim=1)
            # negative ELBO at the posterior mean: summed squared error plus beta * KL.
            kl = gaussian_kl_per_row(out["mu"], out["logvar"])
            return per_feature.sum(dim=1) + self.beta * kl

    return defined_in(__name__, VAENetwork)


def __getattr__(name: str) -> Any:
    if name == "VAENetwork":
        return network()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class VAEObjective(Objective):
    """Reconstruction plus ``beta`` times the KL divergence from the prior."""

    beta: float = 0.0

    def weighted_terms(
        self, x: torch.Tensor, out: dict[str, torch.Tensor]
    ) -> dict[str, tuple[float, torch.Tensor]]:
        if self.beta <= 0 or "mu" not in out:
            return {}
        return {"kl_loss": (self.beta, gaussian_kl_per_row(out["mu"], out["logvar"]))}


FAMILY = Family(
    name="vae",
    params=VAEConfig,
    network=lambda **args: network()(**args),
    objective=lambda params, loss: VAEObjective(loss, params.beta),
    network_args=lambda params: {"score_kind": params.score, "beta": params.beta},
    variants=beta_variants,
)
