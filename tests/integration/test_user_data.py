"""Users' own data, end to end with real GX, Lightning and MLflow (stages run in-process).

Every source and label kind goes through ingest -> validate -> prepare; each new path (image
folder, a table with text labels and categorical columns, a normal-only table) ends with a
registered champion, a threshold and a report that says how the model was chosen; the
registry keeps one champion per input schema; a winning baseline can be champion.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from aeops.core.errors import RegistryError
from aeops.data.preprocess import Preprocessor
from aeops.stages.ingest import ingest
from aeops.stages.prepare import prepare
from aeops.stages.validate import validate
from tests.factories import sensor_table, write_part_images
from tests.helpers import file_job_exit, make_config
from tests.integration.inproc import run_pipeline

pytestmark = pytest.mark.integration

# two epochs cannot beat the baselines: these tests follow autoencoders unless they say otherwise
TINY = {
    "train": {"max_epochs": 2, "patience": 2, "progress_bar": False, "batch_size": 32},
    "evaluate": {"bootstrap": 20},
    "baselines": {"iforest_estimators": 20},
    "register": {"candidates": "autoencoders"},
}


def config(root: Path, **data):
    override = {**TINY, "data": {"min_rows": 20, **data.pop("data", {})}, **data}
    return make_config(root, **override)


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def source_case(kind: str, tmp: Path) -> dict:
    """params ``data:`` for one source and label kind, with its data written under ``tmp``."""
    rng = np.random.default_rng(0)
    if kind == "digits-int":
        return {"max_rows": 300}
    if kind == "mnist-int":
        write_idx(tmp / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (120, 10, 10)))
        write_idx(tmp / "train-labels-idx1-ubyte.gz", np.arange(120) % 4)
        return {"source": "mnist", "path": str(tmp), "normal_labels": [0, 1, 2]}
    if kind.startswith("table"):
        frame = sensor_table(n=200)
        if kind == "table-int":
            frame["status"] = (frame["status"] == "defect").astype(int)
        if kind == "table-none":
            frame = frame.drop(columns=["status"])
        frame.to_parquet(tmp / "sensors.parquet")
        labels = {
            "table-int": ([0], "status"),
            "table-string": (["ok"], "status"),
            "table-none": (None, None),
        }[kind]
        return {
            "source": "table",
            "path": str(tmp / "sensors.parquet"),
            "normal_labels": labels[0],
            "label_column": labels[1],
            "exclude": ["unit_id", "timestamp"],
        }
    if kind.startswith("npz"):
        x = rng.normal(size=(150, 5))
        arrays = {"x": x} if kind == "npz-none" else {"x": x, "y": np.arange(150) % 3}
        np.savez(tmp / "signals.npz", **arrays)
        labeled = kind != "npz-none"
        return {
            "source": "npz",
            "path": str(tmp / "signals.npz"),
            "label_column": "label" if labeled else None,
            "normal_labels": [0, 1] if labeled else None,
        }
    if kind == "images-string":
        write_part_images(tmp / "parts", n_good=40, n_defect=10, size=10)
        return {"source": "image_folder", "path": str(tmp / "parts"), "normal_labels": ["good"]}
    if kind == "images-none":
        write_part_images(tmp / "flat", n_good=40, n_defect=0, size=10, labeled=False)
        return {
            "source": "image_folder",
            "path": str(tmp / "flat"),
            "label_column": None,
            "normal_labels": None,
        }
    raise ValueError(kind)


FAST = ("table-string", "table-none")  # digits through every stage: test_pipeline, the slow tier
CASES = [
    pytest.param(kind, marks=() if kind in FAST else pytest.mark.slow)
    for kind in (
        "digits-int",
        "mnist-int",
        "table-int",
        "table-string",
        "table-none",
        "npz-int",
        "npz-none",
        "images-string",
        "images-none",
    )
]


@pytest.mark.parametrize("kind", CASES)
def test_ingest_validate_prepare_for_every_source_and_label_kind(kind, tmp_path: Path):
    cfg = config(tmp_path, data=source_case(kind, tmp_path))
    meta = ingest(cfg)
    validate(cfg)
    splits = prepare(cfg)
    labeled = not kind.endswith("none")
    assert (meta.label_column is not None) == labeled
    if labeled:  # labels are kept as strings, as the file writes them
        assert all(isinstance(v, str) for v in meta.labels)
        stored = pd.read_parquet(cfg.paths.interim_data)[meta.label_column]
        assert set(stored) == set(meta.labels)
    train = splits[splits["split"] == "train"]
    assert not train["is_anomaly"].any() and len(train) > 0
    val = splits[splits["split"] == "val"]
    has_real = (val["is_anomaly"] & (val["synthetic"] == "")).any()
    # validation always has anomalies to choose a model on: labelled, else synthetic
    assert val["is_anomaly"].any()
    assert (val["synthetic"] != "").any() == (not has_real)
    pre = Preprocessor.load(cfg.paths.preprocessor)
    x = pre.transform(splits[meta.features])
    assert np.isfinite(x).all() and x.shape[1] >= meta.n_features
    if kind.startswith("table"):
        assert meta.categorical == ["line", "shift"] and pre.n_outputs == 8 + 3 + 2


def evaluated(cfg) -> dict:
    """The evaluate stage's summary (reports/metrics.json)."""
    return json.loads(Path(cfg.paths.metrics).read_text())


