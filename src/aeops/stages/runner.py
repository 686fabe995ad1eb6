"""Running one stage from its script: telemetry off, params parsed, user errors printed
without a traceback. Imports nothing heavy, so a stage that ends early starts fast."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable

from aeops.config import Config, load_config
from aeops.env import disable_telemetry
from aeops.errors import AeopsError


def run_family_stage(name: str, body: Callable[[Config, str], object]) -> None:
    """``python pipeline/<name>.py <family>``: run ``body`` for one model family."""
    import argparse

    parser = argparse.ArgumentParser(description=f"DVC stage {name}@<family>")
    parser.add_argument("family", help="model family, one of models.families in params.yaml")
    family = parser.parse_args().family
    run_stage(f"{name}@{family}", lambda cfg: body(cfg, family))


def run_stage(name: str, body: Callable[[Config], object], params: str = "params.yaml") -> None:
    """Run one stage: telemetry off, params parsed, user errors printed without a traceback."""
    disable_telemetry()
    try:
        body(load_config(params))
    except AeopsError as exc:
        print(f"\n[aeops:{name}] FAILED: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception:
        traceback.print_exc()
        print(f"\n[aeops:{name}] FAILED with an unexpected error (traceback above)",
              file=sys.stderr)
        sys.exit(2)
