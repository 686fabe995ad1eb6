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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.files import ENSEMBLE as NAME

if TYPE_CHECKING:
    from aeops.models.families import Autoencoder
    from aeops.scoring import AutoencoderScorer

MIN_MEMBERS = 2
COMBINE = "mean of robust z-scores (median, IQR on validation's normal rows)"
SCORED = ("score", "per_feature")  # outputs every member gives; the rest come from the lead


@dataclass
class EnsembleScorer:
    """Members scoring together (a :class:`~aeops.scoring.Scorer`)."""

    families: list[str]
    members: list[AutoencoderScorer]
    centre: np.ndarray  # per member: its score's median on validation's normal rows
    scale: np.ndarray  # per member: its inter-quartile range there (1 where it is zero)
    lead: int  # the member whose code, reconstruction and decoder the ensemble uses

    def run(self, x: np.ndarray, want: tuple[str, ...] = ("score",)) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        scored = tuple(k for k in want if k in SCORED)
        if scored:
            parts = [member.run(x, scored) for member in self.members]
            if "score" in scored:
                z = [
                    (p["score"].astype(np.float64) - c) / s
                    for p, c, s in zip(parts, self.centre, self.scale, strict=True)
                ]
                out["score"] = np.mean(z, axis=0) if len(x) else np.zeros(0)
            if "per_feature" in scored:  # each member's errors on its score's scale
                out["per_feature"] = np.mean(
                    [p["per_feature"] / s for p, s in zip(parts, self.scale, strict=True)],
                    axis=0,
                )
        rest = tuple(k for k in want if k not in SCORED)
        if rest:
            out.update(self.members[self.lead].run(x, rest))
        return {k: out[k] for k in want}

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.members[self.lead].decode(z)

    @property
    def lead_family(self) -> str:
        return self.families[self.lead]


def fit_ensemble(
    families: list[str], members: list[AutoencoderScorer], val_normal: np.ndarray, lead: str
) -> EnsembleScorer:
    """The members' score scales, fitted on validation's normal rows (no anomaly seen)."""
    from sklearn.preprocessing import RobustScaler

    scores = np.stack([m.run(val_normal, ("score",))["score"] for m in members], axis=1)
    scaler = RobustScaler().fit(scores.astype(np.float64))
    return EnsembleScorer(
        list(families),
        list(members),
        np.asarray(scaler.center_, np.float64),
        np.asarray(scaler.scale_, np.float64),  # RobustScaler leaves a zero range at 1
        families.index(lead),
    )


def about(ensemble: EnsembleScorer) -> dict[str, Any]:
    """What the ensemble is, in words and numbers (its MLflow run's params)."""
    return {
        "members": ",".join(ensemble.families),
        "lead": ensemble.lead_family,
        "combine": COMBINE,
    }


def save_ensemble(path: Path, ensemble: EnsembleScorer, args: list[dict[str, Any]]) -> None:
    """Every member's weights and constructor ``args`` (in ``families`` order), the scaler
    and the lead, in one file."""
    from aeops.models.store import model_about, weights_of, write_safetensors

    tensors: dict[str, Any] = {}
    members = []
    for i, (family, member, member_args) in enumerate(
        zip(ensemble.families, ensemble.members, args, strict=True)
    ):
        tensors.update(weights_of(member.net, f"member{i}."))
        members.append(model_about(family, member_args, member.net))
    header = {
        "kind": NAME,
        "members": members,
        "centre": [float(v) for v in ensemble.centre],
        "scale": [float(v) for v in ensemble.scale],
        "lead": ensemble.lead,
    }
    write_safetensors(path, tensors, header)


def load_ensemble(path: str | Path, batch_size: int) -> EnsembleScorer:
    from aeops.errors import AeopsError
    from aeops.models.store import read_safetensors, rebuild
    from aeops.scoring import AutoencoderScorer

    header, tensors = read_safetensors(path)
    if header.get("kind") != NAME:
        raise AeopsError(f"{path}: not an ensemble file (a single family's model?)")
    nets: list[Autoencoder] = []
    for i, member in enumerate(header["members"]):
        prefix = f"member{i}."
        own = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        nets.append(rebuild(member, own))
    return EnsembleScorer(
        [m["family"] for m in header["members"]],
        [AutoencoderScorer(net, batch_size) for net in nets],
        np.asarray(header["centre"], np.float64),
        np.asarray(header["scale"], np.float64),
        int(header["lead"]),
    )
