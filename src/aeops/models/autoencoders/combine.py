"""Several detectors' scores as one: each put on one scale (minus its median, over its
inter-quartile range, scikit-learn's :class:`~sklearn.preprocessing.RobustScaler` fitted on
normal rows), then averaged. The ensemble of families (:mod:`aeops.models.ensemble`) and a
family's several seeds (:class:`~aeops.models.autoencoders.detector.AutoencoderDetector`
with ``models.seeds`` > 1) both combine this way, in NumPy and, for export, as one torch
module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from aeops.data.split import Fold

COMBINE = "mean of robust z-scores (median, IQR on validation's normal rows)"


def robust_scales(scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each member's score median and inter-quartile range on the same normal rows (a zero
    range is 1)."""
    from sklearn.preprocessing import RobustScaler

    scaler = RobustScaler().fit(np.stack(scores, axis=1).astype(np.float64))
    return np.asarray(scaler.center_, np.float64), np.asarray(scaler.scale_, np.float64)


def scale_rows(train: Fold, val: Fold) -> np.ndarray:
    """The rows the scales are fitted on: validation's real normal rows, or the normal
    training rows when validation holds fewer than two (no anomaly is ever seen)."""
    normal = val.x[val.real & ~val.is_anomaly]
    return normal if len(normal) >= 2 else train.normal


def mean_scaled(errors: Sequence[np.ndarray], scale: np.ndarray) -> np.ndarray:
    """The members' per-feature errors of the same rows, each over its score's scale,
    averaged."""
    return np.mean(
        [np.asarray(e, np.float64) / k for e, k in zip(errors, scale, strict=True)], axis=0
    )


def mean_z(scores: Sequence[np.ndarray], centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The members' scores of the same rows, each on its scale, averaged."""
    z = [(np.asarray(s, np.float64) - c) / k for s, c, k in zip(scores, centre, scale, strict=True)]
    return np.mean(z, axis=0)


class Combined(torch.nn.Module):
    """Members' scoring modules (rows -> score, errors, code) combined as :func:`mean_z`
    combines them: the mean z-score, the errors each over its member's scale, averaged, and
    the lead member's code."""

    def __init__(
        self, members: Sequence[torch.nn.Module], centre: np.ndarray, scale: np.ndarray, lead: int
    ) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.centre: torch.Tensor
        self.scale: torch.Tensor
        self.register_buffer("centre", torch.tensor(centre, dtype=torch.float64))
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float64))
        self.lead = lead

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        outs = [member(x) for member in self.members]
        z = [(o[0].double() - self.centre[i]) / self.scale[i] for i, o in enumerate(outs)]
        errors = [o[1].double() / self.scale[i] for i, o in enumerate(outs)]
        return torch.stack(z).mean(dim=0), torch.stack(errors).mean(dim=0), outs[self.lead][2]