def score_champion(name: str, source: Path, output: Path, **options) -> int:
    """`aeops score` against ``name``'s champion; its exit code."""
    return file_job_exit(f"models:/{name}@champion", source, output, **options)


def champion(cfg) -> tuple[str, mlflow.entities.model_registry.ModelVersion]:
    decision = json.loads(Path(cfg.paths.registry_report).read_text())
    version = mlflow.MlflowClient().get_model_version_by_alias(decision["model_name"], "champion")
    return decision["model_name"], version


def promoted_on(cfg, basis: str) -> dict:
    """Run the pipeline; the chosen model is champion, chosen on ``basis`` as the metrics
    and the registered version's description both say. The metrics."""
    assert run_pipeline(cfg)["promoted"]
    metrics = evaluated(cfg)
    assert basis in metrics["selection_basis"]
    assert basis in champion(cfg)[1].description
    return metrics


@pytest.mark.slow
def test_image_folder_end_to_end(tmp_path: Path, mlflow_uri: str):
    cfg = config(
        tmp_path,
        data=source_case("images-string", tmp_path),
        models={"families": ["dense", "conv"]},
    )
    metrics = promoted_on(cfg, "labelled validation anomalies")
    assert champion(cfg)[0] == "aeops-parts"  # the folder the images came from
    assert isinstance(metrics["threshold"], float) and "test_auroc" in metrics
    assert (Path(cfg.paths.plots_dir) / "conv_reconstructions.png").exists()


@pytest.mark.slow
def test_text_labels_and_categoricals_with_every_family(tmp_path: Path, mlflow_uri: str, capsys):
    cfg = config(tmp_path, data=source_case("table-string", tmp_path))
    assert "conv" in cfg.models.families  # the project's default list
    run_pipeline(cfg)
    out = capsys.readouterr().out
    assert "train[conv]: skipped: conv needs images" in out
    assert "skipped conv: conv needs images" in out  # the report says it too
    metrics = evaluated(cfg)
    assert set(metrics["skipped"]) == {"conv"} and "conv" not in metrics["models"]
    assert metrics["family"] in {"dense", "denoising", "sparse", "vae", "ensemble"}
    name, version = champion(cfg)
    assert float(version.tags["threshold"]) == metrics["threshold"]
    assert float(version.tags["metric.test_auroc"]) == round(metrics["test_auroc"], 4)
    # scoring rows with a category never seen in training: handled and counted
    rows = sensor_table(n=20, seed=5).drop(columns=["status"])
    rows.loc[3, "line"] = "Z"
    rows.to_csv(tmp_path / "new.csv", index=False)
    assert score_champion(name, tmp_path / "new.csv", tmp_path / "out.csv") == 0
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["unknown_categories"].tolist()[3] == 1
    assert scored["unit_id"].tolist() == rows["unit_id"].tolist()  # carried through


