"""Moving the champion by hand: the version it leaves stops saying champion, and promoting a
version that recorded a worse score says so. Real MLflow registry (SQLite in a temp dir)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlflow
import pytest

from aeops.tracking.names import CHAMPION, CHAMPION_RUN_TAG
from aeops.tracking.promotion import promote
from aeops.tracking.registry import registry_lines, set_alias

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # MLflow makes its tables: seconds

NAME = "aeops-digits-test"


def registered(tmp_path: Path, scores: list[float]):
    """A registered model with one version per score (``val_auroc`` as the register stage
    records it), v1 the champion."""
    client = mlflow.MlflowClient()
    client.create_registered_model(NAME)
    (tmp_path / "model").mkdir()
    experiment = client.create_experiment("aeops")
    for score in scores:
        run = client.create_run(experiment)
        version = client.create_model_version(NAME, str(tmp_path / "model"), run_id=run.info.run_id)
        for key, value in {
            "selected_by": "val_auroc",
            "metrics": json.dumps({"val_auroc": score}),
            "decision": "challenger",
        }.items():
            client.set_model_version_tag(NAME, version.version, key, value)
    set_alias(NAME, CHAMPION, "1", client)
    client.set_model_version_tag(NAME, "1", "decision", CHAMPION)
    return client


def champions(lines: list[str]) -> list[str]:
    return [line.split(":")[0].strip() for line in lines if "decision=champion" in line]


def test_promoting_back_and_forth_leaves_one_champion(tmp_path: Path, mlflow_uri: str):
    client = registered(tmp_path, [0.95, 0.97])
    promote(NAME, 2)
    promote(NAME, 1)
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert str(champion.version) == "1" and "replaced_by" not in champion.tags
    left = client.get_model_version(NAME, "2")
    assert left.tags["decision"] == "challenger" and left.tags["replaced_by"] == "v1"
    assert champions(registry_lines(NAME)) == ["v1"]
    # the runs table marks the champion's run, and only it
    assert client.get_run(champion.run_id).data.tags[CHAMPION_RUN_TAG] == f"{NAME} v1"
    assert CHAMPION_RUN_TAG not in client.get_run(left.run_id).data.tags
    # ... in its name too, which is what the runs table shows first
    assert client.get_run(champion.run_id).info.run_name.endswith("\u2605 champion")
    assert "champion" not in client.get_run(left.run_id).info.run_name


def test_promoting_a_version_that_scored_worse_warns(
    tmp_path: Path, mlflow_uri: str, caplog: pytest.LogCaptureFixture
):
    registered(tmp_path, [0.97, 0.91])
    with caplog.at_level(logging.WARNING, logger="aeops"):
        promote(NAME, 2)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        "v2 recorded val_auroc=0.9100 at registration, below v1's 0.9700" in m for m in warned
    ), warned
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="aeops"):
        promote(NAME, 1)  # back to the better one: nothing to warn about
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
