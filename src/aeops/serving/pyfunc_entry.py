"""MLflow models-from-code entry point: logged as the pyfunc's ``python_model`` file."""

import mlflow

from aeops.serving.pyfunc import AnomalyDetectorModel

mlflow.models.set_model(AnomalyDetectorModel())
