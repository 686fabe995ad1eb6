"""Logging, configured once by the stage runner and the CLI (:func:`configure`).

The library logs through ``logging.getLogger(__name__)`` and never prints. By default a user
sees aeops' own lines (plain, no prefix; warnings with ``WARNING:``), the progress bars and the
summary table; the libraries' INFO chatter (Lightning's "GPU available" and tips, MLflow's
"Validating input example", Great Expectations' notices, alembic's migrations) is held back
to warnings. ``-v`` on the CLI, or ``AEOPS_VERBOSE=1`` for ``make train`` / ``dvc repro``,
brings it back; ``--quiet`` (``AEOPS_QUIET=1``) keeps only warnings and errors.

Lightning and MLflow set their own loggers' levels when they are imported, which may be after
:func:`configure`; :func:`settle_libraries` applies the levels again and is called where those
libraries come into play (the trainer is built, a model is logged).
"""

from __future__ import annotations

import logging
import os
import sys

VERBOSE_ENV = "AEOPS_VERBOSE"
QUIET_ENV = "AEOPS_QUIET"
LIBRARIES = (
    "pytorch_lightning",
    "lightning",
    "lightning.pytorch",
    "lightning_fabric",
    "mlflow",
    "great_expectations",
    "alembic",
    "huey",
    "urllib3",
    "py4j",
    "filelock",
    "matplotlib",
    "PIL",
    "fsspec",
    "numexpr",
)
_state = {"verbose": False}


class ConsoleHandler(logging.Handler):
    """Writes each record to the ``sys.stdout`` (errors: ``sys.stderr``) of the moment, so
    redirection and captured output see aeops' lines as they saw its prints."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.ERROR else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


class ConsoleFormatter(logging.Formatter):
    """The message alone; warnings and errors say what they are."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING and not message.startswith(record.levelname):
            return f"{record.levelname}: {message}"
        return message


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def verbose() -> bool:
    """Whether the libraries' own output is wanted (``-v`` or ``AEOPS_VERBOSE``)."""
    return _state["verbose"] or env_flag(VERBOSE_ENV)


def configure(verbose: bool | None = None, quiet: bool | None = None) -> None:
    """aeops' lines to the console at INFO (DEBUG when verbose, WARNING when quiet); the
    libraries' at WARNING unless verbose. Idempotent: a second call replaces the handler."""
    verbose = env_flag(VERBOSE_ENV) if verbose is None else verbose
    quiet = env_flag(QUIET_ENV) if quiet is None else quiet
    _state["verbose"] = verbose
    logger = logging.getLogger("aeops")
    for handler in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
        logger.removeHandler(handler)
    handler = ConsoleHandler()
    handler.setFormatter(ConsoleFormatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    if not verbose:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when MLflow loads
    settle_libraries()


def settle_libraries() -> None:
    """The libraries' loggers at WARNING (INFO when verbose), again after their import."""
    level = logging.INFO if _state["verbose"] else logging.WARNING
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(level)
