"""Choosing a model: pure decisions, validation numbers in, the choice and its reason out.

The choice is made on validation only: on labelled anomalies when the validation fold holds
some, else on synthetic anomalies (and the report says which). The best autoencoder on
validation is the incumbent; with ``register.candidates: all`` the best baseline replaces it
only when it is reliably better: its lead is above zero in at least
``register.switch_confidence`` of the paired bootstrap resamples (the same validation rows
resampled for both, ``evaluate.bootstrap`` times), on a validation fold of at least
``register.switch_min_anomalies`` anomalies (a bootstrap over three anomalies resamples the
same three rows and is far too sure of itself). So a noisy lead never switches the model; a
clear one does. With ``autoencoders`` a baseline is never chosen, but a better one is
reported plainly. Families that could not use the data are listed with the reason.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE
from aeops.data.schema import ANOMALY_COLUMN, SPLIT_COLUMN, SYNTHETIC_COLUMN
from aeops.evaluation.metric import DENOISING, STREAMS, USE_METRICS
from aeops.evaluation.metrics import paired_bootstrap_difference

STREAM_METRICS = tuple(m.name for m in STREAMS)  # a stream's alarms and their spans
# chosen by value, not by a ranking of rows
MEASURED = (*USE_METRICS, *(m.name for m in DENOISING), *STREAM_METRICS)


@dataclass(frozen=True)
class SwitchRule:
    """When validation shows one ranking reliably better than another: the candidate leads
    in at least ``confidence`` of ``n_boot`` paired bootstrap resamples (seeded, its interval
    at ``ci``), on a fold holding at least ``min_anomalies`` labelled anomalies
    (``register.switch_*``, ``evaluate.bootstrap``, ``evaluate.ci``)."""

    confidence: float
    min_anomalies: int
    n_boot: int
    seed: int
    ci: float


@dataclass(frozen=True)
class Selection:
    """Which model won, and why: the best autoencoder, the best baseline, the baseline's
    lead over it on validation with its paired bootstrap interval, and the verdict."""

    chosen: str
    kind: str
    autoencoder: str
    baseline: str
    lead: float
    lead_low: float
    lead_high: float
    lead_confidence: float  # share of paired resamples in which the baseline leads
    switched: bool
    reason: str
    autoencoder_reason: str = ""  # why this autoencoder (the ensemble or a single family)

    def record(self) -> dict:
        """As JSON: an interval that was not measured (no bootstrap) is left out, not NaN."""
        return {
            k: v
            for k, v in asdict(self).items()
            if not (isinstance(v, float) and not math.isfinite(v))
        }


def choose(
    models: dict[str, dict],
    baselines: dict[str, dict],
    metric: str,
    val_rows: dict[str, tuple[np.ndarray, np.ndarray]],
    rule: SwitchRule,
    candidates: str,
) -> Selection:
    """The decision, from validation numbers only. ``val_rows`` maps each model to its
    validation (is_anomaly, score) arrays on the rows ``metric`` is measured on. The
    autoencoder is the ensemble unless a single family is reliably better
    (:func:`choose_autoencoder`); a baseline replaces it only when reliably better."""
    best_ae, ae_reason = choose_autoencoder(models, metric, val_rows, rule)
    best_base = select_best(baselines, metric)
    labels, ae_scores = val_rows[best_ae]
    lead = paired_bootstrap_difference(
        labels, ae_scores, val_rows[best_base][1], metric, rule.n_boot, rule.ci, rule.seed
    )
    interval = describe_lead(lead, rule.ci)
    n_anomalies = int(labels.sum())
    min_anomalies, confidence = rule.min_anomalies, rule.confidence
    enough = n_anomalies >= min_anomalies
    reliable = bool(enough and lead.p_positive >= confidence)
    switched = candidates == "all" and reliable
    if switched:
        reason = (
            f"baseline {best_base} is reliably better than the best autoencoder "
            f"{best_ae} on validation: {metric} lead {interval}"
        )
    elif candidates != "all":
        reason = (
            f"autoencoder {best_ae} (register.candidates: autoencoders); baseline "
            f"{best_base}'s {metric} lead {interval}"
        )
    elif not enough:
        reason = (
            f"autoencoder {best_ae} kept: validation holds {n_anomalies} anomalies, "
            f"fewer than the {min_anomalies} (register.switch_min_anomalies) that could "
            f"show the best baseline {best_base} reliably better (lead {interval})"
        )
    else:
        reason = (
            f"autoencoder {best_ae} kept: the best baseline {best_base}'s {metric} "
            f"lead {interval} is not reliably above zero (register.switch_confidence "
            f"{confidence:.0%})"
        )
    chosen = best_base if switched else best_ae
    return Selection(
        chosen,
        "baseline" if switched else models[best_ae].get("kind", "autoencoder"),
        best_ae,
        best_base,
        lead.value,
        lead.low,
        lead.high,
        lead.p_positive,
        switched,
        reason if ENSEMBLE not in models else f"{ae_reason}; {reason}",
        ae_reason,
    )


def describe_lead(lead: Any, ci: float) -> str:
    return (
        f"{lead.value:+.4f} [{lead.low:+.4f}, {lead.high:+.4f}] ({ci:.0%} paired "
        f"bootstrap), above zero in {lead.p_positive:.0%} of resamples"
    )


def choose_autoencoder(
    models: dict[str, dict],
    metric: str,
    val_rows: dict[str, tuple[np.ndarray, np.ndarray]],
    rule: SwitchRule,
) -> tuple[str, str]:
    """(the autoencoder candidate, why). The ensemble is the incumbent: the family best on
    validation replaces it only when its lead is reliably above zero (the rule a baseline
    meets, :func:`choose`), since a lead on a few validation anomalies rarely holds on test
    while the ensemble's average does."""
    families = {name: m for name, m in models.items() if name != ENSEMBLE}
    best = select_best(families, metric)
    if ENSEMBLE not in models or ENSEMBLE not in val_rows:
        return best, f"{best} is the best family on validation"
    labels, ensemble_scores = val_rows[ENSEMBLE]
    lead = paired_bootstrap_difference(
        labels, ensemble_scores, val_rows[best][1], metric, rule.n_boot, rule.ci, rule.seed
    )
    n_anomalies = int(labels.sum())
    min_anomalies, confidence = rule.min_anomalies, rule.confidence
    if n_anomalies >= min_anomalies and lead.p_positive >= confidence:
        return best, (
            f"family {best} is reliably better than the {ENSEMBLE} on validation: {metric} "
            f"lead {describe_lead(lead, rule.ci)}"
        )
    if n_anomalies < min_anomalies:
        why = (
            f"validation holds {n_anomalies} anomalies, fewer than the {min_anomalies} "
            "(register.switch_min_anomalies) that could show a family reliably better"
        )
    else:
        why = f"not reliably above zero (register.switch_confidence {confidence:.0%})"
    return ENSEMBLE, (
        f"{ENSEMBLE} kept: the best family {best}'s {metric} "
        f"lead {describe_lead(lead, rule.ci)}: {why}"
    )


