"""The autoencoder families: one module per family, found by its ``FAMILY`` spec.

A family module (``dense.py``, ``conv.py``, ...) holds the family's network, objective and
params block and exports ``FAMILY`` (:class:`~aeops.models.autoencoders.base.Family`). Adding
a family is one new module here plus its block under ``models:`` in ``params.yaml``: the
config, training, evaluation, registration and the contract tests find it by itself. The
other modules here (``base``, ``bag``, ``components``, ``detector``, ``scores``, ``settings``,
``sizing``, ``spec``, ``store``) are what the families share.

Nothing is imported until asked: :func:`families` imports the family modules once (not the
shared ones, which pull in the training engine).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

SHARED = (
    "bag",
    "base",
    "components",
    "detector",
    "scores",
    "settings",
    "sizing",
    "spec",
    "store",
)  # not families


@cache
def families() -> dict[str, Any]:
    """Every family module's ``FAMILY`` (:class:`~aeops.models.autoencoders.base.Family`), by
    name, sorted by module name. Imported here only, by name: the config and the stages that
    only read params never import a network."""
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in SHARED or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "FAMILY", None)
        if spec is not None:
            found[spec.name] = spec
    return found


def family_names() -> tuple[str, ...]:
    return tuple(families())
