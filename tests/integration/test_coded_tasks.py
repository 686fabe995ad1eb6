"""`task: compress` and `task: reduce`, every stage in this process on the digits (all ten
labels normal: no anomaly anywhere): every family is built around `code.size` numbers, the
model with the best validation figure for the use is registered under its own name
(`aeops-digits-compress`, `-reduce`), and the headline leads with the use beside PCA's figure
at the same code size."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from aeops.data.codes import dequantize, quantize
from aeops.models.registry import load_model
from tests.helpers import make_config
from tests.integration.inproc import run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # whole pipeline runs: ~30 s each

ALL_DIGITS = list(range(10))


def coded_config(tmp_path: Path, task: str, size: int, metric: str, families: list[str]):
    return make_config(
        tmp_path,
        task=task,
        code={"size": size, "precision": "int8"},
        data={"normal_labels": ALL_DIGITS, "max_rows": 900},
        models={"families": families, "coder": {"width": 8}},
        train={"max_epochs": 40, "patience": 40, "progress_bar": False},
        register={"metric": metric},
        evaluate={"bootstrap": 0, "plots": False},
    )


def test_compress_builds_every_family_around_the_code_and_registers_the_best(
    tmp_path: Path, mlflow_uri: str
):
    cfg = coded_config(tmp_path, "compress", 8, "val_code_int8_psnr_db", ["coder", "dense"])
    decision = run_pipeline(cfg)
    metrics = json.loads(Path(cfg.paths.metrics).read_text())
    models = metrics["models"]
    assert {m["test_code_dims"] for m in models.values() if "test_code_dims" in m} == {8.0}
    chosen = metrics["family"]
    best = max(
        {**models, **metrics["baselines"]}.items(),
        key=lambda item: item[1].get("val_code_int8_psnr_db", -np.inf),
    )[0]
    assert chosen == best and metrics["selected_by"] == "val_code_int8_psnr_db"

    coder = load_model(Path(cfg.paths.model_dir("coder")) / "model.safetensors")
    x = np.load(cfg.paths.model_input)[:300]
    z = coder.encode(x)
    assert z.shape == (300, 8)
    stored = coder.decode(dequantize(*quantize(z, "int8")))
    exact = coder.decode(z)
    # trained with storage noise: int8 costs next to nothing against the float code
    error = np.mean((stored - x) ** 2)
    assert error <= 1.05 * np.mean((exact - x) ** 2)

    summary = json.loads(Path(cfg.paths.summary).read_text())
    assert summary["chosen"] == chosen and summary["code_dims"] == 8
    assert summary["bytes_per_row"] == 8  # one byte a number
    for key in ("psnr_db", "pca_psnr_db", "se_per_row", "pca_se_per_row"):
        assert isinstance(summary[key], float)
    assert set(summary["by_model"]) >= {"coder", "dense"}

    assert decision["model_name"] == "aeops-digits-compress" and decision["alias"] == "champion"
    version = mlflow.MlflowClient().get_model_version("aeops-digits-compress", decision["version"])
    assert version.tags["metric.val_code_int8_psnr_db"]


def test_reduce_maps_to_k_numbers_and_registers_under_its_own_name(tmp_path: Path, mlflow_uri: str):
    cfg = coded_config(tmp_path, "reduce", 2, "val_trustworthiness", ["coder"])
    decision = run_pipeline(cfg)
    summary = json.loads(Path(cfg.paths.summary).read_text())
    assert summary["code_dims"] == 2
    for key in ("trustworthiness", "pca_trustworthiness", "continuity", "knn_accuracy"):
        assert 0.0 < summary[key] <= 1.0
    # a 2-D map of the ten digits keeps far more neighbours than chance
    assert summary["knn_accuracy"] > 0.5
    assert decision["model_name"] == "aeops-digits-reduce"
