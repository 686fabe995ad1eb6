"""What the file commands do (``aeops score``, ``encode``, ``decode``, ``reconstruct``,
``evaluate``): a :class:`FileJob` built by the CLI from its arguments, run against a model from
the registry, returning the lines the CLI prints. The CLI only parses and prints."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aeops.core.errors import ScoringInputError
from aeops.serving.batch import FileJob
from aeops.serving.scorer import Scorer

__all__ = ["FileJob", "LabelledJob", "run_file_job", "run_labelled_job"]

DECODE = "decode"  # the output kind of `aeops decode`: rows from their latent codes
VERBS = {
    "score": "scored",
    "latent": "encoded",
    "reconstruction": "reconstructed",
    DECODE: "decoded",
}


@dataclass(frozen=True)
class LabelledJob:
    """``aeops evaluate``: a model on a labelled file of the user's own."""

    model: str | None
    input: Path
    label_column: str
    normal: list[str] | None = None
    chunk_rows: int = 100_000
    threshold: float | None = None
    progress: bool = True
    output: Path | None = None


def load_for(job: FileJob) -> tuple[str, Scorer]:
    """(what the model is, the loaded model): an ONNX export folder for ``--engine onnx``
    (ONNX Runtime only), else a registered detector (MLflow)."""
    if job.engine == "onnx":
        from aeops.serving.onnx_scoring import OnnxPipeline, default_export

        folder = Path(job.model) if job.model else default_export()
        if not folder.is_dir():
            raise ScoringInputError(
                f"{folder}: not a folder; --engine onnx scores an ONNX export folder "
                "(`aeops export --output <folder>`)"
            )
        return str(folder), OnnxPipeline.from_folder(folder)
    from aeops.serving.loading import default_model, load_scorer

    uri = job.model or default_model()
    return uri, load_scorer(uri)


def run_file_job(job: FileJob) -> list[str]:
    """Run ``job``; the lines to print (what was written, how fast, how many flagged)."""
    from aeops.serving.batch import Tally, decode_file, score_file

    if job.engine == "spark":
        from aeops.serving.loading import default_model

        return run_on_spark(job, job.model or default_model())
    uri, scorer = load_for(job)
    start = time.perf_counter()
    tally = Tally()
    rows = decode_file(scorer, job) if job.kind == DECODE else score_file(scorer, job, tally)
    seconds = time.perf_counter() - start
    codes = f" as {job.dtype} codes" if job.kind == "latent" else ""
    lines = [
        f"{VERBS[job.kind]} {rows} rows from {job.input} -> {job.output}{codes} with {uri} in "
        f"{seconds:.1f}s ({rows / max(seconds, 1e-9):,.0f} rows/s)"
    ]
    if job.kind == "score":
        stored = scorer.threshold
        lines.append(tally.line(job.threshold if job.threshold is not None else stored))
    return lines


def run_on_spark(job: FileJob, uri: str) -> list[str]:
    """``--engine spark``: the same pyfunc as a Spark UDF (:mod:`aeops.serving.spark`)."""
    from aeops.serving.loading import load_scorer
    from aeops.serving.spark import score_files

    if load_scorer(uri).whole_input:
        raise ScoringInputError(
            f"{uri} reads a stream in windows that span rows, and Spark scores rows in "
            "partitions that would cut them; score each series' file with --engine local "
            "or --engine onnx"
        )
    if job.dtype != "float32" or job.keep_features:
        raise ScoringInputError(
            "--engine spark writes float32 codes and carries the non-feature columns; drop "
            "--dtype / --keep-features, or use --engine local"
        )
    start = time.perf_counter()
    rows = score_files(
        uri,
        str(job.input),
        str(job.output),
        job.spark_master,
        output=job.kind,
        explain=job.explain,
        threshold=job.threshold,
    )
    return [
        f"{rows} rows from {job.input} -> {job.output} (Parquet folder) on Spark "
        f"{job.spark_master} with {uri} in {time.perf_counter() - start:.1f}s"
    ]


