#!/usr/bin/env bash
# Screenshots of the report, the MLflow runs table and the model page after `make train`,
# from a real headless browser (no network beyond the npm registry, once): shots/*.png.
# Fails (exit 1) when the champion is not marked, the Dataset column is empty or the
# registered name is missing. Usage: scripts/ui_screenshots.sh [out dir]   (default shots/)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$(mkdir -p "${1:-$ROOT/shots}" && cd "${1:-$ROOT/shots}" && pwd)"
BROWSER_DIR="${AEOPS_BROWSER_DIR:-$ROOT/.browser}"
PORT="${PORT:-5079}"
cd "$ROOT"
if [ ! -d "$BROWSER_DIR/node_modules/puppeteer-core" ]; then
  mkdir -p "$BROWSER_DIR"
  (cd "$BROWSER_DIR" && npm install --no-audit --no-fund --silent \
    @sparticuz/chromium@153.0.0 puppeteer-core@25.16.0)
fi
read -r NAME EXPERIMENT METRIC REPORT < <(.venv/bin/python - <<'PY'
import json, mlflow
from aeops.config import load_config
from aeops.tracking.store import tracking_uri
cfg = load_config("params.yaml")
decision = json.load(open(cfg.paths.registry_report))
client = mlflow.MlflowClient(tracking_uri(cfg))
print(decision["model_name"], client.get_experiment_by_name(cfg.mlflow.experiment).experiment_id,
      decision["metric"], cfg.paths.report)
PY
)
.venv/bin/aeops ui --port "$PORT" > "$OUT/ui.log" 2>&1 &
UI_PID=$!
trap 'kill $UI_PID 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -sf "http://127.0.0.1:$PORT/health" > /dev/null && break; sleep 1; done
cp scripts/ui_shots.mjs "$BROWSER_DIR/ui_shots.mjs"
node "$BROWSER_DIR/ui_shots.mjs" "http://127.0.0.1:$PORT" "$EXPERIMENT" "$NAME" \
  "$(realpath "$REPORT")" "$OUT" "$METRIC"
