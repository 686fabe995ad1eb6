"""Helpers shared by tests, benchmarks and the GPU check: no pytest import, so scripts that
run where pytest is not installed (the GPU machine) can use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aeops.config import Config, parse_config
from aeops.core.sections import DataConfig

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


# -- the detector API, for model tests --------------------------------------------------------


def training_spec(family: str, cfg: Config, meta: Any, unit_range: bool = True):
    """What training ``family`` needs, from ``cfg`` (as the train stage builds it)."""
    from aeops.models.autoencoders.settings import ScoreSettings, TrainingSpec
    from aeops.stages.common import switch_rule

    return TrainingSpec(
        family=family,
        params=lead_params(family, cfg),
        auto_size=cfg.models.auto_size,
        train=cfg.train,
        score=ScoreSettings(cfg.models.score, cfg.models.score_neighbors, switch_rule(cfg)),
        seed=cfg.seed,
        meta=meta,
        unit_range=unit_range,
    )


def architecture_of(family: str, cfg: Config, meta: Any, x: np.ndarray, unit_range: bool = True):
    from aeops.models.autoencoders.settings import architecture

    return architecture(training_spec(family, cfg, meta, unit_range), x)


def build_net(family: str, cfg: Config, meta: Any, unit_range: bool = True, x=None):
    """``family``'s network for ``meta``'s data (auto sizes from ``x``, or 20 random rows)."""
    from aeops.models.autoencoders.settings import family as family_spec

    if x is None:
        x = np.random.default_rng(0).random((20, meta.n_features)).astype(np.float32)
    return family_spec(family).build(architecture_of(family, cfg, meta, x, unit_range))


def objective_of(family: str, cfg: Config):
    from aeops.models.autoencoders.settings import family as family_spec

    return family_spec(family).objective(lead_params(family, cfg), cfg.train.loss)


def lead_params(family: str, cfg: Config):
    """``family``'s params block, a listed setting (the VAE's ``beta: [..]``) at its first
    option, as the detector's lead network is built."""
    from aeops.models.autoencoders.settings import family as family_spec

    return family_spec(family).options(cfg.models.family(family))[0][1]


def net_score(net: Any, x: Any):
    """(row score, per-feature squared error) of a plain network, at its deterministic code."""
    import torch

    from aeops.models.autoencoders.scores import score_rows

    with torch.no_grad():
        out = score_rows(net, x, net(x), None)
    return out["score"], out["per_feature"]


def fold_of(x: np.ndarray, is_anomaly: np.ndarray | None = None, synthetic=None):
    """A :class:`~aeops.data.split.Fold` of model-input rows (all normal by default)."""
    from aeops.data.split import Fold

    flags = np.zeros(len(x), bool) if is_anomaly is None else np.asarray(is_anomaly, bool)
    fake = np.zeros(len(x), bool) if synthetic is None else np.asarray(synthetic, bool)
    groups = np.where(flags, "anomaly", "normal").astype(object)
    return Fold(np.asarray(x), groups, flags, fake)


def quick_fit(net, objective, train_cfg, plan, data, root=None, seed: int = 0):
    """:func:`aeops.training.engine.fit` of ``net`` on ``data`` (train, val, val flags)."""
    from aeops.training.batches import FoldData
    from aeops.training.engine import Run, fit

    return fit(net, objective, Run(train_cfg, plan, seed, root), FoldData(*data))


def file_job(model: str, source: Path, output: Path, command: str = "score", **options: Any):
    """What ``aeops <command> --model <model> --input <source> --output <output> --quiet``
    does, through the library the CLI delegates to; its printed lines."""
    from aeops.serving.commands import FileJob, run_file_job

    kinds = {
        "score": "score",
        "encode": "latent",
        "decode": "decode",
        "reconstruct": "reconstruction",
    }
    job = FileJob(model, Path(source), Path(output), kinds[command], progress=False, **options)
    return run_file_job(job)


def file_job_exit(model: str, source: Path, output: Path, command: str = "score", **options):
    """:func:`file_job`'s outcome as the CLI's exit code: 0, or 1 with the sentence printed."""
    from aeops.core.errors import AeopsError

    try:
        file_job(model, source, output, command, **options)
    except (AeopsError, FileNotFoundError) as exc:
        print(f"aeops {command}: {exc}")
        return 1
    return 0


def autoencoder_of(net: Any, batch_rows: int = 8192, name: str = "dense", args=None):
    """A trained (or untrained) network as a detector, scoring ``batch_rows`` rows a pass."""
    from aeops.models.autoencoders.detector import AutoencoderDetector

    detector = AutoencoderDetector.from_network(name, args or {}, net)
    detector.batch_rows = batch_rows
    return detector


def baseline_of(name: str, x: np.ndarray, settings: Any, seed: int = 0):
    """Baseline ``name`` fitted on the normal rows ``x``."""
    from aeops.models.baselines import baselines

    return baselines()[name](settings, seed).fit(fold_of(x), fold_of(x[:0]))
