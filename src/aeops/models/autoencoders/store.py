"""Saving and loading a trained family: its weights, its score statistics and the constructor
arguments that rebuild the network, as ``safetensors`` (tensors plus a JSON header: data,
never code, so loading a model runs nothing, and the same weights give the same bytes on every
machine). Nothing of params.yaml is stored, so a later change to the config schema never
breaks a saved model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

import aeops
from aeops.core.errors import AeopsError
from aeops.core.io import atomic_path
from aeops.models.autoencoders.base import Autoencoder
from aeops.models.autoencoders.scores import ScoreCalibration

FORMAT = "3"  # 1: whole Config (aeops 0.1); 2: torch pickle + args; 3: safetensors + args
CALIBRATION = "calibration."  # the score statistics' tensors, beside the network's


def model_about(
    family: str, args: dict[str, Any], calibration: ScoreCalibration | None
) -> dict[str, Any]:
    """What rebuilds a family's network and score before its tensors are loaded."""
    return {
        "family": family,
        "args": args,
        "calibration": calibration.about() if calibration is not None else None,
    }


def model_tensors(
    net: Autoencoder, calibration: ScoreCalibration | None, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """The network's weights and the score statistics (under ``calibration.``), on the CPU."""
    tensors = {prefix + k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    if calibration is not None:
        for key, value in calibration.state_dict().items():
            tensors[f"{prefix}{CALIBRATION}{key}"] = value.detach().cpu().contiguous()
    return tensors


def rebuild(
    about: dict[str, Any], tensors: dict[str, torch.Tensor], build: Any
) -> tuple[Autoencoder, ScoreCalibration | None]:
    """The network ``about`` describes (built by ``build(family, args)``) with its weights,
    in eval mode, and its score statistics (None: plain reconstruction error)."""
    net = build(about["family"], about["args"])
    own = {k: v for k, v in tensors.items() if not k.startswith(CALIBRATION)}
    net.load_state_dict(own)
    calibration = None
    if about.get("calibration"):
        calibration = ScoreCalibration.empty(about["calibration"], net.input_dim)
        calibration.load_state_dict(
            {k[len(CALIBRATION) :]: v for k, v in tensors.items() if k.startswith(CALIBRATION)}
        )
    return net.eval(), calibration


def write_safetensors(path: Path, tensors: dict[str, Any], about: dict[str, Any]) -> None:
    """One metadata entry (safetensors writes several in no fixed order: bytes would differ)."""
    from safetensors.torch import save_file

    about = {"format": FORMAT, "aeops_version": aeops.__version__, **about}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"aeops": json.dumps(about, sort_keys=True)})


def save_state(state: tuple[dict[str, Any], dict[str, Any]], folder: str | Path) -> Path:
    """A family's (header, tensors) as its model file in ``folder``; the file's path."""
    from aeops.core.files import MODEL_FILE

    path = Path(folder) / MODEL_FILE
    header, tensors = state
    write_safetensors(path, tensors, header)
    return path


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
