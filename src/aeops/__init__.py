"""aeops: autoencoder anomaly detection, from raw data to a registered champion model.

The pipeline runs from ``make train``; in Python, every model is also a constructor
(PyOD's style: ``from aeops import DenseAE; DenseAE(latent=8).fit(X)``, see
:mod:`aeops.models.estimators`) and any saved model loads with ``aeops.load(path)``.
Importing ``aeops`` imports nothing heavy: a name below is imported when first used.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PUBLIC = {
    "DenseAE": "aeops.models.estimators",
    "ConvAE": "aeops.models.estimators",
    "DenoisingAE": "aeops.models.estimators",
    "SparseAE": "aeops.models.estimators",
    "VAE": "aeops.models.estimators",
    "CoderAE": "aeops.models.estimators",
    "PCA": "aeops.models.estimators",
    "IForest": "aeops.models.estimators",
    "KNN": "aeops.models.estimators",
    "ECOD": "aeops.models.estimators",
    "Ensemble": "aeops.models.estimators",
    "UNetDenoiser": "aeops.models.estimators",
    "load": "aeops.models.registry",
}

__all__ = ["__version__", *PUBLIC]


def __getattr__(name: str) -> Any:
    """``aeops.DenseAE`` and the rest, imported on first use (``import aeops`` stays light)."""
    if name not in PUBLIC:
        raise AttributeError(f"module 'aeops' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(PUBLIC[name])
    return getattr(module, "load_model" if name == "load" else name)
