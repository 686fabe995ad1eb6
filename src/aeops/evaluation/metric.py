"""The figures a model can be chosen by, written once (MLflow Recipes' ``RecipeMetric``): a
:class:`Metric` is a name and a direction, and each task (:mod:`aeops.tasks`) names the ones
it selects on. Imports nothing heavy: parsing params.yaml reads these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A figure a model can be chosen by: its name as measured on validation
    (``val_<measure>``; the same measure on test is :attr:`test`) and its direction."""

    name: str
    greater_is_better: bool = True

    @property
    def test(self) -> str:
        """The same measure on the test fold."""
        return self.name.replace("val_", "test_", 1)

    def key(self, value: float) -> float:
        """A sort key under which larger is better."""
        return value if self.greater_is_better else -value


# ranking validation's labelled anomalies (aeops.evaluation.metrics)
DETECTION = (Metric("val_auroc"), Metric("val_average_precision"))
# the other uses of a model with a code (aeops.evaluation.uses), higher is better for each
USE_METRICS = (
    "val_psnr_gain_db",
    "val_code_psnr_db",
    "val_code_float16_psnr_db",
    "val_code_int8_psnr_db",
    "val_trustworthiness",
    "val_continuity",
    "val_knn_accuracy",
    "val_explained_variance",
)
USES = tuple(Metric(name) for name in USE_METRICS)
# a denoiser: mean PSNR on validation over the sigmas its training noise covers
DENOISING = (Metric("val_psnr_db"),)
# faults in a stream (aeops.evaluation.events): VUS-PR (threshold free, TSB-AD's measure), and
# the point-wise F1 of the alarms at the threshold (which, where faults fill half the rows,
# favours a model that flags nearly everything)
STREAMS = (Metric("val_vus_pr"), Metric("val_f1"))
# every metric any task may select on (register.metric; each task names its own: aeops.tasks)
METRIC_NAMES = tuple(m.name for m in (*DETECTION, *USES, *DENOISING, *STREAMS))
