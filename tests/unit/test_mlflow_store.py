"""The MLflow store is checked before use (fast, one sentence) and a copied project's store
is moved into the copy. Real MLflow on SQLite in a temp dir; a real closed port."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from aeops.tracking.store import TrackingStoreError, check_store, rebase_copied_store
from tests.integration.project import free_port


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store, made once (creating MLflow's tables takes seconds)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def make_store(root: Path, template: Path, artifacts: str = "mlartifacts") -> str:
    """An MLflow store in ``root`` as the pipeline makes it: experiment ``aeops`` with its
    artifacts in ``root/artifacts``, one run with one artifact."""
    shutil.copy2(template, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    experiment = client.create_experiment(
        "aeops", artifact_location=(root / artifacts).resolve().as_uri()
    )
    run = client.create_run(experiment)
    (root / "note.txt").write_text("hello")
    client.log_artifact(run.info.run_id, str(root / "note.txt"))
    return uri


def test_a_tracking_server_that_does_not_answer_is_refused_in_seconds():
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    start = time.perf_counter()
    with pytest.raises(TrackingStoreError, match=f"tracking server {uri} does not answer"):
        check_store(uri)
    assert time.perf_counter() - start < 10


def test_a_file_that_is_not_an_mlflow_store_is_refused(tmp_path: Path):
    path = tmp_path / "mlflow.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE notes (text)")
    with pytest.raises(TrackingStoreError, match="not an MLflow store"):
        check_store(f"sqlite:///{path}")
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(TrackingStoreError, match="not an MLflow store"):
        check_store(f"sqlite:///{tmp_path / 'junk.db'}")


def test_a_store_of_another_mlflow_schema_is_refused_with_the_upgrade_command(
    tmp_path: Path, empty_store: Path
):
    uri = make_store(tmp_path, empty_store)
    check_store(uri)  # this MLflow's own store passes
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0123456789ab'")
    with pytest.raises(TrackingStoreError, match="has schema 0123456789ab") as refused:
        check_store(uri)
    assert f"mlflow db upgrade {uri}" in str(refused.value)


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` made unwritable: by mode for a user, immutable (chattr) for root."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)
        try:
            yield
        finally:
            path.parent.chmod(0o755)
            path.chmod(0o644)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: nothing here can make a file read-only")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not allowed here: {made.stderr.decode()[:200]}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_store_is_refused_for_writing_and_read_for_reading(
    tmp_path: Path, empty_store: Path
):
    uri = make_store(tmp_path, empty_store)
    with read_only(tmp_path / "mlflow.db"):
        with pytest.raises(TrackingStoreError, match=f"the MLflow store {uri} cannot be written"):
            check_store(uri, writing=True)
        check_store(uri, writing=False)  # scoring and `aeops show` only read


def test_a_copied_project_store_points_into_the_copy_and_leaves_the_original(
    tmp_path: Path, empty_store: Path
):
    original = tmp_path / "original"
    original.mkdir()
    make_store(original, empty_store)
    before = (original / "mlflow.db").read_bytes()
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    uri = f"sqlite:///{copy / 'mlflow.db'}"

    assert rebase_copied_store(uri, copy, "aeops", "mlartifacts")
    assert not rebase_copied_store(uri, copy, "aeops", "mlartifacts")  # once is enough
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("aeops")
    assert experiment.artifact_location == (copy / "mlartifacts").as_uri()
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.artifact_uri.startswith((copy / "mlartifacts").as_uri() + "/")
    new = client.create_run(experiment.experiment_id)
    (tmp_path / "more.txt").write_text("more")
    client.log_artifact(new.info.run_id, str(tmp_path / "more.txt"))
    assert list(copy.joinpath("mlartifacts").rglob("more.txt"))
    assert not list(original.joinpath("mlartifacts").rglob("more.txt"))
    assert (original / "mlflow.db").read_bytes() == before


def test_a_store_whose_artifacts_were_moved_on_purpose_is_left_alone(
    tmp_path: Path, empty_store: Path
):
    make_store(tmp_path, empty_store, artifacts="elsewhere")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert not rebase_copied_store(uri, tmp_path, "aeops", "mlartifacts")
    outside = tmp_path / "outside"
    outside.mkdir()
    assert not rebase_copied_store(uri, outside, "aeops", "elsewhere")  # store not in root


KILLED_WRITER = """
import os, signal, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA cache_size=1")  # pages spill to the file: the journal is hot at once
db.execute("BEGIN")
db.execute("CREATE TABLE filler (x BLOB)")
for _ in range(200):
    db.execute("INSERT INTO filler VALUES (randomblob(4000))")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_store_left_mid_transaction_by_a_killed_writer_is_rolled_back_and_used(
    tmp_path: Path, empty_store: Path
):
    # a training run killed while MLflow wrote (CI saw it) left mlflow.db-journal behind: a
    # read-only connection cannot roll it back and said "attempt to write a readonly database"
    uri = make_store(tmp_path, empty_store)
    path = tmp_path / "mlflow.db"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)])
    assert killed.returncode == -signal.SIGKILL
    assert path.with_name("mlflow.db-journal").stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            db.execute("SELECT name FROM sqlite_master").fetchall()
    check_store(uri, writing=False)
    check_store(uri)
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "filler" not in tables and "runs" in tables  # the half-done write is gone
    assert mlflow.MlflowClient(uri).get_experiment_by_name("aeops") is not None
