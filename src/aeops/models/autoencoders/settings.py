"""What training one autoencoder family needs, resolved from params and the data
(:class:`TrainingSpec`), and what follows from it before any weight is trained: the family
(:func:`family`), whether it can use the data (:func:`unusable_reason`), its network's
constructor arguments with ``auto`` sizes resolved (:func:`architecture`) and how many seeds
it bags (:func:`resolve_seeds`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aeops.core.errors import ModelConfigError
from aeops.core.sections import AutoSizeConfig, TrainerConfig
from aeops.data.schema import DatasetMeta
from aeops.evaluation.selection import SwitchRule
from aeops.models.autoencoders import families
from aeops.models.autoencoders.sizing import hidden_widths, latent_size, resolve_latent_rule
from aeops.models.autoencoders.spec import Family, FamilyParams

SCORE_BATCH_ROWS = 8192  # rows per forward pass when scoring (memory stays bounded)
BAG_SEEDS = 3  # models.seeds: auto on a detection table
BAG_MAX_ROWS = 50_000  # ... of up to this many normal training rows


def family(name: str) -> Family:
    """The family called ``name``; an unknown name lists the known ones."""
    found = families()
    if name not in found:
        raise ModelConfigError(f"unknown family '{name}'; choose from {list(found)}")
    return found[name]


@dataclass(frozen=True)
class ScoreSettings:
    """How reconstruction becomes a score: ``models.score`` and ``models.score_neighbors``,
    and the rule that lets validation move an ``auto`` table score."""

    kind: str
    neighbors: int
    rule: SwitchRule


@dataclass(frozen=True)
class TrainingSpec:
    """Everything one family's training needs, resolved from params and the data: its params
    block, the auto-size rules, ``train:``, the score settings, the seed, the data's
    description and whether model inputs lie in [0, 1]."""

    family: str
    params: FamilyParams
    auto_size: AutoSizeConfig
    train: TrainerConfig
    score: ScoreSettings
    seed: int
    meta: DatasetMeta
    unit_range: bool
    code_size: int | None = None  # a code every family is built around (task: compress | reduce)
    code_step: float = 0.0  # int8 storage: 1/127 of each code dimension's largest value; 0: float
    seeds: int = 1  # networks trained (seeds seed, seed + 1, ...) whose scores are averaged
    code_is_product: bool = False  # the code is what the model is for: no option search
    window: int = 1  # rows per model input (a stream seen in windows: data.window.size)


def resolve_seeds(setting: int | str, meta: DatasetMeta, coded: bool, normal_rows: int) -> int:
    """How many networks a family trains (``models.seeds``): ``auto`` gives
    :data:`BAG_SEEDS` for a detection table of up to :data:`BAG_MAX_ROWS` normal training
    rows (where one seed's luck moves a table's AUROC by a few hundredths) and 1 for
    images, a code as the product (``coded``: the code is the lead network's alone) and
    taller tables."""
    if setting != "auto":
        return int(setting)
    if meta.is_image or coded or normal_rows > BAG_MAX_ROWS:
        return 1
    return BAG_SEEDS


def unusable_reason(name: str, meta: DatasetMeta, window: int = 1) -> str | None:
    """Why family ``name`` cannot use this data (it is then skipped), or None; ``window``:
    the rows each model input holds."""
    if family(name).needs_image and not meta.is_image:
        return (
            f"{name} needs images, and {meta.origin} is a table of {meta.n_features} "
            "columns (set data.image_shape if its columns are pixels)"
        )
    if family(name).needs_window and window < 2:
        return (
            f"{name} reads a row with the rows before it, and {meta.origin} is not seen in "
            "windows (data.source: timeseries with data.window.size of 2 or more)"
        )
    return None


def architecture(spec: TrainingSpec, train_x: np.ndarray) -> dict[str, Any]:
    """The network's constructor arguments for these normal training rows, ``auto`` sizes
    resolved (what the saved model records, so loading never re-reads params): ``latent``,
    ``out_activation`` and the family's own arguments; an image family gets
    ``image_shape``, a table family ``input_dim`` and ``hidden`` widths."""
    fam, params, meta = family(spec.family), spec.params, spec.meta
    if spec.train.loss == "bce" and not spec.unit_range:
        raise ModelConfigError(
            "train.loss: bce needs model inputs in [0, 1]; use "
            "data.scaler: minmax or train.loss: mse"
        )
    auto = spec.auto_size
    latent = spec.code_size or params.latent
    if latent == "auto":
        rule = resolve_latent_rule(auto.latent_rule, meta.is_image)
        latent = latent_size(train_x, rule, auto.latent_variance, auto.min_latent, spec.seed)
    args: dict[str, Any] = {
        "latent": int(latent),
        "out_activation": "sigmoid" if spec.unit_range else "identity",
        **fam.network_args(params),
    }
    if fam.code_args is not None:
        args.update(fam.code_args(spec.code_step))
    if fam.needs_image or (fam.image_aware and meta.is_image):
        args["image_shape"] = list(meta.image_shape or [])
        return args
    if fam.needs_window:
        args.update(input_dim=int(train_x.shape[1]), steps=spec.window)
        return args
    hidden = getattr(params, "hidden", "auto")  # a family without a widths key: auto widths
    input_dim = train_x.shape[1]
    if hidden == "auto":
        hidden = hidden_widths(
            input_dim, int(latent), auto.width_factor, auto.max_width, auto.max_layers
        )
    args.update(input_dim=input_dim, hidden=[int(h) for h in hidden])
    return args
