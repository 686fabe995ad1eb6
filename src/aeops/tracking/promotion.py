"""Promotion: the register rule (pure: :func:`decide` takes the candidate and the champion
as read beforehand and returns a :class:`Decision`), and promotion by hand (``aeops
promote``), which warns when the promoted version recorded a lower value of the metric the
champion was chosen by."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from aeops.core.errors import RegistryError, ScoringInputError
from aeops.core.io import read_json, write_json
from aeops.core.sections import RegisterConfig
from aeops.tracking.names import CHALLENGER, CHAMPION, METRIC_TAG_PREFIX
from aeops.tracking.registry import (
    RegisteredSchema,
    check_registered,
    current_version,
    default_report,
    schema_conflict,
    set_alias,
    set_version_tags,
)
from aeops.tracking.store import require_store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """A registered version of exactly the candidate's files: registered by an earlier run
    (``decision`` set), or left by a crash before its alias moved (``decision`` None)."""

    version: str
    decision: str | None = None  # the alias an earlier run chose for it (its "decision" tag)
    promoted: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Candidate:
    """The detector this run chose, as the rule sees it (read beforehand by :func:`gather`)."""

    name: str  # the registered model it goes under
    key: str  # the detector key of the files it packs
    family: str
    kind: str  # "autoencoder" or "baseline"
    metric: str  # what it was selected by, and what the champion is re-scored with
    selection_basis: str
    score: float  # its ``metric`` on this run's validation fold
    schema: dict[str, Any]
    experiment: str | None = None  # the DVC experiment this run is for (None: the workspace)
    selection_reason: str | None = None  # why it was chosen (None: no selection made)
    baseline_note: str | None = None
    registered: Registered | None = None  # the version already holding these files
    evaluation: dict[str, Any] = field(default_factory=dict)  # its evaluation report
    data_hash: str | None = None
    model_uri: str | None = None  # the logged detector (what a new version registers)
    run_id: str | None = None
    model_id: str | None = None


@dataclass(frozen=True)
class Champion:
    """What the store holds under the candidate's name: the registered model's input schema
    and its champion, re-scored on this run's validation fold (read by :func:`gather`). No
    registered model at all is ``None`` rather than a Champion."""

    schema: RegisteredSchema | None
    version: str | None = None  # None: registered, but no champion yet
    score: float | None = None  # its ``metric`` here (None: not scored)
    error: str | None = None  # why it could not be scored on this data


@dataclass(frozen=True)
class Decision:
    """What the register stage does with the candidate's version."""

    alias: str  # CHAMPION or CHALLENGER
    promote: bool
    reason: str  # the version's description and the report's reason
    blocked: str | None = None  # why the champion could not be compared (promotion blocked)
    recorded: bool = False  # an earlier run decided this version: nothing moves

    @property
    def tags(self) -> dict[str, Any]:
        """The tags that describe the decision on the version (set after the alias)."""
        return {"decision": self.alias, "promoted": self.promote}


def beats(candidate: float, champion: float | None, margin: float) -> bool:
    """Promote when there is no champion, or the candidate beats it by more than ``margin``."""
    return champion is None or candidate > champion + margin


def to_compare(candidate: Candidate, champion: Champion | None) -> bool:
    """Whether the rule compares the candidate with the champion (so :func:`gather` scores
    it): there is one, of the same schema, other than the candidate's own version (a crash
    between its alias and its tags), and no earlier run decided the candidate's version."""
    earlier = candidate.registered
    if champion is None or champion.version is None:
        return False
    if schema_conflict(candidate.name, champion.schema, candidate.schema) is not None:
        return False
    return earlier is None or (not earlier.decision and earlier.version != champion.version)


def decide(candidate: Candidate, champion: Champion | None, rules: RegisterConfig) -> Decision:
    """The register rule, pure. A name registered with another input schema is refused
    (:class:`RegistryError`); a version an earlier run decided keeps its decision; otherwise
    ``champion`` when there is none to beat or the candidate beats it by more than
    ``register.margin``, and ``challenger`` when it does not, when the champion cannot be
    scored on this data (promotion blocked) or for a DVC experiment."""
    if champion is not None:
        conflict = schema_conflict(candidate.name, champion.schema, candidate.schema)
        if conflict is not None:
            raise RegistryError(conflict)
    earlier = candidate.registered
    if earlier is not None and earlier.decision:
        return Decision(
            earlier.decision, earlier.promoted, earlier.description or "", recorded=True
        )
    champion_score, note, blocked = None, "no champion yet", None
    if champion is not None and to_compare(candidate, champion):
        if champion.score is not None:
            champion_score = champion.score
            note = (
                f"champion v{champion.version} scores {candidate.metric}={champion_score:.4f} here"
                if math.isfinite(champion_score)
                else f"champion v{champion.version} has no {candidate.metric} (no latent code)"
            )
        else:
            blocked = (
                f"champion v{champion.version} cannot be scored on this data "
                f"({champion.error or 'not scored'})"
            )
            note = blocked
    promote = (
        blocked is None
        and candidate.experiment is None
        and beats(candidate.score, champion_score, rules.margin)
    )
    return Decision(
        CHAMPION if promote else CHALLENGER,
        promote,
        describe(candidate, rules, note, promote, blocked),
        blocked,
    )


