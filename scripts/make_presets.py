"""Write examples/<preset>/params.yaml from the project's params.yaml: each preset is the
project's file (every key, every comment) with the lines that make the preset changed, so a
preset never drifts from the keys params.yaml holds; and src/aeops/core/defaults.yaml, the
defaults aeops' constructors start from (the same file). Run after a change to params.yaml:

    .venv/bin/python scripts/make_presets.py

tests/unit/test_presets.py checks that the committed presets are what this script writes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION = "../shared/datasets/fashion-mnist"
GENES = "../shared/datasets/genes/baron_pancreas_scRNA_2000genes.csv"
TEN = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"

FASHION_CODES = {  # what the compress and reduce presets share: the data, the budget, the models
    "data.source": "mnist",
    "data.path": FASHION,
    "data.normal_labels": TEN,
    "train.loss": "mse",  # the squared error the code is judged by
    "train.max_epochs": "24",
    "train.patience": "10",
    "train.schedule": "cosine",  # a fixed budget of epochs, ended at a low rate
    "train.threads": "2",
    # oneDNN's convolutions: the coder trains 2.9x faster on a CPU (0.19 s a step of 128 on 2
    # cores, against 0.56 with PyTorch's own kernels); the same weights on the same machine,
    # not bit for bit across instruction sets (docs/experiments.md, Reproducibility)
    "train.deterministic": "false",
    "models.families": "[coder, dense]",
    "models.coder.width": "16",
    "code.size": "30",
}

# preset -> (its first comment line, {dotted key: new value as written in YAML})
PRESETS: dict[str, tuple[str, dict[str, str]]] = {
    "detect": (
        "task: detect on the embedded digits (9 the anomaly): the project's own params.yaml",
        {},
    ),
    "compress": (
        "task: compress Fashion-MNIST (70,000 images) to 30 int8 numbers an image",
        {
            "task": "compress",
            **FASHION_CODES,
            "code.precision": "int8",
            "evaluate.bootstrap": "0",
            "register.metric": "val_code_int8_psnr_db",
        },
    ),
    "reduce": (
        "task: reduce Fashion-MNIST (70,000 images) to 30 numbers an image",
        {
            "task": "reduce",
            **FASHION_CODES,
            "code.precision": "float32",
            "evaluate.bootstrap": "0",
            "register.metric": "val_trustworthiness",
        },
    ),
    "reduce-genes": (
        "task: reduce a single-cell gene matrix (2,812 pancreas cells x 2,000 genes, raw counts) "
        "to 2 numbers a cell",
        {
            "task": "reduce",
            "data.source": "table",
            "data.path": GENES,
            "data.normal_labels": "[alpha, beta, ductal, delta, gamma, endothelial]",
            "data.exclude": "[cell]",
            "data.scaler": "log_counts",
            "models.families": "[coder, dense]",
            "code.size": "2",
            "code.precision": "float32",
            "evaluate.bootstrap": "0",
            "register.metric": "val_trustworthiness",
        },
    ),
    "denoise": (
        "task: denoise on natural photos (Train400: 400 grey 180 x 180 photos; your folder here)",
        {
            "task": "denoise",
            "data.source": "image_folder",
            "data.path": "../shared/datasets/denoise/train400",
            "data.label_column": "null",
            "data.channels": "1",
            "data.min_rows": "40",
            "data.split.val_fraction": "0.1",
            "data.split.test_fraction": "0.1",
            "models.families": "[unet]",
            "register.metric": "val_psnr_db",
        },
    ),
    "faults": (
        "task: faults in sensor streams: SKAB's valve experiments (16 files, 8 sensors at 1 Hz, "
        "faults induced on a water-circulation testbed); your folder of series here",
        {
            "task": "faults",
            "data.source": "timeseries",
            "data.path": "../shared/datasets/skab/valve1",
            "data.label_column": "anomaly",
            "data.normal_labels": "[0]",
            "data.exclude": "[changepoint]",
            "data.time_column": "datetime",
            "data.max_gap": "120",
            "data.scaler": "series",
            "data.warmup_rows": "400",
            "data.window.size": "30",
            "data.split.train_rows": "400",
            "data.split.val_fraction": "0.5",
            "data.split.test_fraction": "0.5",
            "models.families": "[dense, vae, tcn, gru]",
            "models.seeds": "1",
            "train.max_epochs": "40",
            "train.patience": "10",
            "evaluate.threshold.method": "train",
            "evaluate.threshold.percentile": "99.9",
            "evaluate.threshold.margin": "1.3333",
            "evaluate.bootstrap": "0",
            "register.metric": "val_vus_pr",
        },
    ),
    "seed-keras": (
        "the source page's own model: dense 784-32-784 (ReLU code, sigmoid output), binary "
        "cross-entropy, Adam, 50 epochs, batch 256, on an MNIST-format folder",
        {
            "task": "compress",
            "data.source": "mnist",
            "data.path": FASHION,
            "data.normal_labels": TEN,
            "train.loss": "bce",
            "train.max_epochs": "50",
            "train.min_epochs": "50",
            "train.patience": "50",
            "train.batch_size": "256",
            "models.families": "[dense]",
            "models.dense.hidden": "[]",
            "models.dense.code_activation": "relu",
            "code.size": "32",
            "code.precision": "float32",
            "evaluate.bootstrap": "0",
            "register.candidates": "autoencoders",
            "register.metric": "val_code_psnr_db",
        },
    ),
}

KEY = re.compile(
    r"^(?P<indent> *)(?P<key>[a-z_0-9]+):(?P<sep> *)(?P<value>[^#]*?)(?P<pad> *)(?P<comment>#.*)?$"
)


def render(text: str, changes: dict[str, str]) -> str:
    """``text`` (params.yaml) with each dotted key's value replaced, comments kept."""
    left = dict(changes)
    path: list[tuple[int, str]] = []
    out = []
    for line in text.splitlines():
        match = KEY.match(line)
        if match is None:
            out.append(line)
            continue
        indent = len(match["indent"])
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, match["key"]))
        dotted = ".".join(name for _, name in path)
        if dotted in left:
            value = left.pop(dotted)
            old = match["value"]
            width = len(old) + len(match["pad"] or "")
            comment = match["comment"] or ""
            pad = " " * max(width - len(value), 1) if comment else ""
            line = f"{match['indent']}{match['key']}:{match['sep'] or ' '}{value}{pad}{comment}"
        out.append(line)
    if left:
        raise SystemExit(f"keys not in params.yaml: {sorted(left)}")
    return "\n".join(out) + "\n"


