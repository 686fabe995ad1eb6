"""The MLflow pyfunc that ships a denoiser through the registry, and how one is logged.

``predict`` takes grey images as a float array in [0, 1], ``(height, width)`` or
``(images, height, width)`` of any size, and returns them denoised, same shape. The denoiser's
folder (weights + spec) is the model's one artifact, so ``aeops denoise --model
models:/<name>@champion`` downloads it and runs without MLflow's loader.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types import Schema, TensorSpec

import aeops
from aeops.core.logs import settle_libraries
from aeops.tracking.names import DETECTOR_KEY_TAG

ARTIFACT = "denoiser"  # the artifact's name inside the logged model


class DenoiserModel(PythonModel):
    def load_context(self, context) -> None:
        from aeops.models.denoisers.unet import UNetDenoiser

        self.denoiser = UNetDenoiser.load(context.artifacts[ARTIFACT])

    def predict(self, context, model_input: np.ndarray, params: dict | None = None):
        images = np.asarray(model_input, dtype=np.float32)
        if images.ndim == 2:
            return self.denoiser.denoise(images)
        return np.stack([self.denoiser.denoise(image) for image in images])


def log_denoiser(folder: Path, key: str, plots: list[Path]) -> Any:
    """Log the denoiser in ``folder`` to the active run as a pyfunc; its model info."""
    from aeops.serving.pyfunc import pip_requirements, portable

    settle_libraries()
    for plot in plots:
        mlflow.log_artifact(str(plot), "plots")
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float32"), (-1, -1, -1))]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, -1, -1))]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return mlflow.pyfunc.log_model(
            name="denoiser",
            python_model=portable(Path(aeops.__file__).parent / "serving" / "denoise_entry.py"),
            artifacts={ARTIFACT: portable(folder)},
            code_paths=[str(Path(aeops.__file__).parent)],
            signature=signature,
            pip_requirements=pip_requirements(),
            tags={DETECTOR_KEY_TAG: key, "kind": "denoiser"},
        )


def downloaded(uri: str, into: Path) -> Path:
    """The denoiser folder of a logged or registered model ``uri``, downloaded into ``into``."""
    from mlflow.artifacts import download_artifacts

    root = Path(download_artifacts(artifact_uri=uri, dst_path=str(into)))
    found = sorted(root.rglob("denoiser.json"))
    if not found:
        from aeops.core.errors import AeopsError

        raise AeopsError(f"{uri}: is not a denoiser (no denoiser.json in its files)")
    return found[0].parent
