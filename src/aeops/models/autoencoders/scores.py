"""How a trained autoencoder turns reconstruction into one anomaly score per row.

``models.score`` chooses (``auto``: ``recon`` for images; for tables ``hybrid``, unless
validation shows another kind reliably better, see :func:`prefer_score`):

- ``recon``: the mean squared reconstruction error over the row's features (pixels are on one
  scale, so a plain mean is fair);
- ``normalised``: each feature's squared error divided by its mean on the normal training
  rows, then averaged, so one column the model can never reconstruct well does not drown a
  column it reconstructs almost exactly (on tables, columns differ by orders of magnitude in
  how predictable they are);
- ``tail``: how far into the normal rows' tail each feature's error lies: the log of its
  normalised error, as a z-score against the same log on the normal training rows, counted
  above zero only and squared, then averaged. A column whose errors are heavy-tailed on
  normal rows too then needs a far larger error to count than a column the model always
  reconstructs closely (ECOD's per-feature tails, on the residuals);
- ``hybrid``: the normalised error plus the distance of the row's latent code to its
  ``models.score_neighbors``-th nearest code of the normal training rows, each term divided
  by its median on those rows, so both weigh the same. A row can be reconstructed well and
  still sit where no normal row's code lies; the second term catches it.

The statistics are fitted once after training
(:meth:`~aeops.models.autoencoders.detector.AutoencoderDetector.fit`) from the normal training
rows only (validation stays untouched for choosing and thresholding) and travel with the
weights as the buffers of a :class:`ScoreCalibration` (saved beside them under
``calibration.``), so every consumer (evaluate, ``aeops score``, the pyfunc) scores the same
way. :func:`score_rows` is the one place a network's output becomes a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from aeops.evaluation.metrics import paired_bootstrap_difference
from aeops.evaluation.selection import SwitchRule

SCORES = ("recon", "normalised", "hybrid", "tail")
BANK_ROWS = 4096  # training codes kept for the latent k-NN term (seeded subsample beyond)
SCALE_FLOOR = 0.01  # a feature's error scale is at least this share of the mean scale
TAIL_FLOOR = 1e-3  # tail: errors below this share of a feature's mean count as this (log's floor)


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
            is_anomaly, scores[default], values, "val_auroc", rule.n_boot, rule.ci, rule.seed
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


class ScoreCalibration(nn.Module):
    """The fitted statistics of a ``normalised`` or ``hybrid`` score (buffers only)."""

    feature_scale: torch.Tensor
    code_bank: torch.Tensor
    refs: torch.Tensor
    tail: torch.Tensor  # (2, features): mean and spread of log normalised errors; optional

    def __init__(
        self,
        kind: str,
        feature_scale: torch.Tensor,
        code_bank: torch.Tensor,
        base_ref: float,
        knn_ref: float,
        neighbors: int,
        tail: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.neighbors = int(neighbors)
        self.register_buffer("feature_scale", feature_scale.float())
        self.register_buffer("code_bank", code_bank.float())
        self.register_buffer("refs", torch.tensor([base_ref, knn_ref], dtype=torch.float32))
        self.has_tail = tail is not None  # model files before the tail kind have none
        if tail is not None:
            self.register_buffer("tail", tail.float())

    def about(self) -> dict[str, Any]:
        """What rebuilds this module before its buffers are loaded (kept in the model file)."""
        return {
            "kind": self.kind,
            "neighbors": self.neighbors,
            "bank_shape": list(self.code_bank.shape),
            "tail": self.has_tail,
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
            torch.zeros(2, input_dim) if about.get("tail") else None,
        )

    def normalise(self, per_feature: torch.Tensor) -> torch.Tensor:
        normalised = per_feature / self.feature_scale
        if self.kind != "tail":
            return normalised
        logged = torch.log(torch.clamp(normalised, min=TAIL_FLOOR))
        return torch.relu((logged - self.tail[0]) / self.tail[1]) ** 2

    def knn_distance(self, z: torch.Tensor, skip_self: bool = False) -> torch.Tensor:
        """Distance of each code to its k-th nearest bank code (the (k+1)-th with
        ``skip_self``, for codes that are in the bank themselves). In float64: cdist's matrix
        product form (|a|^2 + |b|^2 - 2ab) loses float32's digits to cancellation for near
        codes, and by how much depends on the batch, so a row's score would depend on the rows
        scored with it (measured: 1.5e-4 relative between a row alone and in a batch)."""
        k = min(self.neighbors + int(skip_self), self.code_bank.shape[0])
        distances = torch.cdist(z.double(), self.code_bank.double())
        return distances.topk(k, dim=1, largest=False).values[:, -1].float()

    def combine(self, base: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.kind != "hybrid":
            return base
        base_ref, knn_ref = self.refs[0], self.refs[1]
        return base / base_ref + self.knn_distance(z) / knn_ref


def positive_median(values: torch.Tensor) -> float:
    """The median, or a tiny positive number when most values are zero (a perfect fit)."""
    median = float(values.median()) if len(values) else 1.0
    return median if median > 1e-12 else float(values.mean()) + 1e-12


def score_rows(
    net: Any,
    x: torch.Tensor,
    out: dict[str, torch.Tensor],
    calibration: ScoreCalibration | None,
    combine: bool = True,
) -> dict[str, torch.Tensor]:
    """``out`` (the network's output for rows ``x``) with the per-feature squared error and
    the row score: plain, or normalised by ``calibration`` (and, with ``combine``, a hybrid's
    latent k-NN term added; without it, a hybrid score's reconstruction term alone)."""
    per_feature = (out["recon"].float() - x.float()) ** 2
    if calibration is None:
        return {**out, "per_feature": per_feature, "score": net.row_score(out, per_feature)}
    per_feature = calibration.normalise(per_feature)
    score = net.row_score(out, per_feature)
    if combine:
        score = calibration.combine(score, out["z"])
    return {**out, "per_feature": per_feature, "score": score}


def with_kind(calibration: ScoreCalibration | None, kind: str) -> ScoreCalibration | None:
    """The same fitted statistics scoring as ``kind`` (``recon``: none at all)."""
    if calibration is None or kind == "recon":
        return None
    same = ScoreCalibration(
        kind,
        calibration.feature_scale,
        calibration.code_bank,
        float(calibration.refs[0]),
        float(calibration.refs[1]),
        calibration.neighbors,
        calibration.tail if calibration.has_tail else None,
    )
    same.refs = calibration.refs
    return same
