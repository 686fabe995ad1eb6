"""Running one stage from its script: telemetry off, logging configured, params parsed, user
errors reported without a traceback. Imports nothing heavy, so a stage that ends early starts
fast."""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from aeops.config import Config, load_config
from aeops.core.env import disable_telemetry
from aeops.core.errors import AeopsError
from aeops.core.logs import configure as configure_logging

log = logging.getLogger(__name__)


def run_family_stage(name: str, body: Callable[[Config, str], object]) -> None:
    """``python pipeline/<name>.py <family>``: run ``body`` for one model family."""
    import argparse

    parser = argparse.ArgumentParser(description=f"DVC stage {name}@<family>")
    parser.add_argument("family", help="model family, one of models.families in params.yaml")
    family = parser.parse_args().family
    run_stage(f"{name}@{family}", lambda cfg: body(cfg, family))


def check_paths_inside(cfg: Config, root: Path) -> None:
    """Every ``paths.*`` must resolve inside the project: a stage never writes elsewhere."""
    from aeops.core.errors import ConfigError

    root = root.resolve()
    for key, value in cfg.paths.model_dump().items():
        target = (root / value).resolve()
        if target != root and root not in target.parents:
            raise ConfigError(
                f"paths.{key}: {value} is outside the project ({root}); every "
                "path must stay inside it"
            )
        if target == root:
            raise ConfigError(
                f"paths.{key}: {value} is the project folder itself; name a "
                "file or folder inside it"
            )


# the paths.* that are DVC stage outputs (dvc.yaml): DVC deletes them before their stage runs
OUTPUT_PATHS = (
    "interim_data",
    "interim_meta",
    "validation_dir",
    "splits",
    "model_input",
    "preprocessor",
    "eval_dir",
    "baselines_dir",
    "plots_dir",
    "curves_dir",
    "metrics",
    "summary",
)


def check_outputs_are_ours(cfg: Config, root: Path) -> None:
    """No ``paths.*`` output may name something aeops did not make: DVC deletes a stage's
    outputs before the stage runs, so a user's folder (``paths.validation_dir: notes``) would
    be gone before any stage could object. Ours: recorded in ``dvc.lock``, or a folder holding
    aeops' marker. Checked by every stage and by ``aeops check`` (``make train``), before DVC
    reaches the stage that owns the path."""
    from aeops.core.errors import ConfigError
    from aeops.core.io import MARKER, locked_outputs

    locked = locked_outputs(root)
    paths = [(key, Path(getattr(cfg.paths, key))) for key in OUTPUT_PATHS]
    paths += [
        (f"models_dir ({family})", cfg.paths.model_dir(family)) for family in cfg.models.families
    ]
    for key, path in paths:
        target = root / path
        if not target.exists() or target.resolve() in locked:
            continue
        if target.is_dir() and ((target / MARKER).exists() or not any(target.iterdir())):
            continue
        raise ConfigError(
            f"paths.{key}: {path} already exists and was not made by aeops (not in dvc.lock"
            f"{'' if target.is_file() else f', no {MARKER} marker'}); DVC would delete it "
            f"before the stage runs. Point paths.{key} at a new name, or move it away yourself"
        )


def check_project(params: str = "params.yaml", root: Path | None = None) -> Config:
    """params.yaml parsed, every path inside the project, no output over a user's file."""
    root = Path.cwd() if root is None else root
    cfg = load_config(params)
    check_paths_inside(cfg, root)
    check_outputs_are_ours(cfg, root)
    return cfg


def run_stage(name: str, body: Callable[[Config], object], params: str = "params.yaml") -> None:
    """Run one stage: telemetry off, logging configured, params parsed, user errors reported
    without a traceback."""
    disable_telemetry()
    configure_logging()
    try:
        body(check_project(params))
    except AeopsError as exc:
        log.error(f"\n[aeops:{name}] FAILED: {exc}")
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception:
        traceback.print_exc()
        log.error(f"\n[aeops:{name}] FAILED with an unexpected error (traceback above)")
        sys.exit(2)
