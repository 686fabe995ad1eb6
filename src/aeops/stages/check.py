"""``aeops check``, what ``make train`` runs before DVC: the project's checks of every stage
(:func:`~aeops.stages.runner.check_project`) and an MLflow store that answers."""

from __future__ import annotations

from aeops.stages.runner import check_project
from aeops.tracking.store import check_store, tracking_uri


def check_command(params: str) -> str:
    """``aeops check`` (``make train`` runs it first): params.yaml and the output paths, and
    the MLflow store answers, before DVC runs anything; the line to print."""
    uri = tracking_uri(check_project(params))
    check_store(uri, writing=True)
    return (
        f"{params}: ok (parsed; every path inside the project; no output over a file "
        f"aeops did not make; the MLflow store {uri} answers)"
    )
