"""MLflow models-from-code entry point of a denoiser: logged as the pyfunc's ``python_model``."""

import mlflow

from aeops.serving.denoise_pyfunc import DenoiserModel

mlflow.models.set_model(DenoiserModel())
