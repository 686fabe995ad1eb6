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
from aeops.env import disable_telemetry
from aeops.errors import AeopsError
from aeops.logs import configure as configure_logging

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
    from aeops.errors import ConfigError

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


def run_stage(name: str, body: Callable[[Config], object], params: str = "params.yaml") -> None:
    """Run one stage: telemetry off, logging configured, params parsed, user errors reported
    without a traceback."""
    disable_telemetry()
    configure_logging()
    try:
        cfg = load_config(params)
        check_paths_inside(cfg, Path.cwd())
        body(cfg)
    except AeopsError as exc:
        log.error(f"\n[aeops:{name}] FAILED: {exc}")
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception:
        traceback.print_exc()
        log.error(f"\n[aeops:{name}] FAILED with an unexpected error (traceback above)")
        sys.exit(2)
