"""The ``aeops`` command: score, encode, decode or reconstruct files with a registered
detector; evaluate it on a labelled file; serve it; show and promote registered versions."""

# __doc__ is the --help description. The CLI parses and delegates: each command's work is a
# library function (aeops.serving.commands, aeops.tracking, aeops.reporting), imported only
# when that command runs, so `aeops --help` and the refusals start fast.

from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from aeops.core.env import disable_telemetry
from aeops.core.errors import AeopsError
from aeops.core.logs import configure as configure_logging

PARAMS = Path("params.yaml")
FILE_KINDS = {"score": "score", "encode": "latent", "decode": "decode"}
FILE_KINDS["reconstruct"] = "reconstruction"
SERVERS = {"onnx": "aeops.serving.rest:serve_onnx", "mlflow": "aeops.serving.commands:serve"}


def say(lines: list[str], to_stdout: bool = False) -> int:
    print("\n".join(lines), file=sys.stdout if to_stdout else sys.stderr)
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    from aeops.serving.commands import FileJob, run_file_job

    options = ("threshold", "explain", "keep_features", "dtype", "engine", "spark_master")
    given = {name: getattr(args, name) for name in options if hasattr(args, name)}
    kind = FILE_KINDS[args.command]
    files = (Path(args.input), Path(args.output))
    job = FileJob(args.model, *files, kind, args.chunk_rows, progress=not args.quiet, **given)
    return say(run_file_job(job))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from aeops.serving.commands import LabelledJob, run_labelled_job

    output = Path(args.output) if args.output else None
    given = (args.label_column, args.normal, args.chunk_rows, args.threshold)
    job = LabelledJob(args.model, Path(args.input), *given, progress=not args.quiet, output=output)
    return say(run_labelled_job(job))


def cmd_serve(args: argparse.Namespace) -> int:
    return library(*SERVERS[args.engine].split(":"))(args.model, args.host, args.port)


def cmd_monitor(args: argparse.Namespace) -> int:
    from aeops.serving.commands import run_monitor
    from aeops.serving.monitor import MonitorJob

    model = Path(args.model) if args.model else None
    lines, code = run_monitor(MonitorJob(Path(args.input), model, Path(args.output), args.alpha))
    say(lines)
    return code


def library(module: str, function: str) -> Callable:
    """``module.function``, imported only when its command runs (``--help`` stays fast)."""
    return lambda *args: getattr(importlib.import_module(module), function)(*args)


def cmd_denoise(args: argparse.Namespace) -> int:
    run = library("aeops.serving.denoise", "denoise_files")
    return say(run(args.model, Path(args.input), Path(args.output), not args.quiet))


def cmd_export(args: argparse.Namespace) -> int:
    return say(library("aeops.serving.commands", "run_export")(args.model, Path(args.output)))


def cmd_ui(args: argparse.Namespace) -> int:
    return library("aeops.serving.commands", "ui")(PARAMS, args.host, args.port)


def cmd_watch(args: argparse.Namespace) -> int:
    run = library("aeops.serving.watch", "watch")
    return run(args.model, args.input, args.min_run, args.follow, sys.stdout)


def cmd_show(args: argparse.Namespace) -> int:
    return say(library("aeops.tracking.registry", "registry_lines")(args.name), to_stdout=True)


