"""The blocks of ``params.yaml`` as typed sections (pydantic v2 models): types and bounds only.

Every value lives in ``params.yaml``; a model here declares what a key may hold, never a
default. :mod:`aeops.config` assembles these sections, and each autoencoder family's own block
(declared in the family's module), into the one :class:`~aeops.config.Config`. Lower layers
(data, training, models) take the section they need from here, never the whole config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Source = Literal["digits", "mnist", "table", "npz", "image_folder", "timeseries"]
FILE_SOURCES = ("mnist", "table", "npz", "image_folder", "timeseries")
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
PositiveInt = Annotated[int, Field(ge=1)]
Label = int | str
Auto = Literal["auto"]
Hidden = list[PositiveInt] | Auto
Latent = PositiveInt | Auto
Dropout = Annotated[float, Field(ge=0.0, lt=1.0)]
Sigma = Annotated[float, Field(ge=0.0, le=255.0)]  # Gaussian noise std on the 0-255 scale


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
    onnx: str
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
    train_rows: PositiveInt | None  # timeseries: the first rows of each series train

    @model_validator(mode="after")
    def _leaves_training_rows(self) -> SplitConfig:
        if self.train_rows is None and self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError(
                "val_fraction + test_fraction must be < 1 so training keeps rows; "
                f"got {self.val_fraction} + {self.test_fraction}"
            )
        return self


class WindowConfig(Section):
    """timeseries: what each row's model input sees: the ``size`` rows of its series that end
    at it (its own and the ones before it, never a later one), flattened; training takes
    every ``stride``-th window."""

    size: PositiveInt | None  # null: each row alone
    stride: PositiveInt


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
    scaler: Literal["auto", "none", "minmax", "standard", "quantile", "log_counts", "series"]
    min_rows: PositiveInt
    max_rows: PositiveInt | None
    time_column: str | None  # timeseries: each row's time (seconds, or a date and time)
    series_column: str | None  # timeseries: which series a row belongs to (null: one a file)
    max_gap: Annotated[float, Field(gt=0.0)] | None  # timeseries: longest step allowed, seconds
    warmup_rows: PositiveInt | None  # scaler series: each series standardised by its first rows
    window: WindowConfig
    split: SplitConfig

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.source in FILE_SOURCES and not self.path:
            raise ValueError(f"source '{self.source}' reads local files; set data.path to them")
        self._consistent_stream()
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

    def _consistent_stream(self) -> None:
        stream = self.source == "timeseries"
        if stream and not self.time_column:
            raise ValueError(
                "source 'timeseries' orders rows by time: set data.time_column to the column "
                "that holds each row's time"
            )
        if stream and self.max_rows is not None:
            raise ValueError(
                "data.max_rows subsamples rows at random, which would break a series' time "
                "order: set data.max_rows: null for source 'timeseries'"
            )
        stream_keys = {
            "data.time_column": self.time_column,
            "data.series_column": self.series_column,
            "data.max_gap": self.max_gap,
            "data.split.train_rows": self.split.train_rows,
            "data.warmup_rows": self.warmup_rows,
            "data.window.size": self.window.size,
        }
        misplaced = [key for key, value in stream_keys.items() if value is not None]
        if not stream and misplaced:
            raise ValueError(
                f"{', '.join(misplaced)} apply to source 'timeseries' only; set them to null "
                f"for source '{self.source}'"
            )
        if not stream and self.scaler == "series":
            raise ValueError(
                "data.scaler: series standardises each series of a stream; choose another "
                f"scaler for source '{self.source}'"
            )
        self._consistent_warmup()

    def _consistent_warmup(self) -> None:
        """``scaler: series`` reads each series' first ``warmup_rows``, which must train."""
        if (self.scaler == "series") != (self.warmup_rows is not None):
            raise ValueError(
                "data.scaler: series and data.warmup_rows go together: the scaler standardises "
                "each series by its first data.warmup_rows rows (e.g. scaler: series, "
                "warmup_rows: 400), and warmup_rows means nothing to another scaler"
            )
        train = self.split.train_rows
        if self.warmup_rows is not None and (train is None or self.warmup_rows > train):
            raise ValueError(
                f"data.warmup_rows: {self.warmup_rows} must lie within each series' training "
                f"rows: set data.split.train_rows to at least {self.warmup_rows}"
            )

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
    schedule: Literal["plateau", "cosine"]
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


class AutoSizeConfig(Section):
    """How ``auto`` hidden widths and latent sizes follow the data."""

    latent_rule: Literal["auto", "kaiser", "variance"]
    latent_variance: Fraction
    min_latent: PositiveInt
    width_factor: PositiveInt
    max_width: Annotated[int, Field(ge=4)]
    max_layers: PositiveInt


class ThresholdConfig(Section):
    method: Literal["percentile", "max_f1", "fpr", "train"]
    percentile: Annotated[float, Field(gt=0.0, lt=100.0)]
    target_fpr: Fraction
    margin: Annotated[float, Field(gt=0.0)]  # method train: the percentile times this


class EvaluateConfig(Section):
    threshold: ThresholdConfig
    min_run: PositiveInt  # streams: an alarm needs this many rows in a row over the threshold
    plots: bool
    bootstrap: Annotated[int, Field(ge=0)]
    ci: Fraction
    batch_size: PositiveInt
    denoise_sigmas: Annotated[list[Sigma], Field(min_length=1)]  # task: denoise


class BaselinesConfig(Section):
    pca_components: Annotated[int, Field(ge=1)] | Fraction
    iforest_estimators: PositiveInt
    knn_neighbors: PositiveInt
    reference_rows: PositiveInt  # k-NN and ECOD keep a seeded sample of this many training rows


class RegisterConfig(Section):
    model_name: str | None
    metric: str  # one of aeops.evaluation.metric.METRIC_NAMES (config_model narrows it)
    margin: Annotated[float, Field(ge=0.0)]
    candidates: Literal["autoencoders", "all"]
    switch_min_anomalies: PositiveInt
    switch_confidence: Annotated[float, Field(ge=0.5, lt=1.0)]


class CodeConfig(Section):
    """``code:``: the latent code a ``task: compress | reduce`` run builds every family
    around: its numbers per row (``size``; ``auto``: each family's own latent rule, what
    ``task: detect`` uses) and the precision it is stored at (``precision``: codes are
    trained to survive it, and compression is measured at it)."""

    size: PositiveInt | Auto
    precision: Literal["float32", "float16", "int8"]


class MlflowConfig(Section):
    experiment: str
    tracking_uri: str
