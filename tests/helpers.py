"""Helpers shared by tests, benchmarks and the GPU check: no pytest import, so scripts that
run where pytest is not installed (the GPU machine) can use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aeops.config import Config, DataConfig, parse_config

ROOT = Path(__file__).resolve().parents[1]


def deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def project_params(**override: Any) -> dict[str, Any]:
    """The project's params.yaml as a mapping, with overrides."""
    import yaml

    return deep_update(yaml.safe_load((ROOT / "params.yaml").read_text()), override)


def make_config(tmp_path: Path | None = None, **override: Any) -> Config:
    """The project's params.yaml with overrides; paths moved under ``tmp_path`` when given."""
    data = project_params(**override)
    if tmp_path is not None:
        data["paths"] = {k: str(tmp_path / v) for k, v in data["paths"].items()}
    return parse_config(data)


def data_config(**override: Any) -> DataConfig:
    """``data:`` of the project's params.yaml with overrides."""
    return make_config(data=override).data


def low_rank_data(n: int, dim: int = 16, rank: int = 3, seed: int = 0) -> np.ndarray:
    """Rows on a low-dimensional subspace, squashed into [0, 1]: easy to reconstruct."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dim))
    codes = rng.normal(size=(n, rank))
    return (1 / (1 + np.exp(-(codes @ basis) / 2))).astype(np.float32)


def sensor_config(tmp_path: Path, families: list[str], epochs: int = 1, **override):
    """A 200-row sensor table (text labels, a categorical column) written under ``tmp_path``
    and a quick config over it: ``families``, ``epochs``, and ``override`` sections merged."""
    from tests.factories import sensor_table

    sensor_table(n=200).to_parquet(tmp_path / "sensors.parquet")
    base = {
        "data": {
            "source": "table",
            "path": str(tmp_path / "sensors.parquet"),
            "label_column": "status",
            "normal_labels": ["ok"],
            "min_rows": 20,
            "exclude": ["unit_id", "timestamp"],
        },
        "models": {"families": families},
        "evaluate": {"bootstrap": 20, "plots": False},
        "train": {"max_epochs": epochs, "progress_bar": False, "batch_size": 32},
        "baselines": {"iforest_estimators": 10},
    }
    return make_config(tmp_path, **deep_update(base, override))
