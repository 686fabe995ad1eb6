"""The training engine's own behaviour: whole-fold validation AUROC, auto settings, best
weights kept in memory."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from aeops.models.autoencoders.base import Objective
from aeops.models.autoencoders.dense import DenseNetwork
from aeops.training.batches import FoldData, FoldDataModule
from aeops.training.plan import cosine_lr, plan_for, resolve
from tests.helpers import low_rank_data, make_config, net_score, quick_fit


def fit_once(train, val, flags, epochs=1, val_every=1, tmp_path=None):
    torch.manual_seed(0)
    net = DenseNetwork(train.shape[1], [32], 3, "sigmoid", 0.0)
    cfg = make_config(train={"max_epochs": epochs, "patience": 50, "progress_bar": False}).train
    plan = plan_for(64, 3e-3, "32-true", val_every, None, cfg.patience)
    return quick_fit(net, Objective(), cfg, plan, (train, val, flags), tmp_path)


def test_val_auroc_covers_the_whole_validation_fold(tmp_path):
    """2,600 validation rows in three batches of 1,024, anomalies only in the last one: the
    logged AUROC is scikit-learn's over every row, not over the batches holding both."""
    train = low_rank_data(512, dim=16, seed=0)
    normal = low_rank_data(2300, dim=16, seed=1)
    anomalies = np.random.default_rng(2).random((300, 16)).astype(np.float32)
    val = np.concatenate([normal, anomalies])
    flags = np.r_[np.zeros(2300, bool), np.ones(300, bool)]
    fitted = fit_once(train, val, flags, tmp_path=tmp_path)
    logged = float(fitted.trainer.callback_metrics["epoch/val_auroc"])
    scores = net_score(fitted.net.eval(), torch.from_numpy(val))[0].numpy()
    assert logged == pytest.approx(roc_auc_score(flags, scores), abs=1e-5)
    last_batch = slice(2048, None)  # what the old per-batch rule looked at
    assert abs(logged - roc_auc_score(flags[last_batch], scores[last_batch])) > 1e-3


def test_best_weights_are_restored_from_memory(tmp_path):
    train = low_rank_data(256, dim=16, seed=0)
    val = low_rank_data(128, dim=16, seed=1)
    fitted = fit_once(train, val, np.zeros(128, bool), epochs=6, val_every=2, tmp_path=tmp_path)
    best = fitted.best
    assert best.epoch in (1, 3, 5) and best.state is not None  # validated every 2 epochs
    for name, tensor in fitted.module.state_dict().items():  # restored by fit
        assert torch.equal(tensor, best.state[name]), name
    assert not list(tmp_path.rglob("*.ckpt"))  # nothing written to disk


def settings(**override):
    base = {
        "max_epochs": 300,
        "min_epochs": 1,
        "max_samples": 10_000_000,
        "accelerator": "cpu",
        "batch_size": "auto",
        "lr": 1e-3,
        "precision": "auto",
        "val_every": "auto",
        "patience": 30,
        "threads": "auto",
        "deterministic": False,
        "schedule": "plateau",
    }
    return SimpleNamespace(**{**base, **override})


def test_auto_settings_keep_todays_values_on_a_cpu():
    plan = resolve(settings(), n_train=970, n_params=120_000)
    assert (plan.batch_size, plan.lr, plan.precision) == (64, 1e-3, "32-true")
    assert plan.val_every == 3  # 2,048 samples between validations
    assert plan.threads == 1  # a small model: one thread
    big = resolve(settings(), n_train=60_000, n_params=1_200_000)
    assert big.val_every == 1 and big.threads is None
    # deterministic: one thread whatever the model and the machine (sums split by thread)
    assert resolve(settings(deterministic=True), 60_000, 1_200_000).threads == 1
    tiny = resolve(settings(patience=6), n_train=30, n_params=1000)
    assert tiny.val_every == 2  # at least three validations within the patience
    explicit = resolve(
        settings(batch_size=128, precision="bf16-mixed", val_every=5, threads=2), 970, 1000
    )
    assert (
        explicit.batch_size,
        explicit.lr,
        explicit.precision,
        explicit.val_every,
        explicit.threads,
    ) == (128, 1e-3, "bf16-mixed", 5, 2)


def test_auto_batch_on_a_cpu_grows_with_a_tall_table_to_bounded_steps_per_epoch():
    assert resolve(settings(), n_train=32_768, n_params=10_000).batch_size == 64  # 512 steps
    tall = resolve(settings(), n_train=700_000, n_params=10_000)
    assert tall.batch_size == 2048 and math.ceil(700_000 / tall.batch_size) <= 512
    assert tall.lr == pytest.approx(1e-3 * math.sqrt(2048 / 64))
    huge = resolve(settings(), n_train=50_000_000, n_params=10_000)
    assert huge.batch_size == 4096  # capped: more steps rather than a batch past 4,096


