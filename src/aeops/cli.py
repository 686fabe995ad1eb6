"""The ``aeops`` command: score, encode or reconstruct files with a registered detector; show
the registry."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from aeops.env import disable_telemetry
from aeops.errors import AeopsError
from aeops.io import atomic_path, read_json, write_json
from aeops.scoring import Detector, ScoringInputError


def require_store() -> None:
    """A SQLite store that does not exist is refused (MLflow would create an empty one)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise ScoringInputError("no MLflow store configured: run this in the project folder "
                                "(its params.yaml names the store), or set MLFLOW_TRACKING_URI")
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
        if not path.exists():
            raise ScoringInputError(f"no MLflow store at {path}; run `make train` here first, "
                                    "or set MLFLOW_TRACKING_URI to the store that holds the "
                                    "model")


def load_detector(uri: str):
    """A pyfunc from the registry (or any MLflow URI, or a model folder); our Detector when it
    wraps one. A missing model, alias or version is a sentence, not a traceback."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if uri.startswith("models:/"):
        require_store()
        check_registered(uri)
    elif not uri.startswith(("runs:/", "models:/")) and not Path(uri).exists():
        raise ScoringInputError(f"{uri}: no such model folder; give a folder holding an "
                                "MLmodel file, or a models:/<name>@<alias> URI")
    try:
        model = mlflow.pyfunc.load_model(uri)
    except MlflowException as exc:
        raise ScoringInputError(f"{uri}: cannot load the model ({exc.message[:300]})") from None
    try:
        return model.unwrap_python_model().detector
    except AttributeError:
        return model


def check_registered(uri: str) -> None:
    """``models:/<name>@<alias>`` or ``models:/<name>/<version>`` must exist, or say what
    does."""
    import mlflow
    from mlflow.exceptions import MlflowException

    name, _, rest = uri[len("models:/"):].partition("@")
    version = None
    if not rest and "/" in name:
        name, version = name.split("/", 1)
    client = mlflow.MlflowClient()
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        names = [m.name for m in client.search_registered_models()]
        raise ScoringInputError(f"no registered model '{name}' in this store (it holds "
                                f"{names or 'none'}); `aeops show` lists them") from None
    if rest and rest not in model.aliases:
        raise ScoringInputError(f"registered model '{name}' has no alias '{rest}' (aliases: "
                                f"{sorted(model.aliases) or 'none'})")
    if version is not None:
        try:
            client.get_model_version(name, version)
        except MlflowException:
            raise ScoringInputError(f"registered model '{name}' has no version {version}; "
                                    "`aeops show` lists them") from None


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def parquet_file(path: Path):
    """An open Parquet file, or a sentence saying why it cannot be."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False: read each row group when it is needed, so memory stays flat
        return pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowException, OSError) as exc:
        raise ScoringInputError(f"{path}: cannot be read as Parquet ({str(exc)[:200]}); is it "
                                "complete?") from None


def header_of(path: Path) -> list[str]:
    """The input's column names; an empty or header-only file is refused."""
    if path.stat().st_size == 0:
        raise ScoringInputError(f"{path}: the file is empty; nothing to score")
    if is_parquet(path):
        handle = parquet_file(path)
        rows, columns = handle.metadata.num_rows, handle.schema_arrow.names
    else:
        try:
            head = pd.read_csv(path, nrows=1)
        except (ValueError, OSError) as exc:
            raise ScoringInputError(f"{path}: cannot be read as CSV ({str(exc)[:200]})") from None
        rows, columns = len(head), [str(c) for c in head.columns]
    if rows == 0:
        raise ScoringInputError(f"{path}: has a header but no rows; nothing to score")
    return columns


def read_chunks(path: Path, chunk_rows: int) -> tuple[Iterator[pd.DataFrame], int | None]:
    """Chunks of a CSV or Parquet file, and the row count when the format tells it."""
    if is_parquet(path):
        handle = parquet_file(path)
        return _parquet_frames(handle, chunk_rows), handle.metadata.num_rows
    if path.suffix.lower() in (".csv", ".gz", ".txt"):
        return iter(pd.read_csv(path, chunksize=chunk_rows)), None
    raise ScoringInputError(f"{path}: unknown format '{path.suffix}'; use .csv or .parquet")