def ensemble_members(
    models: dict[str, dict],
    metric: str,
    val_rows: dict[str, tuple[np.ndarray, np.ndarray]],
    rule: SwitchRule,
) -> tuple[list[str], str]:
    """(the families the ensemble averages, why). Every family but those the family best on
    validation is reliably better than (its lead above zero in at least
    ``register.switch_confidence`` of the paired resamples, the rule a switch meets):
    averaging in a member validation shows clearly worse dilutes the good ones (on the
    digits, a convolutional net at 0.72 AUROC pulled five families' mean from 0.95 to 0.94).
    With fewer validation anomalies than ``register.switch_min_anomalies`` nothing can be
    shown worse, so every family stays."""
    best = select_best(models, metric)
    labels, best_scores = val_rows[best]
    n_anomalies = int(labels.sum())
    if n_anomalies < rule.min_anomalies:
        return list(models), (
            f"all {len(models)} families: validation holds {n_anomalies} anomalies, fewer "
            f"than the {rule.min_anomalies} (register.switch_min_anomalies) that could show "
            "one reliably worse"
        )
    dropped = {}
    for name in models:
        if name == best:
            continue
        lead = paired_bootstrap_difference(
            labels, val_rows[name][1], best_scores, metric, rule.n_boot, rule.ci, rule.seed
        )
        if lead.p_positive >= rule.confidence:
            dropped[name] = lead
    kept = [name for name in models if name not in dropped]
    if not dropped:
        return kept, f"all {len(kept)} families: none reliably worse than {best} on validation"
    worse = ", ".join(
        f"{name} (by {lead.value:.4f} {metric}, in {lead.p_positive:.0%} of resamples)"
        for name, lead in dropped.items()
    )
    return kept, (
        f"{', '.join(kept) if len(kept) > 1 else 'only ' + best}: the best family {best} is "
        f"reliably better on validation than {worse} (register.switch_confidence "
        f"{rule.confidence:.0%})"
    )


def choose_for_use(
    models: dict[str, dict], baselines: dict[str, dict], metric: str, candidates: str
) -> Selection:
    """The decision for a use other than detection (``metric`` in
    :data:`~aeops.evaluation.uses.USE_METRICS`): the best validation value among the models
    that have it (every autoencoder; PCA among the baselines, when ``candidates`` is
    ``all``). Measured on every validation normal row, so the better value is taken as it is."""
    models = {name: m for name, m in models.items() if metric in m}  # the ensemble has none
    best_ae = select_best(models, metric)
    coded = {name: m for name, m in baselines.items() if metric in m}
    best_base = select_best(coded, metric) if coded else ""
    ae_value = models[best_ae][metric]
    lead = coded[best_base][metric] - ae_value if best_base else math.nan
    switched = bool(candidates == "all" and best_base and lead > 0)
    chosen = best_base if switched else best_ae
    kind = "baseline" if switched else models[best_ae].get("kind", "autoencoder")
    others = ", ".join(
        f"{name} {m[metric]:.4f}" for name, m in {**models, **coded}.items() if name != chosen
    )
    reason = (
        f"{kind} {chosen} has the best {metric} on "
        f"validation: {({**models, **coded})[chosen][metric]:.4f} (then {others or 'none'})"
    )
    if best_base and not switched and lead > 0:
        reason += f"; baseline {best_base} is better but register.candidates is {candidates}"
    return Selection(
        chosen,
        kind,
        best_ae,
        best_base,
        lead,
        math.nan,
        math.nan,
        math.nan,
        switched,
        reason,
    )


