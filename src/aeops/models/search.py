"""A search over settings as a wrapper around any detectors (scikit-learn's ``GridSearchCV``
for anomaly detection): :class:`BestOnValidation` holds one configured detector per option
and, fitted, *is* the one validation ranks best.

The first option leads: it is fitted with the caller's hooks (logger, resume checkpoint) and
kept untried-against when the others cannot be told apart from it (fewer labelled validation
anomalies than ``min_anomalies``, none, only anomalies) or when a reason is given not to
search (``skip``: e.g. the code is the product). Otherwise each other option is fitted as
the first was (quietly: a progress bar, no logger or checkpoint of its own) and the one whose
scores rank validation's labelled anomalies best is kept (val AUROC; the first on a tie).
``choice_`` says which and why; saving writes the kept detector's own file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aeops.core.errors import AeopsError
from aeops.evaluation.metrics import auroc
from aeops.models.base import BaseDetector

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold
    from aeops.models.base import Detector


def quieted(hooks: Any, label: str) -> Any:
    """``hooks`` for an option trained beside the first (its own ``quiet`` when it has one)."""
    quiet = getattr(hooks, "quiet", None)
    return quiet(label) if quiet is not None else None


class BestOnValidation(BaseDetector):
    """Options ``(label, detector)``, the first leading (see the module docstring)."""

    def __init__(
        self, options: list[tuple[str, Detector]], min_anomalies: int, skip: str | None = None
    ) -> None:
        if not options:
            raise AeopsError("a search needs at least one option")
        self.options = list(options)
        self.min_anomalies = min_anomalies
        self.skip = skip
        self.chosen_: Any = options[0][1]
        self.label_ = options[0][0]
        self.choice_ = ""

    # -- what the kept detector is ---------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.chosen_.name)

    @property
    def kind(self) -> str:  # type: ignore[override]  # the kept detector's
        return str(self.chosen_.kind)

    @property
    def has_code(self) -> bool:  # type: ignore[override]  # the kept detector's
        return bool(self.chosen_.has_code)

    def __getattr__(self, attribute: str) -> Any:
        """What the kept detector offers beyond the verbs (``network``, ``seeds``, ...)."""
        if attribute.startswith("__") or attribute in ("options", "chosen_"):
            raise AttributeError(attribute)
        return getattr(self.chosen_, attribute)

    def build(self, train: Fold) -> Self:
        self.options[0][1].build(train)  # type: ignore[attr-defined]  # an autoencoder's
        return self

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Any, val: Any = None, hooks: Any = None) -> Self:
        super().fit(X, val, hooks)
        self.threshold_ = self.chosen_.threshold_
        return self

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        first_label, first = self.options[0]
        first.fit(train, val, hooks)
        labels = [label for label, _ in self.options]
        why = self.why_not(val)
        if why is not None:
            self.keep(first_label, first, f"{first_label}, the first of {', '.join(labels)}: {why}")
            return
        real = val.real
        rows, flags = val.x[real], val.is_anomaly[real]
        tried = [(first_label, auroc(flags, first.decision_function(rows)), first)]
        for label, option in self.options[1:]:
            option.fit(train, val, quieted(hooks, label))
            tried.append((label, auroc(flags, option.decision_function(rows)), option))
        best = max(tried, key=lambda t: t[1])  # the first of equals
        figures = ", ".join(f"{label} {value:.4f}" for label, value, _ in tried)
        found = int(flags.sum())
        why = f"{best[0]}: the best val_auroc on {found} anomalies ({figures})"
        self.keep(best[0], best[2], why)

    def why_not(self, val: Fold) -> str | None:
        """Why the first option is kept without trying the others (None: search)."""
        if self.skip is not None:
            return self.skip
        flags = val.is_anomaly[val.real]
        found = int(flags.sum())
        if found < self.min_anomalies or flags.all():
            return (
                f"validation holds {found} labelled anomalies, fewer than the "
                f"{self.min_anomalies} (register.switch_min_anomalies) that could tell them apart"
            )
        return None

    def keep(self, label: str, detector: Detector, reason: str) -> None:
        self.label_, self.chosen_, self.choice_ = label, detector, reason

    # -- the kept detector's verbs ---------------------------------------------------------
    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self.chosen_.decision_function(x)

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        return self.chosen_.feature_errors(x)

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.chosen_.encode(x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.chosen_.decode(z)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.chosen_.reconstruct(x)

    def torch_module(self) -> Any:
        return self.chosen_.torch_module()

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self.chosen_.threshold_ = self.threshold_
        return self.chosen_.state()

    def save(self, folder: str | Path) -> Path:
        self.chosen_.threshold_ = self.threshold_
        return self.chosen_.save(folder)
