"""Shared fixtures: telemetry off, a private MLflow store per test, tiny configs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from aeops.env import TELEMETRY_OFF
from tests.helpers import (
    ROOT,
    data_config,
    deep_update,
    low_rank_data,
    make_config,
    project_params,
)

__all__ = ["ROOT", "data_config", "deep_update", "low_rank_data", "make_config",
           "project_params"]


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in TELEMETRY_OFF.items():
        monkeypatch.setenv(key, value)
    # the venv's tools (dvc, python) first on PATH for subprocesses
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private SQLite MLflow store for one test."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
