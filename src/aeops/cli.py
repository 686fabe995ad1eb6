"""The ``aeops`` command: score, encode, decode or reconstruct files with a registered
detector; show the registry."""

# __doc__ is the --help description; the commands are thin: files are scored by aeops.batch,
# the registry is looked up and changed by aeops.tracking (both imported only when needed)

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from aeops.env import disable_telemetry
from aeops.errors import AeopsError
from aeops.io import read_json
from aeops.logs import configure as configure_logging

DECODE = "decode"  # the output kind of `aeops decode`: rows from their latent codes


def cmd_score(args: argparse.Namespace) -> int:
    import time

    from aeops.batch import Tally
    from aeops.tracking import default_model, load_detector

    uri = args.model or default_model()
    if getattr(args, "engine", "local") == "spark":
        return score_on_spark(uri, args)
    model = load_detector(uri)
    start = time.perf_counter()
    tally = Tally()
    rows = run_file_command(model, args, tally)
    seconds = time.perf_counter() - start
    verb = {
        "score": "scored",
        "latent": "encoded",
        "reconstruction": "reconstructed",
        DECODE: "decoded",
    }
    codes = f" as {args.dtype} codes" if args.output_kind == "latent" else ""
    print(
        f"{verb[args.output_kind]} {rows} rows from {args.input} -> {args.output}{codes} with "
        f"{uri} in {seconds:.1f}s ({rows / max(seconds, 1e-9):,.0f} rows/s)",
        file=sys.stderr,
    )
    if args.output_kind == "score":
        stored = getattr(getattr(model, "info", None), "threshold", None)
        print(tally.line(args.threshold if args.threshold is not None else stored), file=sys.stderr)
    return 0


def score_on_spark(uri: str, args: argparse.Namespace) -> int:
    """``--engine spark``: the same pyfunc as a Spark UDF (:mod:`aeops.spark`)."""
    import time

    from aeops.errors import ScoringInputError
    from aeops.spark import score_files

    if args.dtype != "float32" or getattr(args, "keep_features", False):
        raise ScoringInputError(
            "--engine spark writes float32 codes and carries the non-feature columns; drop "
            "--dtype / --keep-features, or use --engine local"
        )
    start = time.perf_counter()
    rows = score_files(
        uri,
        args.input,
        args.output,
        args.spark_master,
        output=args.output_kind,
        explain=getattr(args, "explain", False),
        threshold=args.threshold,
    )
    seconds = time.perf_counter() - start
    print(
        f"{rows} rows from {args.input} -> {args.output} (Parquet folder) on Spark "
        f"{args.spark_master} with {uri} in {seconds:.1f}s",
        file=sys.stderr,
    )
    return 0


def add_engine(cmd) -> None:
    cmd.add_argument(
        "--engine",
        choices=["local", "spark"],
        default="local",
        help="spark: score as a Spark job through mlflow.pyfunc.spark_udf (pip install "
        "'aeops[spark]'); --output is then a Parquet folder",
    )
    cmd.add_argument(
        "--spark-master",
        default="local[*]",
        help="with --engine spark: local[N], spark://host:7077, yarn, ... (default local[*])",
    )


