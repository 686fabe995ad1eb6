"""Nothing lost, nothing faked, nothing executed: the battery of bad inputs and hostile files,
each asserting the exit status, the message, no traceback, no stray files, inputs and the
champion unchanged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from tests.helpers import ROOT, make_config
from tests.integration.inproc import run_pipeline
from tests.integration.project import project_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]
AEOPS = str(ROOT / ".venv" / "bin" / "aeops")


def tiny_config(root: Path, epochs: int, **override):
    """A dense-only digits run on 300 rows: seconds. A few epochs cannot beat k-NN, and these
    tests need an autoencoder champion (its weights file), so baselines are not candidates."""
    register = {"candidates": "autoencoders", **override.pop("register", {})}
    return make_config(
        root,
        data={"max_rows": 300},
        train={"max_epochs": epochs, "progress_bar": False},
        models={"families": ["dense"]},
        evaluate={"bootstrap": 10},
        baselines={"iforest_estimators": 10},
        register=register,
        **override,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A project folder with a registered digits champion (tiny training)."""
    root = tmp_path_factory.mktemp("safety")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        cfg = tiny_config(root, epochs=2)
        run_pipeline(cfg)
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    frame = pd.read_parquet(cfg.paths.interim_data)
    frame.head(40).to_csv(root / "rows.csv", index=False)
    frame.head(40).to_parquet(root / "rows.parquet")
    return root


def champion_uri(root: Path) -> str:
    return json.loads((root / "reports/register.json").read_text())["model_uri"]


def champion_version(root: Path) -> str:
    name = json.loads((root / "reports/register.json").read_text())["model_name"]
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    return client.get_model_version_by_alias(name, "champion").version