def presets() -> dict[str, str]:
    text = (ROOT / "params.yaml").read_text()
    body = text.split("\n", 1)[1]  # the schema line is written per preset (its path differs)
    written = {}
    for name, (about, changes) in PRESETS.items():
        head = (
            "# yaml-language-server: $schema=../../params.schema.json\n"
            f"# {about}.\n"
            "# Copy over params.yaml, then `make train` (examples/README.md); written by "
            "scripts/make_presets.py.\n"
        )
        written[name] = head + render(body, changes)
    return written


DEFAULTS = ROOT / "src" / "aeops" / "core" / "defaults.yaml"


def defaults() -> str:
    """What a constructor in a notebook starts from (``aeops.core.defaults``): the project's
    params.yaml, packaged with aeops (values live in one file; this copy is written here)."""
    body = (ROOT / "params.yaml").read_text().split("\n", 1)[1]
    head = (
        "# The defaults of aeops' constructors (DenseAE(), UNetDenoiser(), ...): the project's\n"
        "# params.yaml, copied by scripts/make_presets.py; edit params.yaml, not this file.\n"
    )
    return head + body


def main() -> int:
    for name, text in presets().items():
        path = ROOT / "examples" / name / "params.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    DEFAULTS.write_text(defaults())
    print(f"wrote {DEFAULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
