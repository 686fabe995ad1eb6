"""The shapes of a model: PyOD's estimator verbs for detectors, ``denoise`` for denoisers.

Every model (:class:`Model`) is configured by its constructor, learns in ``fit`` and writes
itself with ``save(folder)``; :func:`aeops.models.registry.load` reads any saved model back,
whatever its kind, with bit-equal outputs.

Every anomaly detector, autoencoder family, classical baseline, seed bag, ensemble or option
search, is a :class:`Detector`:

- ``fit(X, val=None) -> self`` learns from the normal rows of ``X`` (a NumPy array, an
  all-numeric frame or a :class:`~aeops.data.split.Fold`); ``val`` (rows, ``(rows,
  is_anomaly)`` or a fold) is where a detector chooses anything it chooses (an autoencoder's
  early stopping and score kind, a bag's or an ensemble's scales, an option search's pick);
  without it a seeded tenth of ``X`` validates. ``fit`` also sets a default ``threshold_``
  (the :data:`DEFAULT_PERCENTILE` th percentile of validation's normal scores);
- ``decision_function(X)``: one anomaly score per row, **higher = more anomalous** (PyOD's
  name; scikit-learn's ``score_samples`` is the opposite sign); a row's score never depends
  on the other rows scored with it;
- ``feature_errors(X)``: each model-input column's share of the score (what ``explain``
  shows);
- ``predict(X)``: the flag, ``decision_function(X) > threshold_`` (the evaluate stage moves
  the threshold to the one it chooses on validation: :meth:`BaseDetector.set_threshold`);
- ``encode``, ``decode``, ``reconstruct`` where the model has a latent code (``has_code``);
  the others refuse in one sentence;
- ``save(folder)`` writes one file (data, never a pickle) holding the threshold too and
  returns its path; ``state()`` is the same as a header and tensors, so detectors nest
  (an ensemble holds its members' states).

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
from aeops.data.split import fold_pair, scale_rows

if TYPE_CHECKING:
    from typing_extensions import Self

    from aeops.data.split import Fold

KINDS = ("autoencoder", "ensemble", "baseline", "denoiser")
DEFAULT_PERCENTILE = 99.0  # fit's threshold: this percentile of validation's normal scores


@runtime_checkable
class Model(Protocol):
    """What every model offers: a name, the kind its files load as, ``fit`` and ``save``."""

    @property
    def name(self) -> str:
        """The family, baseline or denoiser (or ``ensemble``): what runs and files call it."""
        ...

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`: how its file is loaded."""
        ...

    def fit(self, X: Any, val: Any = None, hooks: Any = None) -> Self: ...

    def save(self, folder: str | Path) -> Path: ...


@runtime_checkable
class Detector(Model, Protocol):
    """What every anomaly detector offers (see the module docstring)."""

    threshold_: float | None

    @property
    def has_code(self) -> bool:
        """Whether ``encode``, ``decode`` and ``reconstruct`` work."""
        ...

    def decision_function(self, x: np.ndarray) -> np.ndarray: ...

    def feature_errors(self, x: np.ndarray) -> np.ndarray: ...

    def predict(self, x: np.ndarray) -> np.ndarray: ...

    def encode(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, z: np.ndarray) -> np.ndarray: ...

    def reconstruct(self, x: np.ndarray) -> np.ndarray: ...

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, tensors): what :meth:`save` writes, for a detector that holds others."""
        ...

    def torch_module(self) -> Any:
        """The scoring as a torch module (model-input rows in; score, per-feature errors and
        code out) for :mod:`aeops.serving.export`."""
        ...


@runtime_checkable
class Denoiser(Model, Protocol):
    """An image denoiser: ``denoise(image)`` for a grey or colour image in [0, 1]."""

    def denoise(self, image: np.ndarray) -> np.ndarray: ...


def default_threshold(scores: np.ndarray) -> float | None:
    """The :data:`DEFAULT_PERCENTILE` th percentile of normal rows' scores (None: no rows)."""
    scores = np.asarray(scores, dtype=np.float64)
    return float(np.percentile(scores, DEFAULT_PERCENTILE)) if len(scores) else None


class BaseDetector(abc.ABC):
    """What every detector shares: ``fit`` on arrays, frames or folds, the threshold,
    ``predict``, and the refusal of the code verbs for a detector without a code."""

    kind: ClassVar[str]
    has_code: ClassVar[bool] = False
    threshold_: float | None = None
    seed: int = 0  # what a seeded hold-out of ``fit(X)`` without validation rows uses

    def fit(self, X: Any, val: Any = None, hooks: Any = None) -> Self:
        """Learn from ``X``'s normal rows, choosing on ``val`` (see the module docstring);
        ``hooks``: how an autoencoder's training is watched (MLflow logger, progress bar,
        resume checkpoint); other detectors ignore them."""
        train, held = fold_pair(X, val, self.seed)
        self.fit_folds(train, held, hooks)
        self.threshold_ = default_threshold(self.decision_function(scale_rows(train, held)))
        return self

    @abc.abstractmethod
    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        """Learn from ``train``'s normal rows (and ``val`` where the detector chooses)."""

    @abc.abstractmethod
    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """One anomaly score per row of ``x``; higher is more anomalous."""

    @abc.abstractmethod
    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        """Each feature's share of each row's score (rows x model-input columns)."""

    @abc.abstractmethod
    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, tensors) of the fitted detector."""

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
                "fit it first (or set_threshold)"
            )
        return np.asarray(self.decision_function(x), dtype=np.float64) > self.threshold_

    def threshold_header(self) -> dict[str, Any]:
        """The threshold as a file header records it (nothing before one is set)."""
        return {} if self.threshold_ is None else {"threshold": float(self.threshold_)}

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
