"""``aeops denoise``: photos in, denoised photos out, each the size, mode and format it came in.

The input is one image file or a folder of them (any depth; hidden files left out). Grey
images are denoised as they are; a colour image one channel at a time (an alpha channel is
kept as it was); 16-bit grey stays 16-bit. PNG, TIFF and BMP are written losslessly, JPEG at
quality 95. The output folder is written whole or not at all (a temporary folder beside it,
renamed into place), and a folder that aeops did not make is never replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aeops.core.errors import AeopsError, ScoringInputError
from aeops.core.io import atomic_dir
from aeops.data.images import image_files, open_image

MODES = {"L": 255.0, "LA": 255.0, "RGB": 255.0, "RGBA": 255.0, "I;16": 65535.0}


@dataclass(frozen=True)
class DenoiseJob:
    model: str | None  # a denoiser folder, a models:/ or runs:/ URI; None: this project's champion
    input: Path  # an image file or a folder of them
    output: Path  # the folder to write
    progress: bool = True


def inputs(job: DenoiseJob) -> tuple[Path, list[Path]]:
    """(the folder names are kept relative to, the image files)."""
    from aeops.data.images import IMAGE_SUFFIXES

    if not job.input.exists():
        raise ScoringInputError(f"{job.input}: no such file or folder; give an image or a folder")
    if job.input.is_file():
        if job.input.suffix.lower() not in IMAGE_SUFFIXES:
            raise ScoringInputError(
                f"{job.input}: not an image file; give one of {', '.join(IMAGE_SUFFIXES)}"
            )
        return job.input.parent, [job.input]
    files = image_files(job.input)
    if not files:
        raise ScoringInputError(
            f"{job.input}: holds no image files ({', '.join(IMAGE_SUFFIXES)}); give a folder of "
            "images or one image"
        )
    return job.input, files


def read(path: Path):
    """(the decoded image, its file format), refused in a sentence when it cannot be read or
    has a mode aeops does not denoise."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            fmt = opened.format
        image = open_image(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ScoringInputError(
            f"{path}: cannot be read as an image ({type(exc).__name__}); replace or remove it"
        ) from exc
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode not in MODES:
        raise ScoringInputError(
            f"{path}: image mode {image.mode} is not one aeops denoises (grey, grey+alpha, RGB, "
            "RGBA, 16-bit grey); convert it first"
        )
    return image, fmt


def denoised(model, image):
    """``image`` (PIL) denoised by ``model``, as a PIL image of the same size and mode."""
    from PIL import Image

    peak = MODES[image.mode]
    pixels = np.asarray(image, dtype=np.float32) / peak
    colour = pixels[..., :3] if image.mode in ("RGB", "RGBA") else pixels
    grey = pixels[..., 0] if image.mode == "LA" else colour
    out = model.denoise(grey)
    if image.mode in ("LA", "RGBA"):
        out = np.concatenate([out if out.ndim == 3 else out[..., None], pixels[..., -1:]], -1)
    values = np.round(out * peak).astype(np.uint16 if image.mode == "I;16" else np.uint8)
    return Image.fromarray(values)  # uint8 (h, w[, 2|3|4]) or uint16 (h, w): the same mode


def load_denoiser(model: str | None) -> Any:
    """The denoiser of a folder, a ``models:/`` or ``runs:/`` URI, or (None) this project's
    registered champion (``task: denoise``)."""
    import tempfile

    from aeops.models.denoisers import SPEC, is_denoiser_folder
    from aeops.models.denoisers import load_denoiser as load_model

    if model is None:
        from aeops.tracking.registry import default_model

        model = default_model()
    if "://" not in model and ":/" not in model:
        folder = Path(model)
        if not is_denoiser_folder(folder):
            raise AeopsError(
                f"{folder}: no denoiser here (no {SPEC}); give the folder a denoiser was saved "
                "to, or a models:/<name>@<alias> URI"
            )
        return load_model(folder)
    from aeops.serving.pyfunc import downloaded

    with tempfile.TemporaryDirectory() as tmp:
        return load_model(downloaded(model, Path(tmp)))


def run_denoise(job: DenoiseJob) -> list[str]:
    """Denoise every image of ``job`` into ``job.output``; the lines to print."""
    from tqdm.auto import tqdm

    root, files = inputs(job)
    if job.output.resolve() == root.resolve():
        raise AeopsError(f"{job.output}: is the input folder; write the results to another one")
    model = load_denoiser(job.model)
    with atomic_dir(job.output) as tmp:
        for path in tqdm(files, desc="denoise", unit="img", disable=not job.progress):
            image, fmt = read(path)
            target = tmp / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            options = {"quality": 95} if fmt == "JPEG" else {}
            denoised(model, image).save(target, format=fmt, **options)
    return [f"denoised {len(files)} image(s) into {job.output} ({model.noise.describe()})"]


def denoise_files(model: str | None, source: Path, output: Path, progress: bool) -> list[str]:
    """``aeops denoise``: :func:`run_denoise` of one job."""
    return run_denoise(DenoiseJob(model, source, output, progress))
