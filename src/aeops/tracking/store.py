"""The MLflow store, checked before any work uses it, and kept inside its project.

- :func:`check_store`: a tracking server that does not answer, a SQLite store that is
  read-only, not MLflow's, or of another MLflow version is refused in one sentence naming the
  URI and the fix, within seconds (MLflow itself retries a dead server for minutes and ends in
  chained tracebacks).
- :func:`rebase_copied_store`: MLflow records absolute artifact locations, so a project folder
  copied or moved elsewhere would read and write the original's ``mlartifacts/``; the copy's
  own SQLite store is rewritten to point into the copy.

Only the standard library and ``requests`` at import time (no MLflow), so a refusal is fast.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing
from pathlib import Path

from aeops.config import Config
from aeops.core.errors import AeopsError, ScoringInputError
from aeops.tracking.names import STORE_ID_TAG

log = logging.getLogger(__name__)

SQLITE = "sqlite:///"
PROBE_TIMEOUT_S = 5.0
FIX = (
    "start it, or point MLFLOW_TRACKING_URI (or mlflow.tracking_uri in params.yaml) at a "
    "store that works"
)
# every column of MLflow's SQLite schema that holds an artifact location
ARTIFACT_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


class TrackingStoreError(AeopsError):
    """The MLflow store cannot be used: unreachable, read-only or of another schema."""


def sqlite_path(uri: str) -> Path | None:
    return Path(uri[len(SQLITE) :]) if uri.startswith(SQLITE) else None


def check_store(uri: str, writing: bool = True) -> None:
    """Refuse, in one sentence, a store that cannot serve this command."""
    if uri.startswith(("http://", "https://")):
        check_server_answers(uri)
        return
    path = sqlite_path(uri)
    if path is not None and path.exists():
        check_sqlite_schema(path, uri)
        if writing:
            check_sqlite_writable(path, uri)


def check_server_answers(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Any HTTP answer will do (a proxy may not know ``/health``); no answer is refused."""
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=timeout)
    except requests.Timeout:
        raise TrackingStoreError(
            f"the MLflow tracking server {uri} did not answer within {timeout:.0f} s; {FIX}"
        ) from None
    except requests.RequestException as exc:
        reason = type(exc).__name__.replace("Error", " error").lower()
        raise TrackingStoreError(
            f"the MLflow tracking server {uri} does not answer ({reason}); {FIX}"
        ) from None


def check_sqlite_writable(path: Path, uri: str) -> None:
    """SQLite must be able to take a write lock: the file and the folder it keeps its journal
    in writable, the file system not mounted read-only."""
    try:
        with closing(sqlite3.connect(path, timeout=PROBE_TIMEOUT_S)) as db:
            db.execute("BEGIN IMMEDIATE")
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            db.execute(f"PRAGMA user_version = {version}")  # a real write, rolled back
            db.rollback()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):  # another writer holds it now: MLflow waits for it too
            return
        raise TrackingStoreError(
            f"the MLflow store {uri} cannot be written ({exc}); make {path} and its folder "
            "writable, or point MLFLOW_TRACKING_URI at a store you can write"
        ) from None


