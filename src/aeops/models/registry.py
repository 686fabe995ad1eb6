"""Every detector by name: the autoencoder families (found in :mod:`aeops.models.autoencoders`),
the classical baselines (:mod:`aeops.models.baselines`) and the ensemble; a saved detector
loaded by the kind its ``detector.json`` records. Evaluation, registration, the pyfunc and the
CLI ask here and see only the :class:`~aeops.models.base.Detector` protocol."""

from __future__ import annotations

from pathlib import Path

from aeops.core.errors import AeopsError
from aeops.core.files import ENSEMBLE
from aeops.models.autoencoders import family_names
from aeops.models.autoencoders.detector import SCORE_BATCH_ROWS, AutoencoderDetector
from aeops.models.base import KINDS, Detector
from aeops.models.baselines import baseline_names, baselines
from aeops.models.baselines.base import load_baseline
from aeops.models.ensemble import EnsembleDetector

__all__ = ["baseline_names", "baselines", "family_names", "load_detector"]


def load_detector(kind: str, path: str | Path, batch_rows: int = SCORE_BATCH_ROWS) -> Detector:
    """The detector of ``kind`` (``autoencoder``, ``ensemble`` or ``baseline``) saved at
    ``path``; ``batch_rows``: rows per forward pass of a network."""
    if kind == "baseline":
        return load_baseline(path)
    if kind == ENSEMBLE:
        return EnsembleDetector.load(path, batch_rows)
    if kind == "autoencoder":
        return AutoencoderDetector.load(path, batch_rows)
    raise AeopsError(f"{path}: unknown detector kind '{kind}'; one of {list(KINDS)}")
