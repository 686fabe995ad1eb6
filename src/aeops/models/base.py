"""The one shape of a detector (scikit-learn / PyOD estimator verbs).

Every autoencoder family, every classical baseline and the ensemble is a :class:`Detector`:

- ``fit(train, val) -> self`` learns from the normal training rows (validation only where a
  detector chooses something on it: an autoencoder's early stopping and score kind, the
  ensemble's scales);
- ``decision_function(x)``: one anomaly score per row, higher = more anomalous; a row's score
  never depends on the other rows scored with it;
- ``feature_errors(x)``: each feature's share of the score (what ``explain`` shows);
- ``threshold_`` and ``predict(x)``: the flag, ``score > threshold_`` (the threshold is
  chosen on validation by :mod:`aeops.evaluation.metrics` and set with
  :meth:`BaseDetector.set_threshold`);
- ``encode``, ``decode``, ``reconstruct`` where the model has a latent code
  (``has_code``); the others refuse in one sentence;
- ``save(folder)`` writes one file (data, never a pickle) and returns its path;
  ``load(path)`` reads it back with bit-equal scores.

Inputs are model-input rows: preprocessed, float32 (the serving pipeline,
:mod:`aeops.serving.pipeline`, does the preprocessing and the input checks). Every verb takes
and returns NumPy arrays, so evaluation, selection, registration, the pyfunc and Spark never
ask which detector they hold.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from aeops.core.errors import ScoringInputError

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold

KINDS = ("autoencoder", "ensemble", "baseline")


@runtime_checkable
class Detector(Protocol):
    """What every detector offers (see the module docstring)."""

    threshold_: float | None

    @property
    def name(self) -> str:
        """The family or baseline (or ``ensemble``): what the registry and runs call it."""
        ...

    @property
    def kind(self) -> str:
        """``autoencoder``, ``ensemble`` or ``baseline``: how its file is loaded."""
        ...

    @property
    def has_code(self) -> bool:
        """Whether ``encode``, ``decode`` and ``reconstruct`` work."""
        ...

    def fit(self, train: Fold, val: Fold) -> Self: ...

    def decision_function(self, x: np.ndarray) -> np.ndarray: ...

    def feature_errors(self, x: np.ndarray) -> np.ndarray: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, z: np.ndarray) -> np.ndarray: ...

    def reconstruct(self, x: np.ndarray) -> np.ndarray: ...

    def save(self, folder: str | Path) -> Path: ...

    def torch_module(self) -> Any:
        """The scoring as a torch module (model-input rows in; score, per-feature errors and
        code out) for :mod:`aeops.serving.export`."""
        ...


class BaseDetector(abc.ABC):
    """What every detector shares: the threshold, ``predict``, and the refusal of the code
    verbs for a detector without a code."""

    kind: ClassVar[str]
    has_code: ClassVar[bool] = False
    threshold_: float | None = None

    @abc.abstractmethod
    def fit(self, train: Fold, val: Fold) -> Self:
        """Learn from ``train``'s normal rows (and validation where the detector chooses)."""

    @abc.abstractmethod
    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """One anomaly score per row of ``x``; higher is more anomalous."""

    @abc.abstractmethod
    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each feature's share of each row's score (rows x model-input columns)."""

    @abc.abstractmethod
    def save(self, folder: str | Path) -> Path:
        """Write the fitted detector into ``folder``; return the file written."""

    @abc.abstractmethod
    def torch_module(self) -> Any:
        """The scoring as a torch module, for export (see :class:`Detector`)."""

    def set_threshold(self, threshold: float) -> Self:
        """The score above which a row is flagged (chosen on validation by evaluate)."""
        self.threshold_ = float(threshold)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """True for rows scoring above ``threshold_``."""
        if self.threshold_ is None:
            raise ScoringInputError(
                f"the {getattr(self, 'name', self.kind)} detector has no threshold yet; "
                "evaluate it first (set_threshold)"
            )
        return np.asarray(self.decision_function(x), dtype=np.float64) > self.threshold_

    # -- the code verbs: a detector with a code overrides them ----------------------------
    def encode(self, x: np.ndarray) -> np.ndarray:
        """The latent code of each row (rows x code dims)."""
        raise self.no_code()

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Model-input rows from latent codes: ``decode(encode(x))`` is ``reconstruct(x)``."""
        raise self.no_code()

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Each row as the model rebuilds it (model-input space)."""
        raise self.no_code()

    def no_code(self) -> ScoringInputError:
        return ScoringInputError(
            f"a {getattr(self, 'name', self.kind)} detector has no latent code or "
            "reconstruction; ask it for output 'score'"
        )
