"""The defaults aeops' constructors start from when no params.yaml is at hand (a notebook's
``DenseAE(latent=8)``, ``UNetDenoiser(sigma=[5, 50])``): the project's own params.yaml,
packaged with aeops as ``defaults.yaml`` (``scripts/make_presets.py`` copies it; a test keeps
the two equal), so every value still lives in one file."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

DEFAULTS = Path(__file__).with_name("defaults.yaml")


@cache
def default_params() -> dict[str, Any]:
    """The packaged params, parsed once."""
    import yaml

    return yaml.safe_load(DEFAULTS.read_text())


def default_block(*keys: str) -> dict[str, Any]:
    """A copy of the block at ``keys`` (``default_block("models", "dense")``)."""
    block: Any = default_params()
    for key in keys:
        block = block[key]
    return copy.deepcopy(block)
