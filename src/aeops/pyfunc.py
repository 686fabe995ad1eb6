"""The MLflow pyfunc that ships a :class:`~aeops.scoring.Detector` through the registry."""

import pandas as pd
from mlflow.pyfunc import PythonModel

from aeops.scoring import Detector


class AnomalyDetectorModel(PythonModel):
    """``predict(rows, params={"threshold": ..., "explain": ..., "output": ...})`` on raw rows.

    ``output`` is ``score`` (``anomaly_score``, ``is_anomaly``), ``latent`` (the code, for
    dimensionality reduction or compression) or ``reconstruction`` (denoised rows in the
    input's units). The input is checked against the logged signature by MLflow, then by the
    detector itself (schema, numbers, finite values). The ``pd.DataFrame`` hint tells MLflow
    to hand over the frame as it is (no type-hint schema inference on top of the signature).
    """

    def load_context(self, context) -> None:
        artifacts = context.artifacts
        self.detector = Detector.from_files(artifacts["model"], artifacts["preprocessor"],
                                            artifacts["detector"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None):
        params = params or {}
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        return self.detector.predict(model_input, threshold=params.get("threshold"),
                                     explain=bool(params.get("explain", False)),
                                     output=str(params.get("output") or "score"))
