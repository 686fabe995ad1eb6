"""Run the pipeline's stages in this process, in dvc.yaml's order (fast tests of the library;
the DVC wiring itself is tested with real `dvc repro` in test_pipeline.py)."""

from __future__ import annotations

from aeops.config import Config
from aeops.core.logs import configure as configure_logging
from aeops.stages.evaluate import evaluate
from aeops.stages.ingest import ingest
from aeops.stages.prepare import prepare
from aeops.stages.register import register
from aeops.stages.train import train
from aeops.stages.validate import validate


def run_pipeline(cfg: Config) -> dict:
    """ingest -> validate -> prepare -> train each family -> evaluate (families, baselines,
    report) -> register; returns the register stage's decision. Logging is set up as the stage
    runner does, so the stages' lines reach stdout."""
    configure_logging()
    ingest(cfg)
    validate(cfg)
    prepare(cfg)
    for family in cfg.models.families:
        train(cfg, family)
    evaluate(cfg)
    return register(cfg)
