#!/usr/bin/env bash
# GPU check: run on a machine with an NVIDIA GPU (needs only PyTorch, Lightning and NumPy).
# Trains `dense` and `conv` on 60,000 synthetic 28x28 images for 3 epochs with bf16, and prints
# samples/s for aeops' engine and for a minimal hand-written PyTorch loop, side by side.
# Writes gpu_check.json to $OUT (or the current folder). Finishes well inside 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible to PyTorch"
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PY
timeout 280 "$PY" benchmarks/engine_vs_loop.py --rows 60000 --epochs 3 --batch-size 256 \
  --accelerator gpu --precision bf16-mixed --families dense,conv \
  --output "${OUT:-.}/gpu_check.json"
