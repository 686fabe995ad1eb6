# aeops: every target runs the project's own .venv tools; nothing needs activating by hand.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 5000

.DEFAULT_GOAL := help
.PHONY: help setup train test test-all lint ui bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

setup: ## create .venv and install aeops with its dev tools
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'

train: ## run the whole pipeline (dvc repro): ingest -> ... -> register
	$(BIN)/dvc repro

test: ## run the test suite (slow tests excluded; see test-all)
	$(BIN)/pytest -m "not slow"

test-all: ## run every test, the slow ones too
	$(BIN)/pytest

lint: ## ruff
	$(BIN)/ruff check src pipeline tests benchmarks scripts

ui: ## open the MLflow UI on http://$(HOST):$(PORT) over the project's SQLite store
	$(BIN)/mlflow server --backend-store-uri sqlite:///mlflow.db --host $(HOST) --port $(PORT)

bench: ## speed benchmarks -> reports/bench.json
	$(PY) benchmarks/run.py --output reports/bench.json

clean: ## remove generated data, models, reports and the MLflow store (keeps .venv)
	rm -rf data/interim data/processed models checkpoints reports mlruns mlartifacts mlflow.db
