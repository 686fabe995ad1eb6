"""A family as the pipeline trains it: one network, several seeds of it, or a search over a
listed setting (:func:`family_detector`), and a family's file read back whatever it holds
(:func:`rebuild_family`, :func:`load_family`).

With ``models.seeds`` = k > 1 a family is a :class:`SeedBag`: the lead network (seed
``seed``, trained with the caller's hooks: logger, resume checkpoint) and k - 1 more of the
same architecture and score kind from seeds ``seed + 1``, ...; a row's score is the mean of
the k robust z-scores (:class:`~aeops.models.combine.ScaledMean`, scales on validation's
normal rows: no anomaly is seen). Codes, reconstructions and decodes are the lead's. The file
is the lead's, with the other networks under ``bag``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aeops.data.split import scale_rows
from aeops.models.autoencoders.detector import AutoencoderDetector
from aeops.models.autoencoders.settings import SCORE_BATCH_ROWS, TrainingSpec, family
from aeops.models.autoencoders.store import read_safetensors, save_state
from aeops.models.combine import ScaledMean
from aeops.models.search import BestOnValidation, quieted

if TYPE_CHECKING:
    from aeops.data.split import Fold
    from aeops.models.base import Detector

BAG = "bag"  # the other seeds' tensors: bag<i>.<name>; their headers: about["bag"]


class SeedBag(ScaledMean):
    """``spec.seeds`` networks of one family (see the module docstring); ``members[0]`` is
    the lead."""

    kind = "autoencoder"

    def __init__(
        self,
        spec: TrainingSpec | None = None,
        batch_rows: int = SCORE_BATCH_ROWS,
        members: list[AutoencoderDetector] | None = None,
    ) -> None:
        super().__init__(members or [AutoencoderDetector(spec, batch_rows)])
        self.spec = spec
        self.name = spec.family if spec is not None else self.members[0].name
        self.seed = spec.seed if spec is not None else 0
        self.batch_rows = batch_rows

    @property
    def network(self) -> AutoencoderDetector:
        """The lead network (its sizes, curves and code stand for the bag)."""
        return self.members[0]

    @property
    def seeds(self) -> int:
        return len(self.members)

    def build(self, train: Fold) -> SeedBag:
        self.network.build(train)
        return self

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        """The lead with ``hooks``; the other seeds with its score kind, quietly; then the
        scales that combine them on validation's normal rows."""
        spec = self.spec
        assert spec is not None, "a loaded bag scores, it does not train"
        lead = self.network
        lead.fit(train, val, hooks)
        assert lead.score_choice_ is not None  # fit_score ran
        score = replace(spec.score, kind=lead.score_choice_.kind)
        self.members = [lead]
        for i in range(1, spec.seeds):
            seed = spec.seed + i
            member = AutoencoderDetector(replace(spec, seed=seed, seeds=1, score=score))
            member.batch_rows = self.batch_rows
            self.members.append(member.fit(train, val, quieted(hooks, f"seed {seed}")))
        self.fit_scales(scale_rows(train, val))

    def about(self) -> dict[str, Any]:
        """The lead's header with the other networks' headers and the scales under ``bag``."""
        about = {**self.network.about(), **self.threshold_header()}
        others = self.members[1:]
        about[BAG] = {"members": [m.about() for m in others], **self.scales_header()}
        return about

    def tensors(self, prefix: str = "") -> dict[str, Any]:
        tensors = self.network.tensors(prefix)
        for i, member in enumerate(self.members[1:]):
            tensors.update(member.tensors(f"{prefix}{BAG}{i}."))
        return tensors

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return self.about(), self.tensors()

    def save(self, folder: str | Path) -> Path:
        return save_state(self.state(), folder)


def rebuild_family(
    about: dict[str, Any], tensors: dict[str, Any], batch_rows: int = SCORE_BATCH_ROWS
) -> AutoencoderDetector | SeedBag:
    """The family a header and its tensors describe: one network, or a bag (``bag`` in
    the header)."""
    bag = about.get(BAG)
    own = {k: v for k, v in tensors.items() if not k.startswith(BAG)}
    lead = AutoencoderDetector.rebuild(about, own, batch_rows)
    if not bag:
        return lead
    lead.threshold_ = None  # the bag's threshold, not the lead's
    members = [lead]
    for i, member in enumerate(bag.get("members", [])):
        prefix = f"{BAG}{i}."
        part = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        members.append(AutoencoderDetector.rebuild(member, part, batch_rows))
    whole = SeedBag(None, batch_rows, members).set_scales(bag)
    whole.threshold_ = about.get("threshold")
    return whole


def load_family(
    path: str | Path, batch_rows: int = SCORE_BATCH_ROWS
) -> AutoencoderDetector | SeedBag:
    """The family :meth:`AutoencoderDetector.save` or :meth:`SeedBag.save` wrote, in eval
    mode on the CPU."""
    about, tensors = read_safetensors(path)
    return rebuild_family(about, tensors, batch_rows)


def family_detector(spec: TrainingSpec, batch_rows: int = SCORE_BATCH_ROWS) -> FamilyDetector:
    """The detector a family trains as: one network, a :class:`SeedBag` (``spec.seeds`` > 1)
    and, when a setting is given as a list (the VAE's ``beta: [0.01, 0.1]``), one of those
    per option inside a :class:`~aeops.models.search.BestOnValidation` (not searched when
    the code is the product: the first option is kept)."""
    options = family(spec.family).options(spec.params)
    made: list[tuple[str, Detector]] = []
    for label, params in options:
        option = replace(spec, params=params)
        one: Detector = (
            AutoencoderDetector(option, batch_rows)
            if option.seeds <= 1
            else SeedBag(option, batch_rows)
        )
        made.append((label, one))
    if len(made) == 1:
        return made[0][1]  # type: ignore[return-value]  # one of the two above
    skip = "the code is the product" if spec.code_is_product else None
    return BestOnValidation(made, spec.score.rule.min_anomalies, skip)


FamilyDetector = AutoencoderDetector | SeedBag | BestOnValidation
