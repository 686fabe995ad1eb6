"""Several detectors' scores as one: each put on one scale (minus its median, over its
inter-quartile range: scikit-learn's :class:`~sklearn.preprocessing.RobustScaler` fitted on
normal rows), then averaged (:class:`ScaledMean`).

Detectors compose by wrapping, as scikit-learn's ``BaggingRegressor`` and
``VotingClassifier`` do: a family's seed bag
(:class:`~aeops.models.autoencoders.bag.SeedBag`) and the ensemble of families
(:class:`~aeops.models.ensemble.EnsembleDetector`) are both a :class:`ScaledMean` over
detectors, which it only knows by the :class:`~aeops.models.base.Detector` verbs. Latent
codes, reconstructions and decodes come from the *lead* member, so encoding, denoising and
compression keep working. The scoring combines the same way in NumPy and, for export, as one
torch module (:class:`Combined`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from aeops.core.errors import AeopsError
from aeops.data.split import scale_rows
from aeops.models.base import BaseDetector

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold
    from aeops.models.base import Detector

COMBINE = "mean of robust z-scores (median, IQR on validation's normal rows)"

__all__ = ["COMBINE", "Combined", "ScaledMean", "mean_scaled", "mean_z", "robust_scales"]


def robust_scales(scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each member's score median and inter-quartile range on the same normal rows (a zero
    range is 1)."""
    from sklearn.preprocessing import RobustScaler

    scaler = RobustScaler().fit(np.stack(scores, axis=1).astype(np.float64))
    return np.asarray(scaler.center_, np.float64), np.asarray(scaler.scale_, np.float64)


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


class ScaledMean(BaseDetector):
    """Detectors scoring together: the mean of their robust z-scores (``centre_`` and
    ``scale_`` per member, fitted on normal rows, :meth:`fit_scales`); errors each over its
    member's scale, averaged; ``lead`` (an index) names the member whose code,
    reconstruction and decoder are used. Subclasses say how the members are fitted
    (:meth:`fit_folds`) and how the whole is saved."""

    def __init__(self, members: Sequence[Detector], lead: int = 0) -> None:
        if not members:
            raise AeopsError("a combination of detectors needs at least one member")
        if not 0 <= lead < len(members):
            raise AeopsError(f"lead {lead} is not a member's index (0..{len(members) - 1})")
        self.members: list[Any] = list(members)
        self.lead = lead
        self.centre_ = np.zeros(len(self.members))
        self.scale_ = np.ones(len(self.members))

    @property
    def has_code(self) -> bool:  # type: ignore[override]  # the lead's
        return bool(self.members[self.lead].has_code)

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        """The members as they are (fitted already), their scales on validation's normal
        rows (the training rows' when validation holds fewer than two)."""
        self.fit_scales(scale_rows(train, val))

    def fit_scales(self, normal: np.ndarray) -> Self:
        """Each member's score median and inter-quartile range on ``normal`` rows."""
        scores = [m.decision_function(normal) for m in self.members]
        self.centre_, self.scale_ = robust_scales(scores)
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0)
        scores = [m.decision_function(x) for m in self.members]
        return mean_z(scores, self.centre_, self.scale_)

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each member's errors on its score's scale, averaged."""
        return mean_scaled([m.feature_errors(x) for m in self.members], self.scale_)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.members[self.lead].encode(x)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.members[self.lead].reconstruct(x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.members[self.lead].decode(z)

    def torch_module(self) -> Any:
        """The members' scoring modules combined as :meth:`decision_function` combines them
        (for export): rows -> (score, errors, the lead's code)."""
        modules = [m.torch_module() for m in self.members]
        return Combined(modules, self.centre_, self.scale_, self.lead)

    def scales_header(self) -> dict[str, list[float]]:
        centre, scale = [float(v) for v in self.centre_], [float(v) for v in self.scale_]
        return {"centre": centre, "scale": scale}

    def set_scales(self, header: dict[str, Any]) -> Self:
        self.centre_ = np.asarray(header["centre"], np.float64)
        self.scale_ = np.asarray(header["scale"], np.float64)
        return self


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
