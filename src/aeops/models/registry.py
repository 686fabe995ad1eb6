"""Build a family's ``nn.Module`` and its objective from params and the dataset schema."""

from __future__ import annotations

from typing import Any

from aeops.config import FAMILIES, Config
from aeops.data.schema import DatasetMeta
from aeops.models.families import VAE, Autoencoder, ConvAE, DenoisingAE, DenseAE, SparseAE
from aeops.models.losses import Objective


class ModelConfigError(ValueError):
    """A family cannot be built for this data."""


def output_activation(meta: DatasetMeta, scaler: str) -> str:
    """Sigmoid when model inputs are known to lie in [0, 1], identity otherwise."""
    in_unit_range = scaler == "minmax" or (scaler == "none" and meta.value_range == [0.0, 1.0])
    return "sigmoid" if in_unit_range else "identity"


def build_model(family: str, cfg: Config, meta: DatasetMeta) -> Autoencoder:
    """The plain ``nn.Module`` for ``family``, sized for ``meta``'s features."""
    if family not in FAMILIES:
        raise ModelConfigError(f"unknown family '{family}'; choose from {list(FAMILIES)}")
    params: Any = cfg.models.family(family)
    out_act = output_activation(meta, cfg.data.scaler)
    if cfg.train.loss == "bce" and out_act != "sigmoid":
        raise ModelConfigError(
            "train.loss: bce needs inputs in [0, 1]; use data.scaler: minmax or train.loss: mse"
        )
    d = meta.n_features
    if family == "dense":
        return DenseAE(d, params.hidden, params.latent, out_act, params.dropout)
    if family == "denoising":
        return DenoisingAE(d, params.hidden, params.latent, out_act, params.dropout)
    if family == "sparse":
        return SparseAE(d, params.hidden, params.latent, out_act, params.dropout, params.penalty)
    if family == "vae":
        return VAE(d, params.hidden, params.latent, out_act, params.score, params.beta)
    if not meta.is_image:
        raise ModelConfigError(
            f"family 'conv' needs image data, but source '{meta.source}' ({meta.origin}) is a "
            "table; set data.image_shape if its columns are pixels, or remove 'conv' from "
            "models.families"
        )
    return ConvAE(meta.image_shape, params.channels, params.latent, out_act)


def build_objective(family: str, cfg: Config) -> Objective:
    params: Any = cfg.models.family(family)
    if family == "denoising":
        return Objective(cfg.train.loss, noise=params.noise, noise_level=params.noise_level)
    if family == "sparse":
        return Objective(cfg.train.loss, sparsity=params.penalty,
                         sparsity_weight=params.sparsity_weight,
                         sparsity_target=params.sparsity_target)
    if family == "vae":
        return Objective(cfg.train.loss, beta=params.beta)
    return Objective(cfg.train.loss)
