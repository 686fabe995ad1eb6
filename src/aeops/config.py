"""``params.yaml`` parsed once into typed, validated configuration.

Every key is declared here with its type and default; an unknown key, a wrong type or a value
outside the allowed set fails at start with the key's dotted name and what is allowed.
Every path the pipeline reads or writes is declared once, in :class:`Paths`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

FAMILIES = ("dense", "conv", "denoising", "sparse", "vae")
SOURCES = ("digits", "mnist", "table", "npz")


class ConfigError(ValueError):
    """A bad key or value in params.yaml."""


@dataclass(frozen=True)
class Paths:
    interim_data: str = "data/interim/dataset.parquet"
    interim_meta: str = "data/interim/meta.json"
    validation_dir: str = "reports/validation"
    splits: str = "data/processed/splits.parquet"
    preprocessor: str = "data/processed/preprocessor.joblib"
    models_dir: str = "models"
    eval_dir: str = "reports/eval"
    baselines_dir: str = "reports/baselines"
    metrics: str = "reports/metrics.json"
    plots_dir: str = "reports/plots"
    registry_report: str = "reports/register.json"
    mlflow_artifacts: str = "mlartifacts"

    def model_dir(self, family: str) -> Path:
        return Path(self.models_dir) / family

    def family_eval_dir(self, family: str) -> Path:
        return Path(self.eval_dir) / family


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    anomaly_val_fraction: float = 0.5

    def __post_init__(self) -> None:
        _check_fraction("data.split.val_fraction", self.val_fraction)
        _check_fraction("data.split.test_fraction", self.test_fraction)
        _check_fraction("data.split.anomaly_val_fraction", self.anomaly_val_fraction)
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                "data.split: val_fraction + test_fraction must be < 1 so training keeps rows; "
                f"got {self.val_fraction} + {self.test_fraction}"
            )


@dataclass(frozen=True)
class DataConfig:
    source: Literal["digits", "mnist", "table", "npz"] = "digits"
    path: str | None = None
    label_column: str = "label"
    features: list[str] | None = None
    value_range: list[float] | None = None
    image_shape: list[int] | None = None
    labels: list[int] | None = None
    normal_labels: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6, 7, 8])
    scaler: Literal["none", "minmax", "standard"] = "none"
    min_rows: int = 50
    max_rows: int | None = None
    split: SplitConfig = field(default_factory=SplitConfig)

    def __post_init__(self) -> None:
        if self.source in ("mnist", "table", "npz") and not self.path:
            raise ConfigError(
                f"data.path: source '{self.source}' reads a local file; set data.path to it"
            )
        if self.value_range is not None and (
            len(self.value_range) != 2 or self.value_range[0] >= self.value_range[1]
        ):
            raise ConfigError(f"data.value_range: expected [low, high] with low < high, got "
                              f"{self.value_range}")
        if not self.normal_labels:
            raise ConfigError("data.normal_labels: name at least one normal label")
        if self.min_rows < 1:
            raise ConfigError(f"data.min_rows: must be >= 1, got {self.min_rows}")


@dataclass(frozen=True)
class TrainerConfig:
    max_epochs: int = 200
    min_epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 20
    loss: Literal["mse", "bce"] = "mse"
    accelerator: str = "auto"
    devices: Union[int, str, list[int]] = 1  # noqa: UP007 - runtime type inspection
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    compile: bool = False
    deterministic: bool = True
    in_memory: bool = True
    num_workers: int = 0
    limit_train_batches: Union[int, float] = 1.0  # noqa: UP007
    progress_bar: bool = True

    def __post_init__(self) -> None:
        for key in ("max_epochs", "batch_size", "patience", "num_nodes"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key}: must be >= 1, got {getattr(self, key)}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr: must be > 0, got {self.lr}")


@dataclass(frozen=True)
class DenseConfig:
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    latent: int = 8
    dropout: float = 0.0


@dataclass(frozen=True)
class ConvConfig:
    channels: list[int] = field(default_factory=lambda: [16, 32])
    latent: int = 8


@dataclass(frozen=True)
class DenoisingConfig(DenseConfig):
    noise: Literal["gaussian", "mask"] = "gaussian"
    noise_level: float = 0.2


@dataclass(frozen=True)
class SparseConfig(DenseConfig):
    latent: int = 16
    penalty: Literal["l1", "kl"] = "l1"
    sparsity_weight: float = 1e-3
    sparsity_target: float = 0.05


@dataclass(frozen=True)
class VAEConfig:
    hidden: list[int] = field(default_factory=lambda: [64, 32])
    latent: int = 8
    beta: float = 1.0
    score: Literal["recon", "elbo"] = "recon"


@dataclass(frozen=True)
class ModelsConfig:
    families: list[str] = field(default_factory=lambda: list(FAMILIES))
    dense: DenseConfig = field(default_factory=DenseConfig)
    conv: ConvConfig = field(default_factory=ConvConfig)
    denoising: DenoisingConfig = field(default_factory=DenoisingConfig)
    sparse: SparseConfig = field(default_factory=SparseConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ConfigError(
                f"models.families: unknown family {unknown}; choose from {list(FAMILIES)}"
            )
        if not self.families:
            raise ConfigError("models.families: enable at least one family")

    def family(self, name: str) -> Any:
        if name not in FAMILIES:
            raise ConfigError(f"unknown model family '{name}'; choose from {list(FAMILIES)}")
        return getattr(self, name)


@dataclass(frozen=True)
class ThresholdConfig:
    method: Literal["percentile", "max_f1", "fpr"] = "percentile"
    percentile: float = 99.0
    target_fpr: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < self.percentile < 100:
            raise ConfigError(f"evaluate.threshold.percentile: must be in (0, 100), got "
                              f"{self.percentile}")
        _check_fraction("evaluate.threshold.target_fpr", self.target_fpr)


@dataclass(frozen=True)
class EvaluateConfig:
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    bootstrap: int = 500
    ci: float = 0.95
    batch_size: int = 4096


@dataclass(frozen=True)
class BaselinesConfig:
    pca_components: Union[int, float] = 0.9  # noqa: UP007
    iforest_estimators: int = 200


@dataclass(frozen=True)
class RegisterConfig:
    model_name: str = "aeops-detector"
    metric: Literal["val_auroc", "val_average_precision"] = "val_auroc"
    margin: float = 0.0


@dataclass(frozen=True)
class MlflowConfig:
    experiment: str = "aeops"
    tracking_uri: str = "sqlite:///mlflow.db"


@dataclass(frozen=True)
class Config:
    seed: int = 42
    paths: Paths = field(default_factory=Paths)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainerConfig = field(default_factory=TrainerConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    baselines: BaselinesConfig = field(default_factory=BaselinesConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_fraction(key: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{key}: must be between 0 and 1 (exclusive), got {value}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (ints widen to floats)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of keys, got {value!r}")
        return _build(tp, value, key)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {list(allowed)}")
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: {value!r} does not fit {_type_name(tp)}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")  # pragma: no cover


def _build(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key '{where}{unknown[0]}' in params; allowed keys here: {names}"
        )
    kwargs = {}
    for name in names:
        if name in data:
            key = f"{prefix}.{name}" if prefix else name
            kwargs[name] = _coerce(data[name], hints[name], key)
    return cls(**kwargs)


def parse_config(data: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from a parsed params mapping, failing on the first bad key."""
    return _build(Config, data or {})


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: params file not found; run from the project root")
    with path.open() as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
