"""The family registry: one entry per family maps its name to its network, the constructor
arguments it is built with, its training objective and the data it can use.

Sizes written ``auto`` in params.yaml are resolved here from the data (:mod:`sizing`), and the
resolved arguments are what a saved model records, so loading never re-reads params.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from aeops.config import Config
from aeops.data.schema import DatasetMeta
from aeops.errors import ModelConfigError
from aeops.models.families import VAE, Autoencoder, ConvAE, DenoisingAE, DenseAE, SparseAE
from aeops.models.losses import Objective
from aeops.models.sizing import hidden_widths, latent_size, resolve_latent_rule


@dataclass(frozen=True)
class Family:
    name: str
    network: type[Autoencoder]
    needs_image: bool
    extra_args: Callable[[Any], dict[str, Any]]
    objective: Callable[[Any, str], Objective]


FAMILIES: dict[str, Family] = {
    "dense": Family(
        "dense", DenseAE, False, lambda p: {"dropout": p.dropout}, lambda p, loss: Objective(loss)
    ),
    "conv": Family(
        "conv",
        ConvAE,
        True,
        lambda p: {"channels": list(p.channels)},
        lambda p, loss: Objective(loss),
    ),
    "denoising": Family(
        "denoising",
        DenoisingAE,
        False,
        lambda p: {"dropout": p.dropout},
        lambda p, loss: Objective(loss, noise=p.noise, noise_level=p.noise_level),
    ),
    "sparse": Family(
        "sparse",
        SparseAE,
        False,
        lambda p: {"dropout": p.dropout, "penalty": p.penalty},
        lambda p, loss: Objective(
            loss,
            sparsity=p.penalty,
            sparsity_weight=p.sparsity_weight,
            sparsity_target=p.sparsity_target,
        ),
    ),
    "vae": Family(
        "vae",
        VAE,
        False,
        lambda p: {"score_kind": p.score, "beta": p.beta},
        lambda p, loss: Objective(loss, beta=p.beta),
    ),
}


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ModelConfigError(f"unknown family '{name}'; choose from {list(FAMILIES)}")
    return FAMILIES[name]


def unusable_reason(name: str, meta: DatasetMeta) -> str | None:
    """Why ``name`` cannot use this data (it is then skipped), or None."""
    if family(name).needs_image and not meta.is_image:
        return (
            f"{name} needs images, and {meta.origin} is a table of {meta.n_features} "
            "columns (set data.image_shape if its columns are pixels)"
        )
    return None


def architecture(
    name: str, cfg: Config, meta: DatasetMeta, input_dim: int, unit_range: bool, train_x: np.ndarray
) -> dict[str, Any]:
    """The constructor arguments of ``name`` for this data, ``auto`` sizes resolved."""
    spec, params = family(name), cfg.models.family(name)
    if cfg.train.loss == "bce" and not unit_range:
        raise ModelConfigError(
            "train.loss: bce needs model inputs in [0, 1]; use "
            "data.scaler: minmax or train.loss: mse"
        )
    auto = cfg.models.auto_size
    latent = params.latent
    if latent == "auto":
        rule = resolve_latent_rule(auto.latent_rule, meta.is_image)
        latent = latent_size(train_x, rule, auto.latent_variance, auto.min_latent, cfg.seed)
    args: dict[str, Any] = {
        "latent": int(latent),
        "out_activation": "sigmoid" if unit_range else "identity",
        **spec.extra_args(params),
    }
    if spec.needs_image:
        args["image_shape"] = list(meta.image_shape or [])
    else:
        hidden = params.hidden
        if hidden == "auto":
            hidden = hidden_widths(
                input_dim, int(latent), auto.width_factor, auto.max_width, auto.max_layers
            )
        args.update(input_dim=input_dim, hidden=[int(h) for h in hidden])
    return args


def build_model(name: str, args: dict[str, Any]) -> Autoencoder:
    """The plain ``nn.Module`` of family ``name`` from its recorded constructor arguments."""
    return family(name).network(**args)


def build_objective(name: str, cfg: Config) -> Objective:
    return family(name).objective(cfg.models.family(name), cfg.train.loss)
