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


# Warnings libraries print about themselves, not about the user's data or run.
LIBRARY_NOISE = (
    ".*does not have many workers.*",
    ".*is an invalid version.*",
    ".*isinstance.treespec, LeafSpec.*",
    # pyspark on every pandas 3 import (Great Expectations imports it when installed); Spark
    # scores are checked against aeops score's (tests/integration/test_spark.py)
    "PySpark does not yet fully support pandas",
)


# MKL's conditional numerical reproducibility: torch's CPU matrix products take the AVX2 code
# path on every x86-64 CPU (AVX-512 ones included), so the same seed trains the same weights on
# any of them. Read by MKL when it first runs: set before torch does any work.
REPRODUCIBLE_CPU = {"MKL_CBWR": "AVX2"}


def disable_telemetry() -> None:
    """Turn off DVC, MLflow and Great Expectations usage reporting for this process, and pin
    MKL's code path (:data:`REPRODUCIBLE_CPU`) unless the environment already sets one."""
    for key, value in {**TELEMETRY_OFF, **REPRODUCIBLE_CPU}.items():
        os.environ.setdefault(key, value)
    quiet_library_warnings()


def quiet_library_warnings() -> None:
    for pattern in LIBRARY_NOISE:
        warnings.filterwarnings("ignore", message=pattern)


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
