"""Process-wide settings the pipeline applies in ``main()`` (never at import)."""

from __future__ import annotations

import os
import subprocess
import warnings

# Each library's own switch for usage reporting and update checks.
TELEMETRY_OFF = {
    "DVC_NO_ANALYTICS": "1",
    "DVC_NO_UPDATER": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_LOGGED_MODEL_AUTOLOG": "false",
}


def disable_telemetry() -> None:
    """Turn off DVC, MLflow and Great Expectations usage reporting for this process."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*is an invalid version.*")
    warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")


def git_commit() -> str | None:
    """The current git commit, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_dirty() -> bool | None:
    """Whether tracked files differ from the commit (None outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())
