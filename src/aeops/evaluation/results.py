"""What evaluate measured and chose, as typed values: one :class:`ModelResult` per model and
the :class:`Comparison` of them all. ``reports/metrics.json`` is written from a Comparison
(:meth:`Comparison.record`) and read back into one (:meth:`Comparison.load`): the stages,
the summary, the report and register work with these, never with the JSON's shape.

A model's figures stay a mapping from the measure's name (``val_auroc``, ``test_psnr_db``,
``test_code_int8_psnr_db``, ...) to its value: which measures exist is data (what the folds
allow, what the task measures), and :class:`~aeops.evaluation.metrics.Metric` names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from aeops.core.io import read_json, write_json
from aeops.evaluation.metrics import Threshold
from aeops.evaluation.selection import Selection

THRESHOLD_KEYS = ("threshold", "threshold_method", "threshold_detail")
# metrics.json's own keys (the rest: the chosen model's headline figures and the notes)
KNOWN = (
    "family",
    "kind",
    "selected_by",
    "selection_basis",
    "selection",
    "candidates",
    "skipped",
    "models",
    "baselines",
    "uses",
)


@dataclass
class ModelResult:
    """One model's evaluation: its name and kind (``autoencoder``, ``ensemble``,
    ``baseline``, ``denoiser``), every figure measured (and its detail: per-class AUROC,
    PSNR by sigma, ...), its threshold where it flags rows, or why it was skipped."""

    name: str
    kind: str
    figures: dict[str, Any] = field(default_factory=dict)
    threshold: Threshold | None = None
    skipped: str | None = None

    def value(self, metric: str) -> float | None:
        """The number measured under ``metric``'s name (None: not measured here)."""
        value = self.figures.get(metric)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return None if isinstance(value, float) and math.isnan(value) else float(value)

    def has(self, metric: str) -> bool:
        return self.value(metric) is not None

    def record(self) -> dict[str, Any]:
        """As metrics.json keeps it (every figure at the top, the threshold's three keys)."""
        if self.skipped is not None:
            return {"family": self.name, "kind": self.kind, "skipped": True, "reason": self.skipped}
        out = {**self.figures, "family": self.name, "kind": self.kind}
        if self.threshold is not None:
            out.update(
                threshold=self.threshold.value,
                threshold_method=self.threshold.method,
                threshold_detail=self.threshold.detail,
            )
        return out

    @classmethod
    def from_record(cls, name: str, record: dict[str, Any], kind: str = "") -> ModelResult:
        if record.get("skipped"):
            return cls(name, record.get("kind", kind), skipped=str(record["reason"]))
        figures = {k: v for k, v in record.items() if k not in ("family", "kind", *THRESHOLD_KEYS)}
        threshold = None
        if "threshold" in record:
            threshold = Threshold(
                float(record["threshold"]),
                str(record.get("threshold_method", "")),
                str(record.get("threshold_detail", "")),
            )
        return cls(name, record.get("kind", kind), figures, threshold)

    def save(self, path: str | Path) -> None:
        write_json(path, self.record())

    @classmethod
    def load(cls, path: str | Path, name: str, kind: str = "") -> ModelResult:
        return cls.from_record(name, read_json(path), kind)


@dataclass
class Comparison:
    """Every model side by side and the choice: what ``reports/metrics.json`` holds.

    ``chosen`` / ``kind``: the model chosen; ``metric``: the validation figure that chose
    (``selected_by``) and ``basis`` (what it was measured on, in words); ``selection``: the
    choice and its reason; ``models``: the trained models (the ensemble too); ``baselines``:
    the classical detectors measured beside them; ``skipped``: families that could not use
    the data, with the reason; ``references``: what the classical methods that are not
    models measured (``uses``); ``headline``: the chosen model's figures repeated at the top
    (what ``dvc metrics`` shows); ``notes``: sentences and figures a person reads
    (``baseline_note``, ``test_note``, ``lift_over_best_baseline``, and a task's own)."""

    chosen: str
    kind: str
    metric: str
    basis: str
    selection: Selection | None
    candidates: str
    models: dict[str, ModelResult]
    baselines: dict[str, ModelResult]
    skipped: dict[str, str] = field(default_factory=dict)
    references: dict[str, Any] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def everyone(self) -> dict[str, ModelResult]:
        """The trained models, then the baselines."""
        return {**self.models, **self.baselines}

    @property
    def winner(self) -> ModelResult:
        return self.everyone[self.chosen]

    @property
    def reason(self) -> str | None:
        return self.selection.reason if self.selection is not None else None

    def note(self, key: str) -> Any:
        return self.notes.get(key)

    def record(self) -> dict[str, Any]:
        """metrics.json."""
        return {
            **self.notes,
            **self.headline,
            "family": self.chosen,
            "kind": self.kind,
            "selected_by": self.metric,
            "selection_basis": self.basis,
            "selection": self.selection.record() if self.selection is not None else None,
            "candidates": self.candidates,
            "skipped": self.skipped,
            "models": {name: m.record() for name, m in self.models.items()},
            "baselines": {name: m.record() for name, m in self.baselines.items()},
            "uses": self.references,
        }

    def save(self, path: str | Path) -> None:
        write_json(path, self.record())

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Comparison:
        known = set(KNOWN)
        models = {n: ModelResult.from_record(n, m) for n, m in record["models"].items()}
        baselines = {
            n: ModelResult.from_record(n, m, "baseline") for n, m in record["baselines"].items()
        }
        chosen = models.get(record["family"]) or baselines[record["family"]]
        headline = {k: v for k, v in record.items() if k not in known and k in chosen.record()}
        notes = {k: v for k, v in record.items() if k not in known and k not in headline}
        return cls(
            chosen=record["family"],
            kind=record["kind"],
            metric=record["selected_by"],
            basis=record["selection_basis"],
            selection=selection_of(record.get("selection")),
            candidates=record["candidates"],
            models=models,
            baselines=baselines,
            skipped=dict(record.get("skipped") or {}),
            references=dict(record.get("uses") or {}),
            headline=headline,
            notes=notes,
        )

    @classmethod
    def load(cls, path: str | Path) -> Comparison:
        return cls.from_record(read_json(path))


def selection_of(record: dict[str, Any] | None) -> Selection | None:
    """The :class:`Selection` a record keeps (an interval not measured comes back NaN)."""
    if not record:
        return None
    names = [f.name for f in fields(Selection)]
    return Selection(**{name: record.get(name, math.nan) for name in names})
