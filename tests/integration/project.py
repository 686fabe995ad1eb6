"""Helpers to copy the project into a temporary git repo and run real DVC in it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from aeops.core.env import TELEMETRY_OFF
from tests.helpers import ROOT, deep_update

PROJECT_FILES = ("dvc.yaml", "params.yaml", ".dvcignore", "pyproject.toml", "Makefile", "README.md")
PROJECT_DIRS = ("pipeline", "src", ".dvc", "data/raw", "docs")

# A run small enough for the default test suite: two families, a few epochs, 600 rows.
SMALL = {
    "data": {"max_rows": 600},
    "train": {"max_epochs": 4, "patience": 2, "batch_size": 64, "progress_bar": False},
    "models": {
        "families": ["dense", "vae"],
        "dense": {"hidden": [32], "latent": 4},
        "vae": {"hidden": [32], "latent": 4},
    },
    "evaluate": {"bootstrap": 20},
    "baselines": {"iforest_estimators": 20},
    # a few epochs cannot beat k-NN on digits, and these tests follow retrained autoencoders
    # through the registry; choosing a baseline is tested in test_user_data / test_selection
    "register": {"candidates": "autoencoders"},
}


def project_env(root: Path) -> dict[str, str]:
    env = {**os.environ, **TELEMETRY_OFF}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    env.pop("DVC_EXP_NAME", None)
    return env


def bare_env(root: Path) -> dict[str, str]:
    """A user's shell: no .venv/bin on PATH, no MLflow URI exported."""
    env = project_env(root)
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env.pop("MLFLOW_TRACKING_URI")
    return env


def with_venv(root: Path) -> Path:
    """The project's .venv, reachable from the copy as `make` expects it."""
    if not (root / ".venv").exists():  # a git clone of a copy may bring the link along
        (root / ".venv").symlink_to(ROOT / ".venv")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_answers(url: str, proc: subprocess.Popen, seconds: int = 120) -> None:
    """Poll ``url`` until it answers 200; fail with the server's stderr if it exits first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read()[-3000:] if proc.stderr else ""
            raise AssertionError(f"the server behind {url} exited ({proc.returncode}):\n{stderr}")
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def wait_for_queue(root: Path, seconds: int = 900) -> str:
    """Wait until `make queue-status` shows no queued or running experiment; its output."""
    deadline = time.time() + seconds
    status = ""
    while time.time() < deadline:
        status = subprocess.run(
            ["make", "queue-status"], cwd=root, env=bare_env(root), text=True, capture_output=True
        ).stdout
        if not any(word in status for word in ("Queued", "Running")):
            return status
        time.sleep(5)
    raise AssertionError(f"queued experiments did not finish:\n{status}")


def queue_logs(root: Path, names: tuple[str, ...]) -> str:
    """What `dvc queue logs` kept for each named experiment, to read when one failed."""
    dvc = str(root / ".venv" / "bin" / "dvc")
    logs = [
        subprocess.run(
            [dvc, "queue", "logs", name],
            cwd=root,
            env=bare_env(root),
            text=True,
            capture_output=True,
        )
        for name in names
    ]
    pairs = zip(names, logs, strict=True)
    return "".join(f"\n--- {n}:\n{r.stdout[-4000:]}{r.stderr[-2000:]}" for n, r in pairs)


def run(
    cmd: list[str],
    root: Path,
    check: bool = True,
    timeout: int = 600,
    extra_env: dict[str, str] | None = None,
):
    env = {**project_env(root), **(extra_env or {})}
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({result.returncode}):\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def set_params(root: Path, override: dict[str, Any]) -> None:
    path = root / "params.yaml"
    params = deep_update(yaml.safe_load(path.read_text()), override)
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def make_project(root: Path, override: dict[str, Any] | None = None, small: bool = True) -> Path:
    """A fresh git repo holding the pipeline (no generated files), with params overridden
    (on top of :data:`SMALL` unless ``small`` is false: then the project's own params)."""
    root.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(
            ROOT / name,
            root / name,
            ignore=shutil.ignore_patterns("__pycache__", "tmp", "cache", "*.egg-info"),
        )
    shutil.copy2(ROOT / ".gitignore", root / ".gitignore")
    set_params(root, deep_update(SMALL if small else {}, override or {}))
    run(["git", "init", "-q"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], root)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], root)
    return root


def clone_project(src: Path, dst: Path) -> Path:
    """A copy of a project after a run: outputs, DVC cache, git and MLflow store."""
    shutil.copytree(src, dst, symlinks=True)
    return dst
