"""The names of the files stages write inside the folders ``params.yaml`` names (``paths:``).

``dvc.yaml`` tracks those folders, so these names are written here only. Importing this
module costs nothing, so a light stage can know where a heavy stage wrote without importing it.
"""

MODEL_FILE = "model.safetensors"  # models/<family>/: weights and constructor arguments
RUN_FILE = "run.json"  # models/<family>/: the training run (or why the family was skipped)
METRICS_FILE = "metrics.json"  # reports/eval/<family>/, reports/baselines/<name>/
SCORES_FILE = "scores.parquet"  # per-row val/test scores beside each metrics.json
DETECTOR_FILE = "detector.json"  # input schema, threshold: what scoring needs besides weights
ENSEMBLE = "ensemble"  # reports/eval/ensemble/: the families as one detector (its name, its kind)
ENSEMBLE_FILE = "ensemble.safetensors"  # reports/eval/ensemble/: every member's weights
BASELINE_FILE = "baseline.skops"  # a fitted baseline (skops: data, not a pickle)
PLOTS_DIR = "plots"  # PNG figures beside each metrics.json
VALIDATION_SUMMARY = "summary.json"  # reports/validation/
