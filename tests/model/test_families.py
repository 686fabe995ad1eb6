"""Model tier: shapes, training actually reduces loss, VAE internals, determinism."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from aeops.core.errors import ModelConfigError
from aeops.data.schema import DatasetMeta, pixel_columns
from aeops.models.autoencoders import family_names
from aeops.models.autoencoders.base import Objective
from aeops.models.autoencoders.settings import unusable_reason
from aeops.models.autoencoders.sizing import hidden_widths, latent_size, resolve_latent_rule
from aeops.models.autoencoders.vae import VAENetwork, VAEObjective, gaussian_kl
from aeops.training.plan import plan_for
from tests.helpers import (
    build_net,
    low_rank_data,
    make_config,
    net_score,
    objective_of,
    quick_fit,
)

FAMILIES = family_names()

IMAGE_META = DatasetMeta(
    "test",
    "memory",
    pixel_columns(64),
    "label",
    ["0", "1"],
    10,
    image_shape=[1, 8, 8],
    value_range=[0.0, 1.0],
)
TABLE_META = DatasetMeta(
    "test", "memory", [f"f{i}" for i in range(16)], "label", ["0", "1"], 10, value_range=[0.0, 1.0]
)


def small_config(**override):
    models = {f: {"latent": 4} for f in FAMILIES}
    for f in ("dense", "denoising", "sparse", "vae"):
        models[f]["hidden"] = [32]
    models["conv"]["channels"] = [8, 16]
    return make_config(**{"models": models, **override})


def build_model(family, cfg, meta, unit_range=True):
    return build_net(family, cfg, meta, unit_range)


@pytest.mark.parametrize("family", FAMILIES)
def test_shapes(family):
    net = build_model(family, small_config(), IMAGE_META).eval()
    x = torch.rand(5, 64)
    out = net(x)
    assert out["recon"].shape == (5, 64)
    assert out["z"].shape == (5, 4)
    score, per_feature = net_score(net, x)
    assert score.shape == (5,) and per_feature.shape == (5, 64)
    assert torch.allclose(score, per_feature.mean(dim=1))


@pytest.mark.parametrize("shape", [[1, 28, 28], [3, 7, 9], [1, 5, 5]])
def test_conv_handles_odd_and_even_sizes(shape):
    meta = DatasetMeta(
        "t",
        "m",
        pixel_columns(int(np.prod(shape))),
        "label",
        [0],
        1,
        image_shape=shape,
        value_range=[0.0, 1.0],
    )
    net = build_model("conv", small_config(), meta)
    x = torch.rand(2, int(np.prod(shape)))
    assert net(x)["recon"].shape == x.shape


def test_conv_is_skipped_on_tables_with_a_reason():
    assert "conv needs images" in unusable_reason("conv", TABLE_META)
    assert unusable_reason("conv", IMAGE_META) is None
    assert unusable_reason("dense", TABLE_META) is None


def test_bce_needs_unit_range_inputs():
    meta = DatasetMeta("t", "m", ["a", "b"], "label", ["0"], 1)
    with pytest.raises(ModelConfigError, match="bce needs model inputs in \\[0, 1\\]"):
        build_model("dense", small_config(train={"loss": "bce"}), meta, unit_range=False)


def test_auto_sizes_follow_the_data():
    rng = np.random.default_rng(0)
    factors = rng.normal(size=(400, 4)) * np.array([3.0, 2.5, 2.0, 1.5])
    mixing = np.linalg.qr(rng.normal(size=(12, 4)))[0].T  # four orthonormal directions
    four = factors @ mixing + 0.1 * rng.normal(size=(400, 12))
    assert latent_size(four, "kaiser", 0.9, 2) == 4  # the four strong directions
    assert latent_size(four, "variance", 0.5, 2) < 4
    noise = rng.normal(size=(300, 16))
    assert latent_size(noise, "variance", 0.8, 2) >= 11  # no structure: most directions
    assert latent_size(noise[:, :3], "variance", 0.99, 2) == 2  # never the full width
    assert resolve_latent_rule("auto", is_image=True) == "kaiser"
    assert resolve_latent_rule("auto", is_image=False) == "variance"
    assert resolve_latent_rule("kaiser", is_image=False) == "kaiser"
    assert hidden_widths(13, 4, 4, 512, 3) == [64, 32, 16]
    assert hidden_widths(64, 14, 4, 512, 3) == [256, 128, 64]
    assert hidden_widths(784, 40, 4, 512, 3) == [512, 256, 128]
    assert hidden_widths(13, 5, 1, 512, 3) == [16]
    cfg = make_config()  # params.yaml: auto sizes
    table = build_model(
        "dense", cfg, DatasetMeta("t", "m", [f"f{i}" for i in range(13)], None, [], 10)
    )
    widths = [m.out_features for m in table.encoder if hasattr(m, "out_features")]
    assert widths[0] == 64 and widths[-1] < 13


def recon_loss(net, x, objective):
    net.eval()
    with torch.no_grad():
        loss = float(objective.loss(x, net(x))["recon_loss"])
    net.train()
    return loss


def fit_briefly(net, objective, train, val, epochs, root, in_memory=True):
    """A few CPU epochs at batch 32 and learning rate 5e-3, validated every epoch."""
    cfg = make_config(
        train={
            "max_epochs": epochs,
            "patience": 20,
            "accelerator": "cpu",
            "in_memory": in_memory,
            "progress_bar": False,
        }
    ).train
    plan = plan_for(32, 5e-3, "32-true", 1, None, cfg.patience)
    return quick_fit(net, objective, cfg, plan, (train, val, np.zeros(len(val), bool)), root)


@pytest.mark.parametrize("family", FAMILIES)
def test_training_reduces_reconstruction_loss(family, tmp_path):
    cfg = small_config()
    meta = IMAGE_META if family == "conv" else TABLE_META
    d = meta.n_features
    x = low_rank_data(256, dim=d, seed=1)
    pl.seed_everything(0)
    net = build_model(family, cfg, meta)
    objective = objective_of(family, cfg)
    before = recon_loss(net, torch.from_numpy(x), objective)
    fit_briefly(net, objective, x, x[:64], epochs=15, root=tmp_path)
    after = recon_loss(net, torch.from_numpy(x), objective)
    assert after < 0.5 * before, (before, after)


def test_vae_kl_term_is_in_the_loss_and_matches_closed_form():
    torch.manual_seed(0)
    net = VAENetwork(16, [32], 4, "sigmoid", score_kind="recon", beta=1.0).train()
    x = torch.rand(8, 16)
    out = net(x)
    terms = VAEObjective(beta=2.0).loss(x, out)
    mu, logvar = out["mu"], out["logvar"]
    closed = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()
    assert torch.allclose(terms["kl_loss"], closed, atol=1e-5)
    assert torch.allclose(terms["loss"], terms["recon_loss"] + 2.0 * terms["kl_loss"])
    assert torch.allclose(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)), torch.tensor(0.0))


def test_vae_reparameterisation_passes_gradients_to_mu_and_logvar():
    torch.manual_seed(0)
    net = VAENetwork(16, [32], 4, "sigmoid", score_kind="recon", beta=1.0).train()
    out = net(torch.rand(8, 16))
    out["recon"].sum().backward()  # reconstruction only: the gradient flows through z
    assert net.mu.weight.grad is not None and net.mu.weight.grad.abs().sum() > 0
    assert net.logvar.weight.grad is not None and net.logvar.weight.grad.abs().sum() > 0
    train_a, train_b = net(torch.ones(1, 16))["z"], net(torch.ones(1, 16))["z"]
    assert not torch.allclose(train_a, train_b)  # sampled in training


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_are_deterministic_in_eval_mode(family):
    meta = IMAGE_META if family == "conv" else TABLE_META
    net = build_model(family, small_config(), meta).eval()
    x = torch.rand(6, meta.n_features)
    assert torch.equal(net_score(net, x)[0], net_score(net, x)[0])


def test_vae_elbo_score_adds_the_kl_term():
    torch.manual_seed(0)
    recon_net = VAENetwork(16, [32], 4, "sigmoid", score_kind="recon", beta=1.0).eval()
    elbo_net = VAENetwork(16, [32], 4, "sigmoid", score_kind="elbo", beta=1.0).eval()
    elbo_net.load_state_dict(recon_net.state_dict())
    x = torch.rand(4, 16)
    recon_score, per_feature = net_score(recon_net, x)
    elbo_score, _ = net_score(elbo_net, x)
    assert torch.all(elbo_score > per_feature.sum(dim=1))


def test_changed_fingerprint_discards_old_checkpoints(tmp_path, caplog):
    from aeops.stages.resume import prepare_checkpoints

    ckpt_dir = tmp_path / "checkpoints"
    ckpt_dir.mkdir()
    torch.save({"epoch": 3, "state_dict": {}}, ckpt_dir / "last.ckpt")
    (ckpt_dir / "fingerprint.json").write_text('{"fingerprint": "aaa", "run_id": "r1"}')
    with caplog.at_level("INFO", logger="aeops.stages.resume"):
        assert prepare_checkpoints(ckpt_dir, "aaa") == (ckpt_dir / "last.ckpt", "r1")
        assert not caplog.messages
        assert prepare_checkpoints(ckpt_dir, "bbb") == (None, None)
    assert not ckpt_dir.exists() and "starting afresh" in caplog.messages[0]


def test_a_checkpoint_cut_off_while_written_is_not_resumed_from(tmp_path, caplog):
    """A kill in the middle of writing last.ckpt: the rerun starts afresh and says why (and
    the writer renames a whole file into place, so this needs an older or foreign file)."""
    from aeops.stages.resume import prepare_checkpoints

    ckpt_dir = tmp_path / "checkpoints"
    ckpt_dir.mkdir()
    torch.save({"epoch": 3, "state_dict": {"w": torch.zeros(1000)}}, ckpt_dir / "last.ckpt")
    whole = (ckpt_dir / "last.ckpt").read_bytes()
    (ckpt_dir / "last.ckpt").write_bytes(whole[: len(whole) // 2])
    (ckpt_dir / "fingerprint.json").write_text('{"fingerprint": "aaa", "run_id": "r1"}')
    with caplog.at_level("INFO", logger="aeops.stages.resume"):
        assert prepare_checkpoints(ckpt_dir, "aaa") == (None, None)
    assert not ckpt_dir.exists() and "cannot be read" in caplog.messages[0]


def test_dataloader_path_trains_like_the_in_memory_path(tmp_path):
    x = low_rank_data(128, dim=16, seed=2)
    losses = {}
    for in_memory in (True, False):
        pl.seed_everything(0)
        net = build_model("dense", small_config(), TABLE_META)
        fitted = fit_briefly(
            net, Objective(), x, x[:32], epochs=5, root=tmp_path, in_memory=in_memory
        )
        losses[in_memory] = float(fitted.trainer.callback_metrics["epoch/val_loss"])
    assert losses[False] == pytest.approx(losses[True], rel=0.5)
    assert np.isfinite(list(losses.values())).all()


def test_one_registry_names_the_families_everywhere():
    """params.yaml's families, the config models and the family modules agree (and the
    denoisers of task: denoise have their blocks beside them)."""
    from aeops.config import config_model
    from aeops.models.autoencoders import families
    from aeops.models.autoencoders.denoising import DenoisingObjective
    from aeops.models.autoencoders.sparse import SparseObjective
    from aeops.models.denoisers import denoiser_names

    models = config_model().model_fields["models"].annotation
    assert set(families()) == set(FAMILIES)
    assert set(models.model_fields) == {
        "families",
        "auto_size",
        "score",
        "score_neighbors",
        "seeds",
        "ensemble",
        *FAMILIES,
        *denoiser_names(),
    }
    cfg = make_config()
    for name, spec in families().items():
        assert spec.name == name
        assert models.model_fields[name].annotation is spec.params
        assert spec.needs_image == (name == "conv")
        objective = objective_of(name, cfg)
        assert isinstance(objective, DenoisingObjective) == (name == "denoising")
        assert isinstance(objective, SparseObjective) == (name == "sparse")
        assert (getattr(objective, "beta", 0) > 0) == (name == "vae")


def test_a_table_coder_starts_as_pca_and_an_int8_coder_trains_with_storage_noise():
    from sklearn.decomposition import PCA

    from aeops.models.autoencoders.detector import AutoencoderDetector
    from tests.helpers import fold_of, training_spec

    cfg = make_config(models={"coder": {"latent": 3, "hidden": [32], "width": 4}})
    x = low_rank_data(300, dim=16, rank=5, seed=2).astype(np.float32)
    detector = AutoencoderDetector(training_spec("coder", cfg, TABLE_META, unit_range=False))
    detector.build(fold_of(x))  # sized and initialised, not trained
    pca = PCA(3).fit(x.astype(np.float64))
    np.testing.assert_allclose(
        detector.reconstruct(x), pca.inverse_transform(pca.transform(x)), atol=1e-4
    )

    net = build_net("coder", cfg, IMAGE_META)  # convolutional on images; no PCA start
    net.code_step = 1 / 127
    rows = torch.rand(32, 64)
    net.eval()
    assert torch.equal(net(rows)["recon"], net(rows)["recon"])  # no noise in eval mode
    net.train()
    out = net(rows)
    assert not torch.equal(out["recon"], net.decode(out["z"]))  # the code is read with noise