def run_labelled_job(job: LabelledJob) -> list[str]:
    """AUROC, average precision and the confusion at the threshold on a labelled file."""
    from aeops.core.io import write_json
    from aeops.serving.labelled import evaluate_file, report_lines
    from aeops.serving.loading import default_model, load_scorer

    uri = job.model or default_model()
    report = evaluate_file(
        load_scorer(uri),
        job.input,
        job.label_column,
        job.normal,
        job.chunk_rows,
        job.threshold,
        progress=job.progress,
    )
    if job.output:
        write_json(job.output, {"model": uri, "input": str(job.input), **report})
    return report_lines(job.input, job.label_column, report)


def exec_mlflow(arguments: list[str], banner: str) -> int:
    """Replace this process with this environment's ``mlflow`` and ``arguments``, its tools
    first on PATH (``mlflow models serve`` starts ``uvicorn`` from PATH), so it works from any
    shell; ``banner`` goes to stderr first."""
    tools = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": tools + os.pathsep + os.environ.get("PATH", "")}
    command = [str(Path(tools) / "mlflow"), *arguments]
    print(banner, file=sys.stderr)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


def serve(model: str | None, host: str, port: int) -> int:
    """``mlflow models serve`` of the model (default: this project's champion)."""
    from aeops.tracking.registry import check_registered, default_model

    uri = model or default_model()
    if uri.startswith("models:/"):  # a sentence now, not a hang or traceback in the server
        check_registered(uri)
    return exec_mlflow(
        ["models", "serve", "-m", uri, "--env-manager", "local", "-h", host, "-p", str(port)],
        f"serving {uri} on http://{host}:{port}/invocations",
    )


def ui(params: Path, host: str, port: int) -> int:
    """The MLflow UI over the project's store (``mlflow.tracking_uri`` of params.yaml)."""
    from aeops.config import load_config
    from aeops.tracking.store import tracking_uri

    uri = tracking_uri(load_config(params))
    return exec_mlflow(
        ["server", "--backend-store-uri", uri, "--host", host, "--port", str(port)],
        f"MLflow UI for {uri} on http://{host}:{port}",
    )


def run_export(model: str | None, output: Path) -> list[str]:
    """``aeops export``: the model (default: this project's champion) as an ONNX folder."""
    from aeops.serving.export import export_onnx
    from aeops.serving.loading import default_model, load_scorer

    uri = model or default_model()
    pipeline = load_scorer(uri).pipeline
    if pipeline is None:
        raise ScoringInputError(f"{uri}: not an aeops detector; only aeops' detectors export")
    exported = export_onnx(pipeline, output, {"model_uri": uri})
    size = exported.model.stat().st_size / 1e6
    return [
        f"exported {uri} ({exported.spec['family']}, {exported.spec['kind']}) -> "
        f"{exported.model} ({size:.1f} MB), with detector.json and export.json; score it with "
        f"`aeops score --engine onnx --model {output}`"
    ]


def run_monitor(job: Any) -> tuple[list[str], int]:
    """``aeops monitor``: (lines to print, exit code: 0 healthy, 1 drift, 2 bad input)."""
    from aeops.core.errors import AeopsError
    from aeops.serving.monitor import log_to_mlflow, monitor, write_report

    try:
        report = monitor(job)
    except (AeopsError, FileNotFoundError) as exc:
        return [f"aeops monitor: {exc}"], 2
    write_report(report, job.output)
    run_id = log_to_mlflow(report)
    lines = [
        f"{'DRIFT' if report.drift else 'healthy'}: {report.rows:,} rows of {job.input} against "
        f"{report.reference_rows:,} reference rows ({report.seconds} s, alpha {job.alpha})"
    ]
    lines += [f"  {f.name}: p {f.p_value:.3g} ({f.test}); {f.detail}" for f in report.findings]
    lines.append(
        f"  report: {job.output / 'monitor.html'}" + (f"; MLflow run {run_id}" if run_id else "")
    )
    return lines, int(report.drift)
