"""The ensemble detector: any detectors scoring together (the pipeline's: the trained
families that validation does not show reliably worse than the best).

Families fail on different rows: on one table the dense net misses what the VAE catches, on
the next the other way round, and validation (a few dozen anomalies) often cannot tell which
one will hold on new data. Averaging their scores keeps most of the best member's strength and
little of the worst one's weakness. It is a :class:`~aeops.models.combine.ScaledMean`: each
member's score put on one scale (minus its median, over its inter-quartile range) fitted on
validation's normal rows, so no member weighs more because its errors are larger; the
ensemble's score is the mean. Fitting it looks at no anomaly, so validation stays fair for
choosing and thresholding. Members are fitted before they join (``fit`` fits the scales).

Latent codes, reconstructions and decodes come from the *lead* member (the family best on
validation), so encoding, denoising and compression keep working with an ensemble champion.

The file is one ``safetensors`` archive: each member's tensors under ``member<i>.`` and its
header in the list ``members``, the scales, the lead and the threshold in the header (data,
never code). Any detector can be a member (a baseline's skops bytes travel as a tensor);
:func:`aeops.models.registry.rebuild` reads it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE as NAME
from aeops.core.files import ENSEMBLE_FILE
from aeops.models.autoencoders.store import write_safetensors
from aeops.models.combine import COMBINE, ScaledMean

if TYPE_CHECKING:
    from aeops.models.base import Detector

MIN_MEMBERS = 2
MEMBER = "member"  # member i's tensors: member<i>.<name>


class EnsembleDetector(ScaledMean):
    """``members`` (name -> a fitted detector) scoring together; ``lead`` names the member
    whose code, reconstruction and decoder the ensemble uses."""

    kind = NAME

    def __init__(self, members: dict[str, Detector], lead: str) -> None:
        if lead not in members:
            raise AeopsError(f"the ensemble's lead '{lead}' is not one of {list(members)}")
        super().__init__(list(members.values()), list(members).index(lead))
        self.name = NAME
        self.families = list(members)

    @property
    def lead_family(self) -> str:
        return self.families[self.lead]

    def describe(self) -> dict[str, Any]:
        """What the ensemble is, in words and numbers (its MLflow run's params)."""
        return {"members": ",".join(self.families), "lead": self.lead_family, "combine": COMBINE}

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Every member's header and tensors, the scales, the lead and the threshold."""
        tensors: dict[str, Any] = {}
        headers = []
        for i, member in enumerate(self.members):
            header, own = member.state()
            tensors.update({f"{MEMBER}{i}.{key}": value for key, value in own.items()})
            headers.append(header)
        about = {"kind": NAME, "members": headers, **self.scales_header(), "lead": self.lead}
        return {**about, **self.threshold_header()}, tensors

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / ENSEMBLE_FILE
        header, tensors = self.state()
        write_safetensors(path, tensors, header)
        return path

    @staticmethod
    def member_parts(header: dict[str, Any], tensors: dict[str, Any]):
        """(member header, its tensors) of each member a saved ensemble holds."""
        for i, about in enumerate(header["members"]):
            prefix = f"{MEMBER}{i}."
            yield about, {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