def run_file_command(model, args: argparse.Namespace, tally) -> int:
    """The file command's pass over ``--input`` into ``--output``; returns the row count
    (``tally``: a :class:`~aeops.batch.Tally` that counts flagged rows while scoring)."""
    from aeops.batch import decode_file, score_file

    if args.output_kind == DECODE:
        return decode_file(
            model, Path(args.input), Path(args.output), args.chunk_rows, progress=not args.quiet
        )
    return score_file(
        model,
        Path(args.input),
        Path(args.output),
        args.chunk_rows,
        args.threshold,
        getattr(args, "explain", False),
        progress=not args.quiet,
        output=args.output_kind,
        dtype=args.dtype,
        tally=tally,
        keep_features=getattr(args, "keep_features", False),
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    """AUROC, average precision and the confusion at the threshold on a labelled file."""
    from aeops.io import write_json
    from aeops.labelled import evaluate_file, report_lines
    from aeops.tracking import default_model, load_detector

    uri = args.model or default_model()
    report = evaluate_file(
        load_detector(uri),
        Path(args.input),
        args.label_column,
        args.normal,
        args.chunk_rows,
        args.threshold,
        progress=not args.quiet,
    )
    print("\n".join(report_lines(Path(args.input), args.label_column, report)), file=sys.stderr)
    if args.output:
        write_json(args.output, {"model": uri, "input": args.input, **report})
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from aeops.tracking import registry_lines

    print("\n".join(registry_lines(args.name)))
    return 0


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


def cmd_serve(args: argparse.Namespace) -> int:
    """``mlflow models serve`` of the model (default: this project's champion)."""
    from aeops.tracking import check_registered, default_model

    uri = args.model or default_model()
    if uri.startswith("models:/"):  # a sentence now, not a hang or traceback in the server
        check_registered(uri)
    return exec_mlflow(
        [
            "models",
            "serve",
            "-m",
            uri,
            "--env-manager",
            "local",
            "-h",
            args.host,
            "-p",
            str(args.port),
        ],
        f"serving {uri} on http://{args.host}:{args.port}/invocations",
    )


def cmd_promote(args: argparse.Namespace) -> int:
    """Move ``champion`` to a registered version by hand (the only way an experiment's
    challenger becomes champion)."""
    from aeops.tracking import default_report, note_promotion, promote, require_store

    require_store(writing=True)
    name = args.name or read_json(default_report())["model_name"]
    version, previous = promote(name, args.version)
    note_promotion(default_report(), name, int(version), previous)
    print(f"{name}: v{version} is now champion (was {previous})")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of params.yaml, for an editor to validate it as you type."""
    import json

    from aeops.config import json_schema

    Path(args.output).write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """params.yaml and the output paths, before DVC runs anything (``make train`` does)."""
    from aeops.mlflow_store import check_store
    from aeops.stages.runner import check_project
    from aeops.tracking import tracking_uri

    uri = tracking_uri(check_project(args.params))
    check_store(uri, writing=True)
    print(
        f"{args.params}: ok (parsed; every path inside the project; no output over a file "
        f"aeops did not make; the MLflow store {uri} answers)",
        file=sys.stderr,
    )
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """The MLflow UI over the project's store (``mlflow.tracking_uri`` of params.yaml)."""
    from aeops.config import load_config
    from aeops.tracking import tracking_uri

    uri = tracking_uri(load_config("params.yaml"))
    return exec_mlflow(
        ["server", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)],
        f"MLflow UI for {uri} on http://{args.host}:{args.port}",
    )


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def code_dtype(text: str) -> str:
    """One of :data:`aeops.codes.CODE_DTYPES` (imported here: numpy stays out of --help)."""
    from aeops.codes import CODE_DTYPES

    if text not in CODE_DTYPES:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(CODE_DTYPES)}, got {text}")
    return text


def add_file_command(
    sub,
    name: str,
    output_kind: str,
    help_text: str,
    input_help: str = "CSV or Parquet with the feature columns",
):
    cmd = sub.add_parser(name, help=help_text)
    cmd.add_argument(
        "--model",
        help="a model URI, e.g. models:/<name>@champion (default: this project's champion)",
    )
    cmd.add_argument("--input", required=True, help=input_help)
    cmd.add_argument("--output", required=True, help="CSV or Parquet to write")
    cmd.add_argument("--chunk-rows", type=positive_int, default=100_000)
    cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    cmd.set_defaults(func=cmd_score, output_kind=output_kind, threshold=None, dtype="float32")
    return cmd


