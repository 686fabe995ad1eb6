"""Batch scoring on Spark: a registered detector as a Spark UDF, through MLflow's own
:func:`mlflow.pyfunc.spark_udf`.

The driver loads the detector once to learn its schema (feature names, whether it has
categorical columns, its code width); the executors run the same pyfunc that ``aeops score``
and ``mlflow models serve`` run, on Arrow batches of the rows, so a row gets the same score on
a cluster as on a laptop. The result is one struct column (``anomaly_score``, ``is_anomaly``,
with ``explain`` the per-feature errors, with categorical features ``unknown_categories``;
or the latent code ``z_0 .. z_<k-1>``) spread into top-level columns beside the input's own.

pyspark is an optional dependency (``pip install 'aeops[spark]'``); nothing here imports it
before it is used.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from aeops.core.env import quiet_library_warnings
from aeops.core.errors import ScoringInputError
from aeops.serving.outputs import INPUT_PREFIX
from aeops.serving.pipeline import FLAG_COLUMN, SCORE_COLUMN, UNKNOWN_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from aeops.serving.pipeline import DetectorPipeline

SPARK_OUTPUTS = ("score", "latent")
RESULT = "__aeops_result"  # the struct column, spread into top-level columns and dropped


def local_session(master: str = "local[2]", app: str = "aeops") -> SparkSession:
    """A Spark session on this machine whose Python workers run this interpreter (not the
    first ``python3`` on ``PATH``, which may lack aeops), bound to loopback, without the
    web UI, with Arrow transfers and few shuffle partitions."""
    import os

    from pyspark.sql import SparkSession

    quiet_library_warnings()
    # pyspark starts its workers with $PYSPARK_PYTHON, else `python3` (not the config key)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def result_schema(
    detector: DetectorPipeline, output: str = "score", explain: bool = False
) -> StructType:
    """The UDF's struct: what ``detector.predict(..., output=output, explain=explain)``
    returns, column for column."""
    from pyspark.sql.types import BooleanType, DoubleType, LongType, StructField, StructType

    if output not in SPARK_OUTPUTS:
        raise ScoringInputError(f"output '{output}' is not one of {list(SPARK_OUTPUTS)} on Spark")
    if output == "latent":
        return StructType([StructField(f"z_{i}", DoubleType()) for i in range(detector.code_dims)])
    fields = [StructField(SCORE_COLUMN, DoubleType()), StructField(FLAG_COLUMN, BooleanType())]
    if explain:
        fields += [StructField(f"error_{name}", DoubleType()) for name in detector.info.features]
    if detector.info.categorical:
        fields.append(StructField(UNKNOWN_COLUMN, LongType()))
    return StructType(fields)


def score_dataframe(
    frame: DataFrame,
    model_uri: str,
    output: str = "score",
    explain: bool = False,
    threshold: float | None = None,
) -> DataFrame:
    """``frame`` with the detector's outputs beside its own columns (the features dropped
    as in ``aeops score``; a column named like an output kept as ``input_<name>``). The
    features must be columns of ``frame``; a missing one is refused on the driver, before
    any executor starts."""
    import mlflow

    quiet_library_warnings()
    from pyspark.sql import functions as F

    from aeops.serving.loading import load_scorer

    detector = load_scorer(model_uri).pipeline
    if detector is None:
        raise ScoringInputError(f"{model_uri}: not an aeops detector; score it with spark_udf")
    detector.check_columns(list(frame.columns), where="Spark DataFrame")
    schema = result_schema(detector, output, explain)
    params: dict[str, Any] = {"output": output, "explain": explain}
    if threshold is not None:
        params["threshold"] = float(threshold)
    udf = mlflow.pyfunc.spark_udf(
        frame.sparkSession, model_uri, result_type=schema, env_manager="local", params=params
    )
    features = detector.info.features
    kept = [c for c in frame.columns if c not in set(features)]
    clash = [c for c in kept if c in set(schema.fieldNames())]
    renamed = frame
    for name in clash:
        renamed = renamed.withColumnRenamed(name, f"{INPUT_PREFIX}{name}")
    carried = [f"{INPUT_PREFIX}{c}" if c in clash else c for c in kept]
    scored = renamed.withColumn(RESULT, udf(F.struct(*[F.col(f"`{f}`") for f in features])))
    return scored.select(
        *[F.col(f"`{c}`") for c in carried],
        *[F.col(f"{RESULT}.`{name}`").alias(name) for name in schema.fieldNames()],
    )


def read_input(spark: SparkSession, path: str) -> DataFrame:
    """A Parquet file or folder, or a CSV with a header (types inferred), as Spark reads them."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".txt", ".gz"):
        return spark.read.csv(path, header=True, inferSchema=True)
    if suffix in (".parquet", ".pq") or Path(path).is_dir():
        return spark.read.parquet(path)
    raise ScoringInputError(f"{path}: give a .csv or .parquet file (or a Parquet folder)")


def score_files(
    model_uri: str,
    input_path: str,
    output_path: str,
    master: str,
    output: str = "score",
    explain: bool = False,
    threshold: float | None = None,
) -> int:
    """``aeops score --engine spark``: ``input_path`` scored on Spark into the Parquet folder
    ``output_path`` (Spark's own layout, one file per partition); returns the row count."""
    from pathlib import Path

    if Path(output_path).exists():
        raise ScoringInputError(f"{output_path}: already exists; remove it or give a new folder")
    spark = local_session(master) if master.startswith("local") else cluster_session(master)
    scored = score_dataframe(read_input(spark, input_path), model_uri, output, explain, threshold)
    scored.write.parquet(output_path)
    return int(spark.read.parquet(output_path).count())


def cluster_session(master: str) -> SparkSession:
    """A session on ``master`` (e.g. ``spark://host:7077`` or ``yarn``); the executors need
    aeops installed, as for any pyfunc run with ``env_manager="local"``."""
    from pyspark.sql import SparkSession

    quiet_library_warnings()
    return SparkSession.builder.master(master).appName("aeops").getOrCreate()