def cmd_promote(args: argparse.Namespace) -> int:
    promoted = library("aeops.tracking.promotion", "promote_by_hand")(args.version, args.name)
    return say([promoted], to_stdout=True)


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of params.yaml, for an editor to validate it as you type."""
    schema = library("aeops.config", "json_schema")()
    Path(args.output).write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    return say([f"wrote {args.output}"])


def cmd_check(args: argparse.Namespace) -> int:
    return say([library("aeops.stages.check", "check_command")(args.params)])


def cmd_report(args: argparse.Namespace) -> int:
    library("aeops.reporting.report", "rebuild_report")(PARAMS, args.open)
    return 0


def cmd_plots(args: argparse.Namespace) -> int:
    library("aeops.reporting.dvc_plots", "write_plots")(args.revisions)
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

# The parser: one function per command adds its flags (in the order --help lists them); --help
# lists the commands in the order they are defined here.

Flags = Callable[[argparse.ArgumentParser], None]
COMMANDS: list[tuple[str, str, Callable[[argparse.Namespace], int], Flags]] = []
MODEL_HELP = "a model URI, e.g. models:/<name>@champion (default: this project's champion)"
HOST = "127.0.0.1"


def command(name: str, text: str, func: Callable[[argparse.Namespace], int]) -> Callable:
    """Decorator: ``aeops name`` (``text`` its help line) runs ``func`` and takes the flags the
    decorated function adds."""

    def register(flags: Flags) -> Flags:
        COMMANDS.append((name, text, func, flags))
        return flags

    return register


def file_flags(cmd: argparse.ArgumentParser, keep: bool = True, engines: bool = False) -> None:
    """The flags of the commands that write a file from a file (:data:`FILE_KINDS`): ``keep``
    adds --keep-features, ``engines`` --engine and --spark-master."""
    cmd.add_argument("--model", help=MODEL_HELP)
    cmd.add_argument("--input", required=True, help="CSV or Parquet (codes z_0.. to decode)")
    cmd.add_argument("--output", required=True, help="CSV or Parquet to write")
    cmd.add_argument("--chunk-rows", type=positive_int, default=100_000)
    cmd.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    if keep:
        cmd.add_argument("--keep-features", action="store_true", help="copy the features too")
    if engines:
        cmd.add_argument("--engine", choices=["local", "onnx", "spark"], default="local")
        cmd.add_argument("--spark-master", default="local[*]", help="e.g. spark://host:7077")


@command("score", "anomaly scores and flags for a CSV or Parquet file", cmd_file)
def score_flags(cmd: argparse.ArgumentParser) -> None:
    file_flags(cmd, engines=True)
    cmd.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    cmd.add_argument("--explain", action="store_true", help="add per-feature errors")


@command(
    "encode",
    "latent codes (dimensionality reduction, compression) for a CSV or Parquet file",
    cmd_file,
)
def encode_flags(cmd: argparse.ArgumentParser) -> None:
    file_flags(cmd, engines=True)
    dtypes = "float32, float16, or int8 (scaled per dimension; Parquet only)"
    cmd.add_argument("--dtype", type=code_dtype, default="float32", help=dtypes)


@command("decode", "rows in the input's units from the latent codes `aeops encode` wrote", cmd_file)
def decode_flags(cmd: argparse.ArgumentParser) -> None:
    file_flags(cmd, keep=False)


@command("reconstruct", "reconstructions (denoised rows, in the input's units) of a file", cmd_file)
def reconstruct_flags(cmd: argparse.ArgumentParser) -> None:
    file_flags(cmd)


@command("serve", "REST scoring of a model (MLflow's server, or ONNX Runtime)", cmd_serve)
def serve_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", help=MODEL_HELP)
    cmd.add_argument("--host", default=HOST)
    cmd.add_argument("--port", type=positive_int, default=5001)
    cmd.add_argument("--engine", choices=["mlflow", "onnx"], default="mlflow")


@command("export", "the model as an ONNX graph (raw columns in)", cmd_export)
def export_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", help=MODEL_HELP)
    cmd.add_argument("--format", choices=["onnx"], default="onnx")
    cmd.add_argument("--output", required=True, help="the folder to write")


@command("monitor", "drift of new rows against the model's reference", cmd_monitor)
def monitor_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--input", required=True, help="CSV or Parquet of new rows")
    cmd.add_argument("--model", help="an ONNX export folder (default: the champion's)")
    cmd.add_argument("--output", default="reports/monitor", help="where monitor.html/json go")
    cmd.add_argument("--alpha", type=finite_float, default=0.01)


@command("denoise", "denoise images of any size: same names, sizes, formats", cmd_denoise)
def denoise_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", help="a denoiser folder or URI (default: this project's)")
    cmd.add_argument("--input", required=True, help="an image or a folder")
    cmd.add_argument("--output", required=True)
    cmd.add_argument("--quiet", action="store_true")


@command("promote", "make a registered version the champion", cmd_promote)
def promote_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("version", type=positive_int)
    cmd.add_argument("--name", help="registered model (default: this project's)")


@command("watch", "score a stream's rows as they arrive (stdin, or a growing file)", cmd_watch)
def watch_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", help=MODEL_HELP)
    cmd.add_argument("--input", default="-", help="- (stdin) or a file: CSV or JSON lines")
    cmd.add_argument("--min-run", type=positive_int, default=1, help="rows over it to alarm")
    cmd.add_argument("--follow", action="store_true", help="wait for the file's new lines")


@command("ui", "the MLflow UI over this project's store", cmd_ui)
def ui_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--host", default=HOST)
    cmd.add_argument("--port", type=positive_int, default=5000)


@command("schema", "write the JSON Schema of params.yaml", cmd_schema)
def schema_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--output", default="params.schema.json")


@command("check", "check params.yaml and the output paths before a run", cmd_check)
def check_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--params", default=str(PARAMS))


@command("evaluate", "AUROC, AP and confusion on a labelled file", cmd_evaluate)
def evaluate_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--model", help=MODEL_HELP)
    cmd.add_argument("--input", required=True, help="CSV or Parquet with a label column")
    cmd.add_argument("--label-column", required=True)
    cmd.add_argument("--normal", nargs="+", help="label values of normal rows")
    cmd.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    cmd.add_argument("--chunk-rows", type=positive_int, default=100_000)
    cmd.add_argument("--output", help="also write the figures to this JSON file")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")


@command("report", "rebuild this run's report (reports/report.html)", cmd_report)
def report_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--open", action="store_true", help="open it in the web browser")


@command("plots", "DVC's plots page, offline: dvc_plots/index.html", cmd_plots)
def plots_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("revisions", nargs="*", help="git revisions to compare (dvc plots diff)")


@command("show", "list registered models, their versions and aliases", cmd_show)
def show_flags(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--name", help="one registered model (default: all)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aeops", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="also show libraries' INFO")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text, func, flags in COMMANDS:
        cmd = sub.add_parser(name, help=text)
        flags(cmd)
        cmd.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal

    disable_telemetry()
    args = build_parser().parse_args(argv)
    configure_logging(verbose=args.verbose or None, quiet=getattr(args, "quiet", False) or None)
    # SIGTERM unwinds like Ctrl-C, so a half-written output's temp file is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        onnx = getattr(args, "engine", None) == "onnx"  # ONNX Runtime only: no store, no torch
        if PARAMS.exists() and args.command != "schema" and not onnx:
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
