"""Training objectives: reconstruction, KL, sparsity and input corruption.

Every term is summed over input (or latent) dimensions and averaged over the batch, so weights
such as the VAE's ``beta`` mean the same at every input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Objective:
    """What a family's training step minimises, built from its params."""

    recon: str = "mse"
    noise: str | None = None  # "gaussian" or "mask" for the denoising family
    noise_level: float = 0.0
    sparsity: str | None = None  # "l1" or "kl" for the sparse family
    sparsity_weight: float = 0.0
    sparsity_target: float = 0.05
    beta: float = 0.0  # KL weight; non-zero only for the VAE


def reconstruction_loss(recon: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "mse":
        per_row = F.mse_loss(recon, x, reduction="none").sum(dim=1)
    elif kind == "bce":
        per_row = F.binary_cross_entropy(
            recon.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none"
        ).sum(dim=1)
    else:
        raise ValueError(f"unknown reconstruction loss '{kind}'; choose mse or bce")
    return per_row.mean()


def gaussian_kl_per_row(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over latent dims."""
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(dim=1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL summed over latent dims, averaged over the batch."""
    return gaussian_kl_per_row(mu, logvar).mean()


def sparsity_penalty(z: torch.Tensor, kind: str, target: float) -> torch.Tensor:
    if kind == "l1":
        return z.abs().sum(dim=1).mean()
    if kind == "kl":
        rho_hat = z.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        rho = torch.full_like(rho_hat, target)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return kl.sum()
    raise ValueError(f"unknown sparsity penalty '{kind}'; choose l1 or kl")


def corrupt(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    """Gaussian noise of std ``level``, or masking a ``level`` fraction of features to zero."""
    if kind == "gaussian":
        return x + level * torch.randn_like(x)
    if kind == "mask":
        return x * (torch.rand_like(x) >= level).to(x.dtype)
    raise ValueError(f"unknown corruption '{kind}'; choose gaussian or mask")


def objective_loss(
    objective: Objective, x: torch.Tensor, out: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """All loss terms for one batch; ``loss`` is their weighted sum."""
    terms = {"recon_loss": reconstruction_loss(out["recon"], x, objective.recon)}
    loss = terms["recon_loss"]
    if objective.beta > 0 and "mu" in out:
        terms["kl_loss"] = gaussian_kl(out["mu"], out["logvar"])
        loss = loss + objective.beta * terms["kl_loss"]
    if objective.sparsity is not None:
        terms["sparsity_loss"] = sparsity_penalty(out["z"], objective.sparsity,
                                                  objective.sparsity_target)
        loss = loss + objective.sparsity_weight * terms["sparsity_loss"]
    terms["loss"] = loss
    return terms
