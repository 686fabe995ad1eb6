"""``train.max_time``: a wall-clock budget per family (Lightning's own), and the run says
when it, not early stopping, ended training."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl

from aeops.models.autoencoders.base import Objective
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.training.plan import plan_for
from tests.helpers import make_config, quick_fit


def fitted(tmp_path, **train):
    pl.seed_everything(0, verbose=False)
    rows = np.random.default_rng(0).normal(size=(600, 8)).astype(np.float32)
    cfg = make_config(train={"progress_bar": False, **train})
    plan = plan_for(64, 1e-3, "32-true", 1, None, cfg.train.patience)
    data = (rows[:500], rows[500:], np.zeros(100, bool))
    return quick_fit(
        DenseNetwork(8, [16], 2, "identity", 0.0), Objective("mse"), cfg.train, plan, data, tmp_path
    )


def test_a_time_budget_stops_training_and_says_so(tmp_path):
    budget = fitted(tmp_path / "budget", max_epochs=100_000, patience=100_000, max_time=1.0)
    assert budget.stopped_by == "max_time"
    assert 1 <= budget.epochs < 100_000
    assert budget.best_val_loss is not None  # the best weights so far are kept


@pytest.mark.slow
def test_without_a_budget_the_epoch_limit_or_patience_ends_training(tmp_path):
    assert fitted(tmp_path / "epochs", max_epochs=3, patience=50).stopped_by == "max_epochs"
    patient = fitted(tmp_path / "patience", max_epochs=2_000, patience=1, lr=0.5)
    assert patient.stopped_by == "patience" and patient.epochs < 2_000
