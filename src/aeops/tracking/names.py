"""What the pipeline's runs, registered models and tags are called: the tag names, the
champion mark, run names, digests and the key of a detector's files. No MLflow import: the
fast paths (the register stage's no-op, the CLI's refusals) read these too.

What the pipeline leaves in MLflow is found again by content, never by ids kept in DVC-tracked
files (which would differ on every run and every machine): a training run carries the SHA-256
of the ``model.safetensors`` it wrote (``aeops.model_sha256``), and a logged detector the key of
the files it packs (``aeops.detector_key``). The store itself carries an id
(``aeops.store_id``), so the register stage can tell in milliseconds whether the store it last
wrote to is still the configured one.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from aeops.config import Config
from aeops.core.io import file_sha256

CHAMPION = "champion"

CHAMPION_RUN_TAG = "aeops.champion"  # on the run behind the champion version: its name and version

CHALLENGER = "challenger"

SCHEMA_TAG = "input_schema"  # on a registered model: its schema in one line

METRIC_TAG_PREFIX = "metric."  # a version's headline metrics: metric.val_auroc, ...

SCHEMA_HASH_TAG = "schema_hash"  # ... and the hash that tells schemas apart

MODEL_SHA_TAG = "aeops.model_sha256"

DETECTOR_KEY_TAG = "aeops.detector_key"

BASELINE_PARAMS_TAG = "aeops.baseline_params"  # digest of a baseline's params (one run per fit)

STORE_ID_TAG = "aeops.store_id"


def detector_key(*files: str | Path) -> str:
    """What identifies a deployable model: the files it packs (a detector's model file,
    preprocessor and ``detector.json``; a denoiser's weights and record)."""
    return file_sha256(*files)[:16]


def params_digest(params: dict[str, Any]) -> str:
    """A short stable digest of a model's params (what tells two fits of one baseline apart)."""

    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def data_label(cfg: Config) -> str:
    """The data in one word: the source's file or folder name (``sensors`` for
    ``sensors.csv``), or the source kind (``digits``)."""
    path = cfg.data.path
    named = Path(path).name.split(".")[0] if path and cfg.data.source != "digits" else None
    return named or cfg.data.source


MODEL_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def default_model_name(cfg: Config) -> str:
    """``aeops-<data>``: ``aeops-digits``, ``aeops-sensors`` for ``sensors.csv``."""
    return "aeops-" + MODEL_NAME_CHARS.sub("-", data_label(cfg).replace("_", "-")).strip("-.")


def use_suffix(cfg: Config) -> str:
    """What the task adds to the registered name (``-denoise``, ``-compress``, ``-reduce``;
    nothing for detection): one registered model per use, so a compressor never replaces a
    detector."""
    return cfg.use.suffix


def run_name(cfg: Config, family: str) -> str:
    """What the MLflow runs table shows: the data and the family (``digits/denoising``,
    ``sensors/dense`` for ``sensors.csv``), so runs of different data tell apart."""
    return f"{data_label(cfg)}/{family}"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted keys, for MLflow params and registry tags."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


CHAMPION_MARK = " \u2605 champion"  # " ★ champion" after the run name, while it is one


def champion_run_name(run_name: str, champion: bool) -> str:
    """``digits/knn`` -> ``digits/knn ★ champion`` (short: the runs table cuts names); the
    tag ``aeops.champion`` names the version. ``False`` takes the mark off again."""
    plain = run_name.split(CHAMPION_MARK)[0]
    return f"{plain}{CHAMPION_MARK}" if champion else plain