def read_schema(path: Path) -> tuple[set[str], tuple | None]:
    """The file's table names and MLflow's schema revision, read without writing; but a
    writer killed mid-transaction leaves a hot journal that a read-only connection may not
    roll back ("attempt to write a readonly database"), so then a read-write connection
    reads, rolling it back as any SQLite writer would (MLflow's next one would too)."""

    def read(target: str) -> tuple[set[str], tuple | None]:
        with closing(sqlite3.connect(target, uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            found = (
                db.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
        return tables, found

    try:
        return read(f"file:{path}?mode=ro")
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc) or not os.access(path, os.W_OK):
            raise
        log.info("rolling back the transaction a killed writer left in %s", path)
        return read(f"file:{path}?mode=rw")


def check_sqlite_schema(path: Path, uri: str) -> None:
    """The file must be an MLflow store of this MLflow's schema (MLflow refuses others with
    a traceback); an empty file is fine (MLflow creates its tables)."""
    try:
        tables, found = read_schema(path)
    except sqlite3.DatabaseError as exc:
        if "readonly" in str(exc):
            raise TrackingStoreError(
                f"{path} holds a transaction a killed writer left unfinished "
                f"({path.name}-journal) and cannot be written to roll it back; make {path} "
                "and its folder writable once, then run again"
            ) from None
        raise TrackingStoreError(
            f"{path} is not an MLflow store ({exc}); point MLFLOW_TRACKING_URI at the "
            "project's store, or move the file away and run again to start a new one"
        ) from None
    if not tables:
        return
    if found is None:
        raise TrackingStoreError(
            f"{path} is an SQLite file but not an MLflow store (no alembic_version table); "
            "point MLFLOW_TRACKING_URI at the project's store, or move the file away"
        )
    expected = latest_schema_revision()
    if found[0] != expected:
        raise TrackingStoreError(
            f"the MLflow store {uri} has schema {found[0]}, this MLflow expects {expected} "
            f"(another MLflow version wrote it); back it up, then run `mlflow db upgrade "
            f"{uri}` if it is older, or use the MLflow version that wrote it"
        )


def latest_schema_revision() -> str:
    """The schema revision this MLflow's migrations end at, read from its migration files
    (the one revision no other names as its parent): milliseconds, where importing MLflow to
    ask it takes seconds. MLflow's own answer when the files do not give exactly one head."""
    import importlib.util
    import re

    spec = importlib.util.find_spec("mlflow")
    folders = list(spec.submodule_search_locations or []) if spec else []
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in folders:
        for path in (Path(folder) / "store" / "db_migrations" / "versions").glob("*.py"):
            text = path.read_text()
            revision = re.search(r"^revision\s*=\s*['\"]([^'\"]+)", text, re.M)
            parent = re.search(r"^down_revision\s*=\s*(.+)$", text, re.M)
            if revision:
                revisions.add(revision.group(1))
            if parent:
                parents.update(re.findall(r"['\"]([0-9a-f]+)['\"]", parent.group(1)))
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


def rebase_copied_store(uri: str, root: Path, experiment: str, artifacts: str) -> bool:
    """When the project's own SQLite store (inside ``root``) records its experiment's
    artifacts under another folder's ``artifacts`` path (the project was copied or moved),
    rewrite every artifact location from that folder to ``root``. True when it did."""
    path = sqlite_path(uri)
    root = root.resolve()
    if path is None or not path.exists() or root not in path.resolve().parents:
        return False
    suffix = "/" + Path(artifacts).as_posix().strip("/")
    expected = (root / artifacts).resolve().as_uri()
    with closing(sqlite3.connect(path)) as db, db:
        row = db.execute(
            "SELECT artifact_location FROM experiments WHERE name = ?", (experiment,)
        ).fetchone()
        if row is None or row[0] in (expected, expected.removeprefix("file://")):
            return False
        old = row[0]
        if not old.endswith(suffix):  # paths.mlflow_artifacts was changed on purpose
            return False
        old_root, new_root = old[: -len(suffix)], expected[: -len(suffix)]
        pairs = {(old_root, new_root)}  # URIs (file:///...) and plain paths (/...)
        pairs.add((old_root.removeprefix("file://"), new_root.removeprefix("file://")))
        for table, column in existing_columns(db, ARTIFACT_COLUMNS):
            for before, after in pairs:
                db.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "  # noqa: S608
                    f"WHERE substr({column}, 1, ?) = ?",
                    (after, len(before) + 1, len(before) + 1, before + "/"),
                )
    log.info(f"MLflow store {path}: artifact locations moved from {old_root} to {new_root}")
    return True


def existing_columns(
    db: sqlite3.Connection, columns: tuple[tuple[str, str], ...]
) -> list[tuple[str, str]]:
    """The ``(table, column)`` pairs this store's schema has."""
    present = []
    for table, column in columns:
        names = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        if column in names:
            present.append((table, column))
    return present


# -- where the store is ----------------------------------------------------------------


def project_root() -> Path:
    """The project's root: DVC's ``DVC_ROOT`` (the real repository, also for ``dvc exp run
    --temp`` and queued experiments, which run in a temporary copy), else the working dir."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def tracking_uri(cfg: Config) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``mlflow.tracking_uri`` from params; a relative
    SQLite path is resolved against the project root, so every experiment of the project,
    wherever DVC runs it, logs to the project's one store."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        return SQLITE + str(project_root() / uri[len(SQLITE) :])
    return uri


def artifact_location(cfg: Config, uri: str) -> str | None:
    """Local artifact folder for a local SQLite store (in the project root); a tracking
    server chooses its own."""
    if uri.startswith("sqlite:") or uri.startswith("file:"):
        return (project_root() / cfg.paths.mlflow_artifacts).resolve().as_uri()
    return None


def store_id(cfg: Config) -> str | None:
    """The id of the configured store's experiment, read from a SQLite store directly (no
    MLflow import: milliseconds); None for a missing store or a tracking server."""

    path = sqlite_path(tracking_uri(cfg))
    if path is None or not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT t.value FROM experiment_tags t JOIN experiments e "
                "ON e.experiment_id = t.experiment_id WHERE e.name = ? AND t.key = ? "
                "AND e.lifecycle_stage = 'active'",
                (cfg.mlflow.experiment, STORE_ID_TAG),
            ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def require_store(writing: bool = False) -> None:
    """The configured store must exist and serve (:func:`check_store`): a SQLite store that
    does not exist is refused (MLflow would create an empty one)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        raise ScoringInputError(
            "no MLflow store configured: run this in the project folder "
            "(its params.yaml names the store), or set MLFLOW_TRACKING_URI"
        )
    path = sqlite_path(uri)
    if path is not None and not path.exists():
        raise ScoringInputError(
            f"no MLflow store at {path}; run `make train` here first, "
            "or set MLFLOW_TRACKING_URI to the store that holds the model"
        )
    check_store(uri, writing=writing)


def use_project_store(params: Path) -> None:
    """In a project folder: its store unless ``MLFLOW_TRACKING_URI`` names another, with a
    copied project's artifact locations moved into it (:func:`rebase_copied_store`)."""
    from aeops.config import load_config

    cfg = load_config(params)
    uri = os.environ.setdefault("MLFLOW_TRACKING_URI", tracking_uri(cfg))
    rebase_copied_store(uri, project_root(), cfg.mlflow.experiment, cfg.paths.mlflow_artifacts)
