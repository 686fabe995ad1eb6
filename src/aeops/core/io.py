"""Atomic file writes: a failed stage never leaves a half-written output behind."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas and numpy load only where a stage needs them (fast no-op repro)
    import pandas as pd


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


MARKER = ".aeops"  # in every folder aeops writes: the only folders it will replace


def own_dir(path: str | Path) -> Path:
    """``path`` as a folder aeops writes into piece by piece (a family's model folder, the
    evaluation root), created with aeops' marker so a later check knows it is ours."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    marker = path / MARKER
    if not marker.exists():
        marker.write_text("written by aeops; the folder may be replaced\n")
    return path


def safe_yaml(text: str) -> Any:
    """``yaml.safe_load`` through libyaml's C parser where PyYAML has it (ten times faster on
    ``dvc.lock``, which every ``aeops check`` reads); the same safe loader otherwise."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader, C or Python


def locked_outputs(root: Path) -> set[Path]:
    """Every output ``dvc.lock`` records (what DVC made, so may remove), resolved."""
    lock = root / "dvc.lock"
    if not lock.exists():
        return set()
    stages = (safe_yaml(lock.read_text()) or {}).get("stages", {})
    return {
        (root / out["path"]).resolve()
        for stage in stages.values()
        for out in stage.get("outs", [])
        if "path" in out
    }


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; swap it into place only on success. An
    existing ``path`` is replaced only if aeops made it (it holds the marker file)."""
    from aeops.core.errors import AeopsError

    path = Path(path)
    if path.exists() and (
        not path.is_dir()
        or (any(path.iterdir()) and not (path / MARKER).exists() and not _restored_by_dvc(path))
    ):
        raise AeopsError(
            f"{path}: exists and was not made by aeops (it has no {MARKER} "
            "marker), so it is not replaced; point paths.* in params.yaml at "
            "another folder, or move it away yourself"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (tmp / MARKER).write_text("written by aeops; the folder may be replaced\n")
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _restored_by_dvc(path: Path) -> bool:
    """A folder ``dvc checkout`` or ``dvc pull`` restored: recorded in ``dvc.lock`` (in the
    working folder), and without the marker, which DVC does not keep (``.dvcignore``)."""
    return path.resolve() in locked_outputs(Path.cwd())


def write_json(path: str | Path, data: Any) -> None:
    """Strict JSON (a value that is not a finite number is written as null, never NaN)."""
    text = json.dumps(_finite(data), indent=2, sort_keys=True, allow_nan=False, default=_jsonable)
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_parquet(path: str | Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    np = sys.modules.get("numpy")  # no numpy value exists unless numpy was imported
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        return _finite(value.tolist())
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def file_sha256(*paths: str | Path) -> str:
    """The SHA-256 of the files' bytes, one after the other (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    for path in paths:
        with Path(path).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
