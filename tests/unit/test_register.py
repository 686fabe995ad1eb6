"""The register rule without MLflow: ``decide`` on plain data (no champion, better, not better
by the margin, another schema, an unscorable champion, a DVC experiment, a version decided
before or left by a crash), the tag, reason and report builders, and the quick ``in_sync``."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from aeops.core.errors import RegistryError
from aeops.data.schema import input_schema, schema_hash
from aeops.stages.register import in_sync
from aeops.tracking.names import CHALLENGER, CHAMPION, DETECTOR_KEY_TAG
from aeops.tracking.promotion import (
    Candidate,
    Champion,
    Decision,
    Registered,
    beats,
    decide,
    describe,
    to_compare,
)
from aeops.tracking.registration import registration, version_tags
from aeops.tracking.registry import RegisteredSchema
from tests.helpers import make_config

SCHEMA = input_schema(["a", "b", "c"], [], None, ["0", "1"])
OTHER = input_schema(["x", "y"], ["y"], None, [])
EVALUATION = {
    "val_auroc": 0.9,
    "test_auroc": 0.85,
    "threshold": 1.5,
    "threshold_method": "f1",
    "skipped": False,
    "family": "dense",
}


@pytest.fixture(scope="module")
def cfg():
    return make_config(register={"margin": 0.01, "candidates": "all"})


def candidate(**override) -> Candidate:
    fields = dict(
        name="aeops-tabular-1234abcd",
        key="0123456789abcdef",
        family="dense",
        kind="autoencoder",
        metric="val_auroc",
        selection_basis="val_auroc",
        score=0.9,
        schema=SCHEMA,
        evaluation=EVALUATION,
        data_hash="d" * 8,
        model_uri="models:/m-1",
        run_id="run-1",
        model_id="m-1",
    )
    return Candidate(**{**fields, **override})


def champion(**override) -> Champion:
    override = {k: RegisteredSchema.of(v) if k == "schema" else v for k, v in override.items()}
    return Champion(
        **{"schema": RegisteredSchema.of(SCHEMA), "version": "3", "score": 0.8, **override}
    )


def test_with_no_registered_model_the_candidate_becomes_champion(cfg):
    decision = decide(candidate(), None, cfg.register)
    assert decision.alias == CHAMPION and decision.promote and decision.blocked is None
    assert not decision.recorded
    assert decision.reason.startswith(
        "dense (autoencoder) chosen among the autoencoders and baselines by val_auroc = 0.9000; "
        "no champion yet; margin 0.01: promoted to champion"
    )


def test_a_registered_model_without_a_champion_is_promoted_to_one(cfg):
    decision = decide(candidate(), Champion(RegisteredSchema.of(SCHEMA)), cfg.register)
    assert decision.alias == CHAMPION and decision.promote
    assert "no champion yet" in decision.reason


def test_a_candidate_better_than_the_champion_by_the_margin_is_promoted(cfg):
    decision = decide(candidate(score=0.9), champion(score=0.8), cfg.register)
    assert decision.alias == CHAMPION and decision.promote and decision.blocked is None
    assert "champion v3 scores val_auroc=0.8000 here" in decision.reason
    assert decision.reason.endswith("promoted to champion")


def test_a_candidate_not_better_by_the_margin_stays_challenger(cfg):
    decision = decide(candidate(score=0.805), champion(score=0.8), cfg.register)
    assert decision.alias == CHALLENGER and not decision.promote and decision.blocked is None
    assert (
        "champion v3 scores val_auroc=0.8000 here; margin 0.01: kept as challenger"
        in decision.reason
    )
    worse = decide(candidate(score=0.7), champion(score=0.8), cfg.register)
    assert worse.alias == CHALLENGER and not worse.promote


def test_the_margin_is_strict():
    assert beats(0.75, None, 0.25)
    assert not beats(0.75, 0.5, 0.25)  # equal to champion + margin is not better
    assert beats(0.76, 0.5, 0.25)


def test_another_schema_under_the_name_is_refused(cfg):
    with pytest.raises(RegistryError, match="takes another input schema") as error:
        decide(candidate(), champion(schema=OTHER), cfg.register)
    assert "register.model_name" in str(error.value)
    assert f"[{schema_hash(OTHER)}]" in str(error.value)
    assert f"[{schema_hash(SCHEMA)}]" in str(error.value)
    # also when an earlier run decided a version of these files: the schema comes first
    with pytest.raises(RegistryError, match="another input schema"):
        decide(
            candidate(registered=Registered("2", CHAMPION, True, "before")),
            Champion(RegisteredSchema.of(OTHER)),
            cfg.register,
        )


def test_a_champion_that_cannot_be_scored_blocks_the_promotion(cfg):
    unscorable = champion(score=None, error="older aeops (no ['artifacts'] in detector.json)")
    decision = decide(candidate(score=0.99), unscorable, cfg.register)
    assert decision.alias == CHALLENGER and not decision.promote
    assert decision.blocked == (
        "champion v3 cannot be scored on this data (older aeops (no "
        "['artifacts'] in detector.json))"
    )
    assert f"; {decision.blocked}; margin 0.01: kept as challenger" in decision.reason
    assert "(promotion blocked: the champion could not be compared)" in decision.reason


def test_a_dvc_experiment_registers_a_challenger_and_never_moves_the_champion(cfg):
    decision = decide(candidate(score=0.99, experiment="exp-a"), champion(score=0.5), cfg.register)
    assert decision.alias == CHALLENGER and not decision.promote and decision.blocked is None
    assert (
        "kept as challenger (DVC experiment 'exp-a': experiments register challengers "
        "only; `aeops promote` moves the champion)" in decision.reason
    )
    first = decide(candidate(experiment="exp-a"), None, cfg.register)  # not even the first champion
    assert first.alias == CHALLENGER and not first.promote and "no champion yet" in first.reason


def test_a_version_decided_before_keeps_its_decision(cfg):
    earlier = Registered("4", CHALLENGER, False, "decided by an earlier run")
    # the champion was not scored (nothing to compare): the decision stands as recorded
    decision = decide(
        candidate(score=0.99, registered=earlier), champion(score=None, error=None), cfg.register
    )
    assert decision == Decision(CHALLENGER, False, "decided by an earlier run", recorded=True)
    promoted = decide(
        candidate(registered=Registered("4", CHAMPION, True, "was best")), None, cfg.register
    )
    assert promoted.alias == CHAMPION and promoted.promote and promoted.recorded


def test_a_version_left_by_a_crash_is_decided_now(cfg):
    left = Registered("5")  # registered, the alias never moved
    decision = decide(candidate(score=0.9, registered=left), champion(score=0.95), cfg.register)
    assert decision.alias == CHALLENGER and not decision.recorded
    assert "champion v3 scores val_auroc=0.9500 here" in decision.reason
    # the alias moved to it before the crash, its tags did not: it is not its own rival
    own = decide(candidate(registered=Registered("3")), champion(score=None), cfg.register)
    assert own.alias == CHAMPION and own.promote and "no champion yet" in own.reason


def test_the_champion_is_scored_only_when_the_rule_compares_with_it():
    assert to_compare(candidate(), champion())
    assert not to_compare(candidate(), None)
    assert not to_compare(candidate(), Champion(RegisteredSchema.of(SCHEMA)))  # no champion alias
    assert not to_compare(candidate(), champion(schema=OTHER))
    assert not to_compare(candidate(registered=Registered("3")), champion())  # itself
    assert not to_compare(candidate(registered=Registered("4", CHALLENGER)), champion())
    assert to_compare(candidate(registered=Registered("4")), champion())


def test_the_reason_names_the_pool_the_selection_and_the_baseline_note(cfg):
    only_autoencoders = make_config(register={"margin": 0.0, "candidates": "autoencoders"})
    text = describe(candidate(), only_autoencoders.register, "no champion yet", True, None)
    assert text == (
        "dense (autoencoder) chosen among the autoencoders by val_auroc = 0.9000; "
        "no champion yet; margin 0.0: promoted to champion"
    )
    explained = candidate(
        kind="baseline",
        family="knn",
        selection_reason="reliably better",
        baseline_note="knn beats every autoencoder",
    )
    text = describe(explained, cfg.register, "no champion yet", False, None)
    assert text.startswith("knn (baseline) chosen among the autoencoders and baselines")
    assert text.endswith(
        "kept as challenger. Why knn: reliably better. Note: knn beats every autoencoder"
    )


def test_version_tags_describe_the_detector_its_data_and_its_choice(cfg):
    tags = version_tags(candidate(), cfg, "abc123")
    assert tags["family"] == "dense" and tags["kind"] == "autoencoder"
    assert tags[DETECTOR_KEY_TAG] == "0123456789abcdef"
    assert tags["selected_by"] == tags["selection_basis"] == "val_auroc"
    assert tags["schema_hash"] == schema_hash(SCHEMA) and tags["data_hash"] == "d" * 8
    assert tags["git_commit"] == "abc123"
    # the headline metrics one short tag each, no JSON blob for a person to read
    assert {k: v for k, v in tags.items() if k.startswith("metric.")} == {
        "metric.val_auroc": 0.9,
        "metric.test_auroc": 0.85,
    }
    assert "metrics" not in tags and "params" not in tags
    assert tags["threshold"] == 1.5 and tags["threshold_method"] == "f1"
    assert len(tags["params_digest"]) == 12
    other = version_tags(candidate(), make_config(register={"margin": 0.02}), "abc123")
    assert other["params_digest"] != tags["params_digest"]
    assert not {"dvc_exp_name", "baseline_beats_autoencoders", "selection_reason"} & set(tags)
    extra = version_tags(
        candidate(
            experiment="exp-a", baseline_note="knn leads", selection_reason="kept the autoencoder"
        ),
        cfg,
        "abc123",
    )
    assert extra["dvc_exp_name"] == "exp-a"
    assert extra["baseline_beats_autoencoders"] == "knn leads"
    assert extra["selection_reason"] == "kept the autoencoder"


def test_the_decision_tags_and_the_report(cfg):
    decision = decide(candidate(), champion(score=0.5), cfg.register)
    assert decision.tags == {"decision": CHAMPION, "promoted": True}
    made = registration(candidate(), champion(score=0.5), decision, "7", "store-1")
    report = replace(made, restored=["pca"]).record()
    assert report == {
        "model_name": "aeops-tabular-1234abcd",
        "model_uri": "models:/aeops-tabular-1234abcd@champion",
        "version": 7,
        "alias": CHAMPION,
        "family": "dense",
        "kind": "autoencoder",
        "metric": "val_auroc",
        "selection_basis": "val_auroc",
        "candidate_score": 0.9,
        "champion_version": 3,
        "promoted": True,
        "reason": decision.reason,
        "detector_key": "0123456789abcdef",
        "store_id": "store-1",
        "experiment": None,
        "restored": ["pca"],
        "onnx": None,
    }
    first = registration(
        candidate(experiment="exp-a"),
        None,
        replace(decision, alias=CHALLENGER, promote=False),
        "1",
        "",
    )
    assert first.champion_version is None and first.experiment == "exp-a"
    assert first.alias == CHALLENGER and not first.promoted
    unscored = Champion(RegisteredSchema.of(SCHEMA))
    assert registration(candidate(), unscored, decision, "1", "").champion_version is None


def test_in_sync_only_for_the_same_detector_store_and_experiment():
    previous = {
        "detector_key": "k1",
        "store_id": "s1",
        "experiment": None,
        "model_name": "m",
        "version": 1,
    }
    assert in_sync(previous, "k1", "s1", None)
    assert not in_sync(None, "k1", "s1", None)  # never registered
    assert not in_sync({}, "k1", "s1", None)
    assert not in_sync(previous, "k2", "s1", None)  # other files
    assert not in_sync(previous, "k1", "s2", None)  # another store
    assert not in_sync(previous, "k1", None, None)  # no store (or a tracking server)
    assert not in_sync(previous, "k1", "s1", "exp-a")  # now for a DVC experiment
    assert in_sync({**previous, "experiment": "exp-a"}, "k1", "s1", "exp-a")
    assert not in_sync({**previous, "store_id": None}, "k1", None, None)


def test_registered_names_read_as_the_data_and_keep_one_schema_each(tmp_path, mlflow_uri):
    import mlflow

    from aeops.tracking.registry import model_name, registered_schema

    client = mlflow.MlflowClient(mlflow_uri)
    cfg = make_config(tmp_path, data={"source": "table", "path": str(tmp_path / "machine_log.csv")})
    assert model_name(cfg, SCHEMA, client) == "aeops-machine-log"
    client.create_registered_model("aeops-machine-log", tags=RegisteredSchema.of(SCHEMA).tags())
    # the same schema keeps the name; another schema of the same file name gets its own
    assert model_name(cfg, SCHEMA, client) == "aeops-machine-log"
    assert model_name(cfg, OTHER, client) == f"aeops-machine-log-{schema_hash(OTHER)}"
    # the model page shows one short line, not the schema as JSON
    tags = client.get_registered_model("aeops-machine-log").tags
    assert tags["schema_hash"] == schema_hash(SCHEMA)
    assert tags["input_schema"].startswith(f"[{schema_hash(SCHEMA)}] 3 numeric features")
    # a model an earlier aeops registered (schema as JSON) is still told apart
    client.create_registered_model("old", tags={"input_schema": json.dumps(OTHER)})
    assert registered_schema("old", client) == RegisteredSchema.of(OTHER)
    # an explicit name is used as given
    named = make_config(tmp_path, register={"model_name": "fraud"})
    assert model_name(named, SCHEMA, client) == "fraud"
