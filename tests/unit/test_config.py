from pathlib import Path

import pytest

from aeops.config import FAMILIES, ConfigError, load_config, parse_config
from tests.conftest import ROOT


def test_project_params_parse_with_every_family():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.data.source == "digits"
    assert cfg.models.families == list(FAMILIES)
    assert 9 not in cfg.data.normal_labels
    assert cfg.train.accelerator == "auto"


def test_unknown_key_is_named_with_its_path():
    with pytest.raises(ConfigError, match=r"unknown key 'train\.lrr'.*allowed keys"):
        parse_config({"train": {"lrr": 0.1}})


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"data\.scaler: 'robust' is not allowed.*minmax"):
        parse_config({"data": {"scaler": "robust"}})


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected an integer"):
        parse_config({"train": {"batch_size": "big"}})


def test_unknown_family_is_refused():
    with pytest.raises(ConfigError, match="unknown family.*'gan'"):
        parse_config({"models": {"families": ["dense", "gan"]}})


def test_split_fractions_must_leave_training_rows():
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction"):
        parse_config({"data": {"split": {"val_fraction": 0.5, "test_fraction": 0.5}}})


def test_file_sources_need_a_path():
    with pytest.raises(ConfigError, match="data.path"):
        parse_config({"data": {"source": "table"}})


def test_ints_widen_to_floats():
    cfg = parse_config({"train": {"lr": 1}})
    assert isinstance(cfg.train.lr, float)


def test_missing_file_says_so(tmp_path: Path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "nope.yaml")


def test_typo_in_yaml_file_names_the_file(tmp_path: Path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 1\nmodels:\n  dense:\n    latnet: 4\n")
    with pytest.raises(ConfigError, match=r"params.yaml: unknown key 'models\.dense\.latnet'"):
        load_config(path)
