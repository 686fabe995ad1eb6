"""Every autoencoder family as a :class:`~aeops.models.base.Detector`: :class:`AutoencoderDetector`.

``fit(train, val)`` resolves the ``auto`` sizes from the normal training rows
(:mod:`~aeops.models.autoencoders.sizing`), builds the family's network (seeded), trains it
with the one engine (:mod:`aeops.training.engine`: early stopping on validation, the best
weights kept), then fits the score statistics on the normal training rows and, for an
``auto`` table score, keeps the kind validation prefers
(:mod:`~aeops.models.autoencoders.scores`). The caller's side effects (an MLflow logger, a
resume checkpoint, a progress bar) travel in :class:`~aeops.training.engine.FitHooks`.

Inference is written once (:meth:`AutoencoderDetector._outputs`): rows in batches through
the network in eval mode, then :func:`~aeops.models.autoencoders.scores.score_rows`; every
verb (``decision_function``, ``feature_errors``, ``encode``, ``reconstruct``) and the score
statistics read it. ``decode`` runs the decoder alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aeops.core.errors import ModelConfigError
from aeops.core.files import MODEL_FILE
from aeops.core.sections import AutoSizeConfig, TrainerConfig
from aeops.data.schema import DatasetMeta
from aeops.evaluation.selection import SwitchRule
from aeops.models.autoencoders import families
from aeops.models.autoencoders.base import Autoencoder, Family, FamilyParams
from aeops.models.autoencoders.combine import (
    Combined,
    mean_scaled,
    mean_z,
    robust_scales,
    scale_rows,
)
from aeops.models.autoencoders.scores import (
    BANK_ROWS,
    SCALE_FLOOR,
    SCORES,
    TAIL_FLOOR,
    ScoreCalibration,
    ScoreChoice,
    positive_median,
    prefer_score,
    resolve_score,
    score_rows,
    searches_score,
    with_kind,
)
from aeops.models.autoencoders.sizing import hidden_widths, latent_size, resolve_latent_rule
from aeops.models.autoencoders.store import (
    model_about,
    model_tensors,
    read_safetensors,
    rebuild,
    write_safetensors,
)
from aeops.models.base import BaseDetector
from aeops.training.batches import FoldData
from aeops.training.engine import FitHooks, Fitted, Run, fit
from aeops.training.plan import Plan, resolve

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold

SCORE_BATCH_ROWS = 8192  # rows per forward pass when scoring (memory stays bounded)
BAG_SEEDS = 3  # models.seeds: auto on a detection table
BAG_MAX_ROWS = 50_000  # ... of up to this many normal training rows
BAG = "bag"  # the other seeds' tensors: bag<i>.<name>; their headers: about["bag"]
CALIBRATION_ROWS = 4096  # rows per forward pass while fitting the score statistics


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
    code_size: int | None = None  # task: compress | reduce: every family's latent (code.size)
    code_step: float = 0.0  # int8 storage: 1/127 of each code dimension's largest value; 0: float
    seeds: int = 1  # networks trained (seeds seed, seed + 1, ...) whose scores are averaged


def resolve_seeds(setting: int | str, meta: DatasetMeta, coded: bool, normal_rows: int) -> int:
    """How many networks a family trains (``models.seeds``): ``auto`` gives
    :data:`BAG_SEEDS` for a detection table of up to :data:`BAG_MAX_ROWS` normal training
    rows (where one seed's luck moves a table's AUROC by a few hundredths) and 1 for
    images, coded tasks (the code is the lead network's alone) and taller tables."""
    if setting != "auto":
        return int(setting)
    if meta.is_image or coded or normal_rows > BAG_MAX_ROWS:
        return 1
    return BAG_SEEDS


def quiet_hooks(hooks: FitHooks | None, suffix: str) -> FitHooks:
    """What a network trained beside the lead gets of its hooks (a bag member, another
    option of a listed setting): the progress bar, labelled with ``suffix``, and Lightning's
    root folder; no logger or resume checkpoint of its own."""
    if hooks is None:
        return FitHooks()
    label = f"{hooks.progress_label} {suffix}" if hooks.progress_label else None
    return FitHooks(progress_label=label, root=hooks.root)


def unusable_reason(name: str, meta: DatasetMeta) -> str | None:
    """Why family ``name`` cannot use this data (it is then skipped), or None."""
    if family(name).needs_image and not meta.is_image:
        return (
            f"{name} needs images, and {meta.origin} is a table of {meta.n_features} "
            "columns (set data.image_shape if its columns are pixels)"
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
    hidden = getattr(params, "hidden", "auto")  # a family without a widths key: auto widths
    input_dim = train_x.shape[1]
    if hidden == "auto":
        hidden = hidden_widths(
            input_dim, int(latent), auto.width_factor, auto.max_width, auto.max_layers
        )
    args.update(input_dim=input_dim, hidden=[int(h) for h in hidden])
    return args


class AutoencoderDetector(BaseDetector):
    """A family's network with its score statistics and threshold (see the module docs).

    Fitted attributes: ``net_`` (the network), ``args_`` (its constructor arguments),
    ``calibration_`` (the score statistics; None: plain reconstruction error),
    ``score_choice_`` (the kind kept and why), ``plan_`` (the resolved training settings)
    and ``fitted_`` (the engine's record: epochs, best validation, stop reason).

    With ``models.seeds`` = k > 1 the family is a *bag*: this network (the lead, seed
    ``seed``) and ``bag_``, k - 1 more of the same architecture and score kind trained from
    seeds ``seed + 1``, ...; a row's score is the mean of the k scores, each minus its median
    over its inter-quartile range on validation's normal rows (``bag_centre_``,
    ``bag_scale_``; no anomaly is seen). Codes, reconstructions and decodes are the lead's."""

    kind = "autoencoder"
    has_code = True

    def __init__(self, spec: TrainingSpec | None = None, batch_rows: int = SCORE_BATCH_ROWS):
        # a listed setting: the first option leads (built, logged, resumable); the others
        # are trained after it and validation keeps the best (choose_variant)
        specs: list[tuple[str, TrainingSpec]] = []
        if spec is not None:
            options = family(spec.family).options(spec.params)
            specs = [(label, replace(spec, params=p)) for label, p in options]
        self.spec = specs[0][1] if specs else spec
        self.variant_ = specs[0][0] if specs else ""
        self.alternatives = specs[1:]
        self.variant_choice_ = ""
        self.name = spec.family if spec is not None else ""
        self.batch_rows = batch_rows
        self.net_: Autoencoder | None = None
        self.args_: dict[str, Any] = {}
        self.calibration_: ScoreCalibration | None = None
        self.score_choice_: ScoreChoice | None = None
        self.plan_: Plan | None = None
        self.fitted_: Fitted | None = None
        self.bag_: list[AutoencoderDetector] = []
        self.bag_centre_ = np.zeros(1)
        self.bag_scale_ = np.ones(1)

    @classmethod
    def from_network(
        cls,
        name: str,
        args: dict[str, Any],
        net: Autoencoder,
        calibration: ScoreCalibration | None = None,
    ) -> AutoencoderDetector:
        """A detector around a trained network (``args``: what rebuilds it)."""
        detector = cls()
        detector.name, detector.args_, detector.net_ = name, dict(args), net
        detector.calibration_ = calibration
        return detector

    # -- fitting ---------------------------------------------------------------------------
    def build(self, train: Fold) -> Self:
        """Seed, resolve the sizes and the training plan for ``train``'s normal rows, and
        build the network (what :meth:`fit` trains; a caller that logs the sizes before
        training calls it first)."""
        import pytorch_lightning as pl

        spec = self.require_spec()
        pl.seed_everything(spec.seed, workers=True, verbose=False)
        self.args_ = architecture(spec, train.normal)
        fam = family(spec.family)
        self.net_ = fam.build(self.args_)
        if fam.initialise is not None:
            fam.initialise(self.net_, train.normal, spec.seed)
        n_params = sum(p.numel() for p in self.net_.parameters())
        self.plan_ = resolve(spec.train, len(train.normal), n_params)
        self.fitted_ = None
        return self

    def fit(self, train: Fold, val: Fold, hooks: FitHooks | None = None) -> Self:
        """Train on ``train``'s normal rows (early stopping on ``val``), then fit the score."""
        spec = self.require_spec()
        if self.net_ is None or self.plan_ is None or self.fitted_ is not None:
            self.build(train)
        assert self.net_ is not None and self.plan_ is not None  # built just above
        objective = family(spec.family).objective(spec.params, spec.train.loss)
        run = Run(spec.train, self.plan_, spec.seed, hooks.root if hooks is not None else None)
        data = FoldData(train.normal, val.x, val.is_anomaly)
        self.fitted_ = fit(self.net_, objective, run, data, hooks)
        self.score_choice_ = self.fit_score(train, val)
        self.fit_bag(train, val, hooks)
        return self.choose_variant(train, val, hooks)

    def choose_variant(self, train: Fold, val: Fold, hooks: FitHooks | None = None) -> Self:
        """With a listed setting (e.g. the VAE's ``beta: [0.01, 0.1]``), train each other
        option as this one was (its bag too; no logger or resume checkpoint of its own) and
        keep the one whose scores rank validation's labelled anomalies best (val AUROC; the
        first on a tie). The first stays, untried, when the code is the product (``task:
        compress | reduce``) or validation holds fewer than ``register.switch_min_anomalies``
        labelled anomalies. ``variant_choice_`` says which and why."""
        if not self.alternatives:
            return self
        spec = self.require_spec()
        real = val.real
        flags = val.is_anomaly[real]
        found = int(flags.sum())
        if spec.code_size is not None or found < spec.score.rule.min_anomalies or flags.all():
            why = (
                "the code is the product"
                if spec.code_size is not None
                else f"validation holds {found} labelled anomalies, fewer than the "
                f"{spec.score.rule.min_anomalies} (register.switch_min_anomalies) that could "
                "tell them apart"
            )
            labels = ", ".join([self.variant_, *(label for label, _ in self.alternatives)])
            self.variant_choice_ = f"{self.variant_}, the first of {labels}: {why}"
            return self
        from aeops.evaluation.metrics import auroc

        rows = val.x[real]
        tried: list[tuple[str, float, AutoencoderDetector]] = [
            (self.variant_, auroc(flags, self.decision_function(rows)), self)
        ]
        for label, option in self.alternatives:
            other = AutoencoderDetector(option, self.batch_rows)
            other.fit(train, val, quiet_hooks(hooks, label))
            tried.append((label, auroc(flags, other.decision_function(rows)), other))
        best = max(tried, key=lambda t: t[1])  # the first of equals
        figures = ", ".join(f"{label} {value:.4f}" for label, value, _ in tried)
        if best[2] is not self:
            self.adopt(best[2])
        self.variant_, self.alternatives = best[0], []
        self.variant_choice_ = f"{best[0]}: the best val_auroc on {found} anomalies ({figures})"
        return self

    def adopt(self, other: AutoencoderDetector) -> None:
        """Take ``other``'s training and fitted state (the variant validation kept)."""
        for key in (
            "spec", "args_", "net_", "calibration_", "score_choice_", "plan_", "fitted_",
            "bag_", "bag_centre_", "bag_scale_",
        ):  # fmt: skip
            setattr(self, key, getattr(other, key))

    def fit_bag(self, train: Fold, val: Fold, hooks: FitHooks | None = None) -> Self:
        """Train the other seeds (``spec.seeds`` - 1 networks, the lead's score kind, no
        logger or resume checkpoint of their own) and fit the scales that combine them with
        the lead on validation's normal rows (the training rows' when validation holds
        fewer than two)."""
        spec = self.require_spec()
        assert self.score_choice_ is not None  # fit_score ran
        self.bag_ = []
        if spec.seeds <= 1:
            return self
        score = replace(spec.score, kind=self.score_choice_.kind)
        for i in range(1, spec.seeds):
            seed = spec.seed + i
            member_spec = replace(spec, seed=seed, seeds=1, score=score)
            member = AutoencoderDetector(member_spec, self.batch_rows)
            self.bag_.append(member.fit(train, val, quiet_hooks(hooks, f"seed {seed}")))
        normal = scale_rows(train, val)
        self.bag_centre_, self.bag_scale_ = robust_scales(
            [self._outputs(normal, ("score",))["score"]]
            + [m.decision_function(normal) for m in self.bag_]
        )
        return self

    @property
    def seeds(self) -> int:
        """How many networks score together (1 + the bag)."""
        return 1 + len(self.bag_)

    def fit_score(self, train: Fold, val: Fold) -> ScoreChoice:
        """The score statistics on the normal training rows: the configured kind, or for an
        ``auto`` table the kind validation prefers (:func:`prefer_score`)."""
        spec = self.require_spec()
        settings, meta = spec.score, spec.meta
        if searches_score(settings.kind, meta.is_image) and val.has_real_anomalies:
            real = val.real
            return self.choose_score(train.normal, (val.x[real], val.is_anomaly[real]), settings)
        kind = resolve_score(settings.kind, meta.is_image)
        self.calibrate(train.normal, kind, settings.neighbors, spec.seed)
        return ScoreChoice(kind, f"{kind}: models.score is {settings.kind}")

    def choose_score(
        self,
        train_normal: np.ndarray,
        val: tuple[np.ndarray, np.ndarray],
        settings: ScoreSettings,
    ) -> ScoreChoice:
        """Fit the statistics of every kind and keep the one validation (rows, flags)
        prefers (the bank's seed is the rule's)."""
        val_x, val_is_anomaly = val
        self.calibrate(train_normal, "hybrid", settings.neighbors, settings.rule.seed, tail=True)
        by_kind = {
            kind: self._outputs(
                val_x, ("score",), with_kind(self.calibration_, kind), CALIBRATION_ROWS
            )["score"]
            for kind in SCORES
        }
        choice = prefer_score(val_is_anomaly, by_kind, "hybrid", settings.rule)
        if choice.kind == "recon":
            self.calibration_ = None
        elif self.calibration_ is not None:
            self.calibration_.kind = choice.kind
        return choice

    @torch.no_grad()
    def calibrate(
        self, train_normal: np.ndarray, kind: str, neighbors: int, seed: int, tail: bool = False
    ) -> ScoreCalibration | None:
        """Fit (and keep) the score statistics of ``kind`` on the normal training rows (None
        for ``recon``): each feature's mean squared error, a seeded bank of their codes and,
        for ``hybrid``, the medians that put both terms on one scale; the latent k-NN term
        looks at the ``neighbors``-th nearest code. For ``tail`` (or with ``tail``, when
        validation may choose it) also each feature's log-error mean and spread."""
        self.calibration_ = None
        if kind == "recon":
            return None
        net = self.require_net().eval()
        device = next(net.parameters()).device
        x = torch.from_numpy(np.ascontiguousarray(train_normal, dtype=np.float32))
        sums, codes = torch.zeros(x.shape[1]), []
        for part in x.split(CALIBRATION_ROWS):
            out = self._forward(part.to(device), None)
            sums += out["per_feature"].float().sum(dim=0).cpu()
            codes.append(out["z"].float().cpu())
        mean = sums / max(len(x), 1)
        scale = torch.clamp(mean, min=float(SCALE_FLOOR * mean.mean()) + 1e-12)
        z = torch.cat(codes)
        if len(z) > BANK_ROWS:
            keep = np.sort(np.random.default_rng(seed).choice(len(z), BANK_ROWS, replace=False))
            z = z[torch.from_numpy(keep)]
        tail_stats = None
        if kind == "tail" or tail:  # with ``tail``, validation may pick it (choose_score)
            total = torch.zeros(x.shape[1], dtype=torch.float64)
            squares = torch.zeros_like(total)
            for part in x.split(CALIBRATION_ROWS):
                errors = self._forward(part.to(device), None)["per_feature"].float().cpu()
                logged = torch.log(torch.clamp(errors / scale, min=TAIL_FLOOR)).double()
                total, squares = total + logged.sum(0), squares + (logged**2).sum(0)
            n = max(len(x), 1)
            centre = total / n
            spread = torch.sqrt(torch.clamp(squares / n - centre**2, min=1e-6))
            tail_stats = torch.stack([centre, spread]).float()
        calibration = ScoreCalibration(kind, scale, z, 1.0, 1.0, neighbors, tail_stats).to(device)
        if kind == "hybrid":
            base = torch.cat(
                [
                    self._forward(part.to(device), calibration, combine=False)["score"].cpu()
                    for part in x.split(CALIBRATION_ROWS)
                ]
            )
            knn = torch.cat(
                [
                    calibration.knn_distance(part, skip_self=True)
                    for part in z.split(CALIBRATION_ROWS)
                ]
            )
            calibration.refs.copy_(torch.tensor([positive_median(base), positive_median(knn)]))
        self.calibration_ = calibration
        return calibration

    # -- inference, written once -------------------------------------------------------
    def inspect(self, rows: torch.Tensor, combine: bool = True) -> dict[str, torch.Tensor]:
        """One forward pass of ``rows`` in eval mode with the fitted statistics: ``recon``,
        ``z``, ``per_feature``, ``score`` (with ``combine=False``, a hybrid score's
        reconstruction term alone)."""
        self.require_net().eval()
        with torch.no_grad():
            return self._forward(rows, self.calibration_, combine)

    def _forward(
        self, rows: torch.Tensor, calibration: ScoreCalibration | None, combine: bool = True
    ) -> dict[str, torch.Tensor]:
        net = self.require_net()
        return score_rows(net, rows, net(rows), calibration, combine)

    def _batches(self, x: np.ndarray, batch_rows: int) -> Iterator[torch.Tensor]:
        net = self.require_net()
        device = next(net.parameters()).device
        rows = np.ascontiguousarray(x, dtype=np.float32)
        for start in range(0, len(rows), batch_rows):
            yield torch.from_numpy(rows[start : start + batch_rows]).to(device)

    def _outputs(
        self,
        x: np.ndarray,
        want: tuple[str, ...],
        calibration: Any = "fitted",
        batch_rows: int | None = None,
    ) -> dict[str, np.ndarray]:
        """``want`` of ``score``, ``per_feature``, ``z``, ``recon`` for rows ``x``, in
        batches, in eval mode (``calibration``: the fitted statistics unless given)."""
        stats = self.calibration_ if calibration == "fitted" else calibration
        net = self.require_net().eval()
        parts: dict[str, list[np.ndarray]] = {k: [] for k in want}
        with torch.inference_mode():
            for batch in self._batches(x, batch_rows or self.batch_rows):
                out = self._forward(batch, stats)
                for key in want:
                    parts[key].append(out[key].float().cpu().numpy())
        empty = {"score": (0,), "per_feature": (0, net.input_dim), "recon": (0, net.input_dim)}
        return {
            k: np.concatenate(v) if v else np.zeros(empty.get(k, (0, 0)), np.float32)
            for k, v in parts.items()
        }

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        own = self._outputs(x, ("score",))["score"]
        if not self.bag_:
            return own
        scores = [own] + [m.decision_function(x) for m in self.bag_]
        return mean_z(scores, self.bag_centre_, self.bag_scale_)

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each model-input column's squared error (normalised as the score is; a bag's
        members' errors each over its score's scale, averaged)."""
        own = self._outputs(x, ("per_feature",))["per_feature"]
        if not self.bag_:
            return own
        return mean_scaled([own] + [m.feature_errors(x) for m in self.bag_], self.bag_scale_)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._outputs(x, ("z",))["z"]

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self._outputs(x, ("recon",))["recon"]

    def decode(self, z: np.ndarray) -> np.ndarray:
        """The decoder alone, in batches: the VAE's decode of a code is its mean
        reconstruction."""
        net = self.require_net().eval()
        parts = []
        with torch.inference_mode():
            for batch in self._batches(z, self.batch_rows):
                parts.append(net.decode(batch).float().cpu().numpy())
        return np.concatenate(parts) if parts else np.zeros((0, net.input_dim), np.float32)

    def torch_module(self) -> torch.nn.Module:
        """The scoring as one module for export (:mod:`aeops.serving.export`): model-input
        rows (float32) in; the score, each input column's error and the code out, computed
        by the very code :meth:`decision_function` runs (a bag's members combined as it
        combines them)."""
        own = ScoringModule(self.require_net().eval(), self.calibration_)
        if not self.bag_:
            return own
        members = [own] + [m.torch_module() for m in self.bag_]
        return Combined(members, self.bag_centre_, self.bag_scale_, lead=0)

    # -- files -----------------------------------------------------------------------------
    def about(self) -> dict[str, Any]:
        """What rebuilds this detector before its tensors are loaded (a bag's members'
        headers and scales under ``bag``)."""
        about = model_about(self.name, self.args_, self.calibration_)
        if self.bag_:
            about[BAG] = {
                "members": [m.about() for m in self.bag_],
                "centre": [float(v) for v in self.bag_centre_],
                "scale": [float(v) for v in self.bag_scale_],
            }
        return about

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        tensors = model_tensors(self.require_net(), self.calibration_, prefix)
        for i, member in enumerate(self.bag_):
            tensors.update(member.tensors(f"{prefix}{BAG}{i}."))
        return tensors

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / MODEL_FILE
        write_safetensors(path, self.tensors(), self.about())
        return path

    @classmethod
    def rebuild(
        cls, about: dict[str, Any], tensors: dict[str, Any], batch_rows: int = SCORE_BATCH_ROWS
    ) -> AutoencoderDetector:
        """The detector ``about`` and ``tensors`` describe (a file's header and tensors)."""
        bag = about.get(BAG) or {}
        own = {k: v for k, v in tensors.items() if not k.startswith(BAG)}
        net, calibration = rebuild(about, own, lambda name, args: family(name).build(args))
        detector = cls.from_network(about["family"], about["args"], net, calibration)
        detector.batch_rows = batch_rows
        for i, member in enumerate(bag.get("members", [])):
            prefix = f"{BAG}{i}."
            part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            detector.bag_.append(cls.rebuild(member, part, batch_rows))
        if detector.bag_:
            detector.bag_centre_ = np.asarray(bag["centre"], np.float64)
            detector.bag_scale_ = np.asarray(bag["scale"], np.float64)
        return detector

    @classmethod
    def load(cls, path: str | Path, batch_rows: int = SCORE_BATCH_ROWS) -> AutoencoderDetector:
        """The detector :meth:`save` wrote, in eval mode on the CPU."""
        about, tensors = read_safetensors(path)
        return cls.rebuild(about, tensors, batch_rows)

    # -- state -----------------------------------------------------------------------------
    def require_spec(self) -> TrainingSpec:
        if self.spec is None:
            raise ModelConfigError(
                f"the {self.name or 'autoencoder'} detector was loaded, not configured: "
                "it scores, it does not train"
            )
        return self.spec

    def require_net(self) -> Autoencoder:
        if self.net_ is None:
            raise ModelConfigError(f"the {self.name} detector is not fitted yet; call fit()")
        return self.net_


class ScoringModule(torch.nn.Module):
    """A network and its score statistics as one module: rows -> (score, errors, code)."""

    def __init__(self, net: Autoencoder, calibration: ScoreCalibration | None) -> None:
        super().__init__()
        self.net = net
        self.calibration = calibration

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = score_rows(self.net, x, self.net(x), self.calibration)
        return out["score"].float(), out["per_feature"].float(), out["z"].float()
