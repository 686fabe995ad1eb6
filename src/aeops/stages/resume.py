"""Resuming a family's training after a crash or a kill: ``last.ckpt`` lives in
``<paths.checkpoints_dir>/<family>`` beside a fingerprint of everything that shapes the run
(params, data). It is written every ``train.checkpoint_every_s`` seconds and when training is
interrupted (SIGTERM, Ctrl-C). A rerun with the same fingerprint continues from it (loaded with
``weights_only=True``) and keeps logging to the same MLflow run; any other fingerprint starts
afresh. A finished run removes its checkpoints, so the next change starts clean."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import torch

from aeops.config import Config

log = logging.getLogger(__name__)

LAST = "last.ckpt"
MARKER = "fingerprint.json"
NOT_FINGERPRINTED = ("checkpoint_every_s", "progress_bar")  # do not change the result


def fingerprint(cfg: Config, family: str, data_hash: str) -> str:
    train = {
        k: v for k, v in cfg.train.model_dump(mode="json").items() if k not in NOT_FINGERPRINTED
    }
    parts = {
        "family": family,
        "model": cfg.models.family(family).model_dump(mode="json"),
        "auto_size": cfg.models.auto_size.model_dump(mode="json"),
        "score": [cfg.models.score, cfg.models.score_neighbors],
        "train": train,
        "seed": cfg.seed,
        "data": data_hash,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def prepare_checkpoints(ckpt_dir: Path, fp: str) -> tuple[Path | None, str | None]:
    """Return (checkpoint to resume from, MLflow run to continue) or (None, None)."""
    marker = ckpt_dir / MARKER
    last = ckpt_dir / LAST
    if marker.exists() and last.exists():
        state = json.loads(marker.read_text())
        if state.get("fingerprint") != fp:
            log.info(f"params or data changed since {last} was written; starting afresh")
        elif readable(last):
            return last, state.get("run_id")
        else:
            log.warning(f"{last} cannot be read (cut off while written?); starting afresh")
    if ckpt_dir.exists():
        shutil.rmtree(ckpt_dir)
    return None, None


def write_marker(ckpt_dir: Path, fp: str, run_id: str | None) -> None:
    """Record which params and data, and which MLflow run, the checkpoints belong to."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / MARKER).write_text(json.dumps({"fingerprint": fp, "run_id": run_id}))


def readable(checkpoint: Path) -> bool:
    """Whether a resume checkpoint loads (one cut off by a kill mid-write does not)."""
    try:
        checkpoint_epoch(checkpoint)
    except Exception:  # noqa: BLE001 - any failure to load means: do not resume from it
        return False
    return True


def checkpoint_epoch(path: Path) -> int:
    """The epoch a resume checkpoint was written at."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
