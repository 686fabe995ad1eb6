"""Every error aeops raises for a user to act on, under one base class.

Stages and the CLI catch :class:`AeopsError` and print its message without a traceback; any
other exception is a bug and keeps its traceback. This module imports nothing heavy, so a stage
that only reads a table never imports torch or MLflow to know its errors.
"""

from __future__ import annotations


class AeopsError(Exception):
    """A problem the user can fix: the message names the file, key, column or row and the fix."""


class ConfigError(AeopsError, ValueError):
    """A bad key or value in params.yaml."""


class SourceError(AeopsError, ValueError):
    """The source cannot be read; the message names the file and the fix."""


class NotValidatedError(AeopsError):
    """A later stage was asked to use data that has not passed validation."""


class SplitError(AeopsError, ValueError):
    """The data cannot be split as configured."""


class ModelConfigError(AeopsError, ValueError):
    """A family cannot be built for this data."""


class ScoringInputError(AeopsError, ValueError):
    """Rows that do not match the detector's input schema."""


class RegistryError(AeopsError):
    """The MLflow registry holds something this run cannot use or replace."""


class TrainingInterrupted(AeopsError):
    """Training was stopped by a signal; a checkpoint to resume from was written."""

    exit_code = 143  # 128 + SIGTERM, as a shell reports a process it terminated


class MissingInputError(AeopsError, FileNotFoundError):
    """An input file a stage needs is not there (usually: an earlier stage has not run)."""
