"""``params.yaml`` parsed once into typed, validated configuration (pydantic v2 models).

The sections (:mod:`aeops.core.sections`) declare types and bounds only: every value lives in
``params.yaml``, so a key that is missing there, unknown, of the wrong type or out of bounds
fails at start with its dotted name and what is allowed. Each autoencoder family declares its
own block in its module (:mod:`aeops.models.autoencoders`); the ``models`` section is
assembled from the families found there, so adding a family adds its block here without an
edit. ``aeops.config.json_schema()`` gives the JSON Schema an editor can validate
``params.yaml`` against.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from aeops.core.errors import ConfigError

if TYPE_CHECKING:
    from aeops.tasks.base import Task as TaskSpec
from aeops.core.sections import (
    AutoSizeConfig,
    BaselinesConfig,
    CodeConfig,
    DataConfig,
    EvaluateConfig,
    MlflowConfig,
    Paths,
    PositiveInt,
    RegisterConfig,
    Section,
    TrainerConfig,
)

__all__ = ["Config", "ConfigError", "config_model", "load_config", "parse_config"]


class ModelsConfig(Section):
    """``models:``: which families train, how sizes and scores are decided, and (in the
    assembled model, :func:`config_model`) one block per family, named after it."""

    families: Annotated[list[str], Field(min_length=1)]
    auto_size: AutoSizeConfig
    score: Literal["auto", "recon", "normalised", "hybrid", "tail"]
    score_neighbors: PositiveInt
    seeds: Literal["auto"] | PositiveInt
    ensemble: bool

    def family(self, name: str) -> Any:
        """The params block of family ``name`` (its module's params model)."""
        from aeops.models.autoencoders import family_names
        from aeops.models.denoisers import denoiser_names

        if name not in family_names() + denoiser_names():
            raise ConfigError(f"unknown model family '{name}'; choose from {family_names()}")
        return getattr(self, name)


with warnings.catch_warnings():  # the key `register` shadows ABC's classmethod: harmless
    warnings.simplefilter("ignore", UserWarning)

    class Config(Section):
        seed: Annotated[int, Field(ge=0)]
        task: str  # one of aeops.tasks.task_names() (config_model narrows it)
        paths: Paths
        data: DataConfig
        train: TrainerConfig
        models: ModelsConfig
        code: CodeConfig
        evaluate: EvaluateConfig
        baselines: BaselinesConfig
        register: RegisterConfig = Field(...)  # required (shadows ABC.register)
        mlflow: MlflowConfig

        @model_validator(mode="after")
        def _fits_the_task(self) -> Config:
            self.use.check(self)
            return self

        @property
        def use(self) -> TaskSpec:
            """What the models are for: the task ``task:`` names (:mod:`aeops.tasks`), which
            the stages and the report ask what differs."""
            from aeops.tasks import task_named

            return task_named(self.task)

        def to_dict(self) -> dict[str, Any]:
            return self.model_dump(mode="json")


@cache
def config_model() -> type[Config]:
    """:class:`Config` with ``models`` holding every family's block: the families are those
    :mod:`aeops.models.autoencoders` finds (their modules are imported once, here)."""
    from aeops.models.autoencoders import families
    from aeops.models.denoisers import params_blocks
    from aeops.tasks import task_names

    found = families()
    denoisers = params_blocks()
    names = tuple(found) + tuple(denoisers)
    family_name: Any = Literal.__getitem__(names)
    models = create_model(  # type: ignore[call-overload]  # fields built from the families
        "ModelsConfig",
        __base__=ModelsConfig,
        __doc__=ModelsConfig.__doc__,
        families=(Annotated[list[family_name], Field(min_length=1)], ...),
        **{name: (spec.params, ...) for name, spec in found.items()},
        **{name: (params, ...) for name, params in denoisers.items()},  # task: denoise's
    )
    from aeops.evaluation.metric import METRIC_NAMES

    task_name: Any = Literal.__getitem__(task_names())
    metric_name: Any = Literal.__getitem__(METRIC_NAMES)
    register = create_model(  # the metric narrowed to the known ones
        "RegisterConfig",
        __base__=RegisterConfig,
        __doc__=RegisterConfig.__doc__,
        metric=(metric_name, ...),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return create_model(  # `register` is declared again: inherited, pydantic would take
            "Config",  # ABC.register for its default
            __base__=Config,
            task=(task_name, ...),
            models=(models, ...),
            register=(register, Field(...)),
        )


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The config model that holds the key at ``loc`` (for listing its allowed keys)."""
    model: Any = config_model()
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (
            isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        ):
            return None
        model = field.annotation
    return model


EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "a string",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "dict_type": "a mapping of keys",
}


def _describe(error: dict[str, Any]) -> str:
    """One pydantic error as ``dotted.key: what is wrong and what is allowed``."""
    loc = tuple(error["loc"])
    key = _dotted(loc)
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "extra_forbidden":
        parent = _model_at(tuple(p for p in loc[:-1] if not _is_branch(p)))
        allowed = list(parent.model_fields) if parent is not None else []
        return f"unknown key '{key}' in params; allowed keys here: {allowed}"
    if kind == "missing":
        return (
            f"missing key '{key}' in params; every key is set in params.yaml (copy it from "
            "the project's params.yaml)"
        )
    if kind == "literal_error":
        return f"{key}: {value!r} is not allowed; choose one of {ctx.get('expected')}"
    if kind in EXPECTED:
        return f"{key}: expected {EXPECTED[kind]}, got {value!r}"
    if kind == "value_error":
        return f"{key + ': ' if key else ''}{str(error['msg']).removeprefix('Value error, ')}"
    bounds = {
        "greater_than": ">",
        "greater_than_equal": ">=",
        "less_than": "<",
        "less_than_equal": "<=",
    }
    if kind in bounds:
        limit = next(iter(ctx.values()))
        return f"{key}: must be {bounds[kind]} {limit}, got {value!r}"
    if kind == "too_short":
        return f"{key}: must not be empty"
    return f"{key}: {error['msg']} (got {value!r})"


BRANCH_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true/false",
    "none": "null",
}


def _is_branch(part: Any) -> bool:
    """pydantic names union branches in ``loc`` (``int``, ``literal['auto']``): not keys."""
    return isinstance(part, str) and (
        part in BRANCH_NAMES or part.startswith(("literal[", "list[", "constrained-", "function-"))
    )


def _dotted(loc: tuple[Any, ...]) -> str:
    """``('data', 'split', 'val_fraction')`` -> ``data.split.val_fraction``; indexes as [i]."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _is_branch(part):
            out += f".{part}" if out else str(part)
    return out


def _message(exc: ValidationError) -> str:
    errors = exc.errors()
    # a union reports one error per branch; the first branch's error speaks for the key
    first = errors[0]
    same_key = [
        e
        for e in errors
        if e["loc"][: len(first["loc"]) - 1] == first["loc"][:-1]
        and e is not first
        and e.get("input") is first.get("input")
    ]
    if same_key and first["type"] not in ("extra_forbidden", "missing"):
        key = _dotted(tuple(first["loc"]))
        options = sorted({_branch(dict(e)) for e in [first, *same_key]})
        return f"{key}: {first.get('input')!r} is not allowed; expected {' or '.join(options)}"
    return _describe(dict(first))


def _branch(error: dict[str, Any]) -> str:
    last = str(error["loc"][-1])
    if last.startswith("literal["):
        return error.get("ctx", {}).get("expected", last)
    if last.startswith("list["):
        return "a list"
    return BRANCH_NAMES.get(last.removeprefix("constrained-"), last)


def parse_config(data: dict[str, Any] | None) -> Config:
    """Build a :class:`Config` from a parsed params mapping, failing on the first bad key."""
    try:
        return config_model().model_validate(data or {})
    except ValidationError as exc:
        raise ConfigError(_message(exc)) from None


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: params file not found; run from the project root")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of params.yaml (``aeops schema`` writes it for editors)."""
    return config_model().model_json_schema()
