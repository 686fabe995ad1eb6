"""Image files (PNG, JPEG, BMP, TIFF) to flat pixel rows in [0, 1], shaped [channels, h, w].

Used by the ``image_folder`` source at ingest and by ``aeops score`` on a folder, so a model
sees images prepared exactly as in training (same size, channels and scaling).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N")  # 16-bit (or wider) grayscale


@dataclass
class ImageScan:
    """What a folder holds: image files (with a label each, or none) and what failed."""

    files: list[Path]
    labels: list[str] | None
    sizes: dict[Path, tuple[int, int]] = field(default_factory=dict)  # (height, width)
    colour: dict[Path, bool] = field(default_factory=dict)
    bad: dict[Path, str] = field(default_factory=dict)


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root`` (any depth, hidden files and folders left out)."""
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def open_image(path: Path):
    """The decoded image; raises OSError/ValueError for a corrupt or unreadable file."""
    from PIL import Image

    with Image.open(path) as img:
        img.load()  # decode now: a truncated or corrupt file fails here, not later
        return img.copy()


def scan(files: Iterable[Path], labels: list[str] | None) -> ImageScan:
    """Decode every file once to learn sizes and colour; failures are kept with their reason."""
    from tqdm.auto import tqdm

    files = list(files)
    out = ImageScan(files, labels)
    for path in tqdm(
        files, desc="ingest images", unit="img", mininterval=1.0, disable=len(files) < 500
    ):
        try:
            img = open_image(path)
        except (OSError, ValueError, SyntaxError) as exc:  # PIL raises all three
            reason = str(exc).replace(f"'{path}'", "").replace(str(path), "").strip()
            out.bad[path] = reason.splitlines()[0][:160] if reason else type(exc).__name__
            continue
        out.sizes[path] = (img.height, img.width)
        out.colour[path] = img.mode not in GRAY_MODES
    return out


def to_pixels(img, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image as a flat float64 row of ``channels*h*w`` values in [0, 1] (C, H, W order)."""
    from PIL import Image

    height, width = size
    if img.mode in WIDE_MODES or img.mode == "F":
        scale = 65535.0 if img.mode in WIDE_MODES else 1.0
        gray = img.convert("F").resize((width, height), Image.Resampling.BILINEAR)
        pixels = np.clip(np.asarray(gray, dtype=np.float64) / scale, 0.0, 1.0)[None]
        if channels == 3:
            pixels = np.repeat(pixels, 3, axis=0)
        return pixels.reshape(-1)
    img = img.convert("L" if channels == 1 else "RGB")
    if (img.height, img.width) != (height, width):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(img, dtype=np.float64) / 255.0
    pixels = pixels[None] if channels == 1 else np.moveaxis(pixels, -1, 0)
    return pixels.reshape(-1)


def load_pixels(files: list[Path], size: tuple[int, int], channels: int) -> np.ndarray:
    """Pixel rows for ``files`` (already known to decode)."""
    from tqdm.auto import tqdm

    rows = np.empty((len(files), channels * size[0] * size[1]), dtype=np.float64)
    for i, path in enumerate(
        tqdm(files, desc="resize images", unit="img", mininterval=1.0, disable=len(files) < 500)
    ):
        rows[i] = to_pixels(open_image(path), size, channels)
    return rows


def grey_planes(rows: np.ndarray, shape: Iterable[int]) -> list[np.ndarray]:
    """Pixel rows of images shaped ``[h, w]`` or ``[c, h, w]`` as grey (h, w) float32 images;
    each channel of a colour image is an image of its own."""
    dims = tuple(int(v) for v in shape)
    height, width = dims[-2:]
    planes = np.asarray(rows).astype(np.float32).reshape(-1, height, width)
    return list(planes)
