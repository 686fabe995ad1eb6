"""The architecture holds: no import cycle among aeops modules (the layers themselves are
import-linter contracts in pyproject.toml, checked by `make lint`), and the shapes the code
promises a newcomer: one module per family, one per baseline, the CLI a thin layer."""

from __future__ import annotations

import grimp

from aeops.models.autoencoders import families
from aeops.models.baselines import baselines
from tests.helpers import ROOT


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_among_aeops_modules():
    graph = grimp.build_graph("aeops")  # every import, those inside functions too
    assert len(graph.modules) > 60  # the walk saw the package, not nothing
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.b", imported="p.c")
    assert cycles(graph) == [["p.a", "p.b"]]


def test_each_family_and_each_baseline_is_one_module_and_the_cli_is_thin():
    src = ROOT / "src" / "aeops"
    for name, spec in families().items():
        assert (src / "models" / "autoencoders" / f"{name}.py").exists(), name
        assert spec.params.__module__ == f"aeops.models.autoencoders.{name}"
    for name, kind in baselines().items():
        assert kind.__module__ == f"aeops.models.baselines.{name}"
    # the CLI parses and delegates: one short function per command adds its flags (no
    # hand-formatted table), so 16 commands and their flags take some 325 lines
    assert len((src / "cli.py").read_text().splitlines()) <= 330
    loose = sorted(p.name for p in src.glob("*.py"))
    assert loose == ["__init__.py", "cli.py", "config.py"]  # the rest is grouped by job


def test_reading_params_and_a_no_op_register_load_neither_torch_nor_mlflow():
    """The everyday loop stays fast: parsing params.yaml (every family's block included), as
    `aeops check` does, and the register stage's module, whose no-op path runs on every
    `dvc repro`, import no torch, MLflow, Lightning or scikit-learn."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from aeops.config import load_config\n"
        "import aeops.stages.register, aeops.stages.runner, aeops.tracking.store\n"
        f"cfg = load_config({str(ROOT / 'params.yaml')!r})\n"
        "assert set(cfg.models.families) <= set(__import__('aeops.models.autoencoders', "
        "fromlist=['families']).families())\n"
        "heavy = ('torch', 'mlflow', 'pytorch_lightning', 'lightning', 'sklearn')\n"
        "print('heavy:', [m for m in heavy if m in sys.modules])\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "heavy: []" in run.stdout


TASK_BRANCH = r"task ==|in CODED_TASKS|code_size is (not )?None"


def task_branches(src) -> list[str]:
    """Lines outside ``tasks/`` that branch on the task's name (or on a code size standing in
    for it), as ``path:line``."""
    import re

    asks = re.compile(TASK_BRANCH)
    return [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        if "tasks" not in path.relative_to(src).parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if asks.search(line)
    ]


def test_no_code_outside_the_task_layer_asks_which_task_it_runs():
    """A use of the models is one module in src/aeops/tasks/ that the stages and the report ask
    (no branch on the task's name anywhere else), and no module outside the denoise task and
    the denoiser model is a denoise_* copy of a stage."""
    src = ROOT / "src" / "aeops"
    assert task_branches(src) == []
    assert sorted(str(p.relative_to(src)) for p in src.rglob("denoise_*.py")) == []
    tasks = {p.stem for p in (src / "tasks").glob("*.py")}
    assert {"detect", "denoise", "compress", "reduce"} <= tasks


def test_the_scan_for_task_branches_finds_one_outside_the_task_layer(tmp_path):
    """The check above is not blind: a branch written the old way is found, where it is."""
    (tmp_path / "stages").mkdir()
    (tmp_path / "tasks").mkdir()
    (tmp_path / "stages" / "train.py").write_text('x = 1\nif cfg.task == "denoise":\n    pass\n')
    (tmp_path / "tasks" / "denoise.py").write_text('if cfg.task == "denoise":\n    pass\n')
    (tmp_path / "stages" / "common.py").write_text("coded = cfg.code_size is not None\n")
    assert task_branches(tmp_path) == ["stages/common.py:1", "stages/train.py:2"]
