"""``task: detect``: anomaly detection, the default. Every autoencoder family trains, each is
a detector scored on validation and test; the families also score as one ensemble; PCA,
Isolation Forest, k-NN and ECOD are measured beside them (any can win); the model is chosen
by a ranking of validation's anomalies (``val_auroc`` or ``val_average_precision``) or by
one of the other uses' measures; it registers as ``aeops-<data>`` (no suffix)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.core.sections import CodeConfig
from aeops.evaluation.metric import DETECTION, USES
from aeops.tasks.base import Section, Task, rounded
from aeops.tasks.detectors import detector_references, detector_section

if TYPE_CHECKING:
    from aeops.evaluation.results import Comparison


def ranking(comparison: Comparison) -> str:
    """The test figure a detection headline leads with: AUROC on labelled anomalies, or on
    synthetic ones when the data has none."""
    return "test_auroc" if comparison.winner.has("test_auroc") else "test_synthetic_auroc"


class Detect(Task):
    name = "detect"
    model_kind = "autoencoder"
    metrics = (*DETECTION, *USES)
    ensemble = True

    @property
    def suffix(self) -> str:
        return ""  # the default use keeps the plain name

    def references(self, inputs: Any, code: CodeConfig, seed: int) -> dict[str, Any]:
        return detector_references(inputs, None, seed, denoisers=True)

    def headline(self, comparison: Comparison, code: CodeConfig) -> dict[str, Any]:
        """The chosen model, how it did on validation (``val``: the metric that chose), its
        test figures with the CI, its threshold and flagged share, and each family's test
        figure under ``auroc`` (or ``synthetic_auroc``)."""
        key = ranking(comparison)
        figures = comparison.headline
        out: dict[str, Any] = {"chosen": comparison.chosen}
        if key in figures:
            out[key] = figures[key]
            low, high = (figures.get(f"{key}_ci_{side}") for side in ("low", "high"))
            if low is not None and high is not None:
                out["ci"] = f"{low:.3f}-{high:.3f}"  # one column, not two
        if comparison.metric in figures:
            out["val"] = figures[comparison.metric]
        for long, short in (
            ("test_average_precision", "test_ap"),
            ("test_flagged_share", "flagged"),
        ):
            if long in figures:
                out[short] = figures[long]
        out["threshold"] = figures["threshold"]
        per_family = {n: m.value(key) for n, m in comparison.models.items() if m.has(key)}
        out["auroc" if key == "test_auroc" else "synthetic_auroc"] = per_family
        return {
            k: {n: rounded(v) for n, v in value.items()}
            if isinstance(value, dict)
            else rounded(value)
            for k, value in out.items()
        }

    def section(self, comparison: Comparison, registry: dict[str, Any]) -> Section:
        return detector_section(comparison, registry)


TASK = Detect()
