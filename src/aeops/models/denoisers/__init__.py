"""Image denoisers: fully convolutional networks trained on noisy patches, so a model trained
on 48 x 48 patches denoises a photo of any size (:mod:`aeops.models.denoisers.unet`).

One module per denoiser, found by the ``DENOISER`` class it exports (its ``name``, its
params block ``PARAMS``, ``fit``, ``denoise``, ``save`` and ``load``), as the autoencoder
families are found by ``FAMILY``. Nothing heavy is imported until a network is built.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

SPEC = "denoiser.json"  # what every denoiser's folder holds beside its weights


@cache
def denoisers() -> dict[str, Any]:
    """Every denoiser module's ``DENOISER`` class, by name, sorted by module name."""
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        kind = getattr(module, "DENOISER", None)
        if kind is not None:
            found[kind.name] = kind
    return found


def denoiser_names() -> tuple[str, ...]:
    """What ``models.families`` may name under a task that trains denoisers."""
    return tuple(denoisers())


def params_blocks() -> dict[str, Any]:
    """Each denoiser's params block (``models.<name>``), by name."""
    return {name: kind.PARAMS for name, kind in denoisers().items()}


def is_denoiser_folder(path: str | Path) -> bool:
    return (Path(path) / SPEC).is_file()


def load_denoiser(folder: str | Path) -> Any:
    """The denoiser saved in ``folder`` (its class found by the name it was saved under)."""
    import json

    from aeops.core.errors import AeopsError

    name = json.loads((Path(folder) / SPEC).read_text()).get("family")
    if name not in denoisers():
        raise AeopsError(f"{folder}: not a denoiser aeops knows (name {name!r})")
    return denoisers()[name].load(folder)