@pytest.mark.slow
def test_normal_only_table_is_chosen_on_synthetic_anomalies(tmp_path: Path, mlflow_uri: str):
    cfg = config(
        tmp_path, data=source_case("table-none", tmp_path), models={"families": ["dense", "vae"]}
    )
    metrics = promoted_on(cfg, "synthetic anomalies")
    assert metrics["selected_by"] == "val_synthetic_auroc"
    text = Path(cfg.paths.metrics).read_text()
    assert "NaN" not in text and '"test_auroc"' not in text and '"val_auroc"' not in text
    assert 0.0 <= metrics["test_flagged_share"] <= 0.1 and "test_score_q99" in metrics


@pytest.mark.slow
def test_a_new_schema_gets_its_own_name_and_leaves_the_first_champion(
    tmp_path: Path, mlflow_uri: str
):
    families = {"families": ["dense"]}
    first = config(tmp_path / "digits", data={"max_rows": 300}, models=families)
    run_pipeline(first)
    first_name, first_version = champion(first)
    second = config(
        tmp_path / "images", data=source_case("images-string", tmp_path), models=families
    )
    run_pipeline(second)
    second_name, _ = champion(second)
    assert second_name != first_name
    # the first champion keeps its name and alias
    assert champion(first)[1].version == first_version.version
    # scoring the first model with the second schema's file is refused, naming the columns
    rows = pd.read_parquet(second.paths.interim_data).drop(columns=["label"])
    rows.to_csv(tmp_path / "images.csv", index=False)
    with pytest.raises(Exception, match=r"extra column\(s\) \['pixel_64'"):
        mlflow.pyfunc.load_model(f"models:/{first_name}@champion").predict(rows)
    assert score_champion(first_name, tmp_path / "images.csv", tmp_path / "o.csv") == 1
    assert not (tmp_path / "o.csv").exists()
    # an explicit model name that holds another schema fails before training
    clash = config(
        tmp_path / "clash",
        data=source_case("images-string", tmp_path / "clash"),
        models=families,
        register={"model_name": first_name},
    )
    ingest(clash)
    validate(clash)
    with pytest.raises(
        RegistryError,
        match=r"(?s)another input schema.*registered: \[.*"
        r"64 numeric.*this data:  \[.*100 numeric",
    ):
        prepare(clash)


@pytest.mark.slow
def test_a_winning_baseline_becomes_champion_with_candidates_all(
    tmp_path: Path, mlflow_uri: str, capsys
):
    # one epoch of a small autoencoder cannot match PCA on this low-rank table
    data = source_case("table-string", tmp_path)
    cfg = config(
        tmp_path,
        data=data,
        models={"families": ["dense"]},
        train={**TINY["train"], "max_epochs": 1},
        register={"candidates": "all"},
    )
    decision = run_pipeline(cfg)
    metrics = evaluated(cfg)
    assert metrics["kind"] == "baseline" and decision["kind"] == "baseline"
    reason = metrics["selection"]["reason"]
    assert reason.startswith(
        f"baseline {metrics['family']} is reliably better than the best "
        "autoencoder dense on validation"
    )
    assert metrics["selection"]["lead_confidence"] >= 0.9 and metrics["baseline_note"] is None
    name, version = champion(cfg)
    assert version.tags["kind"] == "baseline"
    assert version.tags["selection_reason"] == reason and reason in version.description
    rows = sensor_table(n=30, seed=9)
    rows.to_parquet(tmp_path / "new.parquet")
    assert (
        score_champion(name, tmp_path / "new.parquet", tmp_path / "out.parquet", explain=True) == 0
    )
    scored = pd.read_parquet(tmp_path / "out.parquet")
    assert {"anomaly_score", "is_anomaly", "error_sensor_0", "error_line"} <= set(scored)
    assert scored["status"].tolist() == rows["status"].tolist()


