"""`aeops monitor`: a digits detector's export and its reference (normal rows it was chosen
on); new rows that are brighter or noisier are drift (exit 1), held-out normal rows of the same
distribution are healthy (exit 0) in at least 19 of 20 seeded resamples, and bad input is one
sentence with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aeops.serving.commands import run_monitor
from aeops.serving.export import export_onnx
from aeops.serving.monitor import MonitorJob
from tests.integration.test_export import dataset, pipeline

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """The export (with 250 normal rows as its reference) and other normal rows (a seeded
    shuffle first: the digits file is in the order its writers wrote, as a split is not)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rows = pd.DataFrame(digits.data / 16.0, columns=dataset("digits")[1].features)
    normal = rows[digits.target != 9].sample(frac=1.0, random_state=0).reset_index(drop=True)
    folder = tmp_path_factory.mktemp("monitor") / "export"
    export_onnx(pipeline("digits", "dense"), folder, {}, reference=normal.iloc[:250])
    return folder, normal.iloc[250:].reset_index(drop=True)


def check(folder: Path, frame: pd.DataFrame, tmp_path: Path, seed: int = 0) -> tuple[int, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(tmp_path / "new.parquet")
    job = MonitorJob(tmp_path / "new.parquet", folder, tmp_path / "report", 0.01, seed)
    lines, code = run_monitor(job)
    report = json.loads((tmp_path / "report" / "monitor.json").read_text()) if code < 2 else {}
    return code, report


@pytest.mark.parametrize("change", ["brighter by 0.2", "noise of sigma 0.2"])
def test_brighter_or_noisier_rows_are_drift(export, change, tmp_path):
    folder, held_out = export
    rng = np.random.default_rng(5)
    new = held_out.sample(300, random_state=1).reset_index(drop=True)
    if change.startswith("brighter"):
        new = new + 0.2
    else:
        new = new + rng.normal(0.0, 0.2, new.shape)
    code, report = check(folder, new, tmp_path)
    assert code == 1 and report["drift"]
    findings = {f["name"]: f for f in report["findings"]}
    assert findings["scores"]["p_value"] < 1e-6 and findings["features"]["statistic"] > 0
    assert (tmp_path / "report" / "monitor.html").read_text().count("<tr>") == 5


@pytest.mark.slow  # 20 monitor runs: ~7 s
def test_held_out_normal_rows_are_healthy_in_19_of_20_resamples(export, tmp_path):
    folder, held_out = export
    codes = []
    for seed in range(20):
        new = held_out.sample(300, replace=True, random_state=seed).reset_index(drop=True)
        codes.append(check(folder, new, tmp_path / str(seed), seed)[0])
    assert codes.count(0) >= 19 and set(codes) <= {0, 1}, codes


def test_bad_input_is_one_sentence_and_exit_2(export, tmp_path):
    folder, held_out = export
    lines, code = run_monitor(MonitorJob(tmp_path / "nothing.csv", folder, tmp_path / "r"))
    assert code == 2 and len(lines) == 1 and "nothing.csv" in lines[0]
    held_out.drop(columns=["pixel_5"]).head(50).to_csv(tmp_path / "bad.csv", index=False)
    lines, code = run_monitor(MonitorJob(tmp_path / "bad.csv", folder, tmp_path / "r"))
    assert code == 2 and "missing feature column(s) ['pixel_5']" in lines[0]
    assert not (tmp_path / "r").exists()  # nothing half-written
