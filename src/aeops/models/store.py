"""Saving and loading a trained family: its weights and the constructor arguments that rebuild
the module, as ``safetensors`` (tensors plus a JSON header: data, never code, so loading a
model runs nothing, and the same weights give the same bytes on every machine). Nothing of
params.yaml is stored, so a later change to the config schema never breaks a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aeops
from aeops.errors import AeopsError
from aeops.io import atomic_path
from aeops.models.calibration import ScoreCalibration
from aeops.models.families import Autoencoder
from aeops.models.registry import build_model

FORMAT = "3"  # 1: whole Config (aeops 0.1); 2: torch pickle + args; 3: safetensors + args


def model_about(family: str, args: dict[str, Any], net: Autoencoder) -> dict[str, Any]:
    """What rebuilds ``net`` before its weights are loaded (:func:`rebuild`)."""
    return {
        "family": family,
        "args": args,
        "calibration": net.calibration.about() if net.calibration is not None else None,
    }


def rebuild(about: dict[str, Any], tensors: dict[str, Any]) -> Autoencoder:
    """The module ``about`` describes, with ``tensors`` loaded, in eval mode."""
    net = build_model(about["family"], about["args"])
    if about.get("calibration"):
        net.calibration = ScoreCalibration.empty(about["calibration"], net.input_dim)
    net.load_state_dict(tensors)
    return net.eval()


def weights_of(net: Autoencoder, prefix: str = "") -> dict[str, Any]:
    return {prefix + k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}


def write_safetensors(path: Path, tensors: dict[str, Any], about: dict[str, Any]) -> None:
    """One metadata entry (safetensors writes several in no fixed order: bytes would differ)."""
    from safetensors.torch import save_file

    about = {"format": FORMAT, "aeops_version": aeops.__version__, **about}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"aeops": json.dumps(about, sort_keys=True)})


def read_safetensors(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, tensors) of a file :func:`write_safetensors` wrote; anything else, or
    another format, is one sentence."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = json.loads((handle.metadata() or {}).get("aeops", "{}"))
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AeopsError(
            f"{path}: not a model file aeops can read ({str(exc)[:200]}); "
            "models from aeops before 0.2 are torch pickles: retrain them with "
            "`dvc repro`"
        ) from None
    if metadata.get("format") != FORMAT:
        raise AeopsError(
            f"{path}: written as aeops model format {metadata.get('format')}, and "
            f"this aeops ({aeops.__version__}) reads format {FORMAT}; retrain it "
            "with `dvc repro`"
        )
    return metadata, tensors


def save_model(path: Path, family: str, args: dict[str, Any], net: Autoencoder) -> None:
    write_safetensors(path, weights_of(net), model_about(family, args, net))


def load_model(path: str | Path) -> tuple[Autoencoder, dict[str, Any]]:
    """Rebuild the module saved by :func:`save_model`, in eval mode on the CPU."""
    metadata, tensors = read_safetensors(path)
    net = rebuild(metadata, tensors)
    return net, {
        "family": metadata["family"],
        "args": metadata["args"],
        "aeops_version": metadata.get("aeops_version"),
    }
