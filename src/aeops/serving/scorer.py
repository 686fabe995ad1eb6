"""What the file commands score with: one :class:`Scorer` protocol in front of the three shapes
a model comes in, so the batch code asks a scorer what it can do instead of which class it is.

- an aeops :class:`~aeops.serving.pipeline.DetectorPipeline` (a registered detector loaded
  from its pyfunc) satisfies it as it is;
- the ONNX :class:`~aeops.serving.onnx_scoring.OnnxPipeline`, a DetectorPipeline whose
  preprocessing and model are a graph, too;
- any other MLflow pyfunc (a model of someone else's, loaded by ``mlflow.pyfunc.load_model``)
  is wrapped in :class:`PyfuncScorer`: it scores whole frames through the pyfunc's ``params``,
  knows no features, threshold or codes, and refuses to decode or export.

Nothing here imports MLflow: the ONNX path scores without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from aeops.core.errors import ScoringInputError

if TYPE_CHECKING:
    from aeops.serving.pipeline import DetectorPipeline

NO_DECODER = (
    "decode needs an aeops detector, and this model is another MLflow pyfunc "
    "(it has no decoder aeops can call); give a model registered by aeops"
)


class Scorer(Protocol):
    """A model the file commands can run over rows: score them (or encode, or reconstruct),
    check an input's header first, and decode codes when it has a decoder."""

    @property
    def features(self) -> list[str] | None:
        """The feature columns in training order; None when the model does not say."""

    @property
    def threshold(self) -> float | None:
        """The stored decision threshold; None when the model keeps none."""

    @property
    def numeric_only(self) -> bool:
        """Whether every feature is a number, so a Parquet input can be read column by column
        as float32 and scored with :meth:`predict_values`."""

    @property
    def whole_input(self) -> bool:
        """Whether the rows of one call are one stream (a window spans rows, a series'
        first rows set its scale), so a file is scored in one piece, never in chunks."""

    @property
    def pipeline(self) -> DetectorPipeline | None:
        """The aeops detector behind this scorer, for what needs its parts (``aeops export``
        writes them, Spark reads its schema); None for another MLflow pyfunc."""

    def check_columns(self, columns: list[Any], where: str = "input") -> None:
        """Refuse a header that does not fit the model, before anything is written."""

    def predict(
        self,
        frame: pd.DataFrame,
        threshold: float | None = None,
        explain: bool = False,
        output: str = "score",
    ) -> pd.DataFrame:
        """``output`` (``score``, ``latent`` or ``reconstruction``) for the rows of ``frame``,
        indexed like it."""

    def predict_values(
        self,
        values: np.ndarray,
        index: pd.Index,
        threshold: float | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        """Scores of a numeric feature matrix (columns in :attr:`features` order)."""

    def check_decodable(self) -> None:
        """Refuse ``aeops decode`` before anything is read when there is no decoder to call."""

    def check_code_columns(self, columns: list[Any], where: str = "input") -> list[str]:
        """The code columns ``z_0 .. z_{k-1}`` of an input, refused when they do not fit."""

    def decode_codes(self, frame: pd.DataFrame, scale: np.ndarray | None = None) -> pd.DataFrame:
        """Rows in the input's units from their latent codes (``scale``: int8 codes)."""


class PyfuncScorer:
    """Another MLflow pyfunc as a :class:`Scorer`: whole frames go to its ``predict`` with the
    options as ``params`` (a threshold only when one is given), the result indexed like the
    frame; it knows no features, threshold or codes, so a header is not checked here (the
    pyfunc checks its own input) and decoding or exporting is refused."""

    features = None
    threshold = None
    numeric_only = False
    whole_input = False
    pipeline = None

    def __init__(self, model: Any) -> None:
        self.model = model

    def check_columns(self, columns: list[Any], where: str = "input") -> None:
        return None

    def predict(
        self,
        frame: pd.DataFrame,
        threshold: float | None = None,
        explain: bool = False,
        output: str = "score",
    ) -> pd.DataFrame:
        params = {"explain": explain, "output": output} | (
            {"threshold": threshold} if threshold is not None else {}
        )
        return self.model.predict(frame, params=params).set_axis(frame.index)

    def predict_values(
        self,
        values: np.ndarray,
        index: pd.Index,
        threshold: float | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        raise TypeError("another MLflow pyfunc scores whole frames (numeric_only is False)")

    def check_decodable(self) -> None:
        raise ScoringInputError(NO_DECODER)

    def check_code_columns(self, columns: list[Any], where: str = "input") -> list[str]:
        raise ScoringInputError(NO_DECODER)

    def decode_codes(self, frame: pd.DataFrame, scale: np.ndarray | None = None) -> pd.DataFrame:
        raise ScoringInputError(NO_DECODER)