def test_max_samples_bounds_the_epochs_of_a_tall_table_only():
    assert resolve(settings(), n_train=30_000, n_params=10_000).max_epochs is None  # 300 fit
    assert resolve(settings(), n_train=600_000, n_params=10_000).max_epochs == 16
    assert resolve(settings(), n_train=50_000_000, n_params=10_000).max_epochs == 1  # min_epochs
    assert resolve(settings(max_samples=None), 600_000, 10_000).max_epochs is None


def test_the_plan_counts_patience_in_validations():
    plan = resolve(settings(val_every=3), n_train=970, n_params=1000)
    assert (plan.stop_patience, plan.lr_patience) == (10, 4)  # 30 epochs; lr: a third
    assert plan.settings() == {
        "batch_size": 64,
        "lr": 1e-3,
        "precision": "32-true",
        "val_every": 3,
        "threads": 1,
        "max_epochs": None,  # train.max_samples did not lower train.max_epochs
        "schedule": "plateau",
        "total_steps": 300 * 16,  # 970 rows: 16 batches of 64 an epoch, 300 epochs
    }  # what run.json records
    rare = resolve(settings(patience=2, val_every=5), n_train=970, n_params=1000)
    assert (rare.stop_patience, rare.lr_patience) == (1, 1)  # at least one validation


def test_auto_settings_on_a_gpu_scale_batch_and_learning_rate():
    plan = resolve(settings(accelerator="gpu"), n_train=60_000, n_params=1_200_000)
    assert plan.batch_size == 1024 and plan.lr == pytest.approx(4e-3)  # sqrt(1024 / 64)
    assert plan.precision in ("bf16-mixed", "16-mixed") and plan.threads is None
    small = resolve(settings(accelerator="gpu"), n_train=970, n_params=120_000)
    assert small.batch_size == 64 and small.lr == 1e-3  # >= 16 steps per epoch


def test_read_only_arrays_from_pandas_are_copied_without_a_warning():
    import warnings

    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(4.0), "flag": [True, False, True, False]})
    flags = frame["flag"].to_numpy()
    assert not flags.flags.writeable  # pandas' copy-on-write hands out read-only views
    writable = np.zeros((4, 2), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = FoldData(writable, writable, flags)
        module = FoldDataModule(data, 2, seed=0, in_memory=True, num_workers=0)
    assert module.val_is_anomaly.tolist() == [True, False, True, False]
    assert module.val_is_anomaly.data_ptr() != flags.ctypes.data  # copied, not shared
    writable[0, 0] = 5.0  # a writable array is shared, not copied
    assert module.train_x[0, 0] == 5.0


def test_a_cosine_schedule_spans_the_planned_epochs_and_ends_at_a_hundredth(tmp_path):
    """``train.schedule: cosine``: resolve plans epochs x steps per epoch; the rate starts at
    ``lr`` and ends at ``lr / 100`` on the last planned step, whatever the validations say."""
    plan = resolve(settings(schedule="cosine", max_epochs=4), n_train=200, n_params=1_000)
    assert (plan.schedule, plan.total_steps) == ("cosine", 4 * math.ceil(200 / 64))
    assert cosine_lr(0, 12, 1.0) == 1.0 and cosine_lr(6, 12, 1.0) == pytest.approx(0.505)
    assert cosine_lr(12, 12, 1.0) == cosine_lr(99, 12, 1.0) == pytest.approx(0.01)
    train = low_rank_data(200, dim=16, seed=0)
    val = low_rank_data(64, dim=16, seed=1)
    torch.manual_seed(0)
    net = DenseNetwork(16, [32], 3, "sigmoid", 0.0)
    cfg = make_config(train={"max_epochs": 4, "patience": 50, "progress_bar": False}).train
    cosine = replace(plan_for(64, 3e-3, "32-true", 1, None, 50), schedule="cosine", total_steps=16)
    fitted = quick_fit(net, Objective(), cfg, cosine, (train, val, np.zeros(64, bool)), tmp_path)
    steps = fitted.trainer.global_step
    assert steps == 16  # 4 epochs of 4 batches
    optimiser = fitted.trainer.optimizers[0]
    assert optimiser.param_groups[0]["lr"] == pytest.approx(cosine_lr(steps - 1, 16, 3e-3))
    assert not fitted.trainer.lr_scheduler_configs  # no plateau scheduler beside it
