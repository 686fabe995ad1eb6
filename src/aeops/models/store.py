"""Saving and loading a trained family: its weights and the constructor arguments that rebuild
the module. Nothing of params.yaml is stored, so a later change to the config schema never
breaks a saved model; the file is read with ``weights_only=True`` (tensors and plain data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

import aeops
from aeops.errors import AeopsError
from aeops.io import atomic_path
from aeops.models.families import Autoencoder
from aeops.models.registry import build_model

FORMAT = 2  # 1: the whole Config inside (aeops 0.1); 2: family + constructor arguments


def save_model(path: Path, family: str, args: dict[str, Any], net: Autoencoder) -> None:
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "aeops_version": aeops.__version__, "family": family,
                    "args": args,
                    "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()}},
                   tmp)


def load_model(path: str | Path) -> tuple[Autoencoder, dict[str, Any]]:
    """Rebuild the module saved by :func:`save_model`, in eval mode on the CPU."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same clear refusal
        raise AeopsError(f"{path}: not a model file aeops can read ({str(exc)[:200]})") from None
    version = blob.get("format", 1) if isinstance(blob, dict) else None
    if version != FORMAT:
        raise AeopsError(f"{path}: written by aeops model format {version}, and this aeops "
                         f"({aeops.__version__}) reads format {FORMAT}; retrain it with "
                         "`dvc repro`")
    net = build_model(blob["family"], blob["args"])
    net.load_state_dict(blob["state_dict"])
    net.eval()
    return net, blob
