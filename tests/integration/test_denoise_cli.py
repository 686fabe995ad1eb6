"""`aeops denoise`: a folder of photos in (grey, RGB JPEG, RGBA, 16-bit, nested), each written
back with its name, size, mode and format, denoised as the Python model does; every refusal
is one sentence, exit 1, and leaves no output folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aeops.models.denoisers.unet import UNetDenoiser, build_unet

pytestmark = pytest.mark.integration


def aeops(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "aeops.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[UNetDenoiser, Path]:
    denoiser = UNetDenoiser(width=8, depth=2, blocks=1)
    torch.manual_seed(0)
    denoiser.net = build_unet(denoiser.params)
    return denoiser, denoiser.save(tmp_path_factory.mktemp("denoiser"))


def photos(folder: Path) -> dict[str, tuple[str, str, tuple[int, int]]]:
    """Write one image of each kind; name -> (mode, format, size)."""
    rng = np.random.default_rng(0)
    (folder / "sub").mkdir(parents=True)
    made = {
        "grey.png": Image.fromarray(rng.integers(0, 256, (37, 53), dtype=np.uint8)),
        "photo.jpg": Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)),
        "alpha.png": Image.fromarray(rng.integers(0, 256, (20, 24, 4), dtype=np.uint8)),
        "deep.png": Image.fromarray(rng.integers(0, 65536, (33, 21), dtype=np.uint16)),
        "sub/scan.bmp": Image.fromarray(rng.integers(0, 256, (16, 64), dtype=np.uint8)),
    }
    out = {}
    for name, image in made.items():
        image.save(folder / name)
        with Image.open(folder / name) as back:
            out[name] = (back.mode, back.format, back.size)
    return out


def test_a_folder_comes_back_denoised_same_names_sizes_modes_formats(model, tmp_path):
    denoiser, folder = model
    kinds = photos(tmp_path / "in")
    run = aeops("denoise", "--model", folder, "--input", "in", "--output", "out", "--quiet",
                cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == "denoised 5 image(s) into out (sigma 25)"
    written = {str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
               if p.is_file() and p.name != ".aeops"}  # fmt: skip
    assert written == set(kinds)
    for name, (mode, fmt, size) in kinds.items():
        with Image.open(tmp_path / "out" / name) as back:
            assert (back.mode, back.format, back.size) == (mode, fmt, size), name
    grey = np.asarray(Image.open(tmp_path / "in" / "grey.png"), dtype=np.float32) / 255
    expected = np.round(denoiser.denoise(grey) * 255).astype(np.uint8)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "grey.png")), expected)
    alpha_in = np.asarray(Image.open(tmp_path / "in" / "alpha.png"))[..., 3]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "alpha.png"))[..., 3], alpha_in)


def test_refusals_are_one_sentence_and_leave_no_output(model, tmp_path, monkeypatch, capsys):
    """In this process (the exit code is main's return), so each case costs no start-up."""
    from aeops.cli import main

    monkeypatch.chdir(tmp_path)
    _, folder = model
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    Image.new("L", (20, 20)).save(tmp_path / "bad" / "fine.png")
    (tmp_path / "bad" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    cases = {
        ("--model", folder, "--input", "nowhere", "--output", "out"):
            "nowhere: no such file or folder",
        ("--model", folder, "--input", "empty", "--output", "out"):
            "empty: holds no image files",
        ("--model", folder, "--input", "bad", "--output", "out"):
            "broken.png: cannot be read as an image",
        ("--model", tmp_path / "empty", "--input", "bad/fine.png", "--output", "out"):
            "no denoiser here",
        ("--model", folder, "--input", "bad/fine.png", "--output", "mine"):
            "mine: exists and was not made by aeops",
    }  # fmt: skip
    for args, words in cases.items():
        code = main(["denoise", *map(str, args), "--quiet"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert code == 1 and len(lines) == 1, (args, lines)
        assert lines[0].startswith("aeops denoise: ") and words in lines[0], lines
        assert not (tmp_path / "out").exists()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