@pytest.mark.slow
def test_with_autoencoders_only_a_better_baseline_is_reported_plainly(
    tmp_path: Path, mlflow_uri: str, capsys
):
    cfg = config(
        tmp_path,
        data=source_case("table-string", tmp_path),
        models={"families": ["dense"]},
        train={**TINY["train"], "max_epochs": 1},
        register={"candidates": "autoencoders"},
    )
    run_pipeline(cfg)
    assert "WARNING: baseline" in capsys.readouterr().out
    metrics = evaluated(cfg)
    assert metrics["kind"] == "autoencoder" and "register.candidates" in metrics["baseline_note"]
    _, version = champion(cfg)
    assert version.tags["baseline_beats_autoencoders"] == metrics["baseline_note"]
    assert "beats every autoencoder" in version.description


@pytest.mark.slow
def test_dvc_repro_on_a_table_skips_conv_and_finishes(tmp_path: Path):
    """The DVC wiring of a skipped family: its stages succeed with a record of why."""
    from tests.integration.project import make_project, run

    data = {
        "source": "table",
        "path": "data/raw/sensors.csv",
        "label_column": "status",
        "normal_labels": ["ok"],
        "exclude": ["unit_id", "timestamp"],
        "max_rows": None,
    }
    root = make_project(
        tmp_path / "project", {"data": data, "models": {"families": ["dense", "conv"]}}
    )
    sensor_table(n=200).to_csv(root / "data" / "raw" / "sensors.csv", index=False)
    result = run(["dvc", "repro"], root)
    log = result.stdout + result.stderr
    assert "train[conv]: skipped: conv needs images" in log
    skipped = json.loads((root / "reports/eval/conv/metrics.json").read_text())
    assert skipped["skipped"] and "needs images" in skipped["reason"]
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert metrics["family"] == "dense" and set(metrics["skipped"]) == {"conv"}
    assert json.loads((root / "reports/register.json").read_text())["promoted"]
    assert "Running stage 'train" not in run(["dvc", "repro"], root).stdout


def test_prepare_fits_the_preprocessor_on_normal_training_rows_only(tmp_path: Path):
    cfg = config(tmp_path, data={**source_case("table-string", tmp_path), "scaler": "minmax"})
    ingest(cfg)
    validate(cfg)
    splits = prepare(cfg)
    scaler = Preprocessor.load(cfg.paths.preprocessor).transformer.named_transformers_["numeric"][
        -1
    ]
    train = splits[(splits["split"] == "train") & ~splits["is_anomaly"]]
    sensors = [f"sensor_{i}" for i in range(8)]
    np.testing.assert_allclose(scaler.data_min_, train[sensors].min().to_numpy())
    np.testing.assert_allclose(scaler.data_max_, train[sensors].max().to_numpy())
    # the held-out rows and the anomalies reach beyond what the scaler saw
    assert (splits[sensors].max().to_numpy() > scaler.data_max_).any()


@pytest.mark.slow
def test_evaluating_again_adds_no_baseline_runs(tmp_path: Path, mlflow_uri: str):
    from aeops.stages.evaluate import evaluate
    from aeops.tracking.names import champion_run_name

    cfg = config(tmp_path, models={"families": ["dense"]})
    run_pipeline(cfg)
    evaluate(cfg)  # what a forced or restored evaluate does: the same data, the same params
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(cfg.mlflow.experiment)
    runs = client.search_runs([experiment.experiment_id], "tags.baseline = 'true'")
    names = sorted(champion_run_name(r.info.run_name, False) for r in runs)  # mark or not
    assert names == ["digits/ecod", "digits/iforest", "digits/knn", "digits/pca"], names
    changed = config(
        tmp_path,
        models={"families": ["dense"]},
        baselines={"iforest_estimators": 30, "pca_components": 0.9, "knn_neighbors": 5},
    )
    evaluate(changed)  # other params: a run of their own, the others reused
    runs = client.search_runs([experiment.experiment_id], "tags.baseline = 'true'")
    names = sorted(champion_run_name(r.info.run_name, False).removeprefix("digits/") for r in runs)
    assert names == ["ecod", "iforest", "iforest", "knn", "pca"]
