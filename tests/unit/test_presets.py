"""The presets (examples/<preset>/params.yaml) are complete params files that parse, are what
scripts/make_presets.py writes from the project's params.yaml (so none drifts from its keys),
and name data that is there."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aeops.config import load_config

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted(p.parent.name for p in (ROOT / "examples").glob("*/params.yaml"))


def writer():
    spec = importlib.util.spec_from_file_location("make_presets", ROOT / "scripts/make_presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_written_preset_is_committed_as_written():
    written = writer().presets()
    for name, text in written.items():
        assert (ROOT / "examples" / name / "params.yaml").read_text() == text, (
            f"examples/{name}/params.yaml is stale: run scripts/make_presets.py"
        )
    assert set(written) <= set(PRESETS)
    packaged = writer().DEFAULTS
    assert packaged.read_text() == writer().defaults(), f"{packaged} is stale: run the script"


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_parses_for_its_task(name):
    cfg = load_config(ROOT / "examples" / name / "params.yaml")
    assert cfg.task == {"reduce-genes": "reduce", "seed-keras": "compress"}.get(name, name)
    if cfg.data.path:
        assert (ROOT / cfg.data.path).exists() or not (ROOT.parent / "shared").exists()


def test_the_seed_preset_is_the_source_pages_model():
    cfg = load_config(ROOT / "examples/seed-keras/params.yaml")
    dense = cfg.models.dense
    assert (
        cfg.models.families == ["dense"]
        and dense.hidden == []
        and cfg.use.code_size(cfg.code) == 32
    )
    assert dense.code_activation == "relu" and cfg.train.loss == "bce"
    assert (cfg.train.max_epochs, cfg.train.min_epochs, cfg.train.batch_size) == (50, 50, 256)
    assert cfg.train.lr == 0.001  # Keras' Adam default; an explicit batch is not rescaled