def is_measured(metric: str) -> bool:
    """Whether ``metric`` is a measure taken on every validation row (a use's, a denoiser's:
    the better value is taken as it is), not a ranking of validation's anomalies."""
    return metric in MEASURED


def select(
    models: dict[str, dict],
    baselines: dict[str, dict],
    metric: str,
    rows: dict[str, tuple[np.ndarray, np.ndarray]],
    rule: SwitchRule,
    candidates: str,
) -> Selection:
    """The choice: by a measured metric's value (:func:`choose_for_use`), or by a ranking of
    validation's anomalies with the switch rule (:func:`choose`; ``rows``: each model's
    validation (is_anomaly, score))."""
    if is_measured(metric):
        check_measured(metric, models)
        return choose_for_use(models, baselines, metric, candidates)
    return choose(models, baselines, metric, rows, rule, candidates)


def selection_rows(metric: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The validation rows ``metric`` is measured on, as (is_anomaly, score)."""
    val = frame[frame[SPLIT_COLUMN] == "val"]
    if "synthetic" in metric:
        val = val[val[SYNTHETIC_COLUMN] | ~val[ANOMALY_COLUMN]]
    else:
        val = val[~val[SYNTHETIC_COLUMN]]
    return val[ANOMALY_COLUMN].to_numpy(bool), val["score"].to_numpy(np.float64)


def select_best(models: dict[str, dict], metric: str) -> str:
    """The model with the best validation metric (never a test metric); ties go to the first
    in order (``models.families`` order, then baselines)."""
    ranked = [
        (m[metric], -i, name)
        for i, (name, m) in enumerate(models.items())
        if isinstance(m.get(metric), float) and not math.isnan(m[metric])
    ]
    if not ranked:
        raise AeopsError(
            f"no model has a {metric}; the validation fold needs anomalies "
            "(labelled or synthetic) to compare models"
        )
    return max(ranked)[2]


def selection_basis(metric: str, scores: pd.DataFrame) -> str:
    """In words: what the choosing metric was measured on."""
    val = scores[scores[SPLIT_COLUMN] == "val"]
    if metric in STREAM_METRICS:
        faults = int(val[ANOMALY_COLUMN].sum())
        return f"{metric} on {len(val)} validation rows in time ({faults} of them fault rows)"
    if is_measured(metric):
        n = int((~val[ANOMALY_COLUMN]).sum())
        return f"{metric} on {n} validation normal rows"
    if "synthetic" in metric:
        n = int(val[SYNTHETIC_COLUMN].sum())
        return (
            f"{metric} on {n} synthetic anomalies made from held-out normal rows (no "
            "labelled anomaly in validation)"
        )
    n = int((val[ANOMALY_COLUMN] & ~val[SYNTHETIC_COLUMN]).sum())
    return f"{metric} on {n} labelled validation anomalies"


def check_measured(metric: str, models: dict[str, dict]) -> None:
    """A use's metric that no model has is a sentence, not a choice among none."""
    if any(metric in m for m in models.values()):
        return
    why = {
        "val_knn_accuracy": "k-NN accuracy needs labels: at least two labels with five or "
        "more normal validation rows each"
    }.get(metric, "validation has too few normal rows to measure it")
    raise AeopsError(
        f"register.metric {metric}: no model has it on this data ({why}); choose another "
        "register.metric"
    )


def baseline_note(
    selection: Selection,
    models: dict[str, dict],
    baselines: dict[str, dict],
    metric: str,
    candidates: str,
) -> str | None:
    """A sentence when the best baseline beats every autoencoder on validation but was not
    chosen (not reliably better, or ``register.candidates: autoencoders``)."""
    best_ae, best_baseline = selection.autoencoder, selection.baseline
    if not (
        metric in baselines.get(best_baseline, {})
        and baselines[best_baseline][metric] > models[best_ae][metric]
        and not selection.switched
    ):
        return None
    note = (
        f"baseline {best_baseline} beats every autoencoder on validation "
        f"({metric} {baselines[best_baseline][metric]:.4f} vs "
        f"{best_ae} {models[best_ae][metric]:.4f})"
    )
    if candidates == "autoencoders":
        return note + (
            "; the autoencoder is registered because register.candidates "
            "is autoencoders (set it to all to register the baseline)"
        )
    return note + ", but not reliably (see selection)"
