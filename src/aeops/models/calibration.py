"""How a trained autoencoder turns reconstruction into one anomaly score per row.

``models.score`` chooses (``auto``: ``recon`` for images; for tables ``hybrid``, unless
validation shows another kind reliably better, see :func:`prefer_score`):

- ``recon``: the mean squared reconstruction error over the row's features (pixels are on one
  scale, so a plain mean is fair);
- ``normalised``: each feature's squared error divided by its mean on the normal training
  rows, then averaged, so one column the model can never reconstruct well does not drown a
  column it reconstructs almost exactly (on tables, columns differ by orders of magnitude in
  how predictable they are);
- ``hybrid``: the normalised error plus the distance of the row's latent code to its
  ``models.score_neighbors``-th nearest code of the normal training rows, each term divided
  by its median on those rows, so both weigh the same. A row can be reconstructed well and
  still sit where no normal row's code lies; the second term catches it.

The statistics are fitted once after training (:func:`calibrate`) from the normal training
rows only (validation stays untouched for choosing and thresholding) and travel with the
weights as buffers of a :class:`ScoreCalibration` submodule, so every consumer (evaluate,
``aeops score``, the pyfunc) scores the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

SCORES = ("recon", "normalised", "hybrid")
BANK_ROWS = 4096  # training codes kept for the latent k-NN term (seeded subsample beyond)
SCALE_FLOOR = 0.01  # a feature's error scale is at least this share of the mean scale


def resolve_score(kind: str, is_image: bool) -> str:
    """``auto``: images are scored by plain reconstruction error, tables by ``hybrid``."""
    if kind == "auto":
        return "recon" if is_image else "hybrid"
    if kind not in SCORES:
        raise ValueError(f"unknown score '{kind}'; choose auto or one of {list(SCORES)}")
    return kind


def searches_score(kind: str, is_image: bool) -> bool:
    """Whether validation may move an ``auto`` table score away from ``hybrid``."""
    return kind == "auto" and not is_image


@dataclass(frozen=True)
class SwitchRule:
    """When validation shows one ranking reliably better than another: the candidate leads
    in at least ``confidence`` of ``n_boot`` paired bootstrap resamples, on a fold holding at
    least ``min_anomalies`` labelled anomalies (``register.switch_*``)."""

    confidence: float
    min_anomalies: int
    n_boot: int
    seed: int


@dataclass(frozen=True)
class ScoreChoice:
    kind: str
    reason: str


def prefer_score(
    is_anomaly: np.ndarray, scores: dict[str, np.ndarray], default: str, rule: SwitchRule
) -> ScoreChoice:
    """The score kind to keep, from validation rankings only: ``default`` unless another
    kind's AUROC lead over it is reliably above zero (the best such lead wins). One column
    a model never reconstructs can make the per-feature normalisation or the latent k-NN
    term hurt on some tables; this lets the data say so without trusting a small fold."""
    from aeops.evaluation.metrics import paired_bootstrap_difference

    n_anomalies = int(is_anomaly.sum())
    if n_anomalies < rule.min_anomalies or n_anomalies == len(is_anomaly):
        return ScoreChoice(
            default,
            f"{default}: validation holds {n_anomalies} labelled anomalies, fewer than the "
            f"{rule.min_anomalies} (register.switch_min_anomalies) that could show another "
            "score reliably better",
        )
    leads = {
        kind: paired_bootstrap_difference(
            is_anomaly, scores[default], values, "val_auroc", rule.n_boot, 0.95, rule.seed
        )
        for kind, values in scores.items()
        if kind != default
    }
    summary = ", ".join(
        f"{kind} {lead.value:+.4f} (above zero in {lead.p_positive:.0%})"
        for kind, lead in leads.items()
    )
    reliable = [kind for kind, lead in leads.items() if lead.p_positive >= rule.confidence]
    if not reliable:
        return ScoreChoice(
            default,
            f"{default}: no other score is reliably better on validation (val_auroc lead "
            f"over {default}: {summary}; register.switch_confidence {rule.confidence:.0%})",
        )
    best = max(reliable, key=lambda kind: leads[kind].value)
    return ScoreChoice(
        best,
        f"{best}: reliably better than {default} on validation "
        f"(val_auroc lead over {default}: {summary})",
    )


@torch.no_grad()
def scores_by_kind(net: Any, x: np.ndarray, batch_rows: int = 4096) -> dict[str, np.ndarray]:
    """Every kind's score of the rows ``x``, from a net calibrated as ``hybrid``."""
    fitted = net.calibration
    device = next(net.parameters()).device
    rows = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    out = {}
    try:
        for kind in SCORES:
            net.calibration = None if kind == "recon" else fitted
            if fitted is not None:
                fitted.kind = kind
            out[kind] = torch.cat(
                [
                    net.inspect(part.to(device))["score"].float().cpu()
                    for part in rows.split(batch_rows)
                ]
            ).numpy()
    finally:
        net.calibration = fitted
        if fitted is not None:
            fitted.kind = "hybrid"
    return out


