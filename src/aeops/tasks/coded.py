"""What the tasks whose product is the code (compress, reduce) share: :class:`CodedTask`.
Every family is built around a code of ``code.size`` numbers a row, one network per family
(no bag, no search over options), measured beside PCA with as many components; no ensemble
(it has no code of its own); chosen by a measure of what the code keeps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.core.sections import BaselinesConfig, CodeConfig
from aeops.evaluation.metric import USES
from aeops.tasks.base import Section, Task, TaskConfig, rounded
from aeops.tasks.detectors import detector_section

if TYPE_CHECKING:
    from aeops.evaluation.results import Comparison


class CodedTask(Task):
    """A task whose product is the code (compress, reduce): what they share."""

    metrics = USES
    code_is_product = True

    def check(self, cfg: TaskConfig) -> None:
        self.check_families(list(cfg.models.families))
        if cfg.code.size == "auto":
            raise ValueError(
                f"code.size: task: {self.name} builds every model around a code of "
                "code.size numbers per row; set it (e.g. 30), auto is for task: detect"
            )
        if cfg.register.metric in ("val_auroc", "val_average_precision"):
            raise ValueError(
                f"register.metric: {cfg.register.metric} measures detection; task: "
                f"{self.name} chooses by what the code is for: set register.metric: "
                f"{self.wanted_metric(cfg.code)}"
            )
        self.metric(cfg.register.metric)

    def wanted_metric(self, code: CodeConfig) -> str:
        raise NotImplementedError

    def code_size(self, code: CodeConfig) -> int | None:
        return code.size if isinstance(code.size, int) else None

    def baselines(self, found: dict[str, Any]) -> dict[str, Any]:
        """Only those with a code (PCA): the classical reference at the same code size."""
        return {name: kind for name, kind in super().baselines(found).items() if kind.has_code}

    def baseline_settings(self, baselines: BaselinesConfig, code: CodeConfig) -> BaselinesConfig:
        """PCA at ``code.size`` components, not at its own variance rule."""
        size = self.code_size(code)
        return baselines if size is None else baselines.model_copy(update={"pca_components": size})

    def keys(self, code: CodeConfig) -> dict[str, str]:
        """The test figures that lead the headline, by their short name."""
        raise NotImplementedError

    def headline(self, comparison: Comparison, code: CodeConfig) -> dict[str, Any]:
        """The chosen model's test figures for this use beside PCA's at the same code size,
        and under ``by_model`` each model's test value of the measure that chose."""
        winner = comparison.winner
        out: dict[str, Any] = {
            "chosen": comparison.chosen,
            "val": comparison.headline[comparison.metric],
        }
        out.update(
            {
                short: winner.figures[key]
                for short, key in self.keys(code).items()
                if winner.has(key)
            }
        )
        test = comparison.metric.replace("val_", "test_", 1)
        everyone = comparison.everyone
        by_model = {name: rounded(m.value(test)) for name, m in everyone.items() if m.has(test)}
        return {**{k: rounded(v) for k, v in out.items()}, "by_model": by_model}

    def section(self, comparison: Comparison, registry: dict[str, Any]) -> Section:
        return detector_section(comparison, registry)