def describe(
    candidate: Candidate, rules: RegisterConfig, note: str, promote: bool, blocked: str | None
) -> str:
    """The reason for a decision: the version's description and the report's ``reason``."""
    pool = "autoencoders and baselines" if rules.candidates == "all" else "autoencoders"
    reason = (
        f"{candidate.family} ({candidate.kind}) chosen among the {pool} by "
        f"{candidate.selection_basis} = {candidate.score:.4f}; {note}; margin "
        f"{rules.margin}: "
        f"{'promoted to champion' if promote else 'kept as challenger'}"
    )
    if blocked:
        reason += " (promotion blocked: the champion could not be compared)"
    if candidate.experiment is not None:
        reason += (
            f" (DVC experiment '{candidate.experiment}': experiments register "
            "challengers only; `aeops promote` moves the champion)"
        )
    if candidate.selection_reason is not None:
        reason += f". Why {candidate.family}: {candidate.selection_reason}"
    if candidate.baseline_note:
        reason += f". Note: {candidate.baseline_note}"
    return reason


def recorded_metric(version: Any, metric: str) -> float | None:
    """``metric`` as the version recorded it at registration: its ``metric.<name>`` tag, or
    the ``metrics`` JSON tag of an earlier aeops (None: not recorded)."""
    tagged = version.tags.get(f"{METRIC_TAG_PREFIX}{metric}")
    if tagged is not None:
        try:
            return float(tagged)
        except ValueError:
            return None
    try:
        value = json.loads(version.tags.get("metrics") or "{}").get(metric)
    except ValueError:
        return None
    return float(value) if isinstance(value, (int, float)) else None


def promotion_warning(name: str, new: Any, old: Any) -> str | None:
    """A sentence when the version promoted by hand recorded a lower value of the metric the
    champion it replaces was chosen by (each as measured at its own registration)."""
    metric = old.tags.get("selected_by") if old is not None else None
    if not metric or str(new.version) == str(old.version):
        return None
    ours, theirs = recorded_metric(new, metric), recorded_metric(old, metric)
    if ours is None or theirs is None or ours >= theirs:
        return None
    return (
        f"warning: {name} v{new.version} recorded {metric}={ours:.4f} at registration, below "
        f"v{old.version}'s {theirs:.4f} (the champion it replaces); `aeops promote "
        f"{old.version} --name {name}` puts v{old.version} back"
    )


def promote(name: str, version: int) -> tuple[str, str]:
    """Move ``champion`` of ``name`` to registered ``version`` by hand (the only way an
    experiment's challenger becomes champion) and tag that version; returns the version and
    the champion before it (``v<n>``, or ``none``)."""

    check_registered(f"models:/{name}")
    try:
        found = mlflow.MlflowClient().get_model_version(name, str(version))
    except MlflowException:
        raise ScoringInputError(
            f"registered model '{name}' has no version {version}; `aeops show` lists them"
        ) from None
    before = current_version(name, CHAMPION)
    warning = promotion_warning(name, found, before)
    if warning:
        log.warning(warning)
    set_alias(name, CHAMPION, found.version)
    previous = f"v{before.version}" if before is not None else "none"
    set_version_tags(
        name,
        found.version,
        {
            "decision": CHAMPION,
            "promoted": True,
            "promoted_by": f"aeops promote (champion before: {previous})",
        },
    )
    return found.version, previous


def note_promotion(report: Path, name: str, version: int, previous: str) -> None:
    """Keep ``reports/register.json`` true after a promotion by hand when it describes the
    promoted version (the register stage's report is the default model's record)."""
    if not report.exists():
        return
    decision = read_json(report)
    if decision.get("model_name") != name or decision.get("version") != version:
        return
    decision.update(
        alias="champion",
        promoted=True,
        reason=f"{decision['reason']}; promoted by hand with `aeops promote` "
        f"(champion before: {previous})",
    )
    write_json(report, decision)


def promote_by_hand(version: int, name: str | None) -> str:
    """``aeops promote``: ``champion`` of ``name`` (default: this project's registered model)
    moves to ``version``, and the register stage's report says so; the line to print."""
    require_store(writing=True)
    name = name or read_json(default_report())["model_name"]
    moved, previous = promote(name, version)
    note_promotion(default_report(), name, int(moved), previous)
    return f"{name}: v{moved} is now champion (was {previous})"
