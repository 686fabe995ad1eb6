"""No ``paths.*`` output may name what aeops did not make (DVC would delete it first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aeops.errors import ConfigError
from aeops.io import MARKER
from aeops.stages.runner import check_outputs_are_ours
from tests.helpers import make_config


def config(root: Path, **paths: str):
    cfg = make_config(root)
    return cfg.model_copy(update={"paths": cfg.paths.model_copy(update=paths)})


def test_missing_empty_and_marked_outputs_are_ours(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / MARKER).write_text("")
    (tmp_path / "ours" / "summary.json").write_text("{}")
    cfg = config(tmp_path, validation_dir="empty", plots_dir="ours", curves_dir="nothing/yet")
    check_outputs_are_ours(cfg, tmp_path)


def test_an_output_recorded_in_dvc_lock_is_ours(tmp_path: Path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "m.json").write_text("{}")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  evaluate:\n    outs:\n    - path: reports/m.json\n"
    )
    check_outputs_are_ours(config(tmp_path, metrics="reports/m.json"), tmp_path)


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_a_users_folder_or_file_is_refused_by_its_key(tmp_path: Path, kind):
    if kind == "folder":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "analysis.txt").write_text("mine")
        cfg, key = config(tmp_path, validation_dir="notes"), "validation_dir"
    else:
        (tmp_path / "notes").write_text("mine")
        cfg, key = config(tmp_path, metrics="notes"), "metrics"
    with pytest.raises(ConfigError, match=rf"paths\.{key}: notes already exists and was not made"):
        check_outputs_are_ours(cfg, tmp_path)
