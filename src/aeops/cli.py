"""The ``aeops`` command: score, encode, decode or reconstruct files with a registered
detector; evaluate it on a labelled file; serve it; show and promote registered versions."""

# __doc__ is the --help description. The CLI parses and delegates: each command's work is a
# library function (aeops.serving.commands, aeops.tracking, aeops.reporting), imported only
# when that command runs, so `aeops --help` and the refusals start fast.

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path

from aeops.core.env import disable_telemetry
from aeops.core.errors import AeopsError
from aeops.core.logs import configure as configure_logging

PARAMS = Path("params.yaml")
FILE_KINDS = {
    "score": "score",
    "encode": "latent",
    "decode": "decode",
    "reconstruct": "reconstruction",
}


def say(lines: list[str], to_stdout: bool = False) -> int:
    print("\n".join(lines), file=sys.stdout if to_stdout else sys.stderr)
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from aeops.serving.commands import FileJob, run_file_job

    job = FileJob(
        args.model,
        Path(args.input),
        Path(args.output),
        FILE_KINDS[args.command],
        args.chunk_rows,
        getattr(args, "threshold", None),
        getattr(args, "explain", False),
        getattr(args, "keep_features", False),
        getattr(args, "dtype", "float32"),
        not args.quiet,
        getattr(args, "engine", "local"),
        getattr(args, "spark_master", "local[*]"),
    )
    return say(run_file_job(job))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aeops.serving.commands import LabelledJob, run_labelled_job

    job = LabelledJob(
        args.model,
        Path(args.input),
        args.label_column,
        args.normal,
        args.chunk_rows,
        args.threshold,
        not args.quiet,
        Path(args.output) if args.output else None,
    )
    return say(run_labelled_job(job))


def cmd_show(args: argparse.Namespace) -> int:
    from aeops.tracking.registry import registry_lines

    return say(registry_lines(args.name), to_stdout=True)


def cmd_serve(args: argparse.Namespace) -> int:
    from aeops.serving.commands import serve

    return serve(args.model, args.host, args.port)


def cmd_ui(args: argparse.Namespace) -> int:
    from aeops.serving.commands import ui

    return ui(PARAMS, args.host, args.port)


def cmd_promote(args: argparse.Namespace) -> int:
    from aeops.tracking.promotion import promote_by_hand

    return say([promote_by_hand(args.version, args.name)], to_stdout=True)


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of params.yaml, for an editor to validate it as you type."""
    import json

    from aeops.config import json_schema

    Path(args.output).write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return say([f"wrote {args.output}"])


def cmd_check(args: argparse.Namespace) -> int:
    from aeops.stages.check import check_command

    return say([check_command(args.params)])


def cmd_report(args: argparse.Namespace) -> int:
    from aeops.reporting.report import rebuild_report

    rebuild_report(PARAMS, args.open)
    return 0


def cmd_plots(args: argparse.Namespace) -> int:
    from aeops.reporting.dvc_plots import write_plots

    write_plots(args.revisions)
    return 0


def checked(name: str, kind: Callable, test: Callable, what: str) -> Callable:
    """An argparse type: ``kind(text)``, refused unless ``test`` holds (``what`` it must be)."""

    def parse(text: str):
        value = kind(text)
        if not test(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def known_dtype(text: str) -> bool:
    from aeops.data.codes import CODE_DTYPES  # numpy stays out of --help

    return text in CODE_DTYPES


positive_int = checked("positive_int", int, lambda v: v >= 1, "at least 1")
finite_float = checked("finite_float", float, math.isfinite, "a finite number")
code_dtype = checked("code_dtype", str, known_dtype, "one of float32, float16, int8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aeops", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="also show libraries' INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    model_help = "a model URI, e.g. models:/<name>@champion (default: this project's champion)"
    helps = {
        "score": "anomaly scores and flags for a CSV or Parquet file",
        "encode": "latent codes (dimensionality reduction, compression) for a CSV or Parquet file",
        "decode": "rows in the input's units from the latent codes `aeops encode` wrote",
        "reconstruct": "reconstructions (denoised rows, in the input's units) of a file",
    }
    for name, text in helps.items():
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--model", help=model_help)
        cmd.add_argument("--input", required=True, help="CSV or Parquet (codes z_0.. to decode)")
        cmd.add_argument("--output", required=True, help="CSV or Parquet to write")
        cmd.add_argument("--chunk-rows", type=positive_int, default=100_000)
        cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
        cmd.set_defaults(func=cmd_file)
        if name != "decode":
            cmd.add_argument(
                "--keep-features", action="store_true", help="also copy the feature columns"
            )
        if name in ("score", "encode"):
            cmd.add_argument("--engine", choices=["local", "spark"], default="local")
            cmd.add_argument("--spark-master", default="local[*]", help="e.g. spark://host:7077")
    score, encode = sub.choices["score"], sub.choices["encode"]
    score.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    score.add_argument("--explain", action="store_true", help="add per-feature errors")
    encode.add_argument(
        "--dtype",
        type=code_dtype,
        default="float32",
        help="float32, float16, or int8 (scaled per dimension; Parquet only)",
    )
    serve = sub.add_parser("serve", help="REST scoring (mlflow models serve) of a model")
    serve.add_argument("--model", help=model_help)
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
    check.add_argument("--params", default=str(PARAMS))
    check.set_defaults(func=cmd_check)
    evaluate = sub.add_parser("evaluate", help="AUROC, AP and confusion on a labelled file")
    evaluate.add_argument("--model", help=model_help)
    evaluate.add_argument("--input", required=True, help="CSV or Parquet with a label column")
    evaluate.add_argument("--label-column", required=True)
    evaluate.add_argument("--normal", nargs="+", help="label values of normal rows")
    evaluate.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    evaluate.add_argument("--chunk-rows", type=positive_int, default=100_000)
    evaluate.add_argument("--output", help="also write the figures to this JSON file")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate.set_defaults(func=cmd_evaluate)
    report = sub.add_parser("report", help="rebuild this run's report (reports/report.html)")
    report.add_argument("--open", action="store_true", help="open it in the web browser")
    report.set_defaults(func=cmd_report)
    plots = sub.add_parser("plots", help="DVC's plots page, offline: dvc_plots/index.html")
    plots.add_argument("revisions", nargs="*", help="git revisions to compare (dvc plots diff)")
    plots.set_defaults(func=cmd_plots)
    show = sub.add_parser("show", help="list registered models, their versions and aliases")
    show.add_argument("--name", help="one registered model (default: all)")
    show.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal

    disable_telemetry()
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose or None, quiet=getattr(args, "quiet", False) or None)
    # SIGTERM unwinds like Ctrl-C, so a half-written output's temp file is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if PARAMS.exists() and args.command != "schema":
            from aeops.tracking.store import use_project_store

            use_project_store(PARAMS)
        return args.func(args)
    except (AeopsError, FileNotFoundError) as exc:
        print(f"aeops {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"aeops {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