def _parquet_frames(handle, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Each record batch as a frame, its Arrow buffers released as they are converted."""
    import pyarrow as pa

    for batch in handle.iter_batches(batch_size=chunk_rows):
        table = pa.Table.from_batches([batch])
        del batch
        frame = table.to_pandas(split_blocks=True, self_destruct=True)
        del table
        yield frame


class ChunkWriter:
    """Append scored chunks to a CSV or Parquet file (written to a temp file, then renamed)."""

    def __init__(self, tmp: Path, fmt: str) -> None:
        self.tmp, self.fmt, self.writer, self.rows = tmp, fmt, None, 0

    def write(self, frame: pd.DataFrame) -> None:
        if self.fmt == "csv":
            frame.to_csv(self.tmp, mode="a", header=self.rows == 0, index=False)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self.writer is None:
                self.writer = pq.ParquetWriter(self.tmp, table.schema)
            self.writer.write_table(table)
        self.rows += len(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def parquet_feature_chunks(path: Path, features: list[str], chunk_rows: int
                           ) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
    """(float32 features, other columns) in chunks, reading one column of one row group at a
    time: memory is bounded by one row group's features as float32, not by the file."""
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(path, pre_buffer=False)
    names = handle.schema_arrow.names
    missing = [c for c in features if c not in names]
    if missing:
        raise ScoringInputError(f"{path}: missing feature column(s) {missing[:10]}; the model "
                                f"expects {features[0]} ... {features[-1]}")
    others = [c for c in names if c not in set(features)]
    sizes = [handle.metadata.row_group(g).num_rows for g in range(handle.num_row_groups)]
    # one buffer for every row group: each chunk is scored before the next group is read
    buffer = np.empty((max(sizes, default=0), len(features)), dtype=np.float32)
    for group, n in enumerate(sizes):
        values = buffer[:n]
        for j, name in enumerate(features):
            column = handle.read_row_group(group, columns=[name], use_threads=False).column(0)
            values[:, j] = column.to_numpy()
        kept = (handle.read_row_group(group, columns=others).to_pandas() if others
                else pd.DataFrame(index=pd.RangeIndex(n)))
        for start in range(0, n, chunk_rows):
            yield values[start : start + chunk_rows], kept.iloc[start : start + chunk_rows]


def check_input_columns(detector: Detector, path: Path) -> None:
    """Refuse a file whose header does not fit the model's schema, before writing anything."""
    detector.check_columns(header_of(path), where=str(path))


def score_file(model, input_path: Path, output_path: Path, chunk_rows: int = 100_000,
               threshold: float | None = None, explain: bool = False,
               progress: bool = True, output: str = "score") -> int:
    """Score (or encode, or reconstruct) ``input_path`` chunk by chunk into ``output_path``;
    returns the row count.

    Columns that are not model features (ids, labels) are carried through to the output."""
    from tqdm.auto import tqdm

    check_paths(input_path, output_path)
    fmt = "parquet" if is_parquet(output_path) else "csv"
    detector = model if isinstance(model, Detector) else None
    if detector is not None:
        check_input_columns(detector, input_path)
    else:
        header_of(input_path)
    if (detector is not None and detector.numeric_only and output == "score"
            and is_parquet(input_path)):
        total = parquet_file(input_path).metadata.num_rows
        pieces = parquet_feature_chunks(input_path, detector.info.features, chunk_rows)
    else:
        chunks, total = read_chunks(input_path, chunk_rows)
        pieces = ((None, chunk) for chunk in chunks)
    features = set(detector.info.features) if detector is not None else set()
    with atomic_path(output_path) as tmp:
        tmp.unlink()
        writer = ChunkWriter(tmp, fmt)
        try:
            with tqdm(total=total, unit="rows", disable=not progress, desc=output) as bar:
                for values, chunk in pieces:
                    index = pd.RangeIndex(writer.rows, writer.rows + len(chunk))
                    chunk = chunk.set_axis(index)
                    if values is not None:
                        result = detector.predict_values(values, index, threshold, explain)
                    elif detector is not None:
                        result = detector.predict(chunk, threshold=threshold, explain=explain,
                                                  output=output)
                    else:
                        params = {"explain": explain, "output": output} | (
                            {"threshold": threshold} if threshold is not None else {})
                        result = model.predict(chunk, params=params).set_axis(index)
                    kept = chunk[[c for c in chunk.columns if c not in features]]
                    writer.write(pd.concat([kept, result], axis=1))
                    bar.update(len(chunk))
        finally:
            writer.close()
    return writer.rows


def check_paths(input_path: Path, output_path: Path) -> None:
    """The input must be a file; the output must not be the input or a folder."""
    if not input_path.exists():
        raise ScoringInputError(f"{input_path}: input file not found")
    if input_path.is_dir():
        raise ScoringInputError(f"{input_path}: is a folder; give a .csv or .parquet file")
    if output_path.is_dir():
        raise ScoringInputError(f"{output_path}: is a folder; give the output file's name "
                                "(.csv or .parquet)")
    if output_path.exists() and output_path.resolve() == input_path.resolve():
        raise ScoringInputError(f"{output_path}: is the input file; writing it would destroy "
                                "the input. Choose another output path")


def default_report(params: Path = Path("params.yaml")) -> Path:
    """The register stage's report of this project (in the working directory)."""
    from aeops.config import load_config

    report = Path(load_config(params).paths.registry_report) if params.exists() else None
    if report is None or not report.exists():
        raise ScoringInputError("no --model given and no registered champion in this project "
                                "(run `make train`, or pass --model models:/<name>@champion; "
                                "`aeops show` lists the registered models)")
    return report


def default_model() -> str:
    """This project's champion, from the register stage's report."""
    return read_json(default_report())["model_uri"]


def cmd_score(args: argparse.Namespace) -> int:
    import time

    uri = args.model or default_model()
    model = load_detector(uri)
    start = time.perf_counter()
    rows = score_file(model, Path(args.input), Path(args.output), args.chunk_rows,
                      args.threshold, getattr(args, "explain", False), progress=not args.quiet,
                      output=args.output_kind)
    seconds = time.perf_counter() - start
    verb = {"score": "scored", "latent": "encoded", "reconstruction": "reconstructed"}
    print(f"{verb[args.output_kind]} {rows} rows from {args.input} -> {args.output} with "
          f"{uri} in {seconds:.1f}s ({rows / max(seconds, 1e-9):,.0f} rows/s)", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    import mlflow

    require_store()
    client = mlflow.MlflowClient()
    names = [args.name] if args.name else [m.name for m in client.search_registered_models()]
    if not names:
        print("no registered models yet; run `make train`")
    for name in names:
        model = client.get_registered_model(name)
        print(f"{model.name}: aliases {model.aliases}")
        for version in client.search_model_versions(f"name='{name}'"):
            tags = version.tags
            print(f"  v{version.version}: {tags.get('kind', 'autoencoder')} "
                  f"{tags.get('family')} decision={tags.get('decision')} "
                  f"threshold={tags.get('threshold')} -- {version.description}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """``mlflow models serve`` of the model, with this environment's tools first on PATH (it
    starts ``uvicorn`` from PATH), so it works from any shell."""
    uri = args.model or default_model()
    tools = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": tools + os.pathsep + os.environ.get("PATH", "")}
    command = [str(Path(tools) / "mlflow"), "models", "serve", "-m", uri, "--env-manager",
               "local", "-h", args.host, "-p", str(args.port)]
    print(f"serving {uri} on http://{args.host}:{args.port}/invocations", file=sys.stderr)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


def cmd_promote(args: argparse.Namespace) -> int:
    """Move ``champion`` to a registered version by hand (the only way an experiment's
    challenger becomes champion)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from aeops.tracking import CHAMPION, current_version, set_alias, set_version_tags

    require_store()
    name = args.name or read_json(default_report())["model_name"]
    check_registered(f"models:/{name}")
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version(name, str(args.version))
    except MlflowException:
        raise ScoringInputError(f"registered model '{name}' has no version {args.version}; "
                                "`aeops show` lists them") from None
    before = current_version(name, CHAMPION)
    set_alias(name, CHAMPION, version.version)
    previous = f"v{before.version}" if before is not None else "none"
    set_version_tags(name, version.version, {
        "decision": CHAMPION, "promoted": True,
        "promoted_by": f"aeops promote (champion before: {previous})"})
    note_promotion(default_report(), name, int(version.version), previous)
    print(f"{name}: v{version.version} is now champion (was {previous})")
    return 0


def note_promotion(report: Path, name: str, version: int, previous: str) -> None:
    """Keep ``reports/register.json`` true after a promotion by hand when it describes the
    promoted version (the register stage's report is the default model's record)."""
    if not report.exists():
        return
    decision = read_json(report)
    if decision.get("model_name") != name or decision.get("version") != version:
        return
    decision.update(alias="champion", promoted=True,
                    reason=f"{decision['reason']}; promoted by hand with `aeops promote` "
                           f"(champion before: {previous})")
    write_json(report, decision)


def cmd_schema(args: argparse.Namespace) -> int:
    """Write the JSON Schema of params.yaml, for an editor to validate it as you type."""
    import json

    from aeops.config import json_schema

    Path(args.output).write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """The MLflow UI over the project's store (``mlflow.tracking_uri`` of params.yaml)."""
    from aeops.config import load_config
    from aeops.tracking import tracking_uri

    uri = tracking_uri(load_config("params.yaml"))
    tools = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": tools + os.pathsep + os.environ.get("PATH", "")}
    command = [str(Path(tools) / "mlflow"), "server", "--backend-store-uri", uri,
               "--host", args.host, "--port", str(args.port)]
    print(f"MLflow UI for {uri} on http://{args.host}:{args.port}", file=sys.stderr)
    os.execve(command[0], command, env)
    return 0  # pragma: no cover - execve does not return


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def finite_float(text: str) -> float:
    value = float(text)
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def add_file_command(sub, name: str, output_kind: str, help_text: str):
    cmd = sub.add_parser(name, help=help_text)
    cmd.add_argument("--model", help="a model URI, e.g. models:/<name>@champion (default: this "
                                     "project's champion)")
    cmd.add_argument("--input", required=True, help="CSV or Parquet with the feature columns")
    cmd.add_argument("--output", required=True, help="CSV or Parquet to write")
    cmd.add_argument("--chunk-rows", type=positive_int, default=100_000)
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.set_defaults(func=cmd_score, output_kind=output_kind, threshold=None)
    return cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aeops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    score = add_file_command(sub, "score", "score", "anomaly scores and flags for a CSV or "
                             "Parquet file")
    score.add_argument("--threshold", type=finite_float, help="override the stored threshold")
    score.add_argument("--explain", action="store_true", help="add per-feature errors")
    add_file_command(sub, "encode", "latent", "latent codes (dimensionality reduction, "
                     "compression) for a CSV or Parquet file")
    add_file_command(sub, "reconstruct", "reconstruction", "reconstructions (denoised rows, in "
                     "the input's units) for a CSV or Parquet file")
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
    show = sub.add_parser("show", help="list registered models, their versions and aliases")
    show.add_argument("--name", help="one registered model (default: all)")
    show.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    import signal

    disable_telemetry()
    args = build_parser().parse_args(argv)
    if "MLFLOW_TRACKING_URI" not in os.environ and Path("params.yaml").exists():
        from aeops.config import load_config
        from aeops.tracking import tracking_uri

        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri(load_config("params.yaml"))
    # SIGTERM unwinds like Ctrl-C, so a half-written output's temp file is removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.func(args)
    except (AeopsError, FileNotFoundError) as exc:
        print(f"aeops {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"aeops {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
