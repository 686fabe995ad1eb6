"""The GPU check's benchmark runs where only torch, Lightning and NumPy exist (here on CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

# (PyYAML stays: Lightning itself imports it)
BLOCKED = ["mlflow", "dvc", "great_expectations", "pandas", "sklearn", "pyarrow"]


@pytest.mark.slow  # starts a blocked-imports interpreter and trains: ~7 s
def test_engine_vs_loop_needs_only_torch_lightning_numpy(tmp_path: Path):
    out = tmp_path / "check.json"
    code = (
        "import sys, runpy\n"
        f"for name in {BLOCKED!r}: sys.modules[name] = None  # importing them now fails\n"
        f"sys.argv = ['engine_vs_loop.py', '--rows', '512', '--epochs', '1', "
        f"'--accelerator', 'cpu', '--output', {str(out)!r}]\n"
        f"runpy.run_path({str(ROOT / 'benchmarks/engine_vs_loop.py')!r}, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert [r["family"] for r in rows] == ["dense", "conv"]
    for r in rows:  # the numbers a GPU run reads: both sides measured on the same data
        assert (r["rows"], r["epochs"], r["device"], r["repeats"]) == (512, 1, "cpu", 2)
        assert r["ratio_train"] == pytest.approx(
            r["engine_train_samples_per_s"] / r["loop_samples_per_s"], rel=0.01
        )
        assert 0.05 < r["ratio_fit_wall"] <= r["ratio_train"] * 1.05
