"""``task: compress``: the code is the product. Every family is built around a code of
``code.size`` numbers a row, trained to survive storage at ``code.precision`` (int8: one byte
a number) and measured at it, beside PCA with as many components (and JPEG for images); no
ensemble (it has no code of its own), one network per family, no search over options. Chosen
by what the code keeps (``val_code_<precision>_psnr_db``); registered as
``aeops-<data>-compress``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.core.sections import BaselinesConfig, CodeConfig
from aeops.evaluation.metric import USES
from aeops.tasks.base import Section, Task, TaskConfig, rounded
from aeops.tasks.detect import detector_references
from aeops.tasks.leaderboard import detector_section

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
        return {name: kind for name, kind in found.items() if kind.has_code}

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


class Compress(CodedTask):
    name = "compress"

    def wanted_metric(self, code: CodeConfig) -> str:
        return f"val_code_{code.precision}_psnr_db".replace("_float32", "")

    def code_step(self, code: CodeConfig) -> float:
        """int8 storage: 1/127 of each code dimension's largest value."""
        from aeops.data.codes import INT8_LEVELS

        return 1.0 / INT8_LEVELS if code.precision == "int8" else 0.0

    def references(self, inputs: Any, code: CodeConfig, seed: int) -> dict[str, Any]:
        return detector_references(inputs, None, seed, denoisers=False)

    def keys(self, code: CodeConfig) -> dict[str, str]:
        tag = "" if code.precision == "float32" else f"_{code.precision}"
        pca = "_int8" if code.precision == "int8" else ""
        return {
            "code_dims": "test_code_dims",
            "bytes_per_row": f"test_code{tag}_bytes_per_row",
            "psnr_db": f"test_code{tag}_psnr_db",
            "pca_psnr_db": f"test_pca_same_k{pca}_psnr_db",
            "se_per_row": "test_code_se_per_row",
            "pca_se_per_row": "test_pca_same_k_se_per_row",
            "bce": "test_code_bce",
        }


TASK = Compress()
