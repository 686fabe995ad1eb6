"""Shared fixtures: telemetry off, a private MLflow store per test. Helpers (tiny configs,
data) are imported from ``tests.helpers``.

``make test`` runs on two pytest-xdist workers (one per core of the reference machine); each
worker, and every process it starts, then uses one thread for torch and BLAS, so the two
workers share the cores instead of fighting over them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aeops.core.env import REPRODUCIBLE_CPU, TELEMETRY_OFF

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def pytest_configure(config: pytest.Config) -> None:
    for name, value in REPRODUCIBLE_CPU.items():  # as every stage and `aeops` command runs
        os.environ.setdefault(name, value)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # set before anything imports torch or numpy
        for name in THREAD_VARIABLES:
            os.environ[name] = "1"


# make test's longest path is this file's `dvc repro` fixture (a minute on one worker): it starts
# first (the Makefile keeps this order: --no-loadscope-reorder), the other worker takes the rest
FIRST = ("tests/integration/test_pipeline.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in FIRST)  # stable otherwise


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in TELEMETRY_OFF.items():
        monkeypatch.setenv(key, value)
    # the venv's tools (dvc, python) first on PATH for subprocesses
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private SQLite MLflow store for one test: the environment variable, and MLflow's
    process-wide URI (which an earlier test's stage may have set, and which wins over the
    variable), put back as it was afterwards."""
    from mlflow.tracking._tracking_service import utils

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    if utils._tracking_uri is None:  # nothing set it: the variable rules (the usual case)
        yield uri
        return
    with utils._use_tracking_uri(uri):
        yield uri
