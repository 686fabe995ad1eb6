"""One plain ``nn.Module`` per autoencoder family: architecture only, no training logic.

Every family maps a batch of flat feature rows ``(N, D)`` to a dict with the reconstruction
``recon`` ``(N, D)`` and the latent code ``z``; the VAE adds ``mu`` and ``logvar``. In eval
mode each module is deterministic, and :meth:`Autoencoder.score` gives the per-row anomaly
score together with the per-feature squared error that explains it. A trained module may
carry a :class:`~aeops.models.calibration.ScoreCalibration` (``calibration``): the score is
then the normalised or hybrid one of ``models.score``, and the per-feature errors are
normalised the same way.
"""

from __future__ import annotations

import abc
import math

import torch
from torch import nn

from aeops.models.calibration import ScoreCalibration
from aeops.models.components import ConvDecoder, ConvEncoder, mlp
from aeops.models.losses import gaussian_kl_per_row


class Autoencoder(nn.Module, metaclass=abc.ABCMeta):
    """Base: encode to a latent code, decode back; score = mean squared error per row."""

    input_dim: int

    def __init__(self) -> None:
        super().__init__()
        self.calibration: ScoreCalibration | None = None  # set by aeops.models.calibration

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Map rows to their latent code (deterministic in eval mode)."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Map latent codes back to flat rows."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        return {"recon": self.decode(z), "z": z}

    @torch.no_grad()
    def inspect(self, x: torch.Tensor, combine: bool = True) -> dict[str, torch.Tensor]:
        """One forward pass: reconstruction, code, per-feature error and row score (with
        ``combine=False``, a hybrid score's reconstruction term alone)."""
        out = self(x)
        per_feature = (out["recon"].float() - x.float()) ** 2
        if self.calibration is None:
            return {**out, "per_feature": per_feature, "score": self.row_score(out, per_feature)}
        per_feature = self.calibration.normalise(per_feature)
        score = self.row_score(out, per_feature)
        if combine:
            score = self.calibration.combine(score, out["z"])
        return {**out, "per_feature": per_feature, "score": score}

    def row_score(self, out: dict[str, torch.Tensor], per_feature: torch.Tensor) -> torch.Tensor:
        """The anomaly score of each row: its mean squared reconstruction error."""
        return per_feature.mean(dim=1)

    def score(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row anomaly score and per-feature squared error, at the deterministic code."""
        out = self.inspect(x)
        return out["score"], out["per_feature"]


class DenseAE(Autoencoder):
    """Undercomplete MLP autoencoder: D -> hidden... -> latent -> ...hidden -> D."""

    def __init__(
        self,
        input_dim: int,
        hidden: list[int],
        latent: int,
        out_activation: str,
        dropout: float,
        code_activation: str = "identity",
    ) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.encoder = mlp([input_dim, *hidden, latent], code_activation, dropout)
        self.decoder = mlp([latent, *reversed(hidden), input_dim], out_activation, dropout)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)


class DenoisingAE(DenseAE):
    """Same architecture as :class:`DenseAE`; trained on corrupted input (see the objective)."""


class SparseAE(DenseAE):
    """MLP autoencoder whose non-negative code is pushed towards sparsity by the objective."""

    def __init__(
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


class ConvAE(Autoencoder):
    """Convolutional autoencoder for images stored as flat rows of ``C*H*W`` pixels."""

    def __init__(
        self, image_shape: list[int], channels: list[int], latent: int, out_activation: str
    ) -> None:
        super().__init__()
        self.image_shape = list(image_shape)
        self.input_dim = math.prod(image_shape)
        self.encoder = ConvEncoder(image_shape, channels, latent)
        self.decoder = ConvDecoder(self.encoder, image_shape, channels, latent, out_activation)

    def encode(self, x):
        return self.encoder(x.view(-1, *self.image_shape))

    def decode(self, z):
        return self.decoder(z).flatten(1)


class VAE(Autoencoder):
    """Variational autoencoder with a diagonal Gaussian posterior and standard normal prior."""

    def __init__(
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

    def encode(self, x):
        return self.posterior(x).mean

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        q = self.posterior(x)
        z = q.rsample() if self.training else q.mean
        return {"recon": self.decode(z), "z": z, "mu": q.mean, "logvar": 2 * q.scale.log()}

    def row_score(self, out, per_feature):
        if self.score_kind == "recon":
            return per_feature.mean(dim=1)
        # negative ELBO at the posterior mean: summed squared error plus beta * KL.
        kl = gaussian_kl_per_row(out["mu"], out["logvar"])
        return per_feature.sum(dim=1) + self.beta * kl