def choose_score(
    net: Any,
    train_normal: np.ndarray,
    val_x: np.ndarray,
    val_is_anomaly: np.ndarray,
    neighbors: int,
    rule: SwitchRule,
) -> ScoreChoice:
    """Calibrate ``net`` for every kind, keep the one :func:`prefer_score` picks on the
    labelled validation rows, and attach it."""
    calibrate(net, train_normal, "hybrid", neighbors, rule.seed)
    was_training = net.training
    net.eval()
    choice = prefer_score(val_is_anomaly, scores_by_kind(net, val_x), "hybrid", rule)
    net.train(was_training)
    if choice.kind == "recon":
        net.calibration = None
    else:
        net.calibration.kind = choice.kind
    return choice


class ScoreCalibration(nn.Module):
    """The fitted statistics of a ``normalised`` or ``hybrid`` score (buffers only)."""

    feature_scale: torch.Tensor
    code_bank: torch.Tensor
    refs: torch.Tensor

    def __init__(
        self,
        kind: str,
        feature_scale: torch.Tensor,
        code_bank: torch.Tensor,
        base_ref: float,
        knn_ref: float,
        neighbors: int,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.neighbors = int(neighbors)
        self.register_buffer("feature_scale", feature_scale.float())
        self.register_buffer("code_bank", code_bank.float())
        self.register_buffer("refs", torch.tensor([base_ref, knn_ref], dtype=torch.float32))

    def about(self) -> dict[str, Any]:
        """What rebuilds this module before its buffers are loaded (kept in the model file)."""
        return {
            "kind": self.kind,
            "neighbors": self.neighbors,
            "bank_shape": list(self.code_bank.shape),
        }

    @classmethod
    def empty(cls, about: dict[str, Any], input_dim: int) -> ScoreCalibration:
        rows, width = about["bank_shape"]
        return cls(
            about["kind"],
            torch.ones(input_dim),
            torch.zeros(rows, width),
            1.0,
            1.0,
            about["neighbors"],
        )

    def normalise(self, per_feature: torch.Tensor) -> torch.Tensor:
        return per_feature / self.feature_scale

    def knn_distance(self, z: torch.Tensor, skip_self: bool = False) -> torch.Tensor:
        """Distance of each code to its k-th nearest bank code (the (k+1)-th with
        ``skip_self``, for codes that are in the bank themselves)."""
        k = min(self.neighbors + int(skip_self), self.code_bank.shape[0])
        distances = torch.cdist(z.float(), self.code_bank)
        return distances.topk(k, dim=1, largest=False).values[:, -1]

    def combine(self, base: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.kind != "hybrid":
            return base
        base_ref, knn_ref = self.refs[0], self.refs[1]
        return base / base_ref + self.knn_distance(z) / knn_ref


@torch.no_grad()
def calibrate(
    net: Any, train_normal: np.ndarray, kind: str, neighbors: int, seed: int, batch_rows: int = 4096
) -> None:
    """Fit ``net``'s score statistics on the normal training rows and attach them
    (``recon`` removes any)."""
    net.calibration = None
    if kind == "recon":
        return
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(train_normal, dtype=np.float32))
    sums, codes = torch.zeros(x.shape[1]), []
    for part in x.split(batch_rows):
        out = net.inspect(part.to(device))
        sums += out["per_feature"].float().sum(dim=0).cpu()
        codes.append(out["z"].float().cpu())
    mean = sums / max(len(x), 1)
    scale = torch.clamp(mean, min=float(SCALE_FLOOR * mean.mean()) + 1e-12)
    z = torch.cat(codes)
    if len(z) > BANK_ROWS:
        keep = np.sort(np.random.default_rng(seed).choice(len(z), BANK_ROWS, replace=False))
        z = z[torch.from_numpy(keep)]
    calibration = ScoreCalibration(kind, scale, z, 1.0, 1.0, neighbors)
    net.calibration = calibration.to(device)
    if kind == "hybrid":
        base = torch.cat(
            [
                net.inspect(part.to(device), combine=False)["score"].cpu()
                for part in x.split(batch_rows)
            ]
        )
        knn = torch.cat(
            [calibration.knn_distance(part, skip_self=True) for part in z.split(batch_rows)]
        )
        calibration.refs.copy_(torch.tensor([_positive_median(base), _positive_median(knn)]))
    net.train(was_training)


def _positive_median(values: torch.Tensor) -> float:
    """The median, or a tiny positive number when most values are zero (a perfect fit)."""
    median = float(values.median()) if len(values) else 1.0
    return median if median > 1e-12 else float(values.mean()) + 1e-12
