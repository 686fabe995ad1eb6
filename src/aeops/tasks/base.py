"""What a task is (:class:`Task`): the one place a use of the models says how it differs.

A task (detect anomalies, denoise images, compress rows, reduce them to a map) composes the
same stages (anomalib's ``TaskType``, MLflow Recipes' problem types): the stages and the
report ask it, never its name. It says

- which kind of model trains (:attr:`Task.model_kind`: autoencoder families, or denoisers),
  and checks the params (:meth:`Task.check`: the families, the code, the metric);
- the metrics it may select on (:attr:`Task.metrics`, :class:`~aeops.evaluation.metrics.Metric`
  objects; the first is the default) and whether the code is the product (a code size for
  every family, no search over options, one network per family);
- the baselines measured beside its models and their settings, and the classical methods
  that are not models (:meth:`Task.references`);
- whether the families also score as one ensemble;
- its headline (``summary.json``, what ``dvc metrics show`` prints) and its section of the
  report (:meth:`Task.section`);
- the name its models register under (:attr:`Task.suffix`: one registered model per use).

Adding a task is one module in :mod:`aeops.tasks` exporting ``TASK`` (an instance of a
:class:`Task` subclass), plus its tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from aeops.core.sections import BaselinesConfig, CodeConfig
from aeops.evaluation.metric import Metric

if TYPE_CHECKING:
    from aeops.evaluation.results import Comparison


class TaskConfig(Protocol):
    """What a task's check reads of the params (:class:`aeops.config.Config`)."""

    @property
    def models(self) -> Any: ...
    @property
    def code(self) -> CodeConfig: ...
    @property
    def register(self) -> Any: ...
    @property
    def data(self) -> Any: ...


@dataclass(frozen=True)
class Table:
    """A table a person reads: a title, its header and rows of text."""

    title: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    """A task's part of the run report: its title, the sentences that open it (what was
    chosen, why, how it did), a note a reader must not miss, and its tables."""

    title: str
    lead: list[str]
    tables: list[Table] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def rounded(value: Any) -> Any:
    """A number rounded to 4 places for a headline (anything else as it is)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return round(float(value), 4)


class Task:
    """A use of the models (see the module docstring); subclasses set the class attributes
    and override what differs."""

    name: ClassVar[str]
    model_kind: ClassVar[str] = "autoencoder"  # or "denoiser"
    metrics: ClassVar[tuple[Metric, ...]]
    ensemble: ClassVar[bool] = False  # the families also score as one ensemble
    code_is_product: ClassVar[bool] = False  # the code is what the models are for
    use_measures: ClassVar[bool] = True  # models with a code are measured at the other uses

    @property
    def suffix(self) -> str:
        """What this use adds to the registered name: one registered model per use."""
        return f"-{self.name}"

    @property
    def default_metric(self) -> Metric:
        return self.metrics[0]

    def metric(self, name: str) -> Metric:
        """``register.metric`` as this task's metric (refused: not one it selects on)."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        allowed = [m.name for m in self.metrics]
        raise ValueError(
            f"register.metric: {name} does not measure what task: {self.name} is for; "
            f"choose one of {allowed} (e.g. {self.suggested_metric})"
        )

    @property
    def suggested_metric(self) -> str:
        return self.default_metric.name

    # -- the params ------------------------------------------------------------------------
    def check(self, cfg: TaskConfig) -> None:
        """Refuse params this task cannot run (a ``ValueError`` naming the key)."""
        self.check_families(list(cfg.models.families))
        self.metric(cfg.register.metric)

    def check_families(self, families: list[str]) -> None:
        wrong = [f for f in families if f not in self.trainable_names()]
        if wrong:
            raise ValueError(
                f"models.families: {wrong} cannot train for task: {self.name}; "
                f"with task: {self.name} choose from {self.trainable()}"
            )

    def trainable_names(self) -> tuple[str, ...]:
        """The names ``models.families`` may hold: the families of this task's model kind."""
        from aeops.models.autoencoders import family_names
        from aeops.models.denoisers import denoiser_names

        return denoiser_names() if self.model_kind == "denoiser" else family_names()

    def trainable(self) -> Any:
        """What ``models.families`` may name (in the refusal's words)."""
        if self.model_kind == "denoiser":
            return list(self.trainable_names())
        return "the autoencoder families"

    def code_size(self, code: CodeConfig) -> int | None:
        """The code's numbers per row every family is built around (None: each family's own
        latent size)."""
        return None

    def code_step(self, code: CodeConfig) -> float:
        """The storage step of a code, as a share of each dimension's largest value (int8:
        1/127); 0 for float storage."""
        return 0.0

    # -- what the models are measured beside -----------------------------------------------
    def baselines(self, found: dict[str, Any]) -> dict[str, Any]:
        """The baselines (classes, by name) measured beside the models: all but those that
        wait to be asked for (``opt_in``)."""
        return {name: cls for name, cls in found.items() if not getattr(cls, "opt_in", False)}

    def baseline_settings(self, baselines: BaselinesConfig, code: CodeConfig) -> BaselinesConfig:
        return baselines

    def references(self, inputs: Any, code: CodeConfig, seed: int) -> dict[str, Any]:
        """What the classical methods that are not models do on the same rows (``inputs``:
        the evaluation's rows, :class:`aeops.evaluation.inputs.EvaluationInputs`)."""
        return {}

    def fold_figures(self, scored: dict[str, Any], threshold: float, cfg: Any) -> dict[str, Any]:
        """Figures this use adds to every detector's record (``scored``: fold name to
        (:class:`~aeops.data.split.Fold`, its scores); ``threshold``: the one chosen on
        validation; ``cfg``: the params). None by default."""
        return {}

    # -- what a person reads ---------------------------------------------------------------
    def plots(self, cfg: Any, comparison: Comparison, scores: dict[str, Any], folder: Any):
        """Figures this use adds to the run's (``scores``: each model's scores frame;
        written into ``folder``, the report shows them). None by default."""
        return []

    def headline(self, comparison: Comparison, code: CodeConfig) -> dict[str, Any]:
        """``summary.json``: what ``dvc metrics show`` prints."""
        raise NotImplementedError

    def section(self, comparison: Comparison, registry: dict[str, Any]) -> Section:
        """This task's part of the run report."""
        raise NotImplementedError

    def title(self, comparison: Comparison, source: str) -> str:
        """The report's title (``source``: the data's)."""
        return f"aeops run: {comparison.chosen} ({comparison.kind}) on {source}"