def aeops(root: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = project_env(root)
    return subprocess.run(
        [AEOPS, *args], cwd=cwd or root, env=env, capture_output=True, text=True, timeout=300
    )


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def write_case(root: Path, case: str) -> tuple[list[str], str]:
    """(aeops arguments, expected message) for one bad input, its files written."""
    work = root / "cases" / case
    work.mkdir(parents=True, exist_ok=True)
    model = ["--model", champion_uri(root)]
    rows = pd.read_csv(root / "rows.csv")
    out = str(work / "out.csv")
    if case == "output_is_input":
        rows.to_csv(work / "in.csv", index=False)
        return [
            "score",
            *model,
            "--input",
            str(work / "in.csv"),
            "--output",
            str(work / "." / "in.csv"),
        ], "is the input file"
    if case == "output_is_a_folder":
        return [
            "score",
            *model,
            "--input",
            str(root / "rows.csv"),
            "--output",
            str(work),
        ], "is a folder"
    if case == "input_is_a_folder":
        return ["score", *model, "--input", str(work), "--output", out], "is a folder"
    if case == "empty_file":
        (work / "in.csv").write_text("")
        return ["score", *model, "--input", str(work / "in.csv"), "--output", out], "is empty"
    if case == "header_only_csv":
        rows.head(0).to_csv(work / "in.csv", index=False)
        return ["score", *model, "--input", str(work / "in.csv"), "--output", out], "no rows"
    if case == "header_only_parquet":
        rows.head(0).to_parquet(work / "in.parquet")
        return ["score", *model, "--input", str(work / "in.parquet"), "--output", out], "no rows"
    if case == "truncated_parquet":
        data = (root / "rows.parquet").read_bytes()
        (work / "in.parquet").write_bytes(data[: len(data) // 2])
        return [
            "score",
            *model,
            "--input",
            str(work / "in.parquet"),
            "--output",
            out,
        ], "cannot be read as Parquet"
    if case == "text_in_a_numeric_column":
        bad = rows.astype({"pixel_3": object})
        bad.loc[5, "pixel_3"] = "broken"
        bad.to_csv(work / "in.csv", index=False)
        return [
            "score",
            *model,
            "--input",
            str(work / "in.csv"),
            "--output",
            out,
        ], "row 5, column 'pixel_3': 'broken' is not a number"
    if case == "nan_in_a_row":
        bad = rows.copy()
        bad.loc[7, "pixel_9"] = np.nan
        bad.to_csv(work / "in.csv", index=False)
        return [
            "score",
            *model,
            "--input",
            str(work / "in.csv"),
            "--output",
            out,
        ], "row 7, column 'pixel_9'"
    if case == "unknown_model":
        return [
            "score",
            "--model",
            "models:/no-such-model@champion",
            "--input",
            str(root / "rows.csv"),
            "--output",
            out,
        ], "no registered model 'no-such-model'"
    if case == "unknown_alias":
        name = champion_uri(root).split("/")[1].split("@")[0]
        return [
            "score",
            "--model",
            f"models:/{name}@gold",
            "--input",
            str(root / "rows.csv"),
            "--output",
            out,
        ], "has no alias 'gold'"
    if case == "missing_input":
        return [
            "score",
            *model,
            "--input",
            str(work / "nope.csv"),
            "--output",
            out,
        ], "input file not found"
    raise ValueError(case)


CASES = [
    "output_is_input",
    "output_is_a_folder",
    "input_is_a_folder",
    "empty_file",
    "header_only_csv",
    "header_only_parquet",
    "truncated_parquet",
    "text_in_a_numeric_column",
    "nan_in_a_row",
    "unknown_model",
    "unknown_alias",
    "missing_input",
]


@pytest.mark.parametrize("case", CASES)
def test_bad_scoring_inputs_are_refused_in_a_sentence(trained: Path, case: str):
    args, expected = write_case(trained, case)
    work = trained / "cases" / case
    before_files = files_in(work)
    before_bytes = {f: (work / f).read_bytes() for f in before_files}
    champion = champion_version(trained)
    result = aeops(trained, *args, "--quiet")
    assert result.returncode == 1, result.stderr[-2000:]
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert files_in(work) == before_files  # no output, no temp file
    assert {f: (work / f).read_bytes() for f in before_files} == before_bytes
    assert champion_version(trained) == champion


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--threshold", "nan"], "must be a finite number"),
        (["--threshold", "inf"], "must be a finite number"),
        (["--chunk-rows", "0"], "must be at least 1"),
        (["--chunk-rows", "-5"], "must be at least 1"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(trained: Path, args, expected):
    result = aeops(trained, "score", "--input", "rows.csv", "--output", "x.csv", *args)
    assert result.returncode == 2 and expected in result.stderr
    assert "Traceback" not in result.stderr and not (trained / "x.csv").exists()


def test_show_without_a_registry_says_so_and_creates_nothing(tmp_path: Path):
    env = {**project_env(tmp_path)}
    env.pop("MLFLOW_TRACKING_URI")
    result = subprocess.run(
        [AEOPS, "show"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1 and "no MLflow store" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_a_killed_score_leaves_no_temp_file(trained: Path, tmp_path: Path):
    big = pd.concat([pd.read_parquet(trained / "rows.parquet")] * 5000, ignore_index=True)
    big.to_csv(tmp_path / "big.csv", index=False)
    proc = subprocess.Popen(
        [
            AEOPS,
            "score",
            "--model",
            champion_uri(trained),
            "--input",
            str(tmp_path / "big.csv"),
            "--output",
            str(tmp_path / "out.csv"),
            "--chunk-rows",
            "5000",
        ],
        cwd=trained,
        env=project_env(trained),
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def local_copy(root: Path, tmp_path: Path) -> Path:
    """The champion's files, downloaded: a model folder to tamper with."""
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    uri = champion_uri(root)
    name, alias = uri.split("/")[1].split("@")
    version = client.get_model_version_by_alias(name, alias)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=version.source, dst_path=str(tmp_path / "model")
        )
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    return Path(path)


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def score_with_folder(root: Path, folder: Path, output: Path):
    """`aeops score` of the project's rows with the model in ``folder``."""
    return aeops(
        root,
        "score",
        "--model",
        str(folder),
        "--input",
        "rows.csv",
        "--output",
        str(output),
        "--quiet",
    )


@pytest.mark.parametrize("artifact", ["preprocessor.skops", "model.safetensors"])
def test_a_tampered_model_file_is_refused_without_running_it(
    trained: Path, tmp_path: Path, artifact: str
):
    import skops.io as sio

    folder = local_copy(trained, tmp_path)
    target = folder / "artifacts" / artifact
    marker = tmp_path / "PWNED"
    if artifact.endswith(".skops"):
        sio.dump({"numeric": ["pixel_0"], "transformer": Payload(marker)}, target)
    else:
        data = bytearray(target.read_bytes())
        data[-8:] = b"\x00" * 8  # one weight changed
        target.write_bytes(bytes(data))
    result = score_with_folder(trained, folder, tmp_path / "out.csv")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "differs from the one this model was saved with" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("damage", ["detector.json", "MLmodel"])
def test_a_damaged_detector_or_mlmodel_file_is_refused_in_a_sentence(
    trained: Path, tmp_path: Path, damage: str
):
    folder = local_copy(trained, tmp_path)
    if damage == "detector.json":
        target = folder / "artifacts" / "detector.json"
        target.write_bytes(target.read_bytes() + b"}")  # one byte appended
    else:
        (folder / "MLmodel").write_text("flavors: [\n  python_function: {\n")  # not YAML
    result = score_with_folder(trained, folder, tmp_path / "out.csv")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "damaged or " in result.stderr and "tampered with" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out.csv").exists()


def test_paths_outside_the_project_are_refused_at_start(tmp_path: Path):
    from tests.integration.project import make_project, run, set_params

    root = make_project(tmp_path / "project")
    set_params(root, {"paths": {"metrics": "../elsewhere/metrics.json"}})
    result = run(["python", "pipeline/ingest.py"], root, check=False)
    assert result.returncode == 1
    assert "paths.metrics" in result.stderr and "outside the project" in result.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("command", [["dvc", "repro"], ["make", "train"]])
def test_a_user_folder_named_as_an_output_survives_the_pipeline(tmp_path: Path, command):
    """DVC deletes a stage's outputs before the stage runs: the check must come first."""
    from tests.integration.project import make_project, run, set_params, with_venv

    root = with_venv(make_project(tmp_path / "project"))
    notes = root / "notes"
    notes.mkdir()
    (notes / "analysis.txt").write_text("mine")
    set_params(root, {"paths": {"validation_dir": "notes"}})
    result = run(command, root, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "paths.validation_dir: notes already exists and was not made by aeops" in output
    assert "Traceback" not in output
    assert sorted(p.name for p in notes.iterdir()) == ["analysis.txt"]
    assert (notes / "analysis.txt").read_text() == "mine"


def test_a_champion_that_cannot_be_scored_blocks_promotion_and_names_the_fix(
    tmp_path: Path, mlflow_uri: str, capsys
):
    """A champion saved by an older aeops (its detector.json lacks a field) is never replaced
    silently: the new model stays challenger and the stage prints the line that promotes it."""
    from aeops.stages.register import register

    cfg = tiny_config(tmp_path, epochs=1)
    first = run_pipeline(cfg)
    client = mlflow.MlflowClient()
    old = client.get_model_version_by_alias(first["model_name"], "champion")
    location = client.get_model_version_download_uri(first["model_name"], old.version)
    detector = Path(location.removeprefix("file://")) / "artifacts" / "detector.json"
    data = json.loads(detector.read_text())
    detector.write_text(json.dumps({k: v for k, v in data.items() if k != "artifacts"}))
    retrained = tiny_config(tmp_path, epochs=1, seed=7)
    second = run_pipeline(retrained)
    out = capsys.readouterr().out
    assert second["alias"] == "challenger" and not second["promoted"]
    assert "older aeops (no ['artifacts']" in second["reason"]
    assert f"make promote VERSION={second['version']}" in out
    assert client.get_model_version_by_alias(first["model_name"], "champion").version == old.version
    assert register(retrained)["version"] == second["version"]  # decided once, kept
    # promoting it by hand keeps the stage's report true
    from aeops.tracking.promotion import note_promotion

    report = Path(retrained.paths.registry_report)
    note_promotion(report, second["model_name"], second["version"], f"v{old.version}")
    promoted = json.loads(report.read_text())
    assert promoted["alias"] == "champion" and promoted["promoted"]
    assert promoted["reason"].endswith(f"`aeops promote` (champion before: v{old.version})")
    note_promotion(report, second["model_name"], second["version"] + 1, "v0")  # not this one
    assert json.loads(report.read_text()) == promoted
