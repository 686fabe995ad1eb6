"""``params.yaml`` parsed once into typed, validated configuration (pydantic v2 models).

The models declare types and bounds only: every value lives in ``params.yaml``, so a key that
is missing there, unknown, of the wrong type or out of bounds fails at start with its dotted
name and what is allowed. ``aeops.config.json_schema()`` gives the JSON Schema an editor can
validate ``params.yaml`` against.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aeops.errors import ConfigError

__all__ = ["Config", "ConfigError", "FAMILIES", "load_config", "parse_config"]

Family = Literal["dense", "conv", "denoising", "sparse", "vae"]  # the one list of families
FAMILIES: tuple[str, ...] = get_args(Family)
Source = Literal["digits", "mnist", "table", "npz", "image_folder"]
FILE_SOURCES = ("mnist", "table", "npz", "image_folder")
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(ge=1)]
Label = int | str
Auto = Literal["auto"]


class Section(BaseModel):
    """A block of params.yaml: every key required, no unknown keys, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Paths(Section):
    """Every file and folder the pipeline reads or writes, defined once (dvc.yaml reads these)."""

    interim_data: str
    interim_meta: str
    validation_dir: str
    data_docs: str
    splits: str
    preprocessor: str
    model_input: str
    models_dir: str
    checkpoints_dir: str
    eval_dir: str
    baselines_dir: str
    metrics: str
    summary: str
    plots_dir: str
    curves_dir: str
    registry_report: str
    report: str
    mlflow_artifacts: str

    def model_dir(self, family: str) -> Path:
        return Path(self.models_dir) / family

    def checkpoint_dir(self, family: str) -> Path:
        return Path(self.checkpoints_dir) / family

    def family_eval_dir(self, family: str) -> Path:
        return Path(self.eval_dir) / family


class SplitConfig(Section):
    val_fraction: Fraction
    test_fraction: Fraction
    anomaly_val_fraction: Fraction

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                "val_fraction + test_fraction must be < 1 so training keeps rows; "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        return self


class DataConfig(Section):
    source: Source
    path: str | None
    label_column: str | None
    normal_labels: list[Label] | None
    labels: list[Label] | None
    features: list[str] | None
    exclude: list[str]
    categorical: list[str]
    missing: Literal["fail", "impute"]
    max_categories: Annotated[int, Field(ge=2)]
    contamination: Annotated[float, Field(gt=0.0, lt=0.5)] | None
    value_range: list[float] | None
    image_shape: list[PositiveInt] | None
    image_size: list[PositiveInt] | None
    channels: Literal[1, 3] | None
    on_bad_image: Literal["fail", "skip"]
    scaler: Literal["auto", "none", "minmax", "standard"]
    min_rows: PositiveInt
    max_rows: PositiveInt | None
    split: SplitConfig

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.source in FILE_SOURCES and not self.path:
            raise ValueError(f"source '{self.source}' reads local files; set data.path to them")
        if self.value_range is not None and (
            len(self.value_range) != 2 or self.value_range[0] >= self.value_range[1]
        ):
            raise ValueError(
                f"value_range: expected [low, high] with low < high, got {self.value_range}"
            )
        if self.image_size is not None and len(self.image_size) != 2:
            raise ValueError(f"image_size: expected [height, width], got {self.image_size}")
        if self.normal_labels is not None and not self.normal_labels:
            raise ValueError(
                "normal_labels: name at least one normal label, or null when the data has no labels"
            )
        if self.contamination is not None and self.label_column is not None:
            raise ValueError(
                "contamination is the expected share of anomalies in unlabeled "
                "data; with data.label_column set, the labels say which rows are "
                "anomalies: set data.contamination: null"
            )
        return self

    @property
    def normal_label_values(self) -> list[str] | None:
        """``normal_labels`` as the strings labels are stored as (``0`` and ``"0"`` match)."""
        return None if self.normal_labels is None else [str(v) for v in self.normal_labels]


