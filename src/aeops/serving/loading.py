"""Finding the model a command scores with: a registered detector (or any MLflow URI, or a
model folder) loaded as its pyfunc and given back as a :class:`~aeops.serving.scorer.Scorer`,
this project's champion by default; what is missing is a sentence, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import yaml
from mlflow.exceptions import MlflowException

from aeops.core.errors import AeopsError, ScoringInputError
from aeops.serving.scorer import PyfuncScorer, Scorer
from aeops.tracking.registry import check_registered, default_model

if TYPE_CHECKING:
    from aeops.serving.pipeline import DetectorPipeline

__all__ = ["default_model", "load_scorer"]


def load_scorer(uri: str) -> Scorer:
    """A pyfunc from the registry (or any MLflow URI, or a model folder) as a scorer: our
    :class:`~aeops.serving.pipeline.DetectorPipeline` when it wraps one, else the pyfunc in a
    :class:`~aeops.serving.scorer.PyfuncScorer`. A missing model, alias or version is a
    sentence, not a traceback."""

    if uri.startswith("models:/"):
        check_registered(uri)
    elif not uri.startswith(("runs:/", "models:/")) and not Path(uri).exists():
        raise ScoringInputError(
            f"{uri}: no such model folder; give a folder holding an "
            "MLmodel file, or a models:/<name>@<alias> URI"
        )
    try:
        model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise ScoringInputError(f"{uri}: cannot load the model ({exc.message[:300]})") from None
    except AeopsError:  # the detector's own refusal (a changed file, another version): as is
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
        # an MLmodel file that is not what MLflow wrote: damaged or edited by hand
        raise ScoringInputError(
            f"{uri}: the model's files are damaged or were tampered with "
            f"({type(exc).__name__}: {str(exc)[:200]}); it is not loaded"
        ) from None
    try:
        detector: DetectorPipeline = model.unwrap_python_model().detector
    except (AttributeError, MlflowException):  # another pyfunc, or another flavour's model
        return PyfuncScorer(model)
    return detector
