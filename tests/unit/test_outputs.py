"""No ``paths.*`` output may name what aeops did not make (DVC would delete it first)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aeops.core.errors import ConfigError
from aeops.core.io import MARKER
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


def test_a_folder_dvc_restored_without_the_marker_is_replaced(tmp_path: Path, monkeypatch):
    """DVC does not keep the marker (.dvcignore), so after `dvc checkout` an output folder has
    none; it is still the pipeline's because dvc.lock records it. A user's folder is not."""
    from aeops.core.errors import AeopsError
    from aeops.core.io import atomic_dir

    monkeypatch.chdir(tmp_path)
    for name in ("reports/plots", "notes"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "old.png").write_text("x")
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  evaluate:\n    outs:\n    - path: reports/plots\n"
    )
    with atomic_dir("reports/plots") as out:
        (out / "new.png").write_text("y")
    assert sorted(p.name for p in (tmp_path / "reports/plots").iterdir()) == [MARKER, "new.png"]
    with pytest.raises(AeopsError, match="was not made by aeops"), atomic_dir("notes"):
        pass
    assert (tmp_path / "notes" / "old.png").exists()
    assert ".aeops" in (Path(__file__).parents[2] / ".dvcignore").read_text().split()
