"""The MLflow pyfunc that ships a :class:`~aeops.scoring.Detector` through the registry."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from aeops.scoring import Detector

with warnings.catch_warnings():
    # MLflow nudges towards type-hinted predict(); we validate against the signature instead.
    warnings.simplefilter("ignore", UserWarning)

    class AnomalyDetectorModel(PythonModel):
        """``predict(rows, params={"threshold": ..., "explain": ...})`` on raw feature rows."""

        def load_context(self, context) -> None:
            artifacts = context.artifacts
            self.detector = Detector.from_files(artifacts["model"], artifacts["preprocessor"],
                                                artifacts["detector"])

        def predict(self, context, model_input, params=None):
            params = params or {}
            frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(
                np.asarray(model_input))
            return self.detector.predict(frame, threshold=params.get("threshold"),
                                         explain=bool(params.get("explain", False)))
