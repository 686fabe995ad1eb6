"""The ensemble detector: every trained family scoring together.

Families fail on different rows: on one table the dense net misses what the VAE catches, on
the next the other way round, and validation (a few dozen anomalies) often cannot tell which
one will hold on new data. Averaging their scores keeps most of the best member's strength and
little of the worst one's weakness. Each member's score is first put on one scale with
scikit-learn's :class:`~sklearn.preprocessing.RobustScaler` (minus its median, over its
inter-quartile range) fitted on validation's normal rows, so no member weighs more because its
errors are larger; the ensemble's score is the mean. Fitting it looks at no anomaly, so
validation stays fair for choosing and thresholding.

Latent codes, reconstructions and decodes come from the *lead* member (the family best on
validation), so encoding, denoising and compression keep working with an ensemble champion.

The file is one ``safetensors`` archive: each member's weights under ``member<i>.``, and the
members' constructor arguments, the scaler and the lead in its header (data, never code).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE as NAME
from aeops.core.files import ENSEMBLE_FILE
from aeops.models.autoencoders.combine import (
    COMBINE,
    Combined,
    mean_scaled,
    mean_z,
    robust_scales,
    scale_rows,
)
from aeops.models.autoencoders.detector import SCORE_BATCH_ROWS, AutoencoderDetector
from aeops.models.autoencoders.store import read_safetensors, write_safetensors
from aeops.models.base import BaseDetector

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold

MIN_MEMBERS = 2


class EnsembleDetector(BaseDetector):
    """Members scoring together; ``lead`` names the member whose code, reconstruction and
    decoder the ensemble uses. Fitted: ``centre`` and ``scale`` (per member: its score's
    median and inter-quartile range on validation's normal rows; a zero range is 1)."""

    kind = NAME
    has_code = True

    def __init__(self, members: dict[str, Any], lead: str) -> None:
        if lead not in members:
            raise AeopsError(f"the ensemble's lead '{lead}' is not one of {list(members)}")
        self.name = NAME
        self.families = list(members)
        self.members = list(members.values())
        self.lead = self.families.index(lead)
        self.centre = np.zeros(len(self.members))
        self.scale = np.ones(len(self.members))

    @property
    def lead_family(self) -> str:
        return self.families[self.lead]

    def fit(self, train: Fold, val: Fold) -> Self:
        """The members' score scales on validation's normal rows (the training rows' when
        validation holds fewer than two): no anomaly is seen."""
        return self.fit_scales(scale_rows(train, val))

    def fit_scales(self, normal: np.ndarray) -> Self:
        self.centre, self.scale = robust_scales([m.decision_function(normal) for m in self.members])
        return self

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        if not len(x):
            return np.zeros(0)
        return mean_z([m.decision_function(x) for m in self.members], self.centre, self.scale)

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each member's errors on its score's scale, averaged."""
        return mean_scaled([m.feature_errors(x) for m in self.members], self.scale)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.members[self.lead].encode(x)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.members[self.lead].reconstruct(x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.members[self.lead].decode(z)

    def torch_module(self) -> Any:
        """The members' scoring modules combined as :meth:`decision_function` combines them (for
        export): rows -> (score, errors, the lead's code)."""
        return Combined(
            [m.torch_module() for m in self.members], self.centre, self.scale, self.lead
        )

    def about(self) -> dict[str, Any]:
        """What the ensemble is, in words and numbers (its MLflow run's params)."""
        return {"members": ",".join(self.families), "lead": self.lead_family, "combine": COMBINE}

    def save(self, folder: str | Path) -> Path:
        """Every member's weights and constructor arguments, the scaler and the lead, in one
        file."""
        tensors: dict[str, Any] = {}
        members = []
        for i, member in enumerate(self.members):
            tensors.update(member.tensors(f"member{i}."))
            members.append(member.about())
        header = {
            "kind": NAME,
            "members": members,
            "centre": [float(v) for v in self.centre],
            "scale": [float(v) for v in self.scale],
            "lead": self.lead,
        }
        path = Path(folder) / ENSEMBLE_FILE
        write_safetensors(path, tensors, header)
        return path

    @classmethod
    def load(cls, path: str | Path, batch_rows: int = SCORE_BATCH_ROWS) -> EnsembleDetector:
        header, tensors = read_safetensors(path)
        if header.get("kind") != NAME:
            raise AeopsError(f"{path}: not an ensemble file (a single family's model?)")
        members = {}
        for i, about in enumerate(header["members"]):
            prefix = f"member{i}."
            own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            members[about["family"]] = AutoencoderDetector.rebuild(about, own, batch_rows)
        ensemble = cls(members, list(members)[int(header["lead"])])
        ensemble.centre = np.asarray(header["centre"], np.float64)
        ensemble.scale = np.asarray(header["scale"], np.float64)
        return ensemble
