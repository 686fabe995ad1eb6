"""What every baseline shares: fitting on the normal training rows (float64), the per-feature
standardisation a baseline without its own explanation uses, and the skops file."""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from aeops.core.errors import AeopsError, ModelConfigError
from aeops.core.files import BASELINE_FILE
from aeops.core.sections import BaselinesConfig
from aeops.models.base import BaseDetector

SKOPS = "skops"  # the tensor that holds a baseline's skops bytes inside another file

if TYPE_CHECKING:
    from aeops.data.split import Fold


class Baseline(BaseDetector):
    """A classical detector fit on the normal training rows: ``model`` (what it learned),
    ``mean`` and ``scale`` of those rows, and ``params`` (what its MLflow run records)."""

    kind = "baseline"
    name: ClassVar[str]  # a class's name is its baseline's name
    opt_in: ClassVar[bool] = False  # measured only where a task names it (Task.baselines)

    def __init__(self, settings: BaselinesConfig | None, seed: int = 0) -> None:
        self.settings = settings
        self.seed = seed
        self.model: Any = None
        self.mean = np.zeros(0)
        self.scale = np.ones(0)
        self.params: dict[str, Any] = {}

    def fit_folds(self, train: Fold, val: Fold, hooks: Any = None) -> None:
        x = np.asarray(train.normal, dtype=np.float64)
        self.mean, scale = x.mean(axis=0), x.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        self.fit_rows(x, self.require_settings())

    @abc.abstractmethod
    def fit_rows(self, x: np.ndarray, settings: BaselinesConfig) -> None:
        """Learn ``model`` and ``params`` from the normal training rows ``x``."""

    @abc.abstractmethod
    def scores(self, x: np.ndarray) -> np.ndarray:
        """The score of each float64 row."""

    def errors(self, x: np.ndarray) -> np.ndarray:
        """Each feature's share: its squared z-score against the normal training rows."""
        return ((x - self.mean) / self.scale) ** 2

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Higher means more anomalous, like the autoencoders' scores."""
        return self.scores(np.asarray(x, dtype=np.float64))

    def feature_errors(self, x: np.ndarray) -> np.ndarray:
        return self.errors(np.asarray(x, dtype=np.float64))

    def require_settings(self) -> BaselinesConfig:
        if self.settings is None:
            raise ModelConfigError(f"the {self.name} baseline was loaded: it scores, not fits")
        return self.settings

    def fitted_state(self) -> dict[str, Any]:
        """What skops writes: the name, what was learned, the threshold, the run's params."""
        return {
            "name": self.name,
            "model": self.model,
            "mean": self.mean,
            "scale": self.scale,
            "params": self.params,
            **self.threshold_header(),
        }

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(header, tensors) for a detector that holds this one (an ensemble): the skops
        bytes as one uint8 tensor."""
        import torch

        from aeops.data.preprocess import trusted_bytes

        data = np.frombuffer(trusted_bytes(self.fitted_state()), dtype=np.uint8).copy()
        return {"kind": self.kind, "name": self.name}, {SKOPS: torch.from_numpy(data)}

    def save(self, folder: str | Path) -> Path:
        from aeops.data.preprocess import dump_trusted

        path = Path(folder) / BASELINE_FILE
        dump_trusted(self.fitted_state(), path)
        return path

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Baseline:
        """The fitted baseline a saved state describes (no settings: it scores, not fits)."""
        baseline = cls(None, 0)
        baseline.model, baseline.params = state["model"], dict(state["params"])
        baseline.mean, baseline.scale = state["mean"], state["scale"]
        baseline.threshold_ = state.get("threshold")
        return baseline


def reference_sample(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """``x`` (a copy) when it has at most ``rows`` rows, else a seeded sample of ``rows``
    of them in their original order: k-NN's distances and ECOD's tails from 20,000 rows
    rank as from all, while scoring and the registered file stay small on a tall table."""
    if len(x) <= rows:
        return x.copy()
    keep = np.sort(np.random.default_rng(seed).choice(len(x), rows, replace=False))
    return x[keep]


def sample_params(settings: BaselinesConfig, n_rows: int) -> dict[str, Any]:
    """The reference size, recorded only when it sampled (small tables keep their params)."""
    return {"reference_rows": settings.reference_rows} if n_rows > settings.reference_rows else {}


def load_baseline(path: str | Path) -> Baseline:
    """The baseline saved at ``path`` (its class found by the name it was saved under)."""
    from aeops.data.preprocess import load_trusted

    return baseline_of(load_trusted(path), str(path))


def rebuild_baseline(tensors: dict[str, Any], where: str = "an ensemble's member") -> Baseline:
    """The baseline a holder's tensors keep (:meth:`Baseline.state`)."""
    from aeops.data.preprocess import load_trusted_bytes

    data = np.asarray(tensors[SKOPS]).astype(np.uint8).tobytes()
    return baseline_of(load_trusted_bytes(data, where), where)


def baseline_of(state: Any, where: str) -> Baseline:
    from aeops.models.baselines import baselines

    name = state.get("name") if isinstance(state, dict) else None
    if name not in baselines():
        raise AeopsError(f"{where}: not a baseline aeops knows (name {name!r})")
    return baselines()[name].from_state(state)
