"""The classical baselines every autoencoder must beat, one module per baseline (PCA
reconstruction, Isolation Forest, k-nearest neighbours and ECOD: the strongest classical
detectors in ADBench, NeurIPS 2022; Hotelling's T² for sensor streams), found by the
``BASELINE`` class each module exports.

Each is a :class:`~aeops.models.base.Detector` like the autoencoders, so a baseline that wins
can be registered and served as the same pyfunc: same columns, threshold and ``explain``. All
are fit on the normal training rows in model-input space, and a row's score never depends on
the other rows scored with it. Saved with skops (data, not a pickle).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

ORDER = ("pca", "hotelling", "iforest", "knn", "ecod")  # the order they run and are listed in


@cache
def baselines() -> dict[str, Any]:
    """Every baseline module's ``BASELINE`` class (a
    :class:`~aeops.models.baselines.base.Baseline`), by name, known ones first in ORDER."""
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "BASELINE", None)
        if cls is not None:
            found[cls.name] = cls
    ranked = sorted(found, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return {name: found[name] for name in ranked}


def baseline_names() -> tuple[str, ...]:
    return tuple(baselines())
