"""``task: reduce``: dimensionality reduction, the code as a map of the data. Every family is
built around a code of ``code.size`` numbers a row (2 for a map a person reads), measured by
how well it keeps each row's neighbours (trustworthiness, continuity, k-NN label accuracy)
beside PCA and UMAP at as many dimensions; chosen by one of those; registered as
``aeops-<data>-reduce``."""

from __future__ import annotations

from typing import Any

from aeops.core.sections import CodeConfig
from aeops.tasks.coded import CodedTask
from aeops.tasks.detectors import detector_references


class Reduce(CodedTask):
    name = "reduce"

    def wanted_metric(self, code: CodeConfig) -> str:
        return "val_trustworthiness"

    def references(self, inputs: Any, code: CodeConfig, seed: int) -> dict[str, Any]:
        """UMAP at ``code.size`` dimensions, the nonlinear reference, beside the rest."""
        return detector_references(inputs, self.code_size(code), seed, denoisers=False)

    def keys(self, code: CodeConfig) -> dict[str, str]:
        return {
            "code_dims": "test_code_dims",
            "trustworthiness": "test_trustworthiness",
            "pca_trustworthiness": "test_pca_same_k_trustworthiness",
            "continuity": "test_continuity",
            "pca_continuity": "test_pca_same_k_continuity",
            "knn_accuracy": "test_knn_accuracy",
            "pca_knn_accuracy": "test_pca_same_k_knn_accuracy",
        }


TASK = Reduce()