def add_keep_features(cmd) -> None:
    cmd.add_argument(
        "--keep-features",
        action="store_true",
        help="also copy the feature columns to the output (by default only the other "
        "columns, such as ids and labels, are carried; one named like an output becomes "
        "input_<name>)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aeops", description=__doc__)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the libraries' own INFO lines (MLflow, Lightning, GX)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    score = add_file_command(
        sub, "score", "score", "anomaly scores and flags for a CSV or Parquet file"
    )
    score.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    score.add_argument("--explain", action="store_true", help="add per-feature errors")
    add_keep_features(score)
    add_engine(score)
    encode = add_file_command(
        sub,
        "encode",
        "latent",
        "latent codes (dimensionality reduction, compression) for a CSV or Parquet file",
    )
    encode.add_argument(
        "--dtype",
        type=code_dtype,
        default="float32",
        help="how codes are stored: float32 (as computed), float16, or int8 (scaled per "
        "dimension; Parquet only, the scale is kept in the file's metadata)",
    )
    add_file_command(
        sub,
        DECODE,
        DECODE,
        "rows in the input's units from the latent codes `aeops encode` wrote (any --dtype)",
        input_help="CSV or Parquet with the code columns z_0 .. z_<k-1>",
    )
    reconstruct = add_file_command(
        sub,
        "reconstruct",
        "reconstruction",
        "reconstructions (denoised rows, in the input's units) for a CSV or Parquet file",
    )
    add_keep_features(encode)
    add_engine(encode)
    add_keep_features(reconstruct)
    serve = sub.add_parser("serve", help="REST scoring (mlflow models serve) of a model")
    serve.add_argument("--model", help="a model URI (default: this project's champion)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=positive_int, default=5001)
    serve.set_defaults(func=cmd_serve)
    promote = sub.add_parser("promote", help="make a registered version the champion")
    promote.add_argument("version", type=positive_int)
    promote.add_argument("--name", help="registered model (default: this project's)")
    promote.set_defaults(func=cmd_promote)
    ui = sub.add_parser("ui", help="the MLflow UI over this project's store")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=positive_int, default=5000)
    ui.set_defaults(func=cmd_ui)
    schema = sub.add_parser("schema", help="write the JSON Schema of params.yaml")
    schema.add_argument("--output", default="params.schema.json")
    schema.set_defaults(func=cmd_schema)
    check = sub.add_parser("check", help="check params.yaml and the output paths before a run")
    check.add_argument("--params", default="params.yaml")
    check.set_defaults(func=cmd_check)
    evaluate = sub.add_parser(
        "evaluate", help="AUROC, average precision and confusion of a model on a labelled file"
    )
    evaluate.add_argument("--model", help="a model URI (default: this project's champion)")
    evaluate.add_argument("--input", required=True, help="CSV or Parquet with a label column")
    evaluate.add_argument("--label-column", required=True)
    evaluate.add_argument(
        "--normal",
        nargs="+",
        help="the label values of normal rows (default: a 0/1 or true/false column, 1 = anomaly)",
    )
    evaluate.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    evaluate.add_argument("--chunk-rows", type=positive_int, default=100_000)
    evaluate.add_argument("--output", help="also write the figures to this JSON file")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=cmd_evaluate)
    report = sub.add_parser("report", help="rebuild this run's report (reports/report.html)")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    report.set_defaults(func=cmd_report)
    plots = sub.add_parser(
        "plots", help="DVC's plots page (ROC, PR, figures), readable offline: dvc_plots/index.html"
    )
    plots.add_argument(
        "revisions", nargs="*", help="git revisions to compare (dvc plots diff); none: workspace"
    )
    plots.set_defaults(func=cmd_plots)
    show = sub.add_parser("show", help="list registered models, their versions and aliases")
    show.add_argument("--name", help="one registered model (default: all)")
    show.set_defaults(func=cmd_show)
    return parser


def cmd_report(args: argparse.Namespace) -> int:
    import webbrowser

    from aeops.config import load_config
    from aeops.run_report import write_report

    cfg = load_config("params.yaml")
    if not Path(cfg.paths.metrics).exists():
        raise AeopsError(f"{cfg.paths.metrics}: no evaluated run yet; run `make train` first")
    page = write_report(cfg)
    if args.open:
        webbrowser.open(page.resolve().as_uri())
    return 0


def cmd_plots(args: argparse.Namespace) -> int:
    from aeops.dvc_plots import write_plots

    write_plots(args.revisions)
    return 0


def use_project_store() -> None:
    """In a project folder: its store unless ``MLFLOW_TRACKING_URI`` names another, with a
    copied project's artifact locations moved into it (:func:`rebase_copied_store`)."""
    from aeops.config import load_config
    from aeops.mlflow_store import rebase_copied_store
    from aeops.tracking import project_root, tracking_uri

    cfg = load_config("params.yaml")
    uri = os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri(cfg))
    rebase_copied_store(uri, project_root(), cfg.mlflow.experiment, cfg.paths.mlflow_artifacts)


def main(argv: list[str] | None = None) -> int:
    import signal

    disable_telemetry()
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose or None, quiet=getattr(args, "quiet", False) or None)
    # SIGTERM unwinds like Ctrl-C, so a half-written output's temp file is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if Path("params.yaml").exists() and args.command != "schema":
            use_project_store()
        return args.func(args)
    except (AeopsError, FileNotFoundError) as exc:
        print(f"aeops {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"aeops {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
