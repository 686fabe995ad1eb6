"""Every model by name, and any saved model read back by the kind its file records.

The autoencoder families (found in :mod:`aeops.models.autoencoders`), the classical baselines
(:mod:`aeops.models.baselines`), the ensemble and the denoisers
(:mod:`aeops.models.denoisers`); :func:`load_model` reads what any of them saved, whatever it
is (a single network, a seed bag, an ensemble of any detectors, a baseline, a denoiser), and
:func:`rebuild` a detector from a header and tensors (an ensemble's members). Evaluation,
registration, the pyfunc and the CLI ask here and see only the
:class:`~aeops.models.base.Detector` or :class:`~aeops.models.base.Denoiser` verbs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aeops.core.errors import AeopsError
from aeops.core.files import BASELINE_FILE, ENSEMBLE, ENSEMBLE_FILE, MODEL_FILE
from aeops.models.autoencoders import family_names
from aeops.models.autoencoders.bag import rebuild_family
from aeops.models.autoencoders.settings import SCORE_BATCH_ROWS
from aeops.models.autoencoders.store import read_safetensors
from aeops.models.base import KINDS, Detector, Model
from aeops.models.baselines import baseline_names, baselines
from aeops.models.baselines.base import load_baseline, rebuild_baseline
from aeops.models.denoisers import denoiser_names, is_denoiser_folder, load_denoiser
from aeops.models.ensemble import EnsembleDetector

__all__ = [
    "baseline_names",
    "baselines",
    "denoiser_names",
    "family_names",
    "load_model",
    "model_kind",
    "rebuild",
    "unusable_reason",
    "weights_file",
]

FILES = (MODEL_FILE, ENSEMBLE_FILE, BASELINE_FILE)  # what a folder of one detector holds


def model_kind(name: str) -> str:
    """The kind a model of this name trains as: ``autoencoder`` (a family), ``denoiser``,
    ``baseline`` or ``ensemble``; an unknown name lists the known ones."""
    if name in family_names():
        return "autoencoder"
    if name in denoiser_names():
        return "denoiser"
    if name in baseline_names():
        return "baseline"
    if name == ENSEMBLE:
        return ENSEMBLE
    known = [*family_names(), *denoiser_names(), *baseline_names(), ENSEMBLE]
    raise AeopsError(f"unknown model '{name}'; one of {known}")


def unusable_reason(name: str, meta: Any, window: int = 1) -> str | None:
    """Why model ``name`` cannot use this data (``window``: rows per model input; it is then
    skipped), or None."""
    from aeops.models.autoencoders.settings import unusable_reason as family_reason

    return family_reason(name, meta, window) if model_kind(name) == "autoencoder" else None


def weights_file(folder: str | Path) -> Path:
    """The file of a saved model whose SHA-256 names the run that trained it: a family's
    model file, or a denoiser's weights."""
    from aeops.models.denoisers.unet import WEIGHTS

    folder = Path(folder)
    return folder / WEIGHTS if is_denoiser_folder(folder) else folder / MODEL_FILE


def rebuild(
    header: dict[str, Any], tensors: dict[str, Any], batch_rows: int = SCORE_BATCH_ROWS
) -> Detector:
    """The detector a header and its tensors describe (what a detector's ``state()`` gave)."""
    kind = header.get("kind", "autoencoder")  # a family's header names no kind
    if kind == "baseline":
        return rebuild_baseline(tensors)
    if kind == ENSEMBLE:
        members: dict[str, Detector] = {}
        for about, own in EnsembleDetector.member_parts(header, tensors):
            member = rebuild(about, own, batch_rows)
            members[member.name] = member
        ensemble = EnsembleDetector(members, list(members)[int(header["lead"])])
        ensemble.set_scales(header).threshold_ = header.get("threshold")
        return ensemble
    if kind == "autoencoder":
        return rebuild_family(header, tensors, batch_rows)
    raise AeopsError(f"unknown detector kind '{kind}'; one of {list(KINDS)}")


def load_model(path: str | Path, batch_rows: int = SCORE_BATCH_ROWS) -> Model:
    """The model saved at ``path`` (a file ``save`` returned, or the folder it wrote into),
    with bit-equal outputs; ``batch_rows``: rows per forward pass of a network."""
    path = Path(path)
    if path.is_dir():
        if is_denoiser_folder(path):
            return load_denoiser(path)
        found = [path / name for name in FILES if (path / name).exists()]
        if len(found) != 1:
            raise AeopsError(
                f"{path}: holds no saved model (or several); give the file save() returned"
            )
        path = found[0]
    if is_denoiser_folder(path.parent) and not path.name.endswith(FILES):
        return load_denoiser(path.parent)
    if path.suffix == ".skops":
        return load_baseline(path)
    header, tensors = read_safetensors(path)
    return rebuild(header, tensors, batch_rows)


def load_detector(path: str | Path, batch_rows: int = SCORE_BATCH_ROWS) -> Detector:
    """:func:`load_model` of a detector (a denoiser is refused in a sentence)."""
    model = load_model(path, batch_rows)
    if not isinstance(model, Detector):
        raise AeopsError(f"{path}: a {model.kind}, not an anomaly detector")
    return model
