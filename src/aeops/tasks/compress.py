"""``task: compress``: the code is the product. Every family is built around a code of
``code.size`` numbers a row, trained to survive storage at ``code.precision`` (int8: one byte
a number) and measured at it, beside PCA with as many components (and JPEG for images); no
ensemble (it has no code of its own), one network per family, no search over options. Chosen
by what the code keeps (``val_code_<precision>_psnr_db``); registered as
``aeops-<data>-compress``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aeops.core.sections import CodeConfig
from aeops.tasks.coded import CodedTask
from aeops.tasks.detectors import detector_references

if TYPE_CHECKING:
    pass


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
