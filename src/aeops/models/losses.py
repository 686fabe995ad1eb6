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


def reconstruction_per_row(recon: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Reconstruction error of each row, summed over its features."""
    if kind == "mse":
        return F.mse_loss(recon, x, reduction="none").sum(dim=1)
    if kind == "bce":
        return F.binary_cross_entropy(
            recon.float().clamp(1e-6, 1 - 1e-6), x.float(), reduction="none"
        ).sum(dim=1)
    raise ValueError(f"unknown reconstruction loss '{kind}'; choose mse or bce")


def gaussian_kl_per_row(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) of each row, summed over latent dims."""
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return torch.distributions.kl_divergence(q, p).sum(dim=1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL summed over latent dims, averaged over the batch."""
    return gaussian_kl_per_row(mu, logvar).mean()


def sparsity_per_row(z: torch.Tensor, kind: str, target: float) -> torch.Tensor:
    """The sparsity penalty per row: L1 of each code, or the batch's KL between the target
    and the mean activation of each code unit (a batch quantity, given to every row)."""
    if kind == "l1":
        return z.abs().sum(dim=1)
    if kind == "kl":
        rho_hat = z.mean(dim=0).clamp(1e-6, 1 - 1e-6)
        rho = torch.full_like(rho_hat, target)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return kl.sum().expand(z.shape[0])
    raise ValueError(f"unknown sparsity penalty '{kind}'; choose l1 or kl")


def corrupt(x: torch.Tensor, kind: str, level: float) -> torch.Tensor:
    """Gaussian noise of std ``level``, or masking a ``level`` fraction of features to zero."""
    if kind == "gaussian":
        return x + level * torch.randn_like(x)
    if kind == "mask":
        return x * (torch.rand_like(x) >= level).to(x.dtype)
    raise ValueError(f"unknown corruption '{kind}'; choose gaussian or mask")


def objective_rows(
    objective: Objective, x: torch.Tensor, out: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Every loss term of each row; ``loss`` is their weighted sum."""
    terms = {"recon_loss": reconstruction_per_row(out["recon"], x, objective.recon)}
    loss = terms["recon_loss"]
    if objective.beta > 0 and "mu" in out:
        terms["kl_loss"] = gaussian_kl_per_row(out["mu"], out["logvar"])
        loss = loss + objective.beta * terms["kl_loss"]
    if objective.sparsity is not None:
        terms["sparsity_loss"] = sparsity_per_row(
            out["z"], objective.sparsity, objective.sparsity_target
        )
        loss = loss + objective.sparsity_weight * terms["sparsity_loss"]
    terms["loss"] = loss
    return terms


def objective_loss(
    objective: Objective, x: torch.Tensor, out: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """All loss terms for one batch (averaged over its rows); ``loss`` is what is minimised."""
    return {name: rows.mean() for name, rows in objective_rows(objective, x, out).items()}