# What Lightning accepts, checked when params.yaml is parsed rather than inside train@<family>
# (pytorch_lightning 2.x: AcceleratorRegistry, StrategyRegistry, _PRECISION_INPUT).
Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"]
Strategy = Literal[
    "auto",
    "ddp",
    "ddp_spawn",
    "ddp_fork",
    "ddp_notebook",
    "ddp_find_unused_parameters_true",
    "ddp_find_unused_parameters_false",
    "ddp_spawn_find_unused_parameters_true",
    "ddp_spawn_find_unused_parameters_false",
    "ddp_fork_find_unused_parameters_true",
    "ddp_fork_find_unused_parameters_false",
    "fsdp",
    "fsdp_cpu_offload",
    "deepspeed",
    "deepspeed_stage_1",
    "deepspeed_stage_2",
    "deepspeed_stage_2_offload",
    "deepspeed_stage_3",
    "deepspeed_stage_3_offload",
    "deepspeed_stage_3_offload_nvme",
    "single_device",
    "xla",
]
Precision = Literal[
    "auto",
    "64-true",
    "32-true",
    "16-mixed",
    "bf16-mixed",
    "16-true",
    "bf16-true",
    "transformer-engine",
    "transformer-engine-float16",
    "64",
    "32",
    "16",
    "bf16",
]


class TrainerConfig(Section):
    max_epochs: PositiveInt
    max_samples: PositiveInt | None  # training rows seen at most (epochs x rows); None: no cap
    max_time: Annotated[float, Field(gt=0.0)] | None  # seconds per family (Lightning's)
    min_epochs: PositiveInt
    batch_size: PositiveInt | Literal["auto"]
    lr: Annotated[float, Field(gt=0.0)]
    weight_decay: Annotated[float, Field(ge=0.0)]
    patience: PositiveInt
    loss: Literal["mse", "bce"]
    accelerator: Accelerator
    devices: int | str | list[int]
    num_nodes: PositiveInt
    strategy: Strategy
    precision: Precision
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"]
    val_every: PositiveInt | Literal["auto"]
    checkpoint_every_s: Annotated[float, Field(ge=0.0)]
    threads: PositiveInt | Literal["auto"]
    deterministic: bool
    in_memory: bool
    num_workers: Annotated[int, Field(ge=0)]
    limit_train_batches: int | float
    progress_bar: bool


Hidden = list[PositiveInt] | Auto
Latent = PositiveInt | Auto


class DenseConfig(Section):
    hidden: Hidden
    latent: Latent
    dropout: Annotated[float, Field(ge=0.0, lt=1.0)]


class ConvConfig(Section):
    channels: list[PositiveInt]
    latent: Latent


class DenoisingConfig(DenseConfig):
    noise: Literal["gaussian", "mask"]
    noise_level: Annotated[float, Field(gt=0.0)]


class SparseConfig(DenseConfig):
    penalty: Literal["l1", "kl"]
    sparsity_weight: Annotated[float, Field(ge=0.0)]
    sparsity_target: Fraction


class VAEConfig(Section):
    hidden: Hidden
    latent: Latent
    beta: Annotated[float, Field(ge=0.0)]
    score: Literal["recon", "elbo"]


class AutoSizeConfig(Section):
    """How ``auto`` hidden widths and latent sizes follow the data."""

    latent_rule: Literal["auto", "kaiser", "variance"]
    latent_variance: Fraction
    min_latent: PositiveInt
    width_factor: PositiveInt
    max_width: Annotated[int, Field(ge=4)]
    max_layers: PositiveInt


class ModelsConfig(Section):
    families: Annotated[list[Family], Field(min_length=1)]
    auto_size: AutoSizeConfig
    score: Literal["auto", "recon", "normalised", "hybrid"]
    score_neighbors: PositiveInt
    ensemble: bool
    dense: DenseConfig
    conv: ConvConfig
    denoising: DenoisingConfig
    sparse: SparseConfig
    vae: VAEConfig

    def family(self, name: str) -> Any:
        if name not in FAMILIES:
            raise ConfigError(f"unknown model family '{name}'; choose from {list(FAMILIES)}")
        return getattr(self, name)


class ThresholdConfig(Section):
    method: Literal["percentile", "max_f1", "fpr"]
    percentile: Annotated[float, Field(gt=0.0, lt=100.0)]
    target_fpr: Fraction


class EvaluateConfig(Section):
    threshold: ThresholdConfig
    plots: bool
    bootstrap: Annotated[int, Field(ge=0)]
    ci: Fraction
    batch_size: PositiveInt


class BaselinesConfig(Section):
    pca_components: Annotated[int, Field(ge=1)] | Fraction
    iforest_estimators: PositiveInt
    knn_neighbors: PositiveInt
    reference_rows: PositiveInt  # k-NN and ECOD keep a seeded sample of this many training rows


