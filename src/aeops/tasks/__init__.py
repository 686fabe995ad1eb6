"""The uses the models are for, one module per task (detect, denoise, compress, reduce), each
exporting ``TASK`` (a :class:`~aeops.tasks.base.Task`): what trains, what it selects on, what
it is measured beside, its headline, its report section and its registered name. The stages,
the report and the config ask the task named by ``task:`` in params.yaml
(:func:`task_named`); nothing outside this package tests a task's name.

Nothing heavy is imported here: a task module imports its measures when they run.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aeops.tasks.base import Task

SHARED = ("base", "coded", "detectors")  # not tasks: what tasks share


@cache
def tasks() -> dict[str, Task]:
    """Every task module's ``TASK``, by name, sorted by module name."""
    found: dict[str, Task] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in SHARED or info.name.startswith("_"):
            continue
        task = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TASK", None)
        if task is not None:
            found[task.name] = task
    return found


def task_names() -> tuple[str, ...]:
    """What ``task:`` may say."""
    return tuple(tasks())


def task_named(name: str) -> Task:
    """The task called ``name``; an unknown name lists the known ones."""
    found = tasks()
    if name not in found:
        raise ValueError(f"task: {name!r} is not a task aeops knows; choose one of {list(found)}")
    return found[name]
