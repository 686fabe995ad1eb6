"""Every DVC stage lists the code it runs: a change to any module a stage imports (or packs
into a model) makes `dvc repro` run that stage again.

The import graph of each ``pipeline/*.py`` is walked with ``ast`` (every import, also inside
functions), through the project's own modules; each module found must be covered by one of
the stage's ``deps`` (the file, or a folder holding it). The evaluate stage also packs the
whole ``aeops`` package into every logged model, so it must depend on all of it. And every
code dep must be needed: removing any one of them is caught (the second test's
parametrisation lists them all).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT

SRC = ROOT / "src"
PACKED = {  # pyfunc code_paths: every logged model packs the whole package
    "evaluate": [SRC / "aeops"],
    "register": [SRC / "aeops"],
}


def module_path(name: str) -> Path | None:
    """The file of project module ``name`` (``aeops.x.y``), or None for other packages."""
    if name != "aeops" and not name.startswith("aeops."):
        return None
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of import nodes under ``if TYPE_CHECKING:`` (for type checkers; never run)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


@functools.cache
def imported_modules(path: Path) -> frozenset[str]:
    """Modules ``path`` imports anywhere it runs (top level or in functions; not what only a
    type checker reads), packages included."""
    names: set[str] = set()
    tree = ast.parse(path.read_text())
    skipped = type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    expanded = set()
    for name in names:  # importing a.b.c runs a/__init__ and a/b/__init__ too
        parts = name.split(".")
        expanded.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(expanded)


def code_closure(script: Path) -> set[Path]:
    """The script and every project module it reaches."""
    seen, todo = {script}, [script]
    while todo:
        for name in imported_modules(todo.pop()):
            path = module_path(name)
            if path is not None and path not in seen:
                seen.add(path)
                todo.append(path)
    return seen


@functools.cache
def stages() -> dict[str, dict]:
    """dvc.yaml's stages, a ``foreach`` stage once (its code is the same for every item)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in spec.items()}


def code_deps(stage: dict) -> list[str]:
    return [d for d in stage["deps"] if d.startswith(("src/", "pipeline/"))]


def script_of(stage: dict) -> Path:
    return ROOT / stage["cmd"].split()[2]  # sh pipeline/python pipeline/<stage>.py


def uncovered(name: str, deps: list[str]) -> list[str]:
    """Modules the stage runs (or packs) that none of ``deps`` covers."""
    stage = stages()[name]
    needed = code_closure(script_of(stage))
    for folder in PACKED.get(name, []):
        needed |= set(folder.rglob("*.py"))
    roots = [(ROOT / d).resolve() for d in deps]
    return sorted(
        str(p.relative_to(ROOT)) for p in needed if not any(p == r or r in p.parents for r in roots)
    )


@pytest.mark.parametrize("name", list(stages()))
def test_each_stage_lists_every_module_it_runs(name):
    assert uncovered(name, code_deps(stages()[name])) == [], (
        f"add these to the deps of stage '{name}' in dvc.yaml"
    )


CASES = [(name, dep) for name, stage in stages().items() for dep in code_deps(stage)]


@pytest.mark.parametrize(("name", "dep"), CASES, ids=[f"{n}:{d}" for n, d in CASES])
def test_removing_any_code_dep_is_caught(name, dep):
    deps = [d for d in code_deps(stages()[name]) if d != dep]
    assert uncovered(name, deps), f"'{dep}' covers nothing stage '{name}' needs: remove it"


def test_the_walk_sees_imports_inside_functions(tmp_path):
    script = tmp_path / "stage.py"
    script.write_text("def main():\n    from aeops.core.files import MODEL_FILE\n")
    assert module_path("aeops.core.files") in code_closure(script)
