"""Saving and loading a trained family: weights plus what it takes to rebuild the module."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from aeops.config import Config, parse_config
from aeops.data.schema import DatasetMeta
from aeops.io import atomic_path
from aeops.models.families import Autoencoder
from aeops.models.registry import build_model

MODEL_FILE = "model.pt"


def save_model(path: Path, family: str, net: Autoencoder, cfg: Config, meta: DatasetMeta) -> None:
    """Weights plus what it takes to rebuild the module (family, params, schema)."""
    with atomic_path(path) as tmp:
        torch.save({"family": family, "config": cfg.to_dict(), "meta": asdict(meta),
                    "state_dict": {k: v.cpu() for k, v in net.state_dict().items()}}, tmp)


def load_model(path: str | Path) -> tuple[Autoencoder, dict[str, Any]]:
    """Rebuild the module saved by :func:`save_model`, in eval mode on the CPU."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    cfg = parse_config(blob["config"])
    meta = DatasetMeta(**blob["meta"])
    net = build_model(blob["family"], cfg, meta)
    net.load_state_dict(blob["state_dict"])
    net.eval()
    return net, blob
