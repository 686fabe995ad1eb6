"""MLflow models-from-code entry point: logged as the pyfunc's ``python_model`` file of every
aeops model (a detector or a denoiser: :class:`~aeops.serving.pyfunc.AeopsModel`)."""

import mlflow

from aeops.serving.pyfunc import AeopsModel

mlflow.models.set_model(AeopsModel())
