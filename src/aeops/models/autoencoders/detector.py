"""One autoencoder network as a :class:`~aeops.models.base.Detector`: :class:`AutoencoderDetector`.

``fit(X, val)`` resolves the ``auto`` sizes from the normal training rows
(:func:`~aeops.models.autoencoders.settings.architecture`), builds the family's network
(seeded), trains it with the one engine (:mod:`aeops.training.engine`: early stopping on
validation, the best weights kept), then fits the score statistics on the normal training
rows and, for an ``auto`` table score, keeps the kind validation prefers
(:mod:`~aeops.models.autoencoders.scores`). The caller's side effects (an MLflow logger, a
resume checkpoint, a progress bar) travel in :class:`~aeops.training.engine.FitHooks`.

Several networks of a family (a seed bag) and a search over a listed setting are wrappers
around this one (:mod:`~aeops.models.autoencoders.bag`, :mod:`aeops.models.search`), built by
:func:`~aeops.models.autoencoders.bag.family_detector`.

Inference is written once (:meth:`AutoencoderDetector._outputs`): rows in batches through
the network in eval mode, then :func:`~aeops.models.autoencoders.scores.score_rows`; every
verb (``decision_function``, ``feature_errors``, ``encode``, ``reconstruct``) and the score
statistics read it. ``decode`` runs the decoder alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aeops.core.errors import ModelConfigError
from aeops.models.autoencoders.base import Autoencoder
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
from aeops.models.autoencoders.settings import (
    SCORE_BATCH_ROWS,
    ScoreSettings,
    TrainingSpec,
    architecture,
    family,
)
from aeops.models.autoencoders.store import (
    model_about,
    model_tensors,
    rebuild,
    save_state,
)
from aeops.models.base import BaseDetector
from aeops.training.batches import FoldData
from aeops.training.engine import Fitted, Run, fit
from aeops.training.plan import Plan, resolve

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold

CALIBRATION_ROWS = 4096  # rows per forward pass while fitting the score statistics


class AutoencoderDetector(BaseDetector):
    """A family's network with its score statistics and threshold (see the module docs).

    Fitted attributes: ``net_`` (the network), ``args_`` (its constructor arguments),
    ``calibration_`` (the score statistics; None: plain reconstruction error),
    ``score_choice_`` (the kind kept and why), ``plan_`` (the resolved training settings),
    ``fitted_`` (the engine's record: epochs, best validation, stop reason) and
    ``threshold_``."""

    kind = "autoencoder"
    has_code = True

    def __init__(self, spec: TrainingSpec | None = None, batch_rows: int = SCORE_BATCH_ROWS):
        self.spec = spec
        self.name = spec.family if spec is not None else ""
        self.seed = spec.seed if spec is not None else 0
        self.batch_rows = batch_rows
        self.net_: Autoencoder | None = None
        self.args_: dict[str, Any] = {}
        self.calibration_: ScoreCalibration | None = None
        self.score_choice_: ScoreChoice | None = None
        self.plan_: Plan | None = None
        self.fitted_: Fitted | None = None

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

    @property
    def network(self) -> AutoencoderDetector:
        """The one network whose sizes, curves and code stand for this detector: itself."""
        return self

    @property
    def seeds(self) -> int:
        """How many networks score together: one."""
        return 1

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

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
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
        return self._outputs(x, ("score",))["score"]

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each model-input column's squared error (normalised as the score is)."""
        return self._outputs(x, ("per_feature",))["per_feature"]

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
        by the very code :meth:`decision_function` runs."""
        return ScoringModule(self.require_net().eval(), self.calibration_)

    # -- files -----------------------------------------------------------------------------
    def about(self) -> dict[str, Any]:
        """What rebuilds this detector before its tensors are loaded (the file's header)."""
        return {**model_about(self.name, self.args_, self.calibration_), **self.threshold_header()}

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        return model_tensors(self.require_net(), self.calibration_, prefix)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.about(), self.tensors()

    def save(self, folder: str | Path) -> Path:
        return save_state(self.state(), folder)

    @classmethod
    def rebuild(
        cls, about: dict[str, Any], tensors: dict[str, Any], batch_rows: int = SCORE_BATCH_ROWS
    ) -> AutoencoderDetector:
        """The detector ``about`` and ``tensors`` describe (a file's header and tensors)."""
        net, calibration = rebuild(about, tensors, lambda name, args: family(name).build(args))
        detector = cls.from_network(about["family"], about["args"], net, calibration)
        detector.batch_rows = batch_rows
        detector.threshold_ = about.get("threshold")
        return detector

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
