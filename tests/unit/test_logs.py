"""Logging: aeops' lines reach the console of the moment; the libraries stay at warnings unless
verbose (``-v`` / ``AEOPS_VERBOSE``)."""

from __future__ import annotations

import logging

import pytest

from aeops.core import logs


@pytest.fixture(autouse=True)
def _restore_levels():
    names = ["aeops", *logs.LIBRARIES]
    saved = {
        n: (
            logging.getLogger(n).level,
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).propagate,
        )
        for n in names
    }
    yield
    for name, (level, handlers, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
    logs._state["verbose"] = False


def test_aeops_lines_go_to_stdout_and_warnings_say_so(capsys, monkeypatch):
    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    monkeypatch.delenv(logs.QUIET_ENV, raising=False)
    logs.configure()
    logging.getLogger("aeops.stages.train").info("train[dense]: 3 epochs")
    logging.getLogger("aeops.stages.compare").warning("baseline knn beats every autoencoder")
    logging.getLogger("aeops.stages.runner").error("[aeops:train] FAILED: no data")
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "train[dense]: 3 epochs",
        "WARNING: baseline knn beats every autoencoder",
    ]
    assert captured.err.strip() == "ERROR: [aeops:train] FAILED: no data"


def test_configuring_twice_prints_each_line_once(capsys):
    logs.configure(verbose=False)
    logs.configure(verbose=False)
    logging.getLogger("aeops.x").info("once")
    assert capsys.readouterr().out == "once\n"


def test_the_libraries_stay_at_warnings_by_default_and_speak_when_verbose(monkeypatch):
    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    logs.configure()
    for name in ("pytorch_lightning", "mlflow", "great_expectations"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert not logs.verbose()
    logs.configure(verbose=True)
    for name in ("pytorch_lightning", "mlflow", "great_expectations"):
        assert logging.getLogger(name).isEnabledFor(logging.INFO), name
    assert logging.getLogger("aeops").isEnabledFor(logging.DEBUG)


def test_the_environment_variable_turns_verbose_on_for_dvc_stages(monkeypatch):
    monkeypatch.setenv(logs.VERBOSE_ENV, "1")
    logs.configure()
    assert logs.verbose() and logging.getLogger("mlflow").isEnabledFor(logging.INFO)


def test_settling_again_undoes_a_library_that_reset_its_level_on_import(monkeypatch):
    monkeypatch.delenv(logs.VERBOSE_ENV, raising=False)
    logs.configure()
    logging.getLogger("pytorch_lightning").setLevel(logging.INFO)  # what its import does
    logs.settle_libraries()
    assert not logging.getLogger("pytorch_lightning").isEnabledFor(logging.INFO)


def test_quiet_keeps_only_warnings(capsys):
    logs.configure(quiet=True)
    logging.getLogger("aeops.x").info("progress")
    logging.getLogger("aeops.x").warning("careful")
    assert capsys.readouterr().out == "WARNING: careful\n"
