#!/usr/bin/env bash
# GPU check, run on the device machine (see README "GPU check"). Prepare first, here:
#     bash scripts/gpu_wheels.sh        # -> .gpu-wheels/ (what the device lacks)
# then through the device tool, carrying that folder:
#     run(command="OUT=$OUT bash scripts/gpu_check.sh", carry=[".gpu-wheels"], timeout_s=540)
# It installs the carried wheels with --no-deps into a temporary folder, runs the default
# `dvc repro` on the GPU, a 60,000-row MNIST-sized run and engine-vs-loop (warmed,
# alternating, eager and CUDA graphs), and writes $OUT/gpu_check.json (about 5 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ "${GPU_CHECK_ARGS:-}" != *--accelerator* ]]; then
  "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible to PyTorch'"
fi
SITE=$(mktemp -d)/site
"$PY" -m pip install -q --no-deps --no-index --target "$SITE" .gpu-wheels/*.whl
mkdir -p "$SITE/bin"
command -v python >/dev/null || ln -s "$(command -v "$PY")" "$SITE/bin/python"  # dvc.yaml's
# the carried packages and aeops from source; their console scripts (dvc, mlflow) first
export PYTHONPATH="$SITE:$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$(dirname "$(command -v "$PY")"):$PATH"
export DVC_NO_ANALYTICS=1 MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=1 GX_ANALYTICS_ENABLED=false
git config --global user.email >/dev/null 2>&1 || git config --global user.email gpu@check
git config --global user.name >/dev/null 2>&1 || git config --global user.name gpu-check
timeout 480 "$PY" scripts/gpu_check.py --out "${OUT:-.}" ${GPU_CHECK_ARGS:-}
