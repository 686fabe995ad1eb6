import json
from pathlib import Path

import pytest
import yaml

from aeops.config import ConfigError, config_model, json_schema, load_config, parse_config
from aeops.models.autoencoders import family_names
from tests.helpers import ROOT, project_params


def parse(**override):
    return parse_config(project_params(**override))


def test_project_params_parse_with_every_family():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.data.source == "digits"
    # every family but the coder, built for task: compress | reduce, and those that read a
    # stream's windows (tcn, gru: the faults preset)
    assert set(cfg.models.families) == set(family_names()) - {"coder", "tcn", "gru"}
    assert "9" not in cfg.data.normal_label_values
    assert cfg.train.accelerator == "auto"


def test_unknown_key_is_named_with_its_path():
    with pytest.raises(ConfigError, match=r"unknown key 'train\.lrr'.*allowed keys"):
        parse(train={"lrr": 0.1})


def test_missing_key_is_named():
    params = project_params()
    del params["data"]["exclude"]
    with pytest.raises(ConfigError, match=r"missing key 'data\.exclude'"):
        parse_config(params)


def test_bad_choice_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"data\.scaler: 'robust' is not allowed.*minmax"):
        parse(data={"scaler": "robust"})


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"train\.max_epochs: expected an integer"):
        parse(train={"max_epochs": "big"})
    with pytest.raises(
        ConfigError,
        match=r"train\.batch_size: 'big' is not allowed; "
        r"expected 'auto' or an integer",
    ):
        parse(train={"batch_size": "big"})


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"models": {"families": ["dense", "gan"]}}, r"models\.families\[1\]: 'gan'.*'dense'"),
        ({"evaluate": {"threshold": {"method": "magic"}}}, r"threshold\.method: 'magic'.*max_f1"),
        ({"register": {"metric": "test_auroc"}}, r"register\.metric: 'test_auroc'.*val_auroc"),
        ({"register": {"candidates": "everything"}}, r"register\.candidates.*autoencoders"),
        ({"data": {"source": "hdf5"}}, r"data\.source: 'hdf5'.*image_folder"),
    ],
)
def test_unknown_names_fail_with_the_allowed_ones(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse(**override)


@pytest.mark.parametrize(
    ("override", "pattern"),
    [
        ({"register": {"margin": -1}}, r"register\.margin: must be >= 0"),
        ({"data": {"max_rows": -10}}, r"data\.max_rows: must be >= 1"),
        ({"train": {"lr": 0}}, r"train\.lr: must be > 0"),
        ({"data": {"contamination": 0.7, "label_column": None}}, r"data\.contamination: must be <"),
        ({"models": {"dense": {"latent": "big"}}}, r"models\.dense\.latent: 'big'.*auto"),
    ],
)
def test_out_of_bounds_values_are_refused(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse(**override)


def test_split_fractions_must_leave_training_rows():
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction"):
        parse(data={"split": {"val_fraction": 0.5, "test_fraction": 0.5}})


def test_file_sources_need_a_path():
    with pytest.raises(ConfigError, match="data.path"):
        parse(data={"source": "table"})


def test_contamination_is_for_unlabeled_data_only():
    with pytest.raises(ConfigError, match="contamination.*label_column"):
        parse(data={"contamination": 0.05})
    cfg = parse(data={"contamination": 0.05, "label_column": None})
    assert cfg.data.contamination == 0.05


def test_labels_may_be_words_or_numbers():
    cfg = parse(data={"normal_labels": ["ok", 3]})
    assert cfg.data.normal_label_values == ["ok", "3"]


def test_ints_widen_to_floats_but_bools_are_not_numbers():
    assert isinstance(parse(train={"lr": 1}).train.lr, float)
    with pytest.raises(ConfigError, match="train.max_epochs"):
        parse(train={"max_epochs": True})


def test_missing_file_says_so(tmp_path: Path):
    with pytest.raises(ConfigError, match="params file not found"):
        load_config(tmp_path / "nope.yaml")


def test_typo_in_yaml_file_names_the_file(tmp_path: Path):
    path = tmp_path / "params.yaml"
    params = project_params()
    params["models"]["dense"]["latnet"] = 4
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"params.yaml: unknown key 'models\.dense\.latnet'"):
        load_config(path)


def test_json_schema_describes_every_section():
    schema = json_schema()
    assert set(schema["properties"]) == set(config_model().model_fields)
    json.dumps(schema)  # serialisable for editors


def _sections(model):
    yield model
    for field in model.model_fields.values():
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            yield from _sections(annotation)


def test_values_live_in_params_yaml_only():
    """No config model carries a default: every key must be written in params.yaml."""
    with_defaults = [
        f"{model.__name__}.{name}"
        for model in _sections(config_model())
        for name, field in model.model_fields.items()
        if not field.is_required()
    ]
    assert with_defaults == []


@pytest.mark.parametrize("section", list(config_model().model_fields))
def test_every_section_is_required(section):
    params = project_params()
    del params[section]
    with pytest.raises(ConfigError, match=f"missing key '{section}'"):
        parse_config(params)


def _params_leaves() -> dict[str, list[tuple[str, object]]]:
    leaves: dict[str, list[tuple[str, object]]] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                leaves.setdefault(key, []).append((f"{prefix}{key}", value))

    walk(project_params(), "")
    return leaves


def test_no_function_default_repeats_a_value_params_yaml_sets():
    """A default like ``batch_size=64`` beside params.yaml's would be a second source of
    values: every such argument is passed from the config instead (a public constructor
    reads params.yaml's packaged copy, aeops.core.defaults). ``None`` is "not given", not a
    value."""
    import ast

    leaves = _params_leaves()
    repeated = []
    for path in (ROOT / "src" / "aeops").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(
                zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
            )
            pairs += [
                (a, d)
                for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is not None
            ]
            for arg, default in pairs:
                try:
                    value = ast.literal_eval(default)
                except ValueError:
                    continue
                if value is None:
                    continue
                for key, setting in leaves.get(arg.arg, []):
                    if setting == value:
                        repeated.append(
                            f"{path.name}:{node.lineno} {node.name}"
                            f"({arg.arg}={value!r}) repeats {key}"
                        )
    assert repeated == []


def test_the_committed_json_schema_is_current():
    committed = json.loads((ROOT / "params.schema.json").read_text())
    assert committed == json_schema(), "run `.venv/bin/aeops schema` to refresh it"
    assert (
        (ROOT / "params.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=params.schema.json")
    )


@pytest.mark.parametrize("key", ["accelerator", "precision", "strategy"])
def test_lightning_settings_are_checked_when_params_are_parsed(key):
    params = project_params()
    params["train"][key] = "banana"
    with pytest.raises(ConfigError, match=rf"train\.{key}: 'banana' is not allowed; choose"):
        parse_config(params)


def test_a_coded_task_needs_a_code_size_and_a_measure_of_its_use():
    with pytest.raises(ConfigError, match=r"code\.size: task: compress .*set it"):
        parse(task="compress", register={"metric": "val_code_int8_psnr_db"})
    with pytest.raises(ConfigError, match=r"set register\.metric: val_code_int8_psnr_db"):
        parse(task="compress", code={"size": 30, "precision": "int8"})
    with pytest.raises(ConfigError, match=r"set register\.metric: val_trustworthiness"):
        parse(task="reduce", code={"size": 2, "precision": "float32"})
    cfg = parse(
        task="reduce",
        code={"size": 2, "precision": "float32"},
        register={"metric": "val_trustworthiness"},
    )
    assert cfg.use.code_size(cfg.code) == 2
    detect = parse(code={"size": 30, "precision": "int8"})
    assert detect.use.code_size(detect.code) is None  # detect: each family's own latent