class RegisterConfig(Section):
    model_name: str | None
    metric: Literal[
        "val_auroc",
        "val_average_precision",
        # a use other than detection (aeops.evaluation.uses.USE_METRICS)
        "val_psnr_gain_db",
        "val_code_psnr_db",
        "val_trustworthiness",
        "val_knn_accuracy",
        "val_explained_variance",
    ]
    margin: Annotated[float, Field(ge=0.0)]
    candidates: Literal["autoencoders", "all"]
    switch_min_anomalies: PositiveInt
    switch_confidence: Annotated[float, Field(ge=0.5, lt=1.0)]


class MlflowConfig(Section):
    experiment: str
    tracking_uri: str


with warnings.catch_warnings():  # the key `register` shadows ABC's classmethod: harmless
    warnings.simplefilter("ignore", UserWarning)

    class Config(Section):
        seed: Annotated[int, Field(ge=0)]
        paths: Paths
        data: DataConfig
        train: TrainerConfig
        models: ModelsConfig
        evaluate: EvaluateConfig
        baselines: BaselinesConfig
        register: RegisterConfig = Field(...)  # required (shadows ABC.register)
        mlflow: MlflowConfig

        def to_dict(self) -> dict[str, Any]:
            return self.model_dump(mode="json")


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model that holds the key at ``loc`` (for listing its allowed keys)."""
    model: Any = Config
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return None
        model = field.annotation
    return model


EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``dotted.key: what is wrong and what is allowed``."""
    loc = tuple(error["loc"])
    key = _dotted(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _model_at(tuple(p for p in loc[:-1] if not _is_branch(p)))
        allowed = list(parent.model_fields) if parent is not None else []
        return f"unknown key '{key}' in params; allowed keys here: {allowed}"
    if kind == "missing":
        return (
            f"missing key '{key}' in params; every key is set in params.yaml (copy it from "
            "the project's params.yaml)"
        )
    if kind == "literal_error":
        return f"{key}: {value!r} is not allowed; choose one of {ctx.get('expected')}"
    if kind in EXPECTED:
        return f"{key}: expected {EXPECTED[kind]}, got {value!r}"
    if kind == "value_error":
        return f"{key + ': ' if key else ''}{str(error['msg']).removeprefix('Value error, ')}"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{key}: must be {bounds[kind]} {limit}, got {value!r}"
    if kind == "too_short":
        return f"{key}: must not be empty"
    return f"{key}: {error['msg']} (got {value!r})"


BRANCH_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true/false",
    "none": "null",
}


def _is_branch(part: Any) -> bool:
    """pydantic names union branches in ``loc`` (``int``, ``literal['auto']``): not keys."""
    return isinstance(part, str) and (
        part in BRANCH_NAMES or part.startswith(("literal[", "list[", "constrained-", "function-"))
    )


def _dotted(loc: tuple[Any, ...]) -> str:
    """``('data', 'split', 'val_fraction')`` -> ``data.split.val_fraction``; indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_branch(part):
            out += f".{part}" if out else str(part)
    return out


def _message(exc: ValidationError) -> str:
    errors = exc.errors()
    # a union reports one error per branch; the first branch's error speaks for the key
    first = errors[0]
    same_key = [
        e
        for e in errors
        if e["loc"][: len(first["loc"]) - 1] == first["loc"][:-1]
        and e is not first
        and e.get("input") is first.get("input")
    ]
    if same_key and first["type"] not in ("extra_forbidden", "missing"):
        key = _dotted(tuple(first["loc"]))
        options = sorted({_branch(dict(e)) for e in [first, *same_key]})
        return f"{key}: {first.get('input')!r} is not allowed; expected {' or '.join(options)}"
    return _describe(dict(first))


def _branch(error: dict[str, Any]) -> str:
    last = str(error["loc"][-1])
    if last.startswith("literal["):
        return error.get("ctx", {}).get("expected", last)
    if last.startswith("list["):
        return "a list"
    return BRANCH_NAMES.get(last.removeprefix("constrained-"), last)


def parse_config(data: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from a parsed params mapping, failing on the first bad key."""
    try:
        return Config.model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_message(exc)) from None


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: params file not found; run from the project root")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml (``aeops schema`` writes it for editors)."""
    return Config.model_json_schema()
