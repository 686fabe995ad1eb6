#!/usr/bin/env bash
# Prepare, on the developer's machine, the wheels the GPU machine lacks (it has torch,
# Lightning, NumPy, pandas, pyarrow and scikit-learn, but not MLflow, DVC, Great Expectations
# and what they need) into .gpu-wheels/ (git-ignored), for the device tool's `carry`:
#
#     bash scripts/gpu_wheels.sh             # Python 3.12 wheels, the device's Python
#     PYVER=3.11 bash scripts/gpu_wheels.sh  # another Python (to rehearse on this machine)
#     PLOTTING=1 bash scripts/gpu_wheels.sh  # also matplotlib and Pillow (+24 MB: over the
#                                            # carry limit with the rest; see gpu_check.py)
#
# Versions are pinned to what this machine's .venv runs. Left out: what the device already
# has; the full `mlflow` wheel (its extra ~12 MB is the web UI; mlflow-skinny carries the code,
# and the SQLite store's SQLAlchemy and Alembic are carried); and packages a `dvc repro` of
# this project never imports (measured with PYTHONPROFILEIMPORTTIME): DVC's queue (celery),
# remotes (asyncssh, aiohttp), MLflow's server (flask, gunicorn, uvicorn) and Hydra.
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${PYVER:-3.12}
OUT=${WHEELS:-.gpu-wheels}
PIP=${PIP:-.venv/bin/pip}
ABI="cp${PYVER/./}"
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf "$OUT" && mkdir -p "$OUT"
# sdist-only packages, built here as pure-Python wheels
"$PIP" wheel --no-deps -q -w "$OUT" "antlr4-python3-runtime==4.9.3"
"$PIP" download -q --only-binary=:all: --find-links "$OUT" -d "$OUT" \
  --python-version "$PYVER" --implementation cp --abi "$ABI" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform linux_x86_64 --platform any \
  "mlflow==$(version mlflow)" "dvc==$(version dvc)" \
  "great-expectations==$(version great-expectations)" "skops==$(version skops)" \
  "pydantic==$(version pydantic)" "pillow==$(version pillow)" \
  "safetensors==$(version safetensors)" \
  "matplotlib==$(version matplotlib)" 2>&1 | grep -v "is ignored" || true
DEVICE_HAS='numpy|pandas|pyarrow|scipy|scikit_learn|joblib|threadpoolctl|torch|torchvision|nvidia_.*|triton|sympy|mpmath|networkx|jinja2|markupsafe|filelock|fsspec|typing_extensions|setuptools|packaging|pyyaml|tqdm|python_dateutil|tzdata|pytz|six|pytorch_lightning|lightning_utilities|torchmetrics'
PLOTTING_STACK='matplotlib|pillow|fonttools|kiwisolver|contourpy|cycler'
if [[ "${PLOTTING:-0}" == "1" ]]; then PLOTTING_STACK='none'; fi
NOT_IMPORTED='mlflow|celery|kombu|billiard|vine|amqp|click_didyoumean|click_plugins|click_repl|prompt_toolkit|asyncssh|aiohttp|aiohttp_retry|aiohappyeyeballs|aiosignal|frozenlist|multidict|yarl|propcache|flask|flask_cors|werkzeug|itsdangerous|blinker|gunicorn|uvicorn|h11|docker|graphene|graphql_core|graphql_relay|hydra_core|omegaconf|huey|dvc_task|dvc_studio_client|gto|iterative_telemetry|pydantic_settings|python_dotenv|semver|shortuuid|tomlkit|appdirs|distro|dictdiffer|grandalf|entrypoints|prettytable|pyasn1|pyasn1_modules|pycparser'
for wheel in "$OUT"/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z.' 'a-z_')
  if [[ "$name" =~ ^($DEVICE_HAS|$NOT_IMPORTED|$PLOTTING_STACK)$ ]]; then rm "$wheel"; fi
done
files=$(ls "$OUT"/*.whl | wc -l)
bytes=$(du -cb "$OUT"/*.whl | tail -1 | cut -f1)
echo "$OUT: $files wheels, $((bytes / 1048576)) MiB (the device carries 64 MiB in all)"
if (( bytes > 60 * 1048576 )); then echo "too large for carry" >&2; exit 1; fi
